package plan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ghlbulk/ghlbulk/pipeline"
)

// ErrMaxRequests is the cause of the soft stop a Cap asks for.
var ErrMaxRequests = errors.New("the --max-requests cap is reached")

// Cap is --max-requests: an http.RoundTripper wrapper that counts the
// HTTP requests sent through it (every attempt, retries included, as the
// API's quota counts them) and, once a run has made max of them, cancels
// the run's context with ErrMaxRequests as the cause. That is the runner's
// soft stop: no new row is started, the rows in hand are finished (their
// tags, notes and tasks) and checkpointed, and the run ends resumable with
// exit 3. So a run makes max requests plus what the rows in flight still
// needed (at most a lane group's tag, note and task requests per lane).
// It is safe for concurrent use; a nil or zero Cap counts and caps nothing.
type Cap struct {
	max   int64
	n     atomic.Int64
	armed atomic.Bool
	hit   atomic.Bool

	mu      sync.Mutex
	cancels []context.CancelCauseFunc
}

// NewCap returns a cap of max requests; max <= 0 means no cap.
func NewCap(max int64) *Cap { return &Cap{max: max} }

// Wrap puts the cap in front of next. Requests are counted only once the
// cap is armed by Context, so the preflight and the custom field lookup
// of prepare are not counted, as the run's report does not count them.
func (c *Cap) Wrap(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if c == nil || c.max <= 0 {
		return next
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if c.armed.Load() {
			if c.n.Add(1) >= c.max && c.hit.CompareAndSwap(false, true) {
				c.mu.Lock()
				for _, cancel := range c.cancels {
					cancel(ErrMaxRequests)
				}
				c.mu.Unlock()
			}
		}
		return next.RoundTrip(req)
	})
}

// Context arms the cap and returns parent's child that is cancelled (cause
// ErrMaxRequests) when the cap is reached; it is cancelled at once if the
// cap was reached already (an earlier run under --wait). Call stop when
// the run is over.
func (c *Cap) Context(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	if c == nil || c.max <= 0 {
		return ctx, func() { cancel(nil) }
	}
	c.mu.Lock()
	c.cancels = append(c.cancels, cancel)
	c.mu.Unlock()
	c.armed.Store(true)
	if c.hit.Load() {
		cancel(ErrMaxRequests)
	}
	return ctx, func() { cancel(nil) }
}

// Reached reports whether the cap stopped the run.
func (c *Cap) Reached() bool { return c != nil && c.hit.Load() }

// Made is the number of requests counted since the cap was armed.
func (c *Cap) Made() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

// Explain turns the runner's ErrInterrupted into a message that says the
// cap stopped it (still errors.Is ErrInterrupted, so exit 3); any other
// error is returned as it is.
func (c *Cap) Explain(err error) error {
	if !c.Reached() || !errors.Is(err, pipeline.ErrInterrupted) {
		return err
	}
	return &CapError{Max: c.max, Made: c.Made()}
}

// CapError is a run stopped by --max-requests. It is errors.Is
// pipeline.ErrInterrupted and ErrMaxRequests: exit 3, resumable.
type CapError struct {
	Max, Made int64
}

func (e *CapError) Error() string {
	return fmt.Sprintf("stopped at --max-requests %d (%d requests made, the rows in hand finished); progress is saved: run the same command again to go on", e.Max, e.Made)
}

// Is makes errors.Is(err, pipeline.ErrInterrupted) and
// errors.Is(err, ErrMaxRequests) hold.
func (e *CapError) Is(target error) bool {
	return target == pipeline.ErrInterrupted || target == ErrMaxRequests
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
