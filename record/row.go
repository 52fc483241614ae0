package record

import (
	"slices"
	"strings"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
)

// Row is one transformed input row as the import handles it (the fields
// of transform.Row).
type Row struct {
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
	// Items is, for a notes or tasks row with a SourceKey, the position
	// in its mapping's notes: or tasks: list of each of Notes or Tasks:
	// with the SourceKey and the contact, its identity (SourceIdentity).
	// Deletes are the positions whose deleted: condition held: those
	// records are deleted, not written. For a contacts row (whose notes
	// and tasks are known by the contact's source key, or its match key:
	// ContactItemIdentity), Items are the positions of its Notes in the
	// notes: list, then of its Tasks in the tasks: list, Deletes the
	// notes: positions whose deleted: held and TaskDeletes the tasks:
	// ones. Nil for any other row.
	Items, Deletes, TaskDeletes []int
	// Dropped lists the invalid values left out of a row that is still
	// written (an invalid phone on a row with a valid email, or the
	// reverse): the run counts and warns of them.
	Dropped []Dropped
}

// Item is a row the engine hands a sink to write, with what the
// checkpoint knows about its contact. The engine hands a lane's items one
// at a time, in input order, and never two of one match key at once.
type Item struct {
	Row *Row
	// Known is the contact id the ID map holds for Row.Key ("" if none).
	Known string
	// Since is set when an earlier attempt at this row may have been sent
	// (the run is resumed, and started then): a contact the upsert finds
	// that was added since is one this run created.
	Since time.Time
}

// Row statuses: a row's outcome, as the checkpoint records it.
const (
	// StatusUnknown is a row not finished (the run stopped first): not
	// checkpointed, so the next run does it again.
	StatusUnknown   = ""
	StatusCreated   = "created"
	StatusUpdated   = "updated"
	StatusUnchanged = "unchanged"
	StatusRejected  = "rejected"
)

// Outcome is what a sink did with one Item.
type Outcome struct {
	Status    string // one of the Status constants
	ContactID string
	Reason    string // for StatusRejected: what is wrong, with the HTTP status and the API's message
	// Tags are the row's tags its contact lacks (NormTags), left for the
	// engine's TagWriter to add in bulk.
	Tags []string
	// Business is the business a written contact goes in ("" for none),
	// left for the engine's BusinessWriter to link in bulk.
	Business string
}

// Rejected is the outcome of a row refused for reason.
func Rejected(reason string) Outcome {
	return Outcome{Status: StatusRejected, Reason: reason}
}

// NormTags is how tags compare (HighLevel keeps them lower case): trimmed,
// lower case, without blanks or repeats, sorted.
func NormTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		n := strings.ToLower(strings.TrimSpace(t))
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Dropped is one invalid value a row was written without.
type Dropped struct {
	Field string // "email" or "phone"
	Why   string // `phone "555-01": not a valid number for region US (left out: ...)`
}
