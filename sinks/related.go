package sinks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// Related writes the rows of a notes or tasks file (import --kind notes or
// --kind tasks): each row's notes or tasks on the contact the ID map named
// for it (Record.ContactID), which already exists. No contact is upserted
// and no tag added. It implements pipeline.Sink (not pipeline.TagWriter)
// and is safe for concurrent use.
//
// Each note or task goes through the GHL sink's journaled send (sendSub):
// journaled as pending before its create request and as done after it,
// and looked up on the contact before it is sent, so that neither a
// resumed run nor a run whose state is gone sends it twice. A row is
// StatusCreated when this run created its note or task, StatusUnchanged
// when it was there already (done in the journal, or found on the contact).
//
// Identity: the journal is keyed by the contact (Record.Key "id:<contact
// id>") and, per note or task, by the row's hash together with its content.
// The row hash of a notes or tasks row carries the row's own identity (its
// source_key, or the how-manieth row of that contact with that content it
// is), so two rows with the same text for one contact are two notes. When
// a note is looked up on the contact, the ones the journal already gives to
// other rows are left out: the second of two equal notes never takes the
// first one for its own.
type Related struct {
	s      *GHL
	lookup bool
}

// NewRelated returns a notes or tasks sink writing through c (whose
// http.Client carries auth and pacing). Of opt, Policy is used. With
// lookupExisting, a note or task the journal does not know is looked up on
// the contact before it is sent: a request more for each, worth it only
// when the file was imported before under a state that is gone. Without,
// the journal alone decides (a pending entry, from a run that was killed,
// is always looked up).
func NewRelated(c *ghl.Client, opt GHLOptions, lookupExisting bool) *Related {
	return &Related{s: NewGHL(c, opt), lookup: lookupExisting}
}

// Write writes one group's rows, in order. An item it could not finish
// (the run stopped) keeps Status "". The error is a run-level fault only.
func (r *Related) Write(ctx context.Context, g *pipeline.Group) error {
	if g.Stats == nil {
		g.Stats = pipeline.NewStats()
	}
	if g.Journal == nil {
		return errors.New("related sink: a journal is required")
	}
	for _, it := range g.Items {
		if (g.Stopping != nil && g.Stopping()) || ctx.Err() != nil {
			break
		}
		created, err := r.writeRow(ctx, g, it)
		if err != nil {
			return err
		}
		if it.Status == pipeline.StatusRejected {
			continue
		}
		it.ContactID = it.Rec.ContactID
		it.Status = pipeline.StatusUnchanged
		if created {
			it.Status = pipeline.StatusCreated
		}
	}
	return nil
}

// writeRow writes a row's notes and tasks; created reports that at least
// one was created by this run. A refusal rejects the row (it.Reject).
func (r *Related) writeRow(ctx context.Context, g *pipeline.Group, it *pipeline.Item) (created bool, err error) {
	rec := it.Rec
	if len(rec.Notes) == 0 && len(rec.Tasks) == 0 {
		return false, nil // the mapping's when: left nothing to write
	}
	id := rec.ContactID
	if id == "" {
		it.Reject("no contact id: the row was not given one from the ID map")
		return false, nil
	}
	entries, err := g.Journal.Subs(ctx, rec.Key)
	if err != nil {
		return false, &pipeline.FaultError{Kind: pipeline.FaultState, Err: err}
	}
	journal := make(map[string]pipeline.SubRecord, len(entries))
	// claimed are the remote ids other rows' entries hold: a lookup never
	// takes one of them for this row's.
	claimed := make(map[string]bool)
	for _, e := range entries {
		journal[e.JournalKey()] = e
		if e.RemoteID != "" {
			claimed[e.RemoteID] = true
		}
	}
	subs := r.subsOf(rec, claimed)
	seen := make(map[string]int)
	for _, sb := range subs {
		seq := seen[sb.kind+sb.hash]
		seen[sb.kind+sb.hash]++
		ref := pipeline.SubRef{Key: rec.Key, Kind: sb.kind, ContentHash: sb.hash, Seq: seq, ContactID: id, FP: rec.File, Row: rec.Row}
		e, known := journal[ref.JournalKey()]
		if known && e.State == pipeline.SubDone {
			continue
		}
		made := false
		create := sb.create
		sb.create = func(ctx context.Context) (string, error) {
			rid, err := create(ctx)
			if err == nil {
				made = true
			}
			return rid, err
		}
		// With lookup, one the journal does not know is looked up too (it
		// may be there from an earlier import whose state is gone). The
		// claimed ones are filtered out, so the first match is ours.
		remoteID, err := r.s.sendSub(ctx, g, sb, 0, known && e.State == pipeline.SubPending, !known && r.lookup, ref)
		if err != nil {
			reason, fault := r.s.judge(err, false)
			if fault != nil {
				return false, fault
			}
			if strings.Contains(strings.ToLower(reason), "not found") {
				reason += "; the contact may have been deleted since the ID map was written"
			}
			it.Reject(fmt.Sprintf("%s %d: %s", sb.kind, sb.n, reason))
			return false, nil
		}
		if err := g.Journal.MarkSub(ctx, ref, pipeline.SubDone, remoteID); err != nil {
			return false, &pipeline.FaultError{Kind: pipeline.FaultState, Err: err}
		}
		claimed[remoteID] = true
		created = created || made
	}
	return created, nil
}

// subsOf is a row's notes then tasks, to write on rec.ContactID. Their
// journal hash joins the row's hash (its identity) to the content's.
func (r *Related) subsOf(rec *pipeline.Record, claimed map[string]bool) []sub {
	c, id := r.s.c, rec.ContactID
	unclaimed := func(list []remote) []remote {
		out := list[:0]
		for _, x := range list {
			if !claimed[x.id] {
				out = append(out, x)
			}
		}
		return out
	}
	var subs []sub
	for i, n := range rec.Notes {
		in := n
		subs = append(subs, sub{
			kind: pipeline.KindNote, n: i + 1, content: noteContent(in.Body), hash: relatedHash(rec.Hash, in),
			create: func(ctx context.Context) (string, error) {
				got, err := c.CreateNote(ctx, id, in)
				if err != nil {
					return "", err
				}
				return got.ID, nil
			},
			list: func(ctx context.Context) ([]remote, error) {
				ns, err := c.ListNotes(ctx, id)
				out := make([]remote, len(ns))
				for i, n := range ns {
					out[i] = remote{id: n.ID, content: noteContent(n.Body)}
				}
				return unclaimed(out), err
			},
		})
	}
	for i, t := range rec.Tasks {
		in := t
		subs = append(subs, sub{
			kind: pipeline.KindTask, n: i + 1, content: taskContent(in.Title, in.Body), hash: relatedHash(rec.Hash, in),
			create: func(ctx context.Context) (string, error) {
				got, err := c.CreateTask(ctx, id, in)
				if err != nil {
					return "", err
				}
				return got.ID, nil
			},
			list: func(ctx context.Context) ([]remote, error) {
				ts, err := c.ListTasks(ctx, id)
				out := make([]remote, len(ts))
				for i, t := range ts {
					out[i] = remote{id: t.ID, content: taskContent(t.Title, t.Body)}
				}
				return unclaimed(out), err
			},
		})
	}
	return subs
}

// relatedHash identifies one note or task of a notes or tasks row in the
// journal: the row (whose hash carries its identity) and the content.
func relatedHash(rowHash string, in any) string {
	return ContentHash(struct {
		Row string
		In  any
	}{rowHash, in})
}
