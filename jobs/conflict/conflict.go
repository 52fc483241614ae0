// Package conflict finds the rows an import must not send as they are: a
// row whose email matches one contact and phone another, which the upsert
// would write on the first (the location's duplicate rule: email, then
// phone) while silently dropping the phone; and a row whose email matches
// nobody but whose phone belongs to a contact (or an earlier row) with
// another email, which the upsert would write over that contact, email and
// name (a takeover: office switchboards, family phones). It holds the location's contacts and
// those the run's rows make in an index of email and phone hashes kept in
// a temporary SQLite file, so that memory stays flat however many
// contacts the location has or the input makes.
//
// Floor 4 (docs/design.md): imports jobs/match and floor-0 helpers, never the command line.
package conflict

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/ghlbulk/ghlbulk/internal/diskmap"
	"github.com/ghlbulk/ghlbulk/jobs/match"
)

// Index maps the hashes of normalised emails and E.164 phones to the
// contact they lead to (its owner): a contact id, or the row of the input
// that creates it ("row N of FILE"); and each owner to its current email
// and phone, which a takeover is told by. It is not safe for concurrent
// use.
type Index struct {
	m    *diskmap.Map
	seed maphash.Seed
	// DropPhone (--on-conflict drop-phone) has Judge let a row that is a
	// conflict or a takeover through without its phone, instead of
	// stopping it.
	DropPhone bool
}

// flushAt is how many entries are kept in memory (and read before the
// file) before they are written in one transaction.
const flushAt = 4096

// Open creates an empty index in a temporary file in dir ("" for the
// system's temporary directory); Close removes it. It takes about 120
// bytes a contact on disk.
func Open(dir string) (*Index, error) {
	m, err := diskmap.Open(dir, ".ghlbulk-conflicts-*.db", flushAt)
	if err != nil {
		return nil, fmt.Errorf("conflict index: %w", err)
	}
	return &Index{m: m, seed: maphash.MakeSeed()}, nil
}

// Close deletes the index.
func (x *Index) Close() error { return x.m.Close() }

// hash is a 64-bit key for a field value. Two values colliding (odds of
// about one in 10^7 among a million contacts) would make one row look
// like a conflict, or hide one: the reject names both contacts, so a false
// one is easy to see.
func (x *Index) hash(field, v string) int64 {
	return int64(maphash.String(x.seed, field+"\x00"+v))
}

func (x *Index) lookup(ctx context.Context, h int64) (string, error) {
	return x.m.Get(ctx, h)
}

func (x *Index) put(ctx context.Context, h int64, who string) error {
	if err := x.m.Put(ctx, h, who); err != nil { // who "" forgets h
		return fmt.Errorf("conflict index: %w", err)
	}
	return nil
}

func (x *Index) flush(ctx context.Context) error {
	if err := x.m.Flush(ctx); err != nil {
		return fmt.Errorf("conflict index: %w", err)
	}
	return nil
}

// Norm normalises an email as the index keys it.
func Norm(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// E164 normalises a phone as the index keys it: as HighLevel stores it,
// E.164, reading a national number in region (a country code, "US" when
// empty); a number it can't read is kept as it is.
func E164(phone, region string) string {
	phone = strings.TrimSpace(phone)
	if phone == "" || strings.HasPrefix(phone, "+") && !strings.ContainsAny(phone, " -().") {
		return phone
	}
	if region == "" {
		region = "US"
	}
	n, err := phonenumbers.Parse(phone, strings.ToUpper(region))
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return phone
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// Owners are kept as "c" + a contact's id or "r" + a row's name, so that
// a row named like a contact id can't be taken for one.
const (
	ownContact = "c"
	ownRow     = "r"
)

// held is an owner's current email and phone, as the index keys them.
type held struct{ email, phone string }

func (h held) encode() string { return h.email + "\x1f" + h.phone }

func decodeHeld(s string) held {
	e, p, _ := strings.Cut(s, "\x1f")
	return held{email: e, phone: p}
}

// owner is who field value v leads to ("" for no one, or no v).
func (x *Index) owner(ctx context.Context, field, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	return x.lookup(ctx, x.hash(field, v))
}

// holds is what owner holds now ("" owner: nothing).
func (x *Index) holds(ctx context.Context, owner string) (held, error) {
	if owner == "" {
		return held{}, nil
	}
	s, err := x.lookup(ctx, x.hash("owner", owner))
	return decodeHeld(s), err
}

// claim makes field value v lead to owner unless it leads to someone
// already (an older contact keeps it, as HighLevel matches the oldest).
func (x *Index) claim(ctx context.Context, field, v, owner string) error {
	if v == "" {
		return nil
	}
	h := x.hash(field, v)
	cur, err := x.lookup(ctx, h)
	if err != nil || cur != "" {
		return err
	}
	return x.put(ctx, h, owner)
}

// release forgets that field value v leads to owner (its value changed).
func (x *Index) release(ctx context.Context, field, v, owner string) error {
	if v == "" {
		return nil
	}
	h := x.hash(field, v)
	cur, err := x.lookup(ctx, h)
	if err != nil || cur != owner {
		return err
	}
	return x.put(ctx, h, "")
}

// Add records an existing contact (phone in E.164). Contacts come in the
// listing's order, oldest first: where two share an email or a phone, the
// older keeps it, as the upsert matches the older.
func (x *Index) Add(ctx context.Context, id, email, phone string) error {
	h := held{email: Norm(email), phone: E164(phone, "")}
	if h.email == "" && h.phone == "" {
		return nil
	}
	who := ownContact + id
	if err := x.claim(ctx, match.Email, h.email, who); err != nil {
		return err
	}
	if err := x.claim(ctx, match.Phone, h.phone, who); err != nil {
		return err
	}
	return x.put(ctx, x.hash("owner", who), h.encode())
}

// Verdict is what Judge found.
type Verdict struct {
	// Conflict: the email and the phone lead to two contacts. First is
	// the contact the email leads to (the one the upsert would update),
	// Other the one the phone leads to (whose phone it would drop); each
	// a contact id, or "the contact row N of FILE creates".
	Conflict     bool
	First, Other string
	// Takeover: the email leads to no one, the phone (Phone, in E.164) to
	// Owner, who holds another email (match.Match.Takeover).
	Takeover bool
	Owner    match.Owner
	Phone    string
	// PhoneDropped: (DropPhone) a conflict or a takeover let through, to
	// be written without its phone.
	PhoneDropped bool
}

// Stopped says the row must not be written as it is.
func (v Verdict) Stopped() bool { return v.Conflict || v.Takeover }

// label names an owner as a Verdict's First and Other do.
func label(owner string) string {
	if name, ok := strings.CutPrefix(owner, ownRow); ok {
		return "the contact " + name + " creates"
	}
	return strings.TrimPrefix(owner, ownContact)
}

// Judge takes the next row to write, in input order: its email and phone
// (read in region, as E164 does), and its name ("row N of FILE", for a
// contact it creates). A row whose email and phone lead to two contacts,
// or whose phone alone leads to one holding another email (match.Decide
// and Takeover, as validate's prediction decides them), is stopped and
// changes nothing, unless DropPhone lets it through without its phone;
// otherwise the row's email and phone lead from now on to the contact it
// writes. A row counts as soon as it is judged, before it is sent: rows
// go to lanes by email, so two rows sharing a phone may be in flight at
// once, and the second must already see the first's phone as taken.
func (x *Index) Judge(ctx context.Context, email, phone, region, row string) (Verdict, error) {
	e, p := Norm(email), E164(phone, region)
	v, m, err := x.decide(ctx, e, p)
	if err != nil {
		return Verdict{}, err
	}
	if v.Stopped() {
		if !x.DropPhone {
			return v, nil
		}
		v.PhoneDropped, p = true, ""
		if _, m, err = x.decide(ctx, e, ""); err != nil {
			return Verdict{}, err
		}
	}
	who := ownRow + row
	if m.Found {
		who = m.To
	}
	return v, x.record(ctx, who, e, p)
}

// decide plays the default rule on what e and p lead to.
func (x *Index) decide(ctx context.Context, e, p string) (Verdict, match.Match[string], error) {
	byEmail, err := x.owner(ctx, match.Email, e)
	if err != nil {
		return Verdict{}, match.Match[string]{}, err
	}
	byPhone, err := x.owner(ctx, match.Phone, p)
	if err != nil {
		return Verdict{}, match.Match[string]{}, err
	}
	// The screen plays HighLevel's default rule, email then phone.
	rule := match.DefaultRule()
	m := match.Decide(rule, func(f string) (string, bool) {
		if f == match.Email {
			return byEmail, byEmail != ""
		}
		return byPhone, byPhone != ""
	})
	if m.Conflict {
		return Verdict{Conflict: true, First: label(m.To), Other: label(m.Other)}, m, nil
	}
	h, err := x.holds(ctx, m.To)
	if err != nil {
		return Verdict{}, m, err
	}
	if !m.Takeover(func() bool { return e != "" && h.email != "" && h.email != e }) {
		return Verdict{}, m, nil
	}
	o := match.Owner{Holds: h.email}
	if name, isRow := strings.CutPrefix(m.To, ownRow); isRow {
		o.Row = name
	} else {
		o.Contact = strings.TrimPrefix(m.To, ownContact)
	}
	return Verdict{Takeover: true, Owner: o, Phone: p}, m, nil
}

// record writes a row's effect: who (the contact it creates or updates)
// now holds its email and phone (a blank one changes nothing), each
// leading to who unless it leads to someone already; a value who held
// before and no longer does leads nowhere.
func (x *Index) record(ctx context.Context, who, e, p string) error {
	h, err := x.holds(ctx, who)
	if err != nil {
		return err
	}
	now := h
	if e != "" {
		now.email = e
	}
	if p != "" {
		now.phone = p
	}
	if now == h && h != (held{}) {
		return nil
	}
	for _, f := range []struct{ field, was, is string }{{match.Email, h.email, now.email}, {match.Phone, h.phone, now.phone}} {
		if f.was != f.is {
			if err := x.release(ctx, f.field, f.was, who); err != nil {
				return err
			}
		}
		if err := x.claim(ctx, f.field, f.is, who); err != nil {
			return err
		}
	}
	return x.put(ctx, x.hash("owner", who), now.encode())
}
