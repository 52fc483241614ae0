package sinks

import (
	"fmt"
	"testing"

	"github.com/ghlbulk/ghlbulk/pipeline"
)

func tagRows(tags ...[]string) []*pendingRow {
	rows := make([]*pendingRow, len(tags))
	for i, t := range tags {
		rows[i] = &pendingRow{it: &pipeline.Item{Rec: &pipeline.Record{Tags: t}, ContactID: fmt.Sprint("c", i)}}
	}
	return rows
}

// checkPlan asserts each row gets exactly the tags it needs, no more.
func checkPlan(t *testing.T, rows []*pendingRow, calls []tagCall, max int) {
	t.Helper()
	got := map[*pendingRow]map[string]int{}
	for _, c := range calls {
		if len(c.rows) > max {
			t.Errorf("call with %d contacts, max %d", len(c.rows), max)
		}
		for _, r := range c.rows {
			if got[r] == nil {
				got[r] = map[string]int{}
			}
			for _, tg := range c.tags {
				got[r][tg]++
			}
		}
	}
	for _, r := range rows {
		want := map[string]bool{}
		for _, tg := range r.it.Rec.Tags {
			if n := normTag(tg); n != "" {
				want[n] = true
			}
		}
		have := map[string]bool{}
		for _, tg := range r.tags {
			have[normTag(tg)] = true
		}
		for tg := range want {
			if !have[tg] && got[r][tg] != 1 {
				t.Errorf("row %s: tag %q added %d times", r.it.ContactID, tg, got[r][tg])
			}
		}
		for tg, n := range got[r] {
			if !want[tg] || have[tg] {
				t.Errorf("row %s: tag %q added (%d) though not needed", r.it.ContactID, tg, n)
			}
		}
	}
}

func TestPlanTags(t *testing.T) {
	stages := []string{"stage:lead", "stage:customer", "stage:subscriber", "stage:opportunity"}
	var mixed, oneVaried, same [][]string
	for i := range 125 {
		tags := []string{"imported", "e2e", "batch-7", stages[(i*7/3)%4]}
		oneVaried = append(oneVaried, tags)
		if i%3 == 0 {
			tags = append(tags, "VIP ")
		}
		mixed = append(mixed, tags)
		same = append(same, []string{"a", "b"})
	}
	tests := []struct {
		name  string
		rows  []*pendingRow
		max   int
		calls int
	}{
		{"common and one varied tag: by set", tagRows(oneVaried...), 100, 4},
		{"common, vip and one varied tag: by block", tagRows(mixed...), 100, 7}, // the common block is 125 rows: 2 calls
		{"common, vip and one varied tag, fits", tagRows(mixed[:100]...), 100, 6},
		{"all the same, chunked", tagRows(same...), 50, 3},
		{"nothing needed", tagRows([]string{}, nil), 100, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := planTags(tc.rows, tc.max)
			if len(calls) != tc.calls {
				t.Errorf("%d calls, want %d", len(calls), tc.calls)
			}
			checkPlan(t, tc.rows, calls, tc.max)
		})
	}
	// Tags the contact has already are not sent.
	rows := tagRows([]string{"a", "b"}, []string{"a", "c"})
	rows[0].tags = []string{"A"}
	calls := planTags(rows, 100)
	checkPlan(t, rows, calls, 100)
}
