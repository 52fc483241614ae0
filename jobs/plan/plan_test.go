package plan_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// The plan's request count is what the run then makes, first attempts
// only, on a sandbox without faults; and a second run over the same input
// is planned, and made, with no request.
func TestEstimateMatchesRun(t *testing.T) {
	e := newEnv(t, sandbox.Options{Rate: -1}, 400, nil)
	st := e.open()
	defer st.Close()
	cfg := e.config(st)
	p, err := plan.Estimate(e.ctx(), plan.FromImport(cfg, e.pacer.Observed()))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pipeline.RunImport(e.ctx(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan %+v", p)
	t.Logf("run requests=%d retries=%d by kind %v tags=%d", rep.Requests, rep.Retries, rep.RequestsByKind, rep.TagCalls)
	if got := rep.Requests - rep.Retries; got != p.Requests {
		t.Errorf("plan says %d requests, the run made %d (+%d retries)", p.Requests, got, rep.Retries)
	}
	if p.Upserts != rep.RequestsByKind["upsert"] || p.Notes != rep.NotesCreated || p.Tasks != rep.TasksCreated || p.TagCalls != rep.TagCalls {
		t.Errorf("plan upserts/notes/tasks/tags %d/%d/%d/%d, run %d/%d/%d/%d", p.Upserts, p.Notes, p.Tasks, p.TagCalls,
			rep.RequestsByKind["upsert"], rep.NotesCreated, rep.TasksCreated, rep.TagCalls)
	}
	if p.Rejected != rep.Rejected || p.Rows != rep.RowsRead {
		t.Errorf("plan rows %d rejected %d, run %d / %d", p.Rows, p.Rejected, rep.RowsRead, rep.Rejected)
	}

	// Again over the same input: nothing to do, and the plan knows it.
	cfg = e.config(st)
	p, err = plan.Estimate(e.ctx(), plan.FromImport(cfg, e.pacer.Observed()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Requests != 0 || p.Unchanged != rep.RowsRead-rep.Rejected {
		t.Errorf("second plan: %+v", p)
	}
	rep2, err := pipeline.RunImport(e.ctx(), cfg)
	if err != nil || rep2.Requests != 0 {
		t.Fatalf("second run: %d requests, %v", rep2.Requests, err)
	}

	// Changed input: only the changed rows are planned (their tags are
	// there already, so the tag calls are an upper bound).
	e.write(400, func(i int, c []string) {
		if i%10 == 0 {
			c[1] += "x"
		}
	})
	cfg = e.config(st)
	p, err = plan.Estimate(e.ctx(), plan.FromImport(cfg, e.pacer.Observed()))
	if err != nil {
		t.Fatal(err)
	}
	rep3, err := pipeline.RunImport(e.ctx(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Upserts != 40 || rep3.RequestsByKind["upsert"] != 40 || p.Notes != 0 || p.Tasks != 0 {
		t.Errorf("changed input: plan %+v; run %v", p, rep3.RequestsByKind)
	}
	if rep3.Requests-rep3.Retries > p.Requests {
		t.Errorf("changed input: the run made %d requests, more than the %d planned", rep3.Requests, p.Requests)
	}
	var b strings.Builder
	p.Print(&b)
	for _, want := range []string{"requests", "40 upserts", "ETA", "daily quota left"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Print does not say %q:\n%s", want, b.String())
		}
	}
}

// The ETA row is one plain sentence: no parenthesis splitting the time
// from its rate.
func TestETASentence(t *testing.T) {
	cases := []struct {
		p    plan.Plan
		want string
	}{
		{plan.Plan{ETA: 90 * time.Second, Days: 1, Burst: 100, Interval: 10 * time.Second}, "about 1.5 min at 100 requests per 10s."},
		{plan.Plan{ETA: 50 * time.Hour, Days: 3, Burst: 100, Interval: 10 * time.Second}, "about 2.1 days: the run needs the daily quota of 3 days (--wait waits for it to come back)."},
		{plan.Plan{ETA: 2 * time.Second, Days: 1, Burst: 2e9, Interval: time.Second}, "about 2 s with no burst limit."},
	}
	for _, c := range cases {
		var b strings.Builder
		c.p.Print(&b)
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("Print:\n%s\nwant the ETA %q", b.String(), c.want)
		}
	}
}
