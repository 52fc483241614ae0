package pipeline

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// NewProgress returns the progress display the CLI wants: a bar drawn on w
// when it is a terminal (tty true), else a log line every interval (10 s
// when 0). total is the number of rows expected, or -1 when unknown.
func NewProgress(w io.Writer, tty bool, total int64, log *slog.Logger, interval time.Duration) Progress {
	return newProgress(importCounting, w, tty, total, log, interval)
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

var (
	importCounting = counting{job: "import", rows: Report.Done}
	exportCounting = counting{job: "export", rows: func(r Report) int64 { return r.RowsRead }}
)

func newProgress(c counting, w io.Writer, tty bool, total int64, log *slog.Logger, interval time.Duration) Progress {
	if tty {
		return newBarProgress(c, w, total)
	}
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(w, nil))
	}
	return &lineProgress{c: c, log: log, every: interval}
}

// barProgress draws rows done, rows/s, ETA and throttled answers.
type barProgress struct {
	c   counting
	mu  sync.Mutex
	bar *progressbar.ProgressBar // guarded by mu
}

func newBarProgress(c counting, w io.Writer, total int64) *barProgress {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(c.job),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return &barProgress{c: c, bar: bar}
}

func (p *barProgress) Update(r Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Describe(fmt.Sprintf("%s (%d requests, %d rejected, %d throttled)", p.c.job, r.Requests, r.Rejected, r.Throttled))
	_ = p.bar.Set64(p.c.rows(r))
}

func (p *barProgress) Finish(r Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Set64(p.c.rows(r))
	_ = p.bar.Exit()
}

// lineProgress logs one line per interval: for logs and schedulers, where
// a bar would be noise.
type lineProgress struct {
	c     counting
	log   *slog.Logger
	every time.Duration

	mu   sync.Mutex
	last time.Time // guarded by mu
	prev int64     // rows done at last; guarded by mu
}

func (p *lineProgress) Update(r Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.last.IsZero() {
		p.last = now
		return
	}
	if now.Sub(p.last) < p.every {
		return
	}
	rows := p.c.rows(r)
	rate := float64(rows-p.prev) / now.Sub(p.last).Seconds()
	p.last, p.prev = now, rows
	p.log.Info("progress", "job", p.c.job, "rows", rows, "rows_per_s", fmt.Sprintf("%.1f", rate), "created", r.Created,
		"updated", r.Updated, "unchanged", r.Unchanged, "rejected", r.Rejected, "requests", r.Requests,
		"throttled", r.Throttled)
}

func (p *lineProgress) Finish(Report) {}
