// Package conflict finds the rows an import must not send: a row whose
// email matches one contact and phone another, which the upsert would
// write on the first (the location's duplicate rule: email, then phone)
// while silently dropping the phone. It holds the location's contacts and
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
// contact they lead to: a contact id, or the row of the input that
// creates it ("row N of FILE"). It is not safe for concurrent use.
type Index struct {
	m    *diskmap.Map
	seed maphash.Seed
}

// flushAt is how many entries are kept in memory (and read before the
// file) before they are written in one transaction.
const flushAt = 4096

// Open creates an empty index in a temporary file in dir ("" for the
// system's temporary directory); Close removes it. It takes about 60 bytes
// a contact on disk.
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
	if err := x.m.Put(ctx, h, who); err != nil {
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

// Add records an existing contact (phone in E.164).
func (x *Index) Add(ctx context.Context, id, email, phone string) error {
	if e := Norm(email); e != "" {
		if err := x.put(ctx, x.hash("email", e), id); err != nil {
			return err
		}
	}
	if phone = E164(phone, ""); phone != "" {
		return x.put(ctx, x.hash("phone", phone), id)
	}
	return nil
}

// Verdict is what Judge found.
type Verdict struct {
	Conflict bool
	// First is the contact the email leads to (the one the upsert would
	// update), Other the one the phone leads to (whose phone it would
	// drop); each a contact id, or "row N of FILE" for a contact a row of
	// the input creates.
	First, Other string
}

// Judge takes the next row to write, in input order: its email and phone
// (read in region, as E164 does), and who it is ("row N of FILE", for a
// contact it creates). A row whose email and phone lead to two contacts
// (match.Decide, as validate's prediction decides it) is a conflict, and
// changes nothing; otherwise the row's email and phone lead from now on
// to the contact it writes.
func (x *Index) Judge(ctx context.Context, email, phone, region, row string) (Verdict, error) {
	phone = E164(phone, region)
	var he, hp int64
	var byEmail, byPhone string
	var err error
	if e := Norm(email); e != "" {
		he = x.hash("email", e)
		if byEmail, err = x.lookup(ctx, he); err != nil {
			return Verdict{}, err
		}
	}
	if phone != "" {
		hp = x.hash("phone", phone)
		if byPhone, err = x.lookup(ctx, hp); err != nil {
			return Verdict{}, err
		}
	}
	// The screen plays HighLevel's default rule, email then phone.
	m := match.Decide(match.DefaultRule(), func(f string) (string, bool) {
		if f == match.Email {
			return byEmail, byEmail != ""
		}
		return byPhone, byPhone != ""
	})
	if m.Conflict {
		return Verdict{Conflict: true, First: m.To, Other: m.Other}, nil
	}
	who := row
	if m.Found {
		who = m.To
	}
	if he != 0 && byEmail == "" {
		if err := x.put(ctx, he, who); err != nil {
			return Verdict{}, err
		}
	}
	if hp != 0 && byPhone == "" {
		if err := x.put(ctx, hp, who); err != nil {
			return Verdict{}, err
		}
	}
	return Verdict{}, nil
}
