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

// fakeClock steps a Meter's clock by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                 { return c.t }
func (c *fakeClock) step(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

// TestMeterTerminal: the bar names the command, shows rows of the total,
// a rate and an ETA, a rate that is not 0 while only requests move, and
// Finish clears it so the summary starts on its own line.
func TestMeterTerminal(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(0, 0)}
	m := NewJobProgress("validate", &buf, true, -1, nil, 0)
	m.now = clk.now
	m.SetTotal(1000)
	m.Update(Report{})
	clk.step(time.Second)
	m.Update(Report{Created: 100, Requests: 10})
	frame := buf.String()
	for _, w := range []string{"validate [", "100/1000 rows", "100 rows/s", "10.0 req/s", "ETA 9s"} {
		if !strings.Contains(frame, w) {
			t.Errorf("frame %q lacks %q", frame, w)
		}
	}
	// 20 s of requests and no row finished: the rate is the run's average.
	for range 20 {
		clk.step(time.Second)
		m.Update(Report{Created: 100, Requests: 50})
	}
	last := buf.String()[strings.LastIndex(buf.String(), "\r"):]
	if strings.Contains(last, " 0 rows/s") || !strings.Contains(last, "ETA") {
		t.Errorf("stalled rows with requests going out: %q", last)
	}
	buf.Reset()
	m.Finish(Report{Created: 1000})
	if buf.String() != "\r\x1b[2K" {
		t.Errorf("Finish wrote %q, want the line cleared", buf.String())
	}
}

// TestMeterLines: off a terminal, one log line per interval with rows
// done of the total, requests, rates and ETA, and a last one at Finish.
func TestMeterLines(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(0, 0)}
	m := NewJobProgress("import", nil, false, 500, slog.New(slog.NewTextHandler(&buf, nil)), 5*time.Second)
	m.now = clk.now
	for i := range 12 {
		clk.step(time.Second)
		m.Update(Report{Updated: int64(10 * i), Requests: int64(3 * i)})
	}
	lines := strings.Count(buf.String(), "msg=progress")
	if lines != 2 { // at 5 s and 10 s
		t.Fatalf("%d lines in 12 s at 5 s each, want 2:\n%s", lines, buf.String())
	}
	for _, w := range []string{"job=import", "rows=100", "total=500", "rows_per_s=10.0", "requests=30", "requests_per_s=3.0", "eta=40s"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("lines lack %q:\n%s", w, buf.String())
		}
	}
	m.Finish(Report{Updated: 500, Requests: 150})
	if strings.Count(buf.String(), "msg=progress") != 3 || !strings.Contains(buf.String(), "rows=500") {
		t.Errorf("no last line at Finish:\n%s", buf.String())
	}
}
