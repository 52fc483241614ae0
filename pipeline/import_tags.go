package pipeline

// The run's tags and business links: intents journaled with their rows,
// batched run-wide, sent by the tag sender the run owns, settled in the
// state.

import (
	"context"
	"fmt"

	"github.com/ghlbulk/ghlbulk/record"
)

// finishTags sends the tags still waiting once every row is in (clean:
// nothing failed, and the run was not stopped), in as few requests as
// they can, and settles what was sent whatever stopped the run. A run
// that stops early leaves the rest journaled for the next one.
func (r *importRun) finishTags(ctx context.Context, clean bool) {
	if r.batcher == nil {
		return
	}
	if clean && ctx.Err() == nil && r.firstFault() == nil {
		if err := r.sendTags(r.batcher.Drain()); err != nil {
			r.setFault(err)
		}
	}
	if err := r.settleTags(); err != nil {
		r.setFault(err)
	}
}

// queueTags hands the tags of rows just checkpointed to the batcher, and
// the requests that fills to the tag sender.
func (r *importRun) queueTags(batch []RowOutcome) {
	if r.batcher == nil {
		return
	}
	for _, o := range batch {
		if len(o.Tags) == 0 && o.Business == "" {
			continue
		}
		// The row's source values stay in the state, not here: they would
		// keep the whole input batch they were read from in memory for as
		// long as the tags wait.
		in := &TagIntent{FP: o.FP, File: o.File, Row: o.Row, Key: o.Key, ContactID: o.ContactID, Tags: o.Tags,
			Business: o.Business, Common: o.common, counted: o.Status, status: o.Status, run: r.cfg.Store.runID()}
		if calls := r.batcher.Add(in); len(calls) > 0 {
			r.tagCalls <- calls
		}
	}
}

// tagLoop is the tag sender: it sends the full requests the committer
// queues, one at a time (they are a few in a hundred of the run's
// requests), until the committer is done. After a fault it only drains.
func (r *importRun) tagLoop() {
	for calls := range r.tagCalls {
		if r.firstFault() != nil {
			continue
		}
		if err := r.sendTags(calls); err != nil {
			r.setFault(err)
		}
	}
}

// sendTags sends bulk tag requests and settles the intents they finish:
// deleted from the state, or, refused by the API, their rows made rejects.
func (r *importRun) sendTags(calls []TagCall) error {
	for i := range calls {
		c := &calls[i]
		if err := r.beforeFirstWrite(r.work); err != nil {
			return err
		}
		refused, err := r.send(c)
		if err != nil {
			return err
		}
		finished := c.settle(refused)
		for _, in := range finished {
			if in.reason != "" && in.counted != "" {
				r.stats.Demote(in.counted)
			}
		}
		r.settled = append(r.settled, finished...)
		// A business link is settled at once: its request answers for up
		// to a thousand rows, which a kill would otherwise send again.
		if len(r.settled) >= settleEvery || (c.Business != "" && len(finished) > 0) {
			if err := r.settleTags(); err != nil {
				return err
			}
		}
	}
	return nil
}

// send sends one bulk request: a business link or tags.
func (r *importRun) send(c *TagCall) (map[string]string, error) {
	if c.Business == "" {
		if r.tags == nil {
			return nil, fmt.Errorf("import: tags to add but the run has no TagWriter (ImportConfig.Tags)")
		}
		return r.tags.AddTags(r.work, r.stats, c.Tags, c.IDs)
	}
	if r.links == nil {
		return nil, fmt.Errorf("import: contacts to link to business %q but the run has no BusinessWriter (ImportConfig.Business)", c.Business)
	}
	return r.links.LinkBusiness(r.work, r.stats, c.Business, c.IDs)
}

// settleEvery is how many finished tag intents are settled in one
// transaction. Until then they stay journaled: a run killed meanwhile
// sends their tags again, which adds nothing twice.
const settleEvery = 2000

// settleTags records the finished intents in the state. It is called by
// whoever sends tags (the tag sender, then run once it is done), never
// by two at once.
func (r *importRun) settleTags() error {
	if len(r.settled) == 0 {
		return nil
	}
	if err := r.cfg.Store.SettleTags(context.WithoutCancel(r.work), r.settled); err != nil {
		return &record.FaultError{Kind: record.FaultState, Err: err}
	}
	r.settled = r.settled[:0]
	return nil
}

// resumeTags sends the tags an earlier run left journaled (it stopped
// before its batches filled), before any row is read: a row they are
// refused for is then a reject when this run reads it.
func (r *importRun) resumeTags() error {
	if r.batcher == nil {
		return nil
	}
	intents, err := r.cfg.Store.TagIntents(r.work)
	if err != nil {
		return &record.FaultError{Kind: record.FaultState, Err: err}
	}
	if len(intents) == 0 {
		return nil
	}
	r.log.Info("adding the tags an earlier run left to add", "rows", len(intents))
	resumed := NewTagBatcher(r.cfg.BulkTagMax, r.cfg.MaxPendingTags).SetBusinessMax(r.cfg.BulkBusinessMax)
	var calls []TagCall
	for _, in := range intents {
		calls = append(calls, resumed.Add(in)...)
	}
	if err := r.sendTags(append(calls, resumed.Drain()...)); err != nil {
		return err
	}
	return r.settleTags()
}
