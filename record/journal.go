package record

import (
	"context"
	"strconv"
)

// Journal records notes and tasks around their create requests, so that a
// run resumed after a kill never sends one twice. The engine's checkpoint
// store implements it; a sink that writes notes or tasks is given one when
// it is made.
type Journal interface {
	// Subs returns the entries of a contact key.
	RelatedOf(ctx context.Context, key string) ([]RelatedEntry, error)
	// MarkRelated writes one entry: RelatedPending before the request, RelatedDone after.
	MarkRelated(ctx context.Context, ref RelatedRef, state, remoteID string) error
}

// Sub-resource kinds kept in the journal.
const (
	KindNote = "note"
	KindTask = "task"
)

// Sub-resource states: pending is written before the create request is
// sent, done once its answer (or a matching remote record) is known.
const (
	RelatedPending = "pending"
	RelatedDone    = "done"
)

// RelatedRef names one note or task of a contact by content: the same body sent
// to the same contact twice in one row is Seq 0 and 1.
type RelatedRef struct {
	Key         string // the contact's match key
	Kind        string // KindNote or KindTask
	ContentHash string
	Seq         int
	ContactID   string
	FP          string // the row that asked for it, for the record
	Row         int64
	// Created is set with RelatedDone when this run's request created it (not
	// a lookup that found it): the run's record for ghlbulk undo.
	Created bool
}

// RelatedEntry is a journal entry.
type RelatedEntry struct {
	RelatedRef
	RemoteID string
	State    string // RelatedPending or RelatedDone
}

// RelatedKey identifies a note or task in a contact's journal (RelatedRef): its
// kind, content hash and the number of the same kind and content before
// it in the row. The sinks and the planner index the journal by it.
func RelatedKey(kind, contentHash string, seq int) string {
	return kind + "\x00" + contentHash + "\x00" + strconv.Itoa(seq)
}

// JournalKey is r's RelatedKey.
func (r RelatedRef) JournalKey() string { return RelatedKey(r.Kind, r.ContentHash, r.Seq) }
