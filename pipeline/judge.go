package pipeline

import (
	"context"
	"fmt"

	"github.com/ghlbulk/ghlbulk/record"
)

// The row judge: what becomes of one input row, decided in one place for
// the run (importRun.classifyRows) and for the quota planner (jobs/plan),
// so that the plan counts the requests the run makes. JudgeRow is pure:
// the callers look up what it needs (StateFacts from the checkpoint,
// KeyPlaces for duplicates: report, their own sets of rows in flight) and
// act on its verdict.

// Fate is what becomes of a row.
type Fate int

const (
	// FateSettled rows cost no request: done by an earlier run (Replay),
	// rejected, or unchanged (the ID map has the content written).
	FateSettled Fate = iota + 1
	// FateWrite rows go to the sink.
	FateWrite
	// FateRepeat rows repeat an earlier row of the run (same match key and
	// content) that is still on its way: they go to the sink linked to it
	// (Item.DupOf) and cost no request.
	FateRepeat
)

// RowAt names a row of the input: its file and 1-based data row (0: none).
type RowAt struct {
	File string
	Row  int64
}

// RowFacts is what the caller looked up about a row before judging it.
type RowFacts struct {
	// Done is the row's checkpoint from an earlier run; nil if none.
	Done *RowRecord
	// Known is the ID map's entry for the row's match key (zero: none).
	Known ContactRecord
	// KeyFirst is, with duplicates: report, the earlier row the row's
	// match key first appeared at (KeyPlaces.First); Row 0 if none.
	KeyFirst RowAt
	// InFlight says an earlier row of the run with the same match key and
	// content (RowDigest) is still on its way. Ignored for a row without
	// a content hash.
	InFlight bool
}

// Verdict is the judge's answer.
type Verdict struct {
	Fate Fate
	// Status is, for a settled row, record.StatusRejected, record.StatusUnchanged, or
	// (Replay) the status its checkpoint holds.
	Status string
	Reason string // record.StatusRejected: why, as the rejects file says it
	// ContactID is a settled row's contact, or for a row to write the
	// contact the ID map holds for its key ("" if none: Item.Known).
	ContactID string
	// Replay marks a row an earlier run checkpointed: counted, not
	// checkpointed again.
	Replay bool
}

// ReasonNoKey is the reject reason of a row with no match key.
const ReasonNoKey = "no email or phone to match the contact by"

// JudgeRow decides rec's fate from what the caller looked up. In order:
// a row checkpointed with this content is replayed; a row the mapping
// rejected, with no match key, or (duplicates: report) repeating an
// earlier row's match key is rejected; a row whose content the ID map has
// as written is unchanged; a row repeating one in flight is a repeat; the
// rest are written.
func JudgeRow(rec *record.Row, f RowFacts) Verdict {
	if d := f.Done; d != nil && d.Hash == rec.Hash {
		return Verdict{Fate: FateSettled, Status: d.Status, ContactID: d.ContactID, Replay: true}
	}
	if reason := rejectReason(rec, f.KeyFirst); reason != "" {
		return Verdict{Fate: FateSettled, Status: record.StatusRejected, Reason: reason}
	}
	if rec.Hash != "" && f.Known.Hash == rec.Hash {
		return Verdict{Fate: FateSettled, Status: record.StatusUnchanged, ContactID: f.Known.ContactID}
	}
	if rec.Hash != "" && f.InFlight {
		return Verdict{Fate: FateRepeat, ContactID: f.Known.ContactID}
	}
	return Verdict{Fate: FateWrite, ContactID: f.Known.ContactID}
}

// rejectReason is why rec is rejected before any request; "" if it is not.
func rejectReason(rec *record.Row, first RowAt) string {
	if reason := RejectReason(rec); reason != "" {
		return reason
	}
	if first.Row > 0 {
		return fmt.Sprintf("repeats the match key of row %d of %s (the mapping says duplicates: report)", first.Row, first.File)
	}
	return ""
}

// RejectReason is why the mapping's output rec can't be written at all,
// as the rejects file says it: the mapping's complaint, or no match key;
// "" if neither. (validate's prediction gives the same reasons.)
func RejectReason(rec *record.Row) string {
	switch {
	case rec.Err != nil:
		return rowReason(rec.Err)
	case rec.Key == "":
		return ReasonNoKey
	}
	return ""
}

// RowDigest is the 64-bit digest of a match key and a content hash by
// which the run and the planner spot a row repeating an earlier one (and,
// with hash "", a repeated match key). It lives in memory only: nothing
// persisted depends on it.
func RowDigest(key, hash string) uint64 {
	// FNV-1a, as hash/fnv's New64a computes it over key, a 0 byte and hash,
	// without its allocations (the run takes one a row).
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * prime
	}
	h *= prime // ^ 0
	for i := 0; i < len(hash); i++ {
		h = (h ^ uint64(hash[i])) * prime
	}
	return h
}

// KeyPlaces remembers, with duplicates: report, the row each match key
// first appeared at. A nil *KeyPlaces remembers nothing (duplicates are
// merged).
type KeyPlaces struct {
	files []string
	at    map[uint64]rowPlace
}

// NewKeyPlaces returns an empty KeyPlaces for the run's input files.
func NewKeyPlaces(files []string) *KeyPlaces {
	return &KeyPlaces{files: files, at: make(map[uint64]rowPlace)}
}

// First returns the earlier row rec's match key first appeared at (Row 0:
// none), and remembers rec (of files[file]) as the first if it is. A row
// the mapping rejected, or one with no key, is neither.
func (k *KeyPlaces) First(rec *record.Row, file int) RowAt {
	if k == nil || rec.Key == "" || rec.Err != nil {
		return RowAt{}
	}
	d := RowDigest(rec.Key, "")
	if at, seen := k.at[d]; seen {
		return RowAt{File: k.files[at.file], Row: at.row}
	}
	k.at[d] = rowPlace{file: file, row: rec.Row}
	return RowAt{}
}

// rowPlace is a row of the input: its file (index in Files) and number.
type rowPlace struct {
	file int
	row  int64
}

// StateFacts is what the checkpoint knows about a batch of rows: their
// outcomes from an earlier run, and the ID map's entries for their keys.
type StateFacts struct {
	done  map[int64]RowRecord
	known map[string]ContactRecord
}

// LookUpState reads what st knows about recs, rows of the file with
// fingerprint fp in order (st nil: nothing is known).
func LookUpState(ctx context.Context, st *Store, fp string, recs []record.Row) (StateFacts, error) {
	var s StateFacts
	if st == nil || len(recs) == 0 {
		return s, nil
	}
	var err error
	if s.done, err = st.Rows(ctx, fp, recs[0].Row, recs[len(recs)-1].Row); err != nil {
		return s, err
	}
	keys := make([]string, 0, len(recs))
	for i := range recs {
		if recs[i].Key != "" {
			keys = append(keys, recs[i].Key)
		}
	}
	s.known, err = st.Contacts(ctx, keys)
	return s, err
}

// Facts are rec's RowFacts as far as the checkpoint tells them (Done and
// Known).
func (s StateFacts) Facts(rec *record.Row) RowFacts {
	f := RowFacts{Known: s.known[rec.Key]}
	if d, ok := s.done[rec.Row]; ok {
		f.Done = &d
	}
	return f
}
