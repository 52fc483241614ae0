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

// Takeover reports whether the upsert would write another person over
// m.To (#14): the phone found To, the email led nowhere (it led to To:
// Both; elsewhere: Conflict), and the row and To hold different emails.
// Office switchboards, family and vanity numbers are shared by people;
// emails hardly ever are: a contact found by its phone that holds another
// email is another person, whose email and name the upsert would replace.
// A contact with no email is filled in, not taken over. differs says the
// row and To both hold an email, and not the same.
func (m Match[C]) Takeover(differs func() bool) bool {
	return m.Found && m.On == Phone && !m.Both && !m.Conflict && differs()
}

// Owner names who holds a value in a takeover: an existing contact, or an
// earlier row of the input (which creates or updates the contact).
type Owner struct {
	Contact string // the contact's id; "" for a row
	Row     string // "row 12", or "row 12 of b.csv"; for a row
	Holds   string // the owner's value of the field the row would replace ("" if unknown)
}

// Describe is who holds a value, for a reason: "belongs to contact ID
// (email)" or "is shared with row N of FILE (email)".
func (o Owner) Describe() string {
	who := "belongs to contact " + o.Contact
	if o.Contact == "" {
		who = "is shared with " + o.Row
	}
	if o.Holds != "" {
		who += " (" + o.Holds + ")"
	}
	return who
}

// TakeoverReason is a takeover's reject reason, the same in import's
// rejects file and validate's plan: "conflict: phone +18003569377 belongs
// to contact abc123 (ann@x.example), not bob@y.example; ...". on is the
// field that matched and its value, mine the row's value of the field it
// would replace.
func TakeoverReason(on, value string, o Owner, mine string) string {
	s := fmt.Sprintf("conflict: %s %s %s, not %s", on, value, o.Describe(), mine)
	if on == Phone {
		s += "; use --on-conflict drop-phone to import the row without its phone"
	}
	return s
}
