package pipeline

import "testing"

func TestSumReports(t *testing.T) {
	a := Report{RowsRead: 10, Created: 4, Updated: 3, Unchanged: 2, Rejected: 1, Requests: 20, ElapsedS: 5,
		RowsWritten: map[string]int64{"contacts": 10}, Outcome: "done"}
	b := Report{RowsRead: 7, Created: 7, Requests: 9, Throttled: 1, ElapsedS: 8, PhonesInvalid: 2,
		RowsWritten: map[string]int64{"contacts": 7, "notes": 3}, Outcome: "quota", Error: "daily quota spent"}
	c := Report{RowsRead: 1, Rejected: 1, ElapsedS: 1, Outcome: "interrupted", Error: "interrupted"}
	got := SumReports(a, b, c)
	if got.RowsRead != 18 || got.Created != 11 || got.Updated != 3 || got.Unchanged != 2 || got.Rejected != 2 ||
		got.Requests != 29 || got.Throttled != 1 || got.PhonesInvalid != 2 || got.ElapsedS != 8 {
		t.Errorf("counts: %+v", got)
	}
	if got.RowsWritten["contacts"] != 17 || got.RowsWritten["notes"] != 3 || a.RowsWritten["contacts"] != 10 {
		t.Errorf("rows written %v (and a's left %v)", got.RowsWritten, a.RowsWritten)
	}
	if got.Outcome != "quota" || got.Error != "daily quota spent" {
		t.Errorf("outcome %q %q, want the worst: quota", got.Outcome, got.Error)
	}
	if SumReports().Outcome != "" {
		t.Error("no reports: no outcome")
	}
}
