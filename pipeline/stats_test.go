package pipeline

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/pace"
)

var _ pace.Recorder = (*Stats)(nil)

func TestStatsConcurrent(t *testing.T) {
	s := NewStats()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				s.Read(1)
				s.Created()
				s.Request()
				s.RequestKind("upsert")
			}
			s.Retry()
			s.Throttled()
			s.Written("contacts", 5)
		}()
	}
	wg.Wait()
	r := s.Snapshot()
	want := Report{RowsRead: 800, Created: 800, Requests: 800, Retries: 8, Throttled: 8}
	if r.RowsRead != want.RowsRead || r.Created != want.Created || r.Requests != want.Requests ||
		r.Retries != want.Retries || r.Throttled != want.Throttled {
		t.Errorf("Snapshot = %+v", r)
	}
	if r.RowsWritten["contacts"] != 40 || r.RequestsByKind["upsert"] != 800 {
		t.Errorf("maps: %v %v", r.RowsWritten, r.RequestsByKind)
	}
}

func TestReportJSON(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		keys []string
	}{
		{"import", Report{RowsRead: 3, Created: 1, Updated: 1, Rejected: 1}, []string{
			"rows_read", "created", "updated", "unchanged", "rejected", "requests", "retries", "throttled", "elapsed_s"}},
		{"export", Report{RowsWritten: map[string]int64{"contacts": 2}}, []string{"rows_written"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			json.Unmarshal(b, &m)
			for _, k := range tc.keys {
				if _, ok := m[k]; !ok {
					t.Errorf("report JSON lacks %q: %s", k, b)
				}
			}
		})
	}
	if (Report{Created: 1, Updated: 2, Unchanged: 3, Rejected: 4}).Done() != 10 {
		t.Error("Done")
	}
}
