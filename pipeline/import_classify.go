package pipeline

// Judging rows before they are sent: what the state and the row judge
// settle, the conflict screen, and rows repeating one in flight.

import (
	"slices"

	"github.com/ghlbulk/ghlbulk/record"
)

// classifyRows settles what can be settled without the API (rows already
// checkpointed, rows the mapping rejected, rows whose content was already
// written) and returns the rest as items. JudgeRow decides; this looks up
// what it needs, screens the rows it sends on, and acts on its verdicts.
// digests are the rows' RowDigests (mapped.digests).
func (r *importRun) classifyRows(fp, file string, recs []record.Row, digests []uint64) ([]*item, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	state, err := LookUpState(r.work, r.cfg.Store, fp, recs)
	if err != nil {
		return nil, r.stateFault(err)
	}
	var items []*item
	var settled []*outcome
	fileIdx := slices.Index(r.cfg.Files, file)
	for i := range recs {
		rec := &recs[i]
		if rec.File == "" {
			rec.File = file
		}
		f := state.Facts(rec)
		f.KeyFirst = r.firstRow.First(rec, fileIdx)
		prev := r.inFlight(rec, digests[i])
		f.InFlight = prev != nil
		v, err := r.screen(rec, JudgeRow(rec, f))
		if err != nil {
			return nil, err
		}
		switch v.Fate {
		case FateSettled:
			settled = append(settled, &outcome{fp: fp, rec: rec, status: v.Status, id: v.ContactID, reason: v.Reason, replay: v.Replay})
		case FateRepeat:
			items = append(items, &item{Item: record.Item{Row: rec, Known: v.ContactID, Since: r.resumedSince}, dupOf: prev})
		default:
			items = append(items, r.newItem(rec, v.ContactID, digests[i]))
		}
	}
	if len(settled) > 0 {
		r.results <- settled
	}
	return items, nil
}

// screen puts a row about to be sent (to write, or repeating one in
// flight) through the run's Screen, whose reason rejects it; an error
// stops the run.
func (r *importRun) screen(rec *record.Row, v Verdict) (Verdict, error) {
	if v.Fate == FateSettled || r.cfg.Screen == nil {
		return v, nil
	}
	reason, err := r.cfg.Screen(r.work, r.stats, rec)
	if err != nil {
		fe := &record.FaultError{Kind: record.FaultAPI, Err: err, Hint: "the state is kept: run the same command again to resume"}
		r.setFault(fe)
		return v, fe
	}
	if reason != "" {
		return Verdict{Fate: FateSettled, Status: record.StatusRejected, Reason: reason}, nil
	}
	return v, nil
}

// inFlight is the recent item rec (whose RowDigest is d) repeats (same
// key and content), or nil.
func (r *importRun) inFlight(rec *record.Row, d uint64) *item {
	if rec.Hash == "" {
		return nil
	}
	return r.recent[d]
}

// newItem makes a row to write an Item and remembers it as recent, for
// the rows after it that repeat it (FateRepeat: no request). Items older
// than the rows that can be in flight have been checkpointed, and a repeat
// of one of those is found unchanged through the ID map.
func (r *importRun) newItem(rec *record.Row, known string, d uint64) *item {
	it := &item{Item: record.Item{Row: rec, Known: known, Since: r.resumedSince}}
	if rec.Hash == "" {
		return it
	}
	if common, chosen := r.classes.Chosen(); chosen {
		it.common = common // the row's tags no longer count: not normalised
	} else {
		tags := rec.Tags
		if known == "" && r.bound.Tag != "" {
			tags = append(slices.Clone(tags), r.bound.Tag)
		}
		it.common = r.classes.Observe(record.NormTags(tags))
	}
	r.recent[d] = it
	r.recentOrder = append(r.recentOrder, d)
	if max := 4 * r.lanes * r.cfg.GroupSize; len(r.recentOrder) > max {
		delete(r.recent, r.recentOrder[0])
		r.recentOrder = r.recentOrder[1:]
	}
	return it
}
