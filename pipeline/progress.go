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
	if tty {
		return newBarProgress(w, total)
	}
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(w, nil))
	}
	return &lineProgress{log: log, every: interval}
}

// barProgress draws rows done, rows/s, ETA and throttled answers.
type barProgress struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar // guarded by mu
}

func newBarProgress(w io.Writer, total int64) *barProgress {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("import"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return &barProgress{bar: bar}
}

func (p *barProgress) Update(r Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Describe(fmt.Sprintf("import (%d requests, %d rejected, %d throttled)", r.Requests, r.Rejected, r.Throttled))
	_ = p.bar.Set64(r.Done())
}

func (p *barProgress) Finish(r Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Set64(r.Done())
	_ = p.bar.Exit()
}

// lineProgress logs one line per interval: for logs and schedulers, where
// a bar would be noise.
type lineProgress struct {
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
	rate := float64(r.Done()-p.prev) / now.Sub(p.last).Seconds()
	p.last, p.prev = now, r.Done()
	p.log.Info("progress", "rows", r.Done(), "rows_per_s", fmt.Sprintf("%.1f", rate), "created", r.Created,
		"updated", r.Updated, "unchanged", r.Unchanged, "rejected", r.Rejected, "requests", r.Requests,
		"throttled", r.Throttled)
}

func (p *lineProgress) Finish(Report) {}
