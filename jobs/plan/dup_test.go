package plan_test

import (
	"fmt"
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
