package importer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/jobs/conflict"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// ConflictScreen is import's --on-conflict reject (pipeline's Screen): a
// row whose email matches one contact and phone another is rejected with
// both contact ids, never written, since the upsert would update the first
// and silently drop the other field. The location's contacts are listed
// once, at the first row to write (a re-run with nothing to write lists
// nothing), into an index on disk (conflict.Index), and each row is judged
// against them and the contacts the rows before it write.
type ConflictScreen struct {
	session *session.Session
	dir     string // where the index file goes: beside the state, where there is room for it
	log     *slog.Logger
	idx     *conflict.Index // built at the first row; the submitter only calls Screen
}

// NewConflictScreen screens rows against s's location, with its index
// file in dir. Close it when the run is over.
func NewConflictScreen(s *session.Session, dir string, log *slog.Logger) *ConflictScreen {
	return &ConflictScreen{session: s, dir: dir, log: log}
}

// Screen is the pipeline.ImportConfig's Screen.
func (c *ConflictScreen) Screen(ctx context.Context, st *pipeline.Stats, rec *record.Row) (string, error) {
	if c.idx == nil {
		idx, err := c.load(ctx, st)
		if err != nil {
			return "", err
		}
		c.idx = idx
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	v, err := c.idx.Judge(ctx, deref(rec.Contact.Email), deref(rec.Contact.Phone), deref(rec.Contact.Country),
		fmt.Sprintf("the contact row %d of %s creates", rec.Row, rec.File))
	if err != nil || !v.Conflict {
		return "", err
	}
	return fmt.Sprintf("conflict: the email matches %s and the phone %s: the upsert would update the first and drop the phone (fix the row, or pass --on-conflict update-first)",
		v.First, v.Other), nil
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
