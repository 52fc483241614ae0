package pipeline

// The committer: the one goroutine that writes outcomes to the state, and
// the counters and rejects that follow from them.

import (
	"context"
	"time"

	"github.com/ghlbulk/ghlbulk/record"
)

// commitLoop is the committer: it counts each outcome and checkpoints them
// in transactions of CommitRows rows or CommitEvery, whichever comes first.
// A row is committed only after its requests returned.
func (r *importRun) commitLoop() error {
	var batch []RowOutcome
	tick := time.NewTicker(r.cfg.CommitEvery)
	defer tick.Stop()
	var failed error
	flush := func() {
		if len(batch) == 0 || failed != nil {
			batch = batch[:0]
			return
		}
		if r.cfg.Store != nil && !r.cfg.DryRun {
			if err := r.cfg.Store.CommitRows(context.WithoutCancel(r.work), batch); err != nil {
				failed = r.stateFault(err)
			}
		}
		if failed == nil {
			r.queueTags(batch)
		}
		batch = batch[:0]
	}
	for {
		select {
		case outs, ok := <-r.results:
			if !ok {
				flush()
				r.progress.Update(r.stats.Snapshot())
				return failed
			}
			for _, o := range outs {
				r.count(o)
				if o.replay {
					continue
				}
				batch = append(batch, r.rowOutcome(o))
			}
			if len(batch) >= r.cfg.CommitRows {
				flush()
			}
			r.progress.Update(r.stats.Snapshot())
		case <-tick.C:
			flush()
			// Rows finish a group at a time, which under pacing can be
			// minutes apart: show the requests going out meanwhile.
			r.progress.Update(r.stats.Snapshot())
		}
	}
}

// rowOutcome is what the state keeps of an outcome: the row, and what it
// still has to add (tags, its business) with its source values.
func (r *importRun) rowOutcome(o *outcome) RowOutcome {
	ro := RowOutcome{FP: o.fp, File: o.rec.File, Row: o.rec.Row, Key: o.rec.Key, SourceKey: o.rec.SourceKey,
		ContactID: o.id, Hash: o.rec.Hash, Status: o.status, Reason: o.reason,
		// A notes or tasks row (rec.ContactID set) creates a note, never
		// its contact.
		MadeContact: o.status == record.StatusCreated && o.rec.ContactID == ""}
	if r.tags != nil && len(o.tags) > 0 {
		ro.Tags, ro.Raw, ro.common = o.tags, o.rec.Raw, o.common
	}
	if r.links != nil && o.biz != "" {
		ro.Business, ro.Raw = o.biz, o.rec.Raw
	}
	if o.status == record.StatusRejected {
		ro.Raw = o.rec.Raw
		if r.cfg.DryRun && r.cfg.RejectsPath != "" {
			r.dryRejects.add(RejectRecord{File: o.rec.File, Row: o.rec.Row, Raw: o.rec.Raw, Reason: o.reason})
		}
	}
	return ro
}

// count adds one outcome to the run's counters. A row checkpointed by an
// earlier run counts as unchanged (or rejected): this run wrote nothing.
func (r *importRun) count(o *outcome) {
	r.stats.Read(1)
	r.countDropped(o.rec)
	switch o.status {
	case record.StatusCreated:
		if o.replay {
			r.stats.Unchanged()
		} else {
			r.stats.Created()
		}
	case record.StatusUpdated:
		if o.replay {
			r.stats.Unchanged()
		} else {
			r.stats.Updated()
		}
	case record.StatusRejected:
		r.stats.Rejected(1)
	default:
		r.stats.Unchanged()
	}
}

// countDropped counts and warns of a row's invalid email or phone left
// out (transform's invalid_phone: drop): the row is written, so the
// rejects file does not show it; the first few are logged row by row.
func (r *importRun) countDropped(rec *record.Row) {
	if rec == nil || rec.Err != nil {
		return
	}
	for _, d := range rec.Dropped {
		if r.stats.InvalidDropped(d.Field) <= maxDroppedWarnings {
			r.log.Warn("invalid value left out", "file", rec.File, "row", rec.Row, "what", d.Why)
		}
	}
}

// maxDroppedWarnings is how many left-out values are logged one by one.
const maxDroppedWarnings = 20

// writeRejects regenerates the rejects file (from the state, or from
// its scratch file in a dry run).
func (r *importRun) writeRejects() error {
	defer r.dryRejects.Close()
	if r.cfg.RejectsPath == "" {
		return nil
	}
	ctx := context.WithoutCancel(r.work)
	if r.cfg.DryRun || r.cfg.Store == nil {
		headers := make([][]string, 0, len(r.cfg.Files))
		for _, f := range r.cfg.Files {
			if h, ok := r.headers[f]; ok {
				headers = append(headers, h)
			}
		}
		_, err := WriteRejects(r.cfg.RejectsPath, headers, r.dryRejects.all(r.headers))
		return err
	}
	_, err := r.cfg.Store.WriteRejectsFile(ctx, r.cfg.RejectsPath)
	return err
}
