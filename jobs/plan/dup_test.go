package plan_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// Rows that repeat an earlier row (same match key, same content) are
// planned once.
func TestEstimateDuplicates(t *testing.T) {
	e := newEnv(t, sandbox.Options{Rate: -1}, 0, nil)
	e.write(300, func(i int, c []string) {
		if i >= 200 { // rows 200..299 repeat rows 0..99 (source key aside)
			j := i - 200
			c[1], c[2] = fmt.Sprintf("P%d", j), fmt.Sprintf("p%d@example.com", j)
			c[4] = []string{"customer", "customer;vip", "lead;Customer", "", "vip"}[j%5]
			c[5], c[6] = "", ""
			if j%4 == 0 {
				c[5] = fmt.Sprintf("note for %d", j)
			}
			if j%7 == 0 {
				c[6] = fmt.Sprintf("call %d", j)
			}
			if j%50 == 49 {
				c[2] = "not-an-email"
			}
		}
	})
	st := e.open()
	defer st.Close()
	cfg := e.config(st)
	p, err := plan.Estimate(e.ctx(), plan.FromImport(cfg, e.pacer.Observed()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Duplicates != 98 || p.Upserts != 300-98-6 {
		t.Errorf("plan %+v", p)
	}
	rep, err := pipeline.RunImport(e.ctx(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan %+v", p)
	t.Logf("run requests=%d retries=%d by kind %v unchanged=%d", rep.Requests, rep.Retries, rep.RequestsByKind, rep.Unchanged)
}

// With duplicates: report, a row repeating the match key of a row an
// earlier, stopped run checkpointed is rejected by the resumed run, and
// the plan of the resumed run counts it so: the rows already done still
// claim their keys.
func TestEstimateResumedDuplicatesReport(t *testing.T) {
	c := plan.NewCap(60)
	e := newEnv(t, sandbox.Options{Rate: -1}, 300, func(next http.RoundTripper) http.RoundTripper { return c.Wrap(next) })
	e.write(300, func(i int, cells []string) {
		if i >= 250 { // the keys of rows 0..49, with other content
			cells[1], cells[2] = fmt.Sprintf("Q%d", i), fmt.Sprintf("p%d@example.com", i-250)
		}
	})
	st := e.open()
	defer st.Close()
	cfg := e.config(st)
	cfg.DuplicatesReport = true
	ctx, stop := c.Context(e.ctx())
	rep, err := pipeline.RunImport(ctx, cfg)
	stop()
	if !errors.Is(err, pipeline.ErrInterrupted) || rep.Created == 0 {
		t.Fatalf("capped run: %+v, %v", rep, err)
	}

	cfg = e.config(st)
	cfg.DuplicatesReport = true
	p, err := plan.Estimate(e.ctx(), plan.FromImport(cfg, e.pacer.Observed()))
	if err != nil {
		t.Fatal(err)
	}
	before := e.sb.Counts().Total
	rep, err = pipeline.RunImport(e.ctx(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan %+v", p)
	t.Logf("run %+v", rep)
	if made := int64(e.sb.Counts().Total - before); made != p.Requests || rep.Requests-rep.Retries != p.Requests {
		t.Errorf("plan says %d requests, the resumed run made %d (report %d, %d retries)", p.Requests, made, rep.Requests, rep.Retries)
	}
	if p.Rejected != rep.Rejected || p.Upserts != rep.RequestsByKind["upsert"] {
		t.Errorf("plan rejected %d upserts %d, run %d / %d", p.Rejected, p.Upserts, rep.Rejected, rep.RequestsByKind["upsert"])
	}
}
