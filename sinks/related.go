package sinks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/record"
)

// Related writes the rows of a notes or tasks file (import --kind notes or
// --kind tasks): each row's notes or tasks on the contact the ID map named
// for it (Record.ContactID), which already exists. No contact is upserted
// and no tag added. It is the engine's pipeline.Sink (and no TagWriter),
// and is safe for concurrent use.
//
// Each note or task goes through the GHL sink's journaled send (sendRelated):
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
	src    record.Sources // WithSources: rows with a source_key are kept in step; nil: created once, by content
	kind   string         // record.KindNote or record.KindTask (WithSources)
}

// NewRelated returns a notes or tasks sink writing through c (whose
// http.Client carries auth and pacing). Of opt, Policy and Journal are
// used. With
// lookupExisting, a note or task the journal does not know is looked up on
// the contact before it is sent: a request more for each, worth it only
// when the file was imported before under a state that is gone. Without,
// the journal alone decides (a pending entry, from a run that was killed,
// is always looked up).
func NewRelated(c *ghl.Client, opt GHLOptions, lookupExisting bool) *Related {
	return &Related{s: NewGHL(c, opt), lookup: lookupExisting}
}

// Write writes one row's notes or tasks. The error is a run-level fault
// only; the outcome is then StatusUnknown.
func (r *Related) Write(ctx context.Context, m record.Meter, it record.Item) (record.Outcome, error) {
	if r.s.opt.Journal == nil {
		return record.Outcome{}, errors.New("related sink: a journal is required (GHLOptions.Journal)")
	}
	if r.src != nil && it.Row.SourceKey != "" && it.Row.ContactID != "" {
		status, reason, err := r.writeSources(ctx, meterOr(m), it.Row)
		switch {
		case err != nil:
			return record.Outcome{}, err
		case reason != "":
			return record.Rejected(reason), nil
		}
		return record.Outcome{Status: status, ContactID: it.Row.ContactID}, nil
	}
	created, reason, err := r.writeRow(ctx, meterOr(m), it.Row)
	switch {
	case err != nil:
		return record.Outcome{}, err
	case reason != "":
		return record.Rejected(reason), nil
	case created:
		return record.Outcome{Status: record.StatusCreated, ContactID: it.Row.ContactID}, nil
	}
	return record.Outcome{Status: record.StatusUnchanged, ContactID: it.Row.ContactID}, nil
}

// writeRow writes a row's notes and tasks; created reports that at least
// one was created by this run. A refusal is the row's reject reason.
func (r *Related) writeRow(ctx context.Context, m record.Meter, rec *record.Row) (created bool, reason string, err error) {
	if len(rec.Notes) == 0 && len(rec.Tasks) == 0 {
		return false, "", nil // the mapping's when: left nothing to write
	}
	id := rec.ContactID
	if id == "" {
		return false, "no contact id: the row was not given one from the ID map", nil
	}
	journal, err := r.s.journalOf(ctx, rec.Key)
	if err != nil {
		return false, "", err
	}
	claimed := claimsOf(journal)
	seen := make(map[string]int)
	for _, sb := range relatedOf(r.s.c, id, rec, func(in any) string { return relatedHash(rec.Hash, in) }, claimed.unclaimed) {
		seq := seen[sb.kind+sb.hash]
		seen[sb.kind+sb.hash]++
		ref := record.RelatedRef{Key: rec.Key, Kind: sb.kind, ContentHash: sb.hash, Seq: seq, ContactID: id, FP: rec.File, Row: rec.Row}
		e, known := journal[ref.JournalKey()]
		if known && e.State == record.RelatedDone {
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
		remoteID, err := r.s.sendRelated(ctx, m, sb, 0, known && e.State == record.RelatedPending, !known && r.lookup, r.s.subsMarker(ref))
		if err != nil {
			reason, fault := r.s.judge(err, false)
			if fault != nil {
				return false, "", fault
			}
			if strings.Contains(strings.ToLower(reason), "not found") {
				reason += "; the contact may have been deleted since the ID map was written"
			}
			return false, fmt.Sprintf("%s %d: %s", sb.kind, sb.n, reason), nil
		}
		if err := r.s.mark(ctx, ref, record.RelatedDone, remoteID); err != nil {
			return false, "", err
		}
		claimed[remoteID] = true
		created = created || made
	}
	return created, "", nil
}

// claims are the remote ids the journal's entries hold, each another row's
// (or one this row just wrote): a lookup never takes one of them for this
// row's.
type claims map[string]bool

func claimsOf(journal map[string]record.RelatedEntry) claims {
	c := make(claims)
	for _, e := range journal {
		if e.RemoteID != "" {
			c[e.RemoteID] = true
		}
	}
	return c
}

// unclaimed is list without the claimed ones (filtered in place).
func (c claims) unclaimed(list []remote) []remote {
	out := list[:0]
	for _, x := range list {
		if !c[x.id] {
			out = append(out, x)
		}
	}
	return out
}

// relatedHash identifies one note or task of a notes or tasks row in the
// journal: the row (whose hash carries its identity) and the content.
func relatedHash(rowHash string, in any) string { return RelatedHash(rowHash, in) }

// RelatedHash is relatedHash, for the planner.
func RelatedHash(rowHash string, in any) string {
	return ContentHash(struct {
		Row string
		In  any
	}{rowHash, in})
}
