// Package pace keeps ghlbulk under HighLevel's rate limits and decides what
// is worth retrying.
//
// HighLevel allows each app 100 requests per 10 s (the burst limit) and
// 200,000 per day per location, and reports both in X-RateLimit-* headers.
// Transport, an http.RoundTripper, paces every attempt (retries included)
// with one limiter per location, learning the real limits from those
// headers. ShouldRetry decides whether an error is worth another attempt,
// Backoff how long to wait, and Retry runs the loop. The API client (package
// ghl) never retries; the pipeline's second tier of retry is resuming from
// its checkpoint.
//
// Floor 1 (docs/design.md): imports only ghl.
package pace

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The rate-limit headers HighLevel sends with every answer.
const (
	HeaderMax            = "X-RateLimit-Max"                   // requests allowed per interval
	HeaderInterval       = "X-RateLimit-Interval-Milliseconds" // the interval
	HeaderRemaining      = "X-RateLimit-Remaining"             // left in the current interval
	HeaderDailyRemaining = "X-RateLimit-Daily-Remaining"       // left today
	HeaderDailyLimit     = "X-RateLimit-Limit-Daily"           // the daily limit
	// HeaderDailyReset is when the daily quota resets. HighLevel's
	// published list leaves it out, but live answers carry it and the
	// official SDK (@gohighlevel/api-client, lib/utils/rate-limit.ts) reads
	// it as the milliseconds until the reset; see parseDailyReset.
	HeaderDailyReset = "X-RateLimit-Daily-Reset"
)

// Limits are the documented limits a location starts with, before any
// answer has told the real ones.
type Limits struct {
	Burst    int           // requests per Interval
	Interval time.Duration // the burst window
	Daily    int           // requests per day
}

// DefaultLimits are HighLevel's documented limits: 100 per 10 s, 200,000 a day.
func DefaultLimits() Limits {
	return Limits{Burst: 100, Interval: 10 * time.Second, Daily: 200000}
}

func (l Limits) normalized() Limits {
	d := DefaultLimits()
	if l.Burst <= 0 {
		l.Burst = d.Burst
	}
	if l.Interval <= 0 {
		l.Interval = d.Interval
	}
	if l.Daily <= 0 {
		l.Daily = d.Daily
	}
	return l
}

// RateState is what the X-RateLimit-* headers last said. A field is -1
// until some answer has carried its header.
type RateState struct {
	Location       string        // the limiter's key ("" when no location was known)
	Max            int           // X-RateLimit-Max
	Remaining      int           // X-RateLimit-Remaining
	Interval       time.Duration // X-RateLimit-Interval-Milliseconds (0 until seen)
	DailyLimit     int           // X-RateLimit-Limit-Daily
	DailyRemaining int           // X-RateLimit-Daily-Remaining
	At             time.Time     // when the answer came (zero: nothing seen yet)
}

func unknownState() RateState {
	return RateState{Max: -1, Remaining: -1, DailyLimit: -1, DailyRemaining: -1}
}

// parseRateHeaders reads the X-RateLimit-* headers of an answer; a header
// that is missing or malformed leaves its field at -1 (0 for Interval).
func parseRateHeaders(h http.Header) RateState {
	s := unknownState()
	if n, ok := headerInt(h, HeaderMax); ok {
		s.Max = n
	}
	if n, ok := headerInt(h, HeaderRemaining); ok {
		s.Remaining = n
	}
	if n, ok := headerInt(h, HeaderInterval); ok && n > 0 {
		s.Interval = time.Duration(n) * time.Millisecond
	}
	if n, ok := headerInt(h, HeaderDailyLimit); ok {
		s.DailyLimit = n
	}
	if n, ok := headerInt(h, HeaderDailyRemaining); ok {
		s.DailyRemaining = n
	}
	return s
}

// merge keeps the fields of old that next does not carry.
func (s RateState) merge(next RateState) RateState {
	if next.Max >= 0 {
		s.Max = next.Max
	}
	if next.Remaining >= 0 {
		s.Remaining = next.Remaining
	}
	if next.Interval > 0 {
		s.Interval = next.Interval
	}
	if next.DailyLimit >= 0 {
		s.DailyLimit = next.DailyLimit
	}
	if next.DailyRemaining >= 0 {
		s.DailyRemaining = next.DailyRemaining
	}
	s.At = next.At
	return s
}

func headerInt(h http.Header, name string) (int, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt32 || f < math.MinInt32 {
			return 0, false
		}
		n = int(f)
	}
	return n, true
}

// paceFor is the steady rate and bucket size that keep under max requests
// per interval whether the server counts in fixed or sliding windows: any
// span of one interval holds at most burst + rate·interval requests, and
// that is kept at max-1 (when max > 1) so that a little jitter in when
// requests arrive can't tip a window over. The margin is 2% of max, at
// least 1: 100/10 s is paced at 98/10 s with a burst of 1. Pure.
func paceFor(limit int, interval time.Duration) (rate.Limit, int) {
	if limit <= 0 || interval <= 0 {
		return rate.Inf, 1
	}
	if limit == 1 {
		// One request per interval, and a little slower.
		return rate.Limit(1 / (interval.Seconds() * 1.05)), 1
	}
	safety := max(2, int(math.Ceil(float64(limit)*0.02)))
	burst := safety - 1
	per := limit - safety
	if per < 1 {
		per = 1 // limit 2: one per interval, one more in the bucket
		burst = 1
	}
	return rate.Limit(float64(per) / interval.Seconds()), burst
}

// windowEnd estimates when the burst window holding now ends. HighLevel
// counts in fixed windows of one interval; when the answer to our own
// request opened the window (Remaining was Max-1), winStart is when that
// answer came, and the window ends one interval later. Otherwise the start
// is unknown (another client opened it, or the server counts a sliding
// window) and a whole interval from now is the safe bound. A small margin
// covers the time the request took to reach the server. Pure.
func windowEnd(now, winStart time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return now
	}
	margin := min(max(interval/50, 2*time.Millisecond), 250*time.Millisecond)
	if !winStart.IsZero() && !now.Before(winStart) && now.Sub(winStart) < interval {
		return winStart.Add(interval + margin)
	}
	return now.Add(interval + margin)
}

// dailyReset estimates when a spent daily quota comes back:
// X-RateLimit-Daily-Reset when the answer has it, else Retry-After, else the
// next UTC midnight. Pure.
func dailyReset(h http.Header, now time.Time) time.Time {
	if t, ok := parseDailyReset(h.Get(HeaderDailyReset), now); ok {
		return t
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := parseNonNegInt(v); err == nil {
			return now.Add(time.Duration(min(secs, 48*3600)) * time.Second)
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t
		}
	}
	u := now.UTC()
	return time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
}

// maxDailyReset bounds a reset time read from a header: a quota that
// claims to come back later than this is a misread value.
const maxDailyReset = 48 * time.Hour

// parseDailyReset reads X-RateLimit-Daily-Reset. The official SDK takes it
// as milliseconds until the reset, and so does this; a number too large
// to be that is read as a Unix time (seconds, or milliseconds past
// 1e11), and an HTTP or RFC 3339 date is taken as is, so that a change of
// format is still read right. A value in the past, more than two days
// ahead or unreadable is not used (ok false).
func parseDailyReset(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	var at time.Time
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case n < 0:
			return time.Time{}, false
		case n <= float64(maxDailyReset/time.Millisecond):
			at = now.Add(time.Duration(n) * time.Millisecond)
		case n < 1e11:
			at = time.Unix(int64(n), 0)
		default:
			at = time.UnixMilli(int64(n))
		}
	} else if t, err := http.ParseTime(v); err == nil {
		at = t
	} else if t, err := time.Parse(time.RFC3339, v); err == nil {
		at = t
	} else {
		return time.Time{}, false
	}
	if at.Before(now) || at.Sub(now) > maxDailyReset {
		return time.Time{}, false
	}
	return at, true
}

// locKey is the ctx key of WithLocation.
type locKey struct{}

// WithLocation marks ctx's requests as made for location id, so that those
// without a locationId query parameter (GET /contacts/{id}, notes, tasks)
// share that location's limiter. Set it once on a run's context.
func WithLocation(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, locKey{}, id)
}

// locationOf is the limiter key for req: its locationId query parameter,
// else the ctx's WithLocation, else "".
func locationOf(req *http.Request) string {
	if req.URL != nil {
		if id := req.URL.Query().Get("locationId"); id != "" {
			return id
		}
	}
	if id, ok := req.Context().Value(locKey{}).(string); ok {
		return id
	}
	return ""
}

// Transport paces requests per location. It is safe for concurrent use.
type Transport struct {
	base   http.RoundTripper
	limits Limits
	clock  clock

	mu       sync.Mutex
	locs     map[string]*location
	observed RateState // the last answer's headers, any location
}

// location is one location's pacing state. Guarded by Transport.mu.
type location struct {
	lim          *rate.Limiter
	max          int           // the burst limit in force (learned or documented)
	interval     time.Duration // its interval
	blockedUntil time.Time     // no request before this (window spent, or a 429)
	winStart     time.Time     // when our request opened the current window (zero: unknown)
	quotaReset   time.Time     // non-zero: the daily quota is spent until then
	state        RateState     // what this location's answers said
}

// NewTransport paces requests going to base (nil: http.DefaultTransport),
// starting each location at l (zero fields: DefaultLimits).
func NewTransport(base http.RoundTripper, l Limits) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{base: base, limits: l.normalized(), clock: systemClock{}, locs: map[string]*location{}, observed: unknownState()}
}

// Observed is what the rate-limit headers of the last answer said (fields
// not carried by it keep earlier values). The quota planner reads it.
func (t *Transport) Observed() RateState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.observed
}

// ObservedFor is Observed for one location; false if none of its answers
// has been seen.
func (t *Transport) ObservedFor(locationID string) (RateState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.locs[locationID]
	if !ok || l.state.At.IsZero() {
		return RateState{}, false
	}
	return l.state, true
}

// _location returns key's state, creating it at the documented limits.
// Call with t.mu held.
func (t *Transport) _location(key string) *location {
	l, ok := t.locs[key]
	if !ok {
		r, b := paceFor(t.limits.Burst, t.limits.Interval)
		l = &location{lim: rate.NewLimiter(r, b), max: t.limits.Burst, interval: t.limits.Interval, state: unknownState()}
		l.state.Location = key
		t.locs[key] = l
	}
	return l
}

// waitError is a wait for the pacer cut short by ctx: the request was never
// sent.
type waitError struct{ err error }

func (e *waitError) Error() string { return "waiting for the rate limit: " + e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// RoundTrip waits for the location's turn (ctx-aware), sends req, and
// learns from the answer's X-RateLimit-* headers. A spent daily quota fails
// at once with *QuotaError, without sending.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := locationOf(req)
	if err := t.wait(req.Context(), key); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.learn(key, resp, t.clock.Now())
	return resp, nil
}

// wait blocks until key may send one request, taking its token.
func (t *Transport) wait(ctx context.Context, key string) error {
	reserved := false
	for {
		t.mu.Lock()
		now := t.clock.Now()
		l := t._location(key)
		if !l.quotaReset.IsZero() {
			if now.Before(l.quotaReset) {
				reset := l.quotaReset
				t.mu.Unlock()
				return &QuotaError{Location: key, ResetAt: reset}
			}
			l.quotaReset = time.Time{}
		}
		if now.Before(l.blockedUntil) {
			d := l.blockedUntil.Sub(now)
			t.mu.Unlock()
			if err := t.clock.Sleep(ctx, d); err != nil {
				return &waitError{err}
			}
			continue
		}
		if reserved {
			t.mu.Unlock()
			return nil
		}
		r := l.lim.ReserveN(now, 1)
		reserved = true
		d := r.DelayFrom(now)
		t.mu.Unlock()
		if d > 0 {
			if err := t.clock.Sleep(ctx, d); err != nil {
				t.mu.Lock()
				r.CancelAt(t.clock.Now())
				t.mu.Unlock()
				return &waitError{err}
			}
		}
	}
}

// learn updates key's limiter from an answer.
func (t *Transport) learn(key string, resp *http.Response, now time.Time) {
	s := parseRateHeaders(resp.Header)
	s.At = now
	s.Location = key
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t._location(key)
	l.state = l.state.merge(s)
	t.observed = t.observed.merge(s)
	t.observed.Location = key

	if (s.Max > 0 && s.Max != l.max) || (s.Interval > 0 && s.Interval != l.interval) {
		if s.Max > 0 {
			l.max = s.Max
		}
		if s.Interval > 0 {
			l.interval = s.Interval
		}
		r, b := paceFor(l.max, l.interval)
		l.lim.SetLimitAt(now, r)
		l.lim.SetBurstAt(now, b)
	}
	// The window is spent (another client shares it, or we learned the
	// limit too late): hold everything until it rolls over.
	if resp.StatusCode != http.StatusTooManyRequests && s.Remaining >= 0 && s.Remaining == l.max-1 {
		l.winStart = now // our request opened a window
	}
	if s.Remaining == 0 {
		l.blockedUntil = later(l.blockedUntil, windowEnd(now, l.winStart, l.interval))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if s.DailyRemaining == 0 {
			l.quotaReset = dailyReset(resp.Header, now)
			return
		}
		hint := retryAfter(resp.Header, now)
		until := windowEnd(now, l.winStart, l.interval)
		if hint > 0 {
			until = now.Add(min(hint, maxHint))
		}
		l.blockedUntil = later(l.blockedUntil, until)
	}
	// A 2xx with X-RateLimit-Daily-Remaining 0 says when the quota comes
	// back only through X-RateLimit-Daily-Reset; without it, guessing (the
	// next UTC midnight) could stall a run for hours: the next request goes
	// out, and its 429, which spends no quota, carries the Retry-After the
	// stop and --wait then use.
	if s.DailyRemaining == 0 {
		if reset, ok := parseDailyReset(resp.Header.Get(HeaderDailyReset), now); ok {
			l.quotaReset = reset
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// String describes the state without any secret (there is none in it).
func (s RateState) String() string {
	return fmt.Sprintf("location=%q max=%d remaining=%d interval=%s daily=%d/%d", s.Location, s.Max, s.Remaining, s.Interval, s.DailyRemaining, s.DailyLimit)
}
