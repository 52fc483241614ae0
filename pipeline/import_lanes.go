package pipeline

// The lanes: rows of one match key go through one lane, in input order, so
// two writes for one contact never race; the sink gets a lane's rows one at
// a time.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"

	"github.com/sourcegraph/conc/pool"

	"github.com/ghlbulk/ghlbulk/record"
)

// dispatch splits items into lanes by match key and submits one task per
// non-empty lane. Rows with the same key share a lane, and a lane's groups
// run one after another, so two writes for one contact never race (which
// could create it twice).
func (r *importRun) dispatch(ctx context.Context, p *pool.ContextPool, fp string, items []*item) {
	if len(items) == 0 {
		return
	}
	byLane := make([][]*item, r.lanes)
	for _, it := range items {
		l := LaneOf(it.Row.Key, r.lanes)
		byLane[l] = append(byLane[l], it)
	}
	// A lane's rows go in groups of at most GroupSize, one after another:
	// a group is checkpointed only when done, so its size bounds what a
	// stop drains, what a resume redoes, and the requests it needs (which
	// must fit in what is left of a daily quota).
	for lane, rows := range byLane {
		for len(rows) > 0 {
			n := min(len(rows), r.cfg.GroupSize)
			if !r.submit(ctx, p, fp, lane, rows[:n]) {
				return
			}
			rows = rows[n:]
		}
	}
}

// submit hands one group to the pool, after the lane's previous group. It
// reports false when the run is stopping and nothing more may be submitted.
func (r *importRun) submit(ctx context.Context, p *pool.ContextPool, fp string, lane int, group []*item) bool {
	// Check before each Go: a soft stop or a fault submits nothing
	// more (what is not submitted is not checkpointed, and is done
	// by the next run).
	if ctx.Err() != nil || r.firstFault() != nil {
		return false
	}
	prev := r.laneTail[lane]
	mine := make(chan struct{})
	r.laneTail[lane] = mine
	p.Go(func(wctx context.Context) error {
		defer close(mine)
		if prev != nil {
			<-prev
		}
		err := r.write(wctx, group)
		outs, tagErr := r.outcomes(fp, group)
		r.results <- outs
		if err = errors.Join(err, tagErr); err != nil {
			r.setFault(err)
		}
		return nil
	})
	return true
}

// write hands a group's rows to the sink one at a time, in order, unless
// the run already stopped for a fault. A row repeating an earlier one of
// the run costs no request (item.repeat); a soft stop ends the group at
// the row in hand, and the rows left keep no outcome (the next run does
// them). The first row of the run is preceded by BeforeFirstWrite.
func (r *importRun) write(ctx context.Context, group []*item) error {
	if ctx.Err() != nil || r.firstFault() != nil {
		return nil
	}
	if err := r.beforeFirstWrite(ctx); err != nil {
		return err
	}
	for _, it := range group {
		if r.rowStop(ctx) {
			return nil
		}
		if it.repeat() {
			continue
		}
		out, err := r.sink.Write(ctx, r.stats, it.Item)
		if err != nil {
			return err
		}
		it.out = out
	}
	return nil
}

// rowStop reports that no more rows of a group may start: a soft stop, or
// the requests cancelled (a fault, the stop's grace over). A dry run sends
// nothing and finishes its groups.
func (r *importRun) rowStop(ctx context.Context) bool {
	return !r.cfg.DryRun && (r.stopping() || ctx.Err() != nil)
}

// beforeFirstWrite runs cfg.BeforeFirstWrite once per run (never in a dry
// run), and keeps its answer.
func (r *importRun) beforeFirstWrite(ctx context.Context) error {
	if r.cfg.DryRun || r.cfg.BeforeFirstWrite == nil {
		return nil
	}
	r.ready.Do(func() { r.readyErr = r.cfg.BeforeFirstWrite(ctx) })
	return r.readyErr
}

// outcomes are a written group's outcomes for the committer, with the tags
// each row still has to add. A row the sink did not finish (the run
// stopped) has none, and is left to the next run.
func (r *importRun) outcomes(fp string, group []*item) ([]*outcome, error) {
	var err error
	outs := make([]*outcome, 0, len(group))
	for _, it := range group {
		res := it.out
		if res.Status == record.StatusUnknown {
			continue
		}
		o := &outcome{fp: fp, rec: it.Row, status: res.Status, id: res.ContactID, reason: res.Reason, common: it.common}
		if len(res.Tags) > 0 && (res.Status == record.StatusCreated || res.Status == record.StatusUpdated) {
			if r.tags == nil {
				// Never drop a row's tags silently.
				err = errors.Join(err, fmt.Errorf("import: the sink left tags to add but the run has no TagWriter (ImportConfig.Tags; row %d)", it.Row.Row))
				continue
			}
			o.tags = res.Tags
		}
		if res.Business != "" && (res.Status == record.StatusCreated || res.Status == record.StatusUpdated) {
			if r.links == nil {
				// Never drop a row's business silently.
				err = errors.Join(err, fmt.Errorf("import: the sink left a business to link but the run has no BusinessWriter (ImportConfig.Business; row %d)", it.Row.Row))
				continue
			}
			o.biz = res.Business
		}
		if res.Status == record.StatusCreated && r.bound.Tag != "" && r.tags != nil {
			o.tags = record.NormTags(append(slices.Clone(o.tags), r.bound.Tag))
		}
		outs = append(outs, o)
	}
	return outs, err
}

// rowReason is a mapping's complaint without the row number (the rejects
// file has its own _row column).
func rowReason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return err.Error()
}

// LaneOf is the lane (of lanes) that rows with match key key go to: rows
// of one key are written one after another, never at once.
func LaneOf(key string, lanes int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(lanes))
}

// dryRunSink is --dry-run's one choke point: every row that would be
// written is counted as the create or update it would be, and logged;
// nothing is sent.
type dryRunSink struct{ log *slog.Logger }

func (s dryRunSink) Write(_ context.Context, _ record.Meter, it record.Item) (record.Outcome, error) {
	out := record.Outcome{Status: record.StatusCreated}
	if it.Known != "" {
		out = record.Outcome{Status: record.StatusUpdated, ContactID: it.Known}
	}
	rec := it.Row
	s.log.Debug("dry run: would upsert", "file", rec.File, "row", rec.Row, "key", rec.Key,
		"tags", len(rec.Tags), "notes", len(rec.Notes), "tasks", len(rec.Tasks), "skipped_by", "--dry-run")
	return out, nil
}
