package record

import (
	"context"
	"strconv"
	"strings"
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

// Sources is the journal of the notes and tasks known by their source
// identity (a notes or tasks row's source_key, see SourceIdentity): the
// remote record each became and the content it was last written with, so
// that the same row with changed content updates its record rather than
// creating another, and a row gone from the input can be deleted. Like
// Journal, each change is marked pending before its request and settled
// after it. The engine's checkpoint store implements it.
type Sources interface {
	// SourceOf returns the entry of one identity; ok is false if none.
	SourceOf(ctx context.Context, kind, identity string) (e SourceEntry, ok bool, err error)
	// MarkSource writes e (created: this run's request created e.RemoteID,
	// for ghlbulk undo's record; changed: it updated or deleted it).
	MarkSource(ctx context.Context, e SourceEntry, created, changed bool) error
	// ClaimedOn returns the remote ids the entries of kind on a contact
	// hold: a lookup never takes one of them for another row's.
	ClaimedOn(ctx context.Context, kind, contactID string) ([]string, error)
}

// Source entry states: pending before a request (Op says which), done
// once the remote record holds Written, deleted once it is gone.
const (
	SourcePending = "pending"
	SourceDone    = "done"
	SourceDeleted = "deleted"
)

// Source entry operations, the request a pending entry stands for.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// SourceEntry is one note or task known by its source identity.
type SourceEntry struct {
	Kind      string // KindNote or KindTask
	Identity  string // SourceIdentity
	SourceKey string // the row's source_key (what --delete-missing looks for in the input)
	ContactID string
	RemoteID  string // "" until created
	Written   string // content hash the remote record holds (done)
	Want      string // content hash being written (pending)
	Op        string // pending: OpCreate, OpUpdate or OpDelete
	State     string // SourcePending, SourceDone or SourceDeleted
}

// SourceIdentity identifies the n-th item (its position in the mapping's
// notes: or tasks: list) of the row with sourceKey, on contact: the same
// row naming another contact is another record (the one on the first
// contact is then missing from the input).
func SourceIdentity(contactID, sourceKey string, n int) string {
	return strconv.Itoa(len(contactID)) + ":" + contactID + strconv.Itoa(len(sourceKey)) + ":" + sourceKey + "#" + strconv.Itoa(n)
}

// ContactItemIdentity identifies the n-th item of a contacts mapping's
// notes: or tasks: list written by the row with key (the row's source_key,
// or without one its match key) on contact. It starts with "c:", which no
// SourceIdentity does (they start with a digit): a notes or tasks file's
// --delete-missing never takes one for its own (OfContactsMapping).
func ContactItemIdentity(contactID, key string, n int) string {
	return "c:" + SourceIdentity(contactID, key, n)
}

// OfContactsMapping reports an identity made by ContactItemIdentity.
func OfContactsMapping(identity string) bool { return strings.HasPrefix(identity, "c:") }
