package importer

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/jobs/conflict"
	"github.com/ghlbulk/ghlbulk/jobs/match"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// ConflictScreen is import's --on-conflict reject and drop-phone
// (pipeline's Screen). Two kinds of row are stopped: a row whose email
// matches one contact and phone another (the upsert would update the first
// and silently drop the phone), and a row whose email matches nobody but
// whose phone belongs to a contact or an earlier row with another email
// (the upsert would write this person's email and name over that one: a
// shared office, family or vanity number). reject rejects them naming
// both identities; drop-phone writes them by their email without the
// phone, counted in the report (phones_dropped) and logged row by row.
// The location's contacts are listed once, at the first row to write (a
// re-run with nothing to write lists nothing), into an index on disk
// (conflict.Index), and each row is judged against them and the rows
// judged before it, in flight or written.
type ConflictScreen struct {
	session   *session.Session
	dir       string // where the index file goes: beside the state, where there is room for it
	log       *slog.Logger
	dropPhone bool
	idx       *conflict.Index // built at the first row; the submitter only calls Screen
}

// NewConflictScreen screens rows against s's location, with its index
// file in dir; dropPhone lets the rows it stops through without their
// phone. Close it when the run is over.
func NewConflictScreen(s *session.Session, dir string, log *slog.Logger, dropPhone bool) *ConflictScreen {
	return &ConflictScreen{session: s, dir: dir, log: log, dropPhone: dropPhone}
}

// Screen is the pipeline.ImportConfig's Screen. A row let through without
// its phone loses it here (rec.Contact.Phone), before the sink sees it.
func (c *ConflictScreen) Screen(ctx context.Context, st *pipeline.Stats, rec *record.Row) (string, error) {
	if c.idx == nil {
		idx, err := c.load(ctx, st)
		if err != nil {
			return "", err
		}
		idx.DropPhone = c.dropPhone
		c.idx = idx
	}
	email, phone := deref(rec.Contact.Email), deref(rec.Contact.Phone)
	invalid := invalidEmail(rec)
	if invalid != "" && email == "" {
		// Written by its phone alone, the row would update whoever holds
		// the phone: it is judged as a person with an email of its own
		// (one no contact has), so a phone held by another is a takeover.
		email = "\x00" + RowName(rec.Row, rec.File)
	}
	v, err := c.idx.Judge(ctx, email, phone, deref(rec.Contact.Country), RowName(rec.Row, rec.File))
	if err != nil || !v.Stopped() {
		return "", err
	}
	if invalid != "" && v.Takeover {
		// Without its phone it would have no key at all: never let through.
		return fmt.Sprintf("conflict: %s, and its phone %s %s: written by the phone alone the row would update that contact (fix the email)",
			invalid, v.Phone, v.Owner.Describe()), nil
	}
	reason := ConflictReason(v, conflict.Norm(email))
	if v.PhoneDropped {
		rec.Contact.Phone = nil
		st.PhoneDropped()
		why, _, _ := strings.Cut(reason, "; use --on-conflict")
		c.log.Warn("written without its phone (--on-conflict drop-phone)", "row", rec.Row, "file", rec.File, "why", why)
		return "", nil
	}
	return reason, nil
}

// ConflictReason is the reject reason of a row the screen stopped; email
// is the row's.
func ConflictReason(v conflict.Verdict, email string) string {
	if v.Takeover {
		return match.TakeoverReason(match.Phone, v.Phone, v.Owner, email)
	}
	return fmt.Sprintf("conflict: the email matches %s and the phone %s: the upsert would update the first and drop the phone (fix the row, or pass --on-conflict drop-phone or update-first)",
		v.First, v.Other)
}

// invalidEmail is the note of a row whose invalid email the mapping left
// out (record.Row.Dropped), or "".
func invalidEmail(rec *record.Row) string {
	for _, d := range rec.Dropped {
		if d.Field == "email" {
			why, _, _ := strings.Cut(d.Why, " (left out")
			return why
		}
	}
	return ""
}

// RowName names a row in a reason: "row 12 of people.csv".
func RowName(row int64, file string) string {
	return fmt.Sprintf("row %d of %s", row, filepath.Base(file))
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// load lists the location's contacts into a new index.
func (c *ConflictScreen) load(ctx context.Context, st *pipeline.Stats) (*conflict.Index, error) {
	c.log.Info("reading the location's contacts once, to find rows whose email and phone match two contacts (--on-conflict update-first skips this)")
	idx, err := conflict.Open(c.dir)
	if err != nil {
		return nil, err
	}
	err = EachLocationContact(ctx, c.session, st, c.log, func(_ int, ct *ghl.Contact) error {
		return idx.Add(ctx, ct.ID, ct.Email, ct.Phone)
	})
	if err != nil {
		idx.Close()
		return nil, fmt.Errorf("reading the location's contacts: %w", err)
	}
	return idx, nil
}

// Close removes the index, if one was built.
func (c *ConflictScreen) Close() {
	if c != nil && c.idx != nil {
		c.idx.Close()
	}
}
