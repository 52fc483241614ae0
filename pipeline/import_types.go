package pipeline

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/record"
)

// TransformFunc turns one record batch of file into rows, one per record
// row, in order. A compiled mapping's Apply is one.
type TransformFunc func(rec arrow.Record, file string, firstRow int64) []record.Row

// Sink writes rows to HighLevel (sinks.GHL, sinks.Related). The engine
// hands it a lane's rows one at a time, in input order, never two of one
// match key at once, and only rows that need a write: a row repeating one
// already written is settled before, and so is every row once the run is
// stopping. The sink's notes and tasks journal and its retry policy are
// given to it when it is made; m counts its requests in the run's report.
//
// Write returns the row's outcome. Its error is only for faults that stop
// the run (a *record.FaultError: auth, scope, quota, a mapping fault, the
// API failing past its retries; or ctx's error); the outcome is then
// record.StatusUnknown, and the row is left to the next run.
type Sink interface {
	Write(ctx context.Context, m record.Meter, it record.Item) (record.Outcome, error)
}

// Progress shows the run's advance: a bar on a terminal, periodic lines
// otherwise. Update may be called often; implementations throttle.
type Progress interface {
	Update(r Report)
	Finish(r Report)
}

type nopProgress struct{}

func (nopProgress) Update(Report) {}
func (nopProgress) Finish(Report) {}

// item is an Item on its way through the engine: what the sink is handed,
// what the engine keeps about it, and the outcome the sink hands back.
type item struct {
	record.Item
	// dupOf is an earlier item of the run with the same key and content,
	// still on its way when this one was read (repeat).
	dupOf *item
	// common are the tags batched as a set (TagIntent.Common).
	common map[string]bool
	// out is the sink's answer; StatusUnknown until the row is written.
	out record.Outcome
}

// repeat settles an item that repeats an earlier one of the run (dupOf:
// the same key and content) as unchanged, with that one's contact, once
// that one is written; it reports whether it did. The engine calls it
// before the sink sees the row: a repeated row costs no request. (The
// earlier item is in the same lane and was written before, so its outcome
// is set by now.)
func (it *item) repeat() bool {
	d := it.dupOf
	if d == nil {
		return false
	}
	switch d.out.Status {
	case record.StatusCreated, record.StatusUpdated, record.StatusUnchanged:
		it.out = record.Outcome{Status: record.StatusUnchanged, ContactID: d.out.ContactID}
		return true
	}
	return false
}
