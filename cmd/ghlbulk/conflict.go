package main

import (
	"context"
	"fmt"

	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/pipeline/predict"
)

// The --on-conflict values.
const (
	onConflictReject      = "reject"
	onConflictUpdateFirst = "update-first"
)

// conflictScreen is import's --on-conflict reject (pipeline's Screen): a
// row whose email matches one contact and phone another is rejected with
// both contact ids, never written, since the upsert would update the first
// and silently drop the other field. The location's contacts are listed
// once, at the first row to write (a re-run with nothing to write lists
// nothing), and rows are judged against them as validate --online does.
type conflictScreen struct {
	f    *factory
	s    *apiSession
	pred *predict.Predictor // built at the first row; the submitter only calls screen
}

func (c *conflictScreen) screen(ctx context.Context, st *pipeline.Stats, rec *pipeline.Record) (string, error) {
	if c.pred == nil {
		c.f.logger().Info("reading the location's contacts once to find rows whose email and phone match two contacts (--on-conflict update-first skips this)")
		idx, err := indexContacts(ctx, c.f, c.s, st)
		if err != nil {
			return "", err
		}
		c.pred = predict.New(idx, predict.Options{})
	}
	d := c.pred.Judge(rec)
	if d.Action == predict.Conflict || (d.Action == predict.Duplicate && d.OtherContactID != "") {
		return fmt.Sprintf("conflict: %s (contacts %s and %s; fix the row, or pass --on-conflict update-first to let the upsert update the first)",
			d.Reason, d.ContactID, d.OtherContactID), nil
	}
	return "", nil
}
