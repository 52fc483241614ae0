package importer

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/jobs/predict"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// PlanFile is validate's plan: each row the run's transform hands on is
// judged by the predictor, in input order, and its decision written as a
// line of the plan file, which is committed only when it is whole (a line
// for every row read). A plan nobody asked for (no --plan-out) is dropped
// once it passes MaxRows lines: past that it would be hundreds of
// megabytes of people's emails and phones on disk.
type PlanFile struct {
	path    string
	asked   bool  // --plan-out was given: written whatever its size
	maxRows int64 // unasked, the most lines written
	w       *predict.PlanWriter
	dropped bool
	err     error
}

// CreatePlanFile starts the plan at path (aside, renamed on Finish).
func CreatePlanFile(path string, asked bool, maxRows int64) (*PlanFile, error) {
	w, err := predict.CreatePlan(path)
	if err != nil {
		return nil, err
	}
	return &PlanFile{path: path, asked: asked, maxRows: maxRows, w: w}, nil
}

// Abort leaves no plan behind unless Finish committed it.
func (p *PlanFile) Abort() { p.w.Abort() }

// Dropped reports whether an unasked plan grew past MaxRows and was let go.
func (p *PlanFile) Dropped() bool { return p.dropped }

// Transform is inner with every row it yields judged by pred and written
// to the plan; the rows go on unchanged.
func (p *PlanFile) Transform(inner pipeline.TransformFunc, pred *predict.Predictor) pipeline.TransformFunc {
	judge := p.Inspect(pred)
	return func(rec arrow.Record, file string, firstRow int64) []record.Row {
		recs := inner(rec, file, firstRow)
		judge(file, recs)
		return recs
	}
}

// Inspect judges every row by pred and writes it to the plan: the run's
// Inspect, which sees the rows in input order however many batches the
// mapping works on at once.
func (p *PlanFile) Inspect(pred *predict.Predictor) func(file string, recs []record.Row) {
	return func(file string, recs []record.Row) {
		for i := range recs {
			if recs[i].File == "" {
				recs[i].File = file
			}
			p.write(pred.Judge(&recs[i]))
		}
	}
}

func (p *PlanFile) write(d predict.Decision) {
	if !p.asked && !p.dropped && p.w.Lines() >= p.maxRows {
		p.w.Abort()
		p.dropped = true
	}
	if p.err == nil && !p.dropped {
		p.err = p.w.Write(d)
	}
}

// Finish commits the plan after a run that read every row (rep, runErr):
// it returns the plan's path, or "" when none was written (the run
// stopped, the plan was dropped, or writing it failed: then the error).
func (p *PlanFile) Finish(rep pipeline.Report, runErr error) (string, error) {
	if runErr != nil || p.dropped {
		return "", p.err
	}
	if p.err == nil && p.w.Lines() != rep.RowsRead {
		p.err = fmt.Errorf("plan %s: %d lines for %d rows read", p.path, p.w.Lines(), rep.RowsRead)
	}
	if p.err == nil {
		p.err = p.w.Commit()
	}
	if p.err != nil {
		return "", p.err
	}
	return p.path, nil
}
