package pipeline

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// NewProgress returns the progress display of an import: a bar drawn on w
// when it is a terminal (tty true), else a log line every interval (10 s
// when 0). total is the number of rows expected, or -1 when unknown (the
// plan sets it later through SetTotal).
func NewProgress(w io.Writer, tty bool, total int64, log *slog.Logger, interval time.Duration) Progress {
	return NewJobProgress("import", w, tty, total, log, interval)
}

// NewJobProgress is NewProgress under the command's own name ("validate",
// "import (dry run)"), so the display never says import when it is not.
func NewJobProgress(job string, w io.Writer, tty bool, total int64, log *slog.Logger, interval time.Duration) *Meter {
	return newProgress(counting{job: job, rows: Report.Done}, w, tty, total, log, interval)
}

// NewExportProgress is NewProgress for an export: it says "export" and
// counts the contacts listed (an export creates and updates nothing, so
// the import's rows done would stay at 0).
func NewExportProgress(w io.Writer, tty bool, log *slog.Logger, interval time.Duration) Progress {
	return newProgress(exportCounting, w, tty, -1, log, interval)
}

// counting is what a progress display calls its job and counts as rows.
type counting struct {
	job  string
	rows func(Report) int64
}

var exportCounting = counting{job: "export", rows: func(r Report) int64 { return r.RowsRead }}

// rateWindow is how far back rows/s and requests/s look: long enough to
// smooth a paced run's bursts, short enough to follow a change of pace.
const rateWindow = 10 * time.Second

// drawEvery is the bar's fastest redraw.
const drawEvery = 200 * time.Millisecond

// Meter is the progress display: a bar redrawn in place on a terminal, or
// a log line every interval elsewhere. Both say rows done of the total,
// rows/s and requests/s over the last rateWindow, and the ETA.
type Meter struct {
	c     counting
	w     io.Writer
	tty   bool
	log   *slog.Logger
	every time.Duration
	now   func() time.Time // a test's clock

	mu      sync.Mutex
	total   int64     // guarded by mu; -1 unknown
	began   time.Time // guarded by mu: the first Update
	last    time.Time // guarded by mu: the last line or frame
	samples []sample  // guarded by mu: within rateWindow, oldest first
	drawn   bool      // guarded by mu: a frame is on the terminal
}

type sample struct {
	at             time.Time
	rows, requests int64
}

func newProgress(c counting, w io.Writer, tty bool, total int64, log *slog.Logger, interval time.Duration) *Meter {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if tty {
		interval = drawEvery
	}
	if log == nil && w != nil {
		log = slog.New(slog.NewTextHandler(w, nil))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Meter{c: c, w: w, tty: tty, log: log, every: interval, now: time.Now, total: total}
}

// SetTotal gives the rows the run will judge, once the plan has counted
// them: the bar's length and the ETA.
func (p *Meter) SetTotal(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = n
}

// Update takes the run's counters; it draws or logs at most once per
// interval.
func (p *Meter) Update(r Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p._observe(now, r)
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	p._show(r)
}

// Finish shows the last counts and, on a terminal, clears the bar, so
// that the summary printed next starts on a line of its own.
func (p *Meter) Finish(r Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		if p.drawn {
			fmt.Fprint(p.w, "\r\x1b[2K")
			p.drawn = false
		}
		return
	}
	if !p.began.IsZero() {
		p._observe(p.now(), r)
		p._show(r)
	}
}

// _observe records a sample and drops those older than the window. Call
// with mu held.
func (p *Meter) _observe(now time.Time, r Report) {
	if p.began.IsZero() {
		p.began, p.last = now, now
	}
	s := sample{at: now, rows: p.c.rows(r), requests: r.Requests}
	if n := len(p.samples); n > 1 && now.Sub(p.samples[n-2].at) < 100*time.Millisecond {
		p.samples[n-1] = s // one sample per 100 ms at most: the window stays small
	} else {
		p.samples = append(p.samples, s)
	}
	i := 0
	for i < len(p.samples)-2 && now.Sub(p.samples[i+1].at) >= rateWindow {
		i++
	}
	p.samples = p.samples[i:]
}

// view is one frame's figures.
type view struct {
	rows, total, requests int64
	rowsPerS, reqPerS     float64
	eta                   time.Duration // <0: unknown
}

// _view computes the figures. Rows finish a group at a time, which under
// pacing can be a minute apart: when none finished in the window while
// requests went out, rows/s is the whole run's average, never 0. Call
// with mu held.
func (p *Meter) _view(r Report) view {
	v := view{rows: p.c.rows(r), total: p.total, requests: r.Requests, eta: -1}
	first, last := p.samples[0], p.samples[len(p.samples)-1]
	if dt := last.at.Sub(first.at).Seconds(); dt > 0 {
		v.rowsPerS = float64(last.rows-first.rows) / dt
		v.reqPerS = float64(last.requests-first.requests) / dt
	}
	if v.rowsPerS == 0 && v.rows > 0 {
		if el := last.at.Sub(p.began).Seconds(); el > 0 {
			v.rowsPerS = float64(v.rows) / el
		}
	}
	if v.total > 0 && v.rowsPerS > 0 && v.rows <= v.total {
		v.eta = time.Duration(float64(v.total-v.rows) / v.rowsPerS * float64(time.Second)).Round(time.Second)
	}
	return v
}

func (p *Meter) _show(r Report) {
	v := p._view(r)
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[2K"+p._frame(v, r))
		p.drawn = true
		return
	}
	args := []any{"job", p.c.job, "rows", v.rows}
	if v.total >= 0 {
		args = append(args, "total", v.total)
	}
	args = append(args, "rows_per_s", fmt.Sprintf("%.1f", v.rowsPerS), "requests", v.requests,
		"requests_per_s", fmt.Sprintf("%.1f", v.reqPerS))
	if v.eta >= 0 {
		args = append(args, "eta", v.eta.String())
	}
	args = append(args, "read", r.RowsRead, "created", r.Created, "updated", r.Updated, "unchanged", r.Unchanged,
		"rejected", r.Rejected, "throttled", r.Throttled)
	p.log.Info("progress", args...)
}

// _frame is one line of the bar:
// validate [=====>      ] 42% 420000/1000000 rows  35120 rows/s  12 req/s  ETA 16s  3 rejected
func (p *Meter) _frame(v view, r Report) string {
	var b strings.Builder
	b.WriteString(p.c.job)
	if v.total > 0 {
		const width = 20
		done := min(int(float64(width)*float64(v.rows)/float64(v.total)), width)
		fmt.Fprintf(&b, " [%s%s] %3d%% %d/%d rows", strings.Repeat("=", done), strings.Repeat(" ", width-done),
			min(100*v.rows/v.total, 100), v.rows, v.total)
	} else {
		fmt.Fprintf(&b, " %d rows", v.rows)
	}
	fmt.Fprintf(&b, "  %.0f rows/s  %.1f req/s (%d)", v.rowsPerS, v.reqPerS, v.requests)
	if v.eta >= 0 {
		fmt.Fprintf(&b, "  ETA %s", v.eta)
	}
	if r.Rejected > 0 {
		fmt.Fprintf(&b, "  %d rejected", r.Rejected)
	}
	if r.Throttled > 0 {
		fmt.Fprintf(&b, "  %d throttled", r.Throttled)
	}
	return b.String()
}
