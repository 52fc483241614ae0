package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/jobs/predict"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/transform"
)

// rowsOf is a transform that yields n rows with distinct emails, and no
// file name (the plan fills it in from the batch).
func rowsOf(n int) pipeline.TransformFunc {
	return func(_ arrow.Record, _ string, firstRow int64) []record.Row {
		out := make([]record.Row, n)
		for i := range out {
			email := "p" + string(rune('a'+i)) + "@example.com"
			out[i] = record.Row{Row: firstRow + int64(i), Key: "email:" + email}
			out[i].Contact.Email = &email
		}
		return out
	}
}

func TestPlanFile(t *testing.T) {
	tests := []struct {
		name     string
		asked    bool
		rows     int
		rowsRead int64 // what the run says it read
		wantFile bool
		wantErr  string
		dropped  bool
	}{
		{"whole plan", false, 3, 3, true, "", false},
		{"asked, past the default size", true, 5, 5, true, "", false},
		{"unasked, past the default size: dropped", false, 5, 5, false, "", true},
		{"a line short of the rows read", false, 3, 4, false, "3 lines for 4 rows read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plan.csv")
			plan, err := CreatePlanFile(path, tt.asked, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer plan.Abort()
			pred := predict.New(nil, predict.Options{Duplicates: transform.DuplicatesMerge})
			recs := plan.Transform(rowsOf(tt.rows), pred)(nil, "in.csv", 1)
			if len(recs) != tt.rows || recs[0].File != "in.csv" {
				t.Fatalf("rows %d, file %q", len(recs), recs[0].File)
			}
			got, err := plan.Finish(pipeline.Report{RowsRead: tt.rowsRead}, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			_, statErr := os.Stat(path)
			if (got != "") != tt.wantFile || (statErr == nil) != tt.wantFile || plan.Dropped() != tt.dropped {
				t.Errorf("plan file %q (stat %v), dropped %v", got, statErr, plan.Dropped())
			}
			if tt.wantFile {
				b, _ := os.ReadFile(path)
				if lines := strings.Count(string(b), "\n"); lines != 1+tt.rows {
					t.Errorf("%d lines, want a header and %d rows", lines, tt.rows)
				}
			}
		})
	}
}
