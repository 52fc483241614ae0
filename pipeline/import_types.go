package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/ghl"
)

// Record is one transformed input row as the import handles it (the
// fields of transform.Row; see TransformFunc).
type Record struct {
	File      string
	Row       int64    // 1-based data row in its file
	Raw       []string // the source values as read, for the rejects file
	Key       string   // normalised match key ("email:a@b.c"): routing and the ID map
	SourceKey string
	Contact   ghl.UpsertContactRequest // only non-blank fields set
	Tags      []string                 // added, never replaced
	Notes     []ghl.NoteInput
	Tasks     []ghl.TaskInput
	Hash      string // content hash of all of the above: unchanged detection
	Err       error  // non-nil: the row is rejected with this reason
	ContactID string // the contact a notes or tasks row attaches to (from the ID map); "" for a contacts row
}

// TransformFunc turns one record batch of file into Records, one per row,
// in order. FromMapping adapts a compiled *transform.Mapping.
type TransformFunc func(rec arrow.Record, file string, firstRow int64) []Record

// Item is a Record on its way to the API, with what the checkpoint knows
// about its contact, and the outcome the sink fills in.
type Item struct {
	Rec *Record
	// Known is the contact id the ID map holds for Rec.Key ("" if none).
	Known string
	// Since is set when an earlier attempt at this row may have been sent
	// (the run is resumed, and started then): a contact the upsert finds
	// that was added since is one this run created.
	Since time.Time
	// DupOf is an earlier item of the run with the same key and content,
	// still on its way when this one was read (Repeat).
	DupOf *Item
	// common are the tags batched as a set (TagIntent.Common).
	common map[string]bool

	// Filled in by the sink. An Item left with Status "" was not finished
	// (the run stopped first) and is not checkpointed: the next run does
	// it again.
	Status    string // StatusCreated, StatusUpdated, StatusRejected
	ContactID string
	Reason    string // for StatusRejected: what is wrong, with the HTTP status and the API's message
	// Tags are the row's tags its contact lacks, left by a Sink that is a
	// TagWriter for the run to add in bulk (normalised: NormTags).
	Tags []string
}

// Repeat settles an item that repeats an earlier one of the run (DupOf:
// the same key and content) as unchanged, with that one's contact, once
// that one is written; it reports whether it did. Sinks call it first: a
// repeated row costs no request. (The earlier item is in the same lane and
// was handed to the sink before, so its outcome is set by now.)
func (it *Item) Repeat() bool {
	d := it.DupOf
	if d == nil || (d.Status != StatusCreated && d.Status != StatusUpdated && d.Status != StatusUnchanged) {
		return false
	}
	it.Status, it.ContactID = StatusUnchanged, d.ContactID
	return true
}

// Reject marks the item rejected with a reason.
func (it *Item) Reject(reason string) {
	it.Status = StatusRejected
	it.Reason = reason
}

// Journal records notes and tasks around their create requests, so that a
// run resumed after a kill never sends one twice. *Store implements it; a
// dry run uses a no-op.
type Journal interface {
	// Subs returns the entries of a contact key.
	Subs(ctx context.Context, key string) ([]SubRecord, error)
	// MarkSub writes one entry: SubPending before the request, SubDone after.
	MarkSub(ctx context.Context, ref SubRef, state, remoteID string) error
}

// Group is the unit of work handed to a Sink: rows of one lane (rows with
// the same match key are always in the same lane, one group at a time), in
// input order.
type Group struct {
	Items   []*Item
	Journal Journal
	Stats   *Stats
	Logger  *slog.Logger
	// Stopping reports a soft stop (SIGINT): finish the row in hand and the
	// requests it needs, start no new row.
	Stopping func() bool
}

// Sink writes groups of rows. Write fills in each Item's outcome; its error
// is only for faults that stop the run (auth, scope, quota, a mapping
// fault, the API failing past its retries, ctx). sinks.GHL implements it.
type Sink interface {
	Write(ctx context.Context, g *Group) error
}

// Progress shows the run's advance: a bar on a terminal, periodic lines
// otherwise. Update may be called often; implementations throttle.
type Progress interface {
	Update(r Report)
	Finish(r Report)
}

type nopJournal struct{}

func (nopJournal) Subs(context.Context, string) ([]SubRecord, error)     { return nil, nil }
func (nopJournal) MarkSub(context.Context, SubRef, string, string) error { return nil }

type nopProgress struct{}

func (nopProgress) Update(Report) {}
func (nopProgress) Finish(Report) {}
