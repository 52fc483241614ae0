package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestProgressLineNamesItsJob: the export's progress line says "export"
// and counts the contacts listed; the import's says "import" and counts
// the rows done.
func TestProgressLineNamesItsJob(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(*slog.Logger) Progress
		want []string
	}{
		{"export", func(l *slog.Logger) Progress { return NewExportProgress(nil, false, l, time.Nanosecond) }, []string{"job=export", "rows=1500"}},
		{"import", func(l *slog.Logger) Progress { return NewProgress(nil, false, -1, l, time.Nanosecond) }, []string{"job=import", "rows=7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := tc.make(slog.New(slog.NewTextHandler(&buf, nil)))
			r := Report{RowsRead: 1500, Created: 5, Updated: 2}
			p.Update(r)
			time.Sleep(time.Millisecond)
			p.Update(r)
			for _, w := range tc.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("progress line %q lacks %q", buf.String(), w)
				}
			}
		})
	}
}
