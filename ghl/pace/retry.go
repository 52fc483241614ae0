package pace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
)

// retryStatuses are the HTTP statuses worth another attempt. Anything else
// (400, 401, 403, 404, 422, ...) will answer the same way next time.
var retryStatuses = map[int]bool{
	http.StatusTooManyRequests:     true, // 429: over the burst limit; wait for the window (not the daily quota: see quotaSpent)
	http.StatusInternalServerError: true, // 500: HighLevel answers it for transient faults too
	http.StatusBadGateway:          true, // 502: the gateway lost the upstream
	http.StatusServiceUnavailable:  true, // 503: overloaded or in maintenance; may carry Retry-After
	http.StatusGatewayTimeout:      true, // 504: the upstream was too slow; the write may have landed
}

// unknownStatuses are the retried statuses after which a write may have been
// applied all the same: the server (or the one behind the gateway) got the
// request and failed or timed out while or after handling it.
var unknownStatuses = map[int]bool{
	http.StatusInternalServerError: true,
	http.StatusBadGateway:          true,
	http.StatusGatewayTimeout:      true,
}

// maxHint caps any server-suggested wait (Retry-After, the window length):
// one odd answer must not stall a run for ever. Retry caps it again at
// Policy.Max.
const maxHint = 2 * time.Minute

// ShouldRetry decides whether err is worth another attempt and, when the
// server said how long to wait, returns that wait (0 when it did not). It
// does not compute backoff: Backoff does, and Retry takes the larger.
//
//   - ctx done, context.Canceled: never retried.
//   - the daily quota spent (ErrDailyQuota, or a 429 with
//     X-RateLimit-Daily-Remaining 0): never retried.
//   - *ghl.APIError with a status in retryStatuses: retried; a 429 waits
//     Retry-After (seconds or HTTP date), else X-RateLimit-Interval-Milliseconds.
//   - ghl.ErrUnknownOutcome and dropped connections, resets, EOFs and
//     timeouts: retried, and IsUnknownOutcome tells whether a write may
//     already have been applied.
func ShouldRetry(ctx context.Context, err error) (bool, time.Duration) {
	return shouldRetry(ctx, err, time.Now())
}

func shouldRetry(ctx context.Context, err error, now time.Time) (bool, time.Duration) {
	if err == nil {
		return false, 0
	}
	if ctx != nil && ctx.Err() != nil {
		return false, 0
	}
	var perm *permanentError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, ErrDailyQuota), errors.As(err, &perm):
		return false, 0
	}
	var ae *ghl.APIError
	if errors.As(err, &ae) {
		if !retryStatuses[ae.StatusCode] || quotaSpent(ae) {
			return false, 0
		}
		hint := retryAfter(ae.Header, now)
		if hint == 0 && ae.StatusCode == http.StatusTooManyRequests {
			hint = intervalHint(ae.Header)
		}
		return true, min(hint, maxHint)
	}
	if errors.Is(err, ghl.ErrUnknownOutcome) {
		return true, 0
	}
	if IsUnresolvable(err) {
		return false, 0 // a host that does not exist will not exist in a minute either
	}
	if isNetworkError(err) {
		return true, 0
	}
	return false, 0
}

// IsUnknownOutcome reports whether err leaves it open whether a write was
// applied: a 2xx whose body was lost (ghl.ErrUnknownOutcome), a connection
// dropped or timed out after the request was sent, or a 500/502/504 answer
// to a write. The import sink re-reads (reconciles) before resending a
// note or a task after such an error; an upsert can simply be repeated.
// Reads (GET) never have an unknown outcome.
func IsUnknownOutcome(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ghl.ErrUnknownOutcome) {
		return true
	}
	var ae *ghl.APIError
	if errors.As(err, &ae) {
		return unknownStatuses[ae.StatusCode] && !isRead(ae.Method)
	}
	var de *ghl.DecodeError
	if errors.As(err, &de) || neverSent(err) || errors.Is(err, ErrDailyQuota) {
		// A DecodeError that isn't ErrUnknownOutcome is a read.
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if isRead(ue.Op) {
			return false
		}
		// Sent, and then the connection failed or the caller gave up
		// waiting: the server may have acted on it.
		return isNetworkError(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	}
	return isNetworkError(err)
}

// isRead reports a method that changes nothing (url.Error.Op is the method
// in title case, "Get").
func isRead(method string) bool {
	switch strings.ToUpper(method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// neverSent reports errors that happen before a request leaves: the dial
// failed or was refused, so nothing can have been applied.
func neverSent(err error) bool {
	var we *waitError
	if errors.As(err, &we) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// retriableErrorStrings is the last resort, matching error text for causes
// the standard library reports without a typed error. Matching text is ugly
// and fragile; it is only consulted when no typed check matched.
var retriableErrorStrings = []string{
	"connection reset by peer",
	"broken pipe",
	"use of closed network connection",
	"server closed idle connection",
	"http2: server sent GOAWAY",
	"http2: client connection lost",
	"unexpected EOF",
	"TLS handshake timeout",
}

// isNetworkError reports a transport failure worth another attempt: a
// dropped or reset connection, an EOF mid-answer, a timeout.
// IsUnresolvable reports a host name the resolver says does not exist (a
// typo in --api-url): a refusal, not a fault to retry. A resolver that
// timed out or failed for the moment is not this.
func IsUnresolvable(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsUnreachable reports a request that never reached the server: a
// refused or failed connection, or a name that did not resolve.
func IsUnreachable(err error) bool {
	var oe *net.OpError
	var de *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &de) || (errors.As(err, &oe) && oe.Op == "dial")
}

func isNetworkError(err error) bool {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, net.ErrClosed):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	msg := err.Error()
	for _, s := range retriableErrorStrings {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// quotaSpent reports a 429 that is about the daily quota, not the burst
// window: waiting seconds would not help.
func quotaSpent(ae *ghl.APIError) bool {
	if ae.StatusCode != http.StatusTooManyRequests {
		return false
	}
	n, ok := headerInt(ae.Header, HeaderDailyRemaining)
	return ok && n <= 0
}

// quotaFrom turns an answer saying the daily quota is spent into a
// *QuotaError; nil when err is something else.
func quotaFrom(err error, now time.Time) error {
	if errors.Is(err, ErrDailyQuota) {
		return err
	}
	var ae *ghl.APIError
	if errors.As(err, &ae) && quotaSpent(ae) {
		return &QuotaError{ResetAt: dailyReset(ae.Header, now), Err: err}
	}
	return nil
}

// retryAfter reads Retry-After as delay-seconds or an HTTP date; 0 when
// absent, malformed or in the past.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := parseNonNegInt(v); err == nil {
		return time.Duration(min(secs, int64(maxHint/time.Second)+1)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// intervalHint is X-RateLimit-Interval-Milliseconds, the longest a burst
// window can still have to run.
func intervalHint(h http.Header) time.Duration {
	if ms, ok := headerInt(h, HeaderInterval); ok && ms > 0 {
		return min(time.Duration(ms)*time.Millisecond, maxHint)
	}
	return 0
}

func parseNonNegInt(s string) (int64, error) {
	var n int64
	if s == "" {
		return 0, errors.New("empty")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		if n > math.MaxInt64/10-10 {
			return math.MaxInt64 / 10, nil
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// Policy bounds the retrying of one call.
type Policy struct {
	Initial     time.Duration // first backoff
	Max         time.Duration // largest single wait, server hints included
	Total       time.Duration // give up once this much time has gone (0: no time limit, if MaxAttempts > 0)
	MaxAttempts int           // attempts in all, the first included (0: no count limit, if Total > 0)
}

// DefaultPolicy is 500 ms doubling up to 30 s, 10 attempts, 5 minutes in all.
func DefaultPolicy() Policy {
	return Policy{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Total: 5 * time.Minute, MaxAttempts: 10}
}

// normalized fills in zero fields so that nothing is unbounded.
func (p Policy) normalized() Policy {
	d := DefaultPolicy()
	if p.Initial <= 0 {
		p.Initial = d.Initial
	}
	if p.Max <= 0 {
		p.Max = d.Max
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.Total <= 0 && p.MaxAttempts <= 0 {
		p.Total, p.MaxAttempts = d.Total, d.MaxAttempts
	}
	return p
}

// Backoff is the wait after attempt (0-based: attempt 0 is the first
// failure) with full jitter: uniformly between p.Initial and
// min(p.Max, p.Initial·2^attempt). rnd returns a number in [0, 1). Pure.
func Backoff(p Policy, attempt int, rnd func() float64) time.Duration {
	p = p.normalized()
	if attempt < 0 {
		attempt = 0
	}
	ceil := p.Max
	if attempt < 62 {
		if c := p.Initial << attempt; c > 0 && c>>attempt == p.Initial && c < p.Max {
			ceil = c
		}
	}
	r := 0.0
	if rnd != nil {
		r = rnd()
	}
	if r < 0 || r >= 1 || math.IsNaN(r) {
		r = 0
	}
	return p.Initial + time.Duration(r*float64(ceil-p.Initial))
}

// Recorder counts what Retry does; pipeline.Stats implements it. nil is
// allowed.
type Recorder interface {
	Request()   // an attempt is made
	Retry()     // an attempt failed and another will follow
	Throttled() // an attempt was answered 429
}

type nopRecorder struct{}

func (nopRecorder) Request()   {}
func (nopRecorder) Retry()     {}
func (nopRecorder) Throttled() {}

// attemptKey marks a ctx as being inside Retry, and carries the attempt.
type attemptKey struct{}

type attemptInfo struct {
	n    int   // 1-based attempt number
	prev error // the previous attempt's error, nil on the first
}

// AttemptFromContext tells fn, called by Retry, which attempt this is
// (1-based) and what the previous one failed with, so that after an unknown
// outcome it can reconcile before writing again. (0, nil) outside Retry.
func AttemptFromContext(ctx context.Context) (attempt int, prev error) {
	if a, ok := ctx.Value(attemptKey{}).(*attemptInfo); ok {
		return a.n, a.prev
	}
	return 0, nil
}

// Retry calls fn until it succeeds, fails for good (ShouldRetry says no),
// or p runs out, waiting Backoff between attempts and never less than the
// server's hint (both capped at p.Max). Giving up returns *ExhaustedError
// wrapping the last error; a spent daily quota returns *QuotaError at once.
// Waits end early when ctx is done.
//
// Retry inside Retry (fn calling Retry on the same ctx) would multiply the
// attempts; the inner one notices and calls its fn once, leaving the
// retrying to the outer loop.
func Retry(ctx context.Context, p Policy, rec Recorder, fn func(ctx context.Context) error) error {
	return retry(ctx, p, rec, fn, systemClock{}, rand.Float64)
}

func retry(ctx context.Context, p Policy, rec Recorder, fn func(ctx context.Context) error, clk clock, rnd func() float64) error {
	if rec == nil {
		rec = nopRecorder{}
	}
	if _, nested := ctx.Value(attemptKey{}).(*attemptInfo); nested {
		return callOnce(ctx, rec, fn)
	}
	p = p.normalized()
	start := clk.Now()
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			if last != nil {
				return fmt.Errorf("stopped after %d attempts: %w; last error: %w", attempt, err, last)
			}
			return err
		}
		info := &attemptInfo{n: attempt + 1, prev: last}
		rec.Request()
		err := fn(context.WithValue(ctx, attemptKey{}, info))
		if err == nil {
			return nil
		}
		last = err
		now := clk.Now()
		hint, stop := failedAttempt(ctx, rec, err, attempt, now)
		if stop != nil {
			return stop
		}
		wait, stop := p.nextAttempt(attempt, now.Sub(start), hint, err, rnd)
		if stop != nil {
			return stop
		}
		rec.Retry()
		if err := clk.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("stopped after %d attempts: %w; last error: %w", attempt+1, err, last)
		}
	}
}

// callOnce is Retry inside Retry: one attempt, counted, the retrying left
// to the outer loop.
func callOnce(ctx context.Context, rec Recorder, fn func(ctx context.Context) error) error {
	rec.Request()
	err := fn(ctx)
	if ae := (*ghl.APIError)(nil); errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests {
		rec.Throttled()
	}
	return err
}

// failedAttempt counts a 429 and decides whether attempt's error (err, at
// now) ends the retrying: a done ctx, a spent daily quota (*QuotaError), a
// permanent error (unwrapped) or one ShouldRetry refuses are returned as
// stop. Otherwise it returns the server's hint for the wait.
func failedAttempt(ctx context.Context, rec Recorder, err error, attempt int, now time.Time) (hint time.Duration, stop error) {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return 0, err
		}
		return 0, fmt.Errorf("stopped after %d attempts: %w; last error: %w", attempt+1, cerr, err)
	}
	var ae *ghl.APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests {
		rec.Throttled()
	}
	if q := quotaFrom(err, now); q != nil {
		return 0, q
	}
	var perm *permanentError
	if errors.As(err, &perm) {
		return 0, perm.err
	}
	ok, hint := shouldRetry(ctx, err, now)
	if !ok {
		return 0, err
	}
	return hint, nil
}

// nextAttempt is the wait before the attempt after attempt, or
// *ExhaustedError (wrapping err) when the policy's attempts or total time
// would be spent.
func (p Policy) nextAttempt(attempt int, elapsed, hint time.Duration, err error, rnd func() float64) (time.Duration, error) {
	if p.MaxAttempts > 0 && attempt+1 >= p.MaxAttempts {
		return 0, &ExhaustedError{Attempts: attempt + 1, Elapsed: elapsed, Err: err}
	}
	wait := nextWait(p, attempt, hint, rnd)
	if p.Total > 0 && elapsed+wait > p.Total {
		return 0, &ExhaustedError{Attempts: attempt + 1, Elapsed: elapsed, Err: err}
	}
	return wait, nil
}

// nextWait is the backoff for attempt, raised to the server's hint and
// capped at p.Max. Pure.
func nextWait(p Policy, attempt int, hint time.Duration, rnd func() float64) time.Duration {
	w := Backoff(p, attempt, rnd)
	if hint > w {
		w = hint
	}
	return min(w, p.Max)
}
