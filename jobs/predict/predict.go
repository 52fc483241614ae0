// Package predict says, row by row, what an import would do to a location:
// create a contact, update one (which), update one while dropping a field
// that matches another (a conflict), repeat an earlier row of the input (a
// duplicate), or reject the row.
//
// It makes no request. The caller lists the location's contacts once into
// an Index (POST /contacts/search, 500 a page: 2,000 requests for a million
// contacts, against one or two lookups a row otherwise), then hands every
// row to Predictor.Judge in input order. Judge plays the upsert's matching
// rule (the location's "Allow Duplicate Contact" order, email then phone by
// default) against the index, and records what the row would change in it:
// the contact a row creates is there for the rows after it, and a contact
// whose email or phone a row changes is found by its new one.
//
// What it can't see: rows of different match keys are written
// concurrently by import, so when two such rows meet on one contact (one
// row's phone is the other's), which of them creates it and which updates
// it may come out the other way round; the counts do not change.
//
// Floor 4 (docs/design.md): imports the engine, jobs/match, transform and the floors below them, never the command line.
package predict

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"

	"github.com/ghlbulk/ghlbulk/jobs/match"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/transform"
)

// Action is what import would do with a row: the plan's action column.
type Action string

// The actions, in the order a summary lists them.
const (
	Create    Action = "create"
	Update    Action = "update"
	Conflict  Action = "conflict"  // email and phone match two contacts, or the phone one holding another email: import rejects the row (--on-conflict reject)
	Duplicate Action = "duplicate" // the row's match key repeats an earlier row's
	Reject    Action = "reject"
	Upsert    Action = "upsert" // offline: created or updated, as the location's contacts decide
)

// Actions lists every action, in summary order.
var Actions = []Action{Create, Update, Conflict, Duplicate, Reject, Upsert}

// Rule is the location's duplicate rule: the fields an upsert matches an
// existing contact on, in priority order (match.Rule, which the conflict
// screen plays too).
type Rule = match.Rule

// Rules are the names ParseRule accepts.
var Rules = match.Rules

// DefaultRule is HighLevel's default: email, then phone.
func DefaultRule() Rule { return match.DefaultRule() }

// ParseRule reads a rule name ("" is the default, email-phone).
func ParseRule(s string) (Rule, error) { return match.ParseRule(s) }

// rowRef names a row of the input: its file (an index into the
// predictor's file names) and 1-based data row.
type rowRef struct {
	file int32
	row  int64
}

// slot is one contact in the index.
type slot struct {
	id string // the contact's id; "" for a contact a row of the input would create
	// born is the row that creates the contact (id == "").
	born rowRef
	// email and phone are the hashes of the contact's current email and
	// phone (0: none), so a row that changes one can move it.
	email, phone uint64
}

// Index is the location's contacts by normalised (trimmed, lower-cased)
// email and by E.164 phone, plus the contacts the rows judged so far would
// create.
//
// It is built to hold a whole location: keys are 64-bit hashes
// (hash/maphash) rather than the strings, and point at a slot (int32)
// rather than holding the id twice. A contact with an email and a phone
// costs about 130 bytes (its id, 24; its slot, 48; an entry in each map
// with the maps' spare room): BenchmarkIndexMemory measures 128 bytes a
// contact at 200k, so a location of 1M contacts takes about 130 MB. Two
// different keys meet on one hash with odds of about n²/2⁶⁵ (3·10⁻⁸ for
// 1M emails and 1M phones), which would read as a match.
type Index struct {
	seed     maphash.Seed
	byEmail  map[uint64]int32
	byPhone  map[uint64]int32
	slots    []slot
	existing int
}

// NewIndex returns an empty index sized for about n contacts.
func NewIndex(n int) *Index {
	if n < 0 {
		n = 0
	}
	return &Index{
		seed:    maphash.MakeSeed(),
		byEmail: make(map[uint64]int32, n),
		byPhone: make(map[uint64]int32, n),
		slots:   make([]slot, 0, n),
	}
}

// Add indexes an existing contact. Contacts are added in the listing's
// order, oldest first: where two share an email or a phone, the older is
// the one an upsert matches, as HighLevel keeps it. A contact with neither
// email nor phone can't be matched and is not kept.
func (x *Index) Add(id, email, phone string) {
	e, p := x.hash(normEmail(email)), x.hash(strings.TrimSpace(phone))
	if e == 0 && p == 0 {
		return
	}
	s := x.newSlot(slot{id: id, email: e, phone: p})
	x.existing++
	if _, taken := x.byEmail[e]; e != 0 && !taken {
		x.byEmail[e] = s
	}
	if _, taken := x.byPhone[p]; p != 0 && !taken {
		x.byPhone[p] = s
	}
}

// Len is the number of existing contacts indexed (those with an email or
// a phone).
func (x *Index) Len() int { return x.existing }

func (x *Index) newSlot(s slot) int32 {
	x.slots = append(x.slots, s)
	return int32(len(x.slots) - 1)
}

// hash is a key's hash; 0 stands for no key.
func (x *Index) hash(k string) uint64 {
	if k == "" {
		return 0
	}
	h := maphash.String(x.seed, k)
	if h == 0 {
		h = 1
	}
	return h
}

func (x *Index) lookup(field string, h uint64) (int32, bool) {
	if h == 0 {
		return 0, false
	}
	m := x.byEmail
	if field == "phone" {
		m = x.byPhone
	}
	s, ok := m[h]
	return s, ok
}

// set makes h the contact's email or phone (h 0: left as it is). The old
// key stops pointing at it; the new one points at it unless an older
// contact has it already.
func (x *Index) set(field string, s int32, h uint64) {
	if h == 0 {
		return
	}
	m, cur := x.byEmail, &x.slots[s].email
	if field == "phone" {
		m, cur = x.byPhone, &x.slots[s].phone
	}
	if *cur == h {
		return
	}
	if *cur != 0 && m[*cur] == s {
		delete(m, *cur)
	}
	*cur = h
	if _, taken := m[h]; !taken {
		m[h] = s
	}
}

// Options configure a Predictor.
type Options struct {
	Rule Rule // zero: DefaultRule
	// Duplicates is the mapping's duplicates: setting ("" is merge).
	Duplicates transform.Duplicates
}

// Decision is one row's line of the plan.
type Decision struct {
	File           string
	Row            int64
	Action         Action
	ContactID      string // the contact updated (Update, Conflict, Duplicate); "" if the input creates it
	OtherContactID string // Conflict: the contact the dropped field matches
	Key            string // the row's match key
	Reason         string
}

// seenKey is the first row written with a match key, and the contact it
// went to.
type seenKey struct {
	at   rowRef
	slot int32 // -1 offline
}

// Predictor judges rows in input order. It is not safe for concurrent use.
// Besides the index it keeps, per distinct match key of the input, the
// first row with it (a hash and 20 bytes: about 50 bytes a key with the
// map's room), and a slot in the index for each contact the input creates.
type Predictor struct {
	idx    *Index // nil offline
	opt    Options
	files  map[string]int32
	names  []string
	keys   map[uint64]seenKey // match key hash -> first row with it
	seed   maphash.Seed
	counts map[Action]int64
}

// New returns a predictor judging against idx, the location's contacts.
// With idx nil (offline) it can tell rejects and duplicates only; the
// other rows are Upsert.
func New(idx *Index, opt Options) *Predictor {
	if opt.Rule.IsZero() {
		opt.Rule = DefaultRule()
	}
	if opt.Duplicates == "" {
		opt.Duplicates = transform.DuplicatesMerge
	}
	return &Predictor{idx: idx, opt: opt, files: map[string]int32{}, keys: map[uint64]seenKey{},
		seed: maphash.MakeSeed(), counts: map[Action]int64{}}
}

// Counts is the number of rows judged per action.
func (p *Predictor) Counts() map[Action]int64 {
	out := make(map[Action]int64, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// ErrNoKey is the reason given to a row with no match key, as import
// gives it.
var ErrNoKey = errors.New(pipeline.ReasonNoKey)

// Judge says what import would do with rec, the next row of the input, and
// records its effect for the rows after it.
func (p *Predictor) Judge(rec *record.Row) Decision {
	d := p.judge(rec)
	p.counts[d.Action]++
	return d
}

func (p *Predictor) judge(rec *record.Row) Decision {
	here := p.ref(rec.File, rec.Row)
	d := Decision{File: rec.File, Row: rec.Row, Key: rec.Key}
	// Rejects, with the reason import writes to the rejects file.
	if d.Reason = pipeline.RejectReason(rec); d.Reason != "" {
		d.Action = Reject
		return d
	}
	kh := maphash.String(p.seed, rec.Key)
	first, dup := p.keys[kh]
	if p.idx == nil {
		if dup {
			return p.duplicate(d, first, here, "")
		}
		p.keys[kh] = seenKey{at: here, slot: -1}
		d.Action, d.Reason = Upsert, "created or updated: offline, the location's contacts were not read (--online tells which)"
		return d
	}
	email := p.idx.hash(normEmail(deref(rec.Contact.Email)))
	phone := p.idx.hash(e164(deref(rec.Contact.Phone), deref(rec.Contact.Country)))
	m := p.match(email, phone)
	if dup {
		if d, merged := p.repeated(d, m, first, here, email, phone); merged {
			return d
		}
	}
	if stop, ok := p.takeover(d, m, here, rec, email); ok {
		return stop
	}
	d, m.To = p.write(d, m, here, email, phone)
	if dup {
		// Same match key as an earlier row, but the upsert matches on
		// email and phone, which lead elsewhere now (a key: column or
		// source_key, or a contact whose email a row since changed).
		d.Reason += fmt.Sprintf("; same key as %s, but its email and phone lead to another contact", p.rowName(first.at, here))
	}
	// The key now leads to this row's contact.
	p.keys[kh] = seenKey{at: here, slot: m.To}
	return d
}

// repeated judges a row whose match key repeats an earlier row's (first):
// a duplicate reported, or merged into that row's contact when the
// upsert's match leads there. It reports false when the row is to be
// judged as a write of its own.
func (p *Predictor) repeated(d Decision, m matched, first seenKey, here rowRef, email, phone uint64) (Decision, bool) {
	x := p.idx
	if p.opt.Duplicates == transform.DuplicatesReport {
		id := ""
		if m.Found {
			id = x.slots[m.To].id
		}
		return p.duplicate(d, first, here, id), true
	}
	if !m.Found || m.To != first.slot {
		return d, false
	}
	// Merged: the row is written on top of the earlier one's contact;
	// unless another field leads elsewhere, a conflict import's screen
	// rejects (--on-conflict reject), which changes nothing.
	d = p.duplicate(d, first, here, x.slots[m.To].id)
	if m.Conflict {
		d.Action, d.OtherContactID = Conflict, x.slots[m.Other].id
		d.Reason += fmt.Sprintf("; its %s matches %s too: the upsert would drop it", m.OtherOn, p.label(x.slots[m.Other], here))
		return d, true
	}
	p.apply(m, email, phone)
	return d, true
}

// write judges a row the upsert writes: a create when its fields lead to
// no contact, else an update of the contact they lead to (a conflict when
// another field leads to another one), and records it in the index. It
// returns the decision and the row's contact's slot.
func (p *Predictor) write(d Decision, m matched, here rowRef, email, phone uint64) (Decision, int32) {
	x := p.idx
	switch {
	case !m.Found:
		s := x.newSlot(slot{born: here})
		x.set(match.Email, s, email)
		x.set(match.Phone, s, phone)
		d.Action, d.Reason = Create, p.noMatch(email, phone)
		return d, s
	case m.Conflict:
		a, b := x.slots[m.To], x.slots[m.Other]
		d.Action, d.ContactID, d.OtherContactID = Conflict, a.id, b.id
		d.Reason = fmt.Sprintf("%s matches %s, %s matches %s: the upsert updates the first and drops the %s",
			m.On, p.label(a, here), m.OtherOn, p.label(b, here), m.OtherOn)
	default:
		s := x.slots[m.To]
		d.Action, d.ContactID = Update, s.id
		d.Reason = "matches by " + m.On
		if m.Both {
			d.Reason += " and " + m.OtherOn
		}
		if s.id == "" {
			d.Reason += ": " + p.label(s, here)
		}
	}
	p.apply(m, email, phone)
	return d, m.To
}

// takeover judges a row whose email leads nowhere and phone to a contact
// (or an earlier row's) holding another email (match.Match.Takeover): a
// conflict, which import's screen rejects, so it changes nothing here
// either. ok is false for any other row.
func (p *Predictor) takeover(d Decision, m matched, here rowRef, rec *record.Row, email uint64) (Decision, bool) {
	if !m.Found {
		return d, false
	}
	s := p.idx.slots[m.To]
	if !m.Takeover(func() bool { return email != 0 && s.email != 0 && s.email != email }) {
		return d, false
	}
	o := match.Owner{Contact: s.id}
	if s.id == "" {
		o.Row = p.rowName(s.born, here)
	}
	value, mine := e164(deref(rec.Contact.Phone), deref(rec.Contact.Country)), normEmail(deref(rec.Contact.Email))
	d.Action, d.ContactID = Conflict, s.id
	d.Reason = match.TakeoverReason(m.On, value, o, mine)
	return d, true
}

func (p *Predictor) duplicate(d Decision, first seenKey, here rowRef, id string) Decision {
	d.Action, d.ContactID = Duplicate, id
	if p.opt.Duplicates == transform.DuplicatesReport {
		d.Reason = "repeats " + p.rowName(first.at, here) + " (duplicates: report)"
	} else {
		d.Reason = "merged into " + p.rowName(first.at, here)
	}
	return d
}

// matched is where the rule's fields lead: to slots of the index.
type matched = match.Match[int32]

// match plays the upsert's search (match.Decide) against the index.
func (p *Predictor) match(email, phone uint64) matched {
	return match.Decide(p.opt.Rule, func(f string) (int32, bool) {
		h := email
		if f == match.Phone {
			h = phone
		}
		return p.idx.lookup(f, h)
	})
}

// apply records an update of m's contact: its email and phone become the
// row's (a blank value changes nothing), but for the field a conflict
// drops.
func (p *Predictor) apply(m matched, email, phone uint64) {
	if m.Keeps(match.Email) {
		p.idx.set(match.Email, m.To, email)
	}
	if m.Keeps(match.Phone) {
		p.idx.set(match.Phone, m.To, phone)
	}
}

// noMatch says why a row creates a contact.
func (p *Predictor) noMatch(email, phone uint64) string {
	var fs []string
	for _, f := range p.opt.Rule.Fields() {
		if (f == match.Email && email != 0) || (f == match.Phone && phone != 0) {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return "the row has no " + strings.Join(p.opt.Rule.Fields(), " or ") + ", which the duplicate rule matches on"
	}
	return "no contact has this " + strings.Join(fs, " or ")
}

// label names a contact: its id, or the row of the input that creates it.
func (p *Predictor) label(s slot, here rowRef) string {
	if s.id != "" {
		return s.id
	}
	return "the contact " + p.rowName(s.born, here) + " creates"
}

// rowName is "row 12", or "row 12 of b.csv" for another file than here's.
func (p *Predictor) rowName(r, here rowRef) string {
	s := "row " + strconv.FormatInt(r.row, 10)
	if r.file != here.file {
		s += " of " + p.names[r.file]
	}
	return s
}

func (p *Predictor) ref(file string, row int64) rowRef {
	i, ok := p.files[file]
	if !ok {
		i = int32(len(p.names))
		p.files[file] = i
		p.names = append(p.names, file)
	}
	return rowRef{file: i, row: row}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// normEmail is an email as HighLevel compares them: case-insensitively.
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// e164 is a phone as HighLevel compares them. The mapping's phone
// normaliser gives E.164 already; a mapping that turned it off sends the
// number as written, which HighLevel reads in the contact's country (US
// when none).
func e164(phone, country string) string {
	phone = strings.TrimSpace(phone)
	if phone == "" || strings.HasPrefix(phone, "+") {
		return phone
	}
	region := strings.ToUpper(strings.TrimSpace(country))
	if len(region) != 2 {
		region = "US"
	}
	if n, err := transform.NormalizePhone(phone, region); err == nil {
		return n
	}
	return phone
}
