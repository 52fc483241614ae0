// Package match is the upsert's matching rule: which existing contact a
// row's email and phone lead HighLevel to, and what becomes of a field
// that leads elsewhere. validate's prediction (jobs/predict) and import's
// conflict screen (jobs/conflict) both play it, each against its own
// index, so that they call the same rows conflicts.
//
// It owns the rule only: no index, no I/O. It imports nothing of ours.
//
// Floor 4 (docs/design.md): imports none of ghlbulk's packages.
package match

import (
	"fmt"
	"strings"
)

// The fields an upsert matches a contact on.
const (
	Email = "email"
	Phone = "phone"
)

// Rule is the location's duplicate rule ("Allow Duplicate Contact"): the
// fields an upsert matches an existing contact on, in priority order.
type Rule struct {
	name  string
	order []string // Email, Phone
}

// Rules are the names ParseRule accepts.
var Rules = []string{"email-phone", "phone-email", "email", "phone"}

// DefaultRule is HighLevel's default: email, then phone.
func DefaultRule() Rule { return Rule{name: "email-phone", order: []string{Email, Phone}} }

// ParseRule reads a rule name ("" is the default, email-phone).
func ParseRule(s string) (Rule, error) {
	switch n := strings.ToLower(strings.TrimSpace(s)); n {
	case "", "email-phone":
		return DefaultRule(), nil
	case "phone-email":
		return Rule{name: n, order: []string{Phone, Email}}, nil
	case Email, Phone:
		return Rule{name: n, order: []string{n}}, nil
	}
	return Rule{}, fmt.Errorf("duplicate rule %q: must be %s", s, strings.Join(Rules, ", "))
}

// Name is the rule's name, as ParseRule reads it.
func (r Rule) Name() string { return r.name }

// String says the rule in words: "email, then phone".
func (r Rule) String() string { return strings.Join(r.order, ", then ") }

// Fields are the fields the rule matches on, in priority order.
func (r Rule) Fields() []string { return r.order }

// IsZero reports whether r is the zero Rule (no rule chosen).
func (r Rule) IsZero() bool { return r.order == nil }

// Match is where a row's fields lead under a rule; C identifies a contact
// in the caller's index.
type Match[C comparable] struct {
	Found bool   // a field leads to a contact: the upsert updates it
	To    C      // that contact
	On    string // the field that found it
	// Both says a later field leads to the same contact.
	Both bool
	// Conflict says a later field (OtherOn) leads to another contact
	// (Other): the upsert updates To and drops that field (#37).
	Conflict bool
	Other    C
	OtherOn  string
}

// Decide plays the upsert's search: lead says where each of the row's
// fields leads in the caller's index (ok false: to no contact, or the row
// has no such field); the first of the rule's fields that finds a contact
// decides, and a later field that finds another contact is a conflict.
// A field that finds no contact changes nothing, whatever else the
// contact another field found holds.
func Decide[C comparable](r Rule, lead func(field string) (to C, ok bool)) Match[C] {
	var m Match[C]
	for _, f := range r.order {
		c, ok := lead(f)
		switch {
		case !ok:
		case !m.Found:
			m.Found, m.To, m.On = true, c, f
		case c == m.To:
			m.Both, m.OtherOn = true, f
		default:
			m.Conflict, m.Other, m.OtherOn = true, c, f
		}
	}
	return m
}

// Keeps reports whether the upsert writes the row's field to the contact
// it updates: every field but the one a conflict drops.
func (m Match[C]) Keeps(field string) bool { return !m.Conflict || m.OtherOn != field }
