package pace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"golang.org/x/time/rate"
)

// fakeClock advances only when slept on, so the tests never wait.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.slept = append(c.slept, d)
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestPaceFor(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		interval  time.Duration
		wantPer   float64 // requests per interval
		wantBurst int
	}{
		{"documented 100/10s", 100, 10 * time.Second, 98, 1},
		{"small 20/200ms", 20, 200 * time.Millisecond, 18, 1},
		{"large 1000/10s", 1000, 10 * time.Second, 980, 19},
		{"two", 2, time.Second, 1, 1},
		{"one", 1, time.Second, 1 / 1.05, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, b := paceFor(tt.max, tt.interval)
			per := float64(r) * tt.interval.Seconds()
			if d := per - tt.wantPer; d > 1e-9 || d < -1e-9 {
				t.Errorf("per interval = %v, want %v", per, tt.wantPer)
			}
			if b != tt.wantBurst {
				t.Errorf("burst = %d, want %d", b, tt.wantBurst)
			}
			if float64(b)+math.Floor(per) > float64(tt.max) {
				t.Errorf("burst+rate·interval = %v exceeds %d", float64(b)+per, tt.max)
			}
		})
	}
	if r, _ := paceFor(0, time.Second); r != rate.Inf {
		t.Errorf("unknown limit: rate %v, want Inf", r)
	}
}

func TestWindowEnd(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 5, 0, time.UTC)
	tests := []struct {
		name     string
		winStart time.Time
		interval time.Duration
		want     time.Time
	}{
		{"start known", now.Add(-3 * time.Second), 10 * time.Second, now.Add(7*time.Second + 200*time.Millisecond)},
		{"start unknown: a whole interval", time.Time{}, 10 * time.Second, now.Add(10*time.Second + 200*time.Millisecond)},
		{"start too old: a whole interval", now.Add(-11 * time.Second), 10 * time.Second, now.Add(10*time.Second + 200*time.Millisecond)},
		{"start in the future: a whole interval", now.Add(time.Second), 10 * time.Second, now.Add(10*time.Second + 200*time.Millisecond)},
		{"small interval, margin at least 2ms", now.Add(-50 * time.Millisecond), 100 * time.Millisecond, now.Add(52 * time.Millisecond)},
		{"long interval, margin capped", now, time.Minute, now.Add(time.Minute + 250*time.Millisecond)},
		{"no interval", now, 0, now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := windowEnd(now, tt.winStart, tt.interval); !got.Equal(tt.want) {
				t.Errorf("windowEnd = %v, want %v", got, tt.want)
			}
		})
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestParseRateHeaders(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want RateState
	}{
		{"none", hdr(), unknownState()},
		{"all", hdr(HeaderMax, "100", HeaderRemaining, "42", HeaderInterval, "10000", HeaderDailyLimit, "200000", HeaderDailyRemaining, "1234"),
			RateState{Max: 100, Remaining: 42, Interval: 10 * time.Second, DailyLimit: 200000, DailyRemaining: 1234}},
		{"malformed ignored", hdr(HeaderMax, "lots", HeaderRemaining, " 7 ", HeaderInterval, "-5"),
			RateState{Max: -1, Remaining: 7, DailyLimit: -1, DailyRemaining: -1}},
		{"float", hdr(HeaderRemaining, "3.0"), RateState{Max: -1, Remaining: 3, DailyLimit: -1, DailyRemaining: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRateHeaders(tt.h); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRetryAfterAndDailyReset(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		h         http.Header
		wantAfter time.Duration
		wantReset time.Time
	}{
		{"seconds", hdr("Retry-After", "7"), 7 * time.Second, now.Add(7 * time.Second)},
		{"http date", hdr("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second, now.Add(90 * time.Second)},
		{"past date", hdr("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), 0, time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)},
		{"garbage", hdr("Retry-After", "soon"), 0, time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)},
		{"huge capped", hdr("Retry-After", "999999999999999999999"), maxHint + time.Second, now.Add(48 * time.Hour)},
		{"absent", hdr(), 0, time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)},
		// X-RateLimit-Daily-Reset wins over Retry-After and the midnight guess.
		{"daily reset ms", hdr(HeaderDailyReset, "5400000", "Retry-After", "7"), 7 * time.Second, now.Add(90 * time.Minute)},
		{"daily reset ms only", hdr(HeaderDailyReset, "3600000"), 0, now.Add(time.Hour)},
		{"daily reset garbage", hdr(HeaderDailyReset, "later", "Retry-After", "7"), 7 * time.Second, now.Add(7 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.h, now); got != tt.wantAfter {
				t.Errorf("retryAfter = %v, want %v", got, tt.wantAfter)
			}
			if got := dailyReset(tt.h, now); !got.Equal(tt.wantReset) {
				t.Errorf("dailyReset = %v, want %v", got, tt.wantReset)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name    string
		p       Policy
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{"first, no jitter", p, 0, 0, 500 * time.Millisecond},
		{"first, top jitter", p, 0, 0.999999, 500 * time.Millisecond},
		{"second, half", p, 1, 0.5, 750 * time.Millisecond},
		{"fourth, full", p, 3, 1 - 1e-12, 4 * time.Second},
		{"capped", p, 10, 1 - 1e-12, 30 * time.Second},
		{"huge attempt capped", p, 1000, 0.5, 500*time.Millisecond + (30*time.Second-500*time.Millisecond)/2},
		{"negative attempt", p, -3, 0, 500 * time.Millisecond},
		{"bad rnd treated as 0", p, 5, 7, 500 * time.Millisecond},
		{"zero policy uses defaults", Policy{}, 0, 0, 500 * time.Millisecond},
		{"max below initial", Policy{Initial: time.Second, Max: time.Millisecond, MaxAttempts: 3}, 4, 0.9, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Backoff(tt.p, tt.attempt, func() float64 { return tt.rnd })
			if d := got - tt.want; d > time.Microsecond || d < -time.Microsecond {
				t.Errorf("Backoff = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextWait(t *testing.T) {
	p := Policy{Initial: time.Second, Max: 10 * time.Second, MaxAttempts: 5}
	zero := func() float64 { return 0 }
	tests := []struct {
		name string
		hint time.Duration
		want time.Duration
	}{
		{"no hint: backoff", 0, time.Second},
		{"hint above backoff wins", 4 * time.Second, 4 * time.Second},
		{"hint below backoff: backoff", 100 * time.Millisecond, time.Second},
		{"hint capped at Max", time.Minute, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextWait(p, 0, tt.hint, zero); got != tt.want {
				t.Errorf("nextWait = %v, want %v", got, tt.want)
			}
		})
	}
}

func apiErr(status int, method string, kv ...string) error {
	return fmt.Errorf("wrapped: %w", &ghl.APIError{StatusCode: status, Method: method, Path: "/contacts/upsert", Header: hdr(kv...)})
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestShouldRetry(t *testing.T) {
	now := time.Now()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	post := func(err error) error {
		return fmt.Errorf("POST /contacts/: %w", &url.Error{Op: "Post", URL: "http://x/contacts/", Err: err})
	}
	get := func(err error) error { return &url.Error{Op: "Get", URL: "http://x/contacts/", Err: err} }
	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		retry      bool
		wait       time.Duration
		unknown    bool
		dailyQuota bool
	}{
		{"nil", bg, nil, false, 0, false, false},
		{"ctx done", cancelled, apiErr(500, "POST"), false, 0, true, false},
		{"context.Canceled", bg, post(context.Canceled), false, 0, true, false},
		{"429 retry-after", bg, apiErr(429, "POST", "Retry-After", "3"), true, 3 * time.Second, false, false},
		{"429 interval hint", bg, apiErr(429, "POST", HeaderInterval, "10000", HeaderDailyRemaining, "5"), true, 10 * time.Second, false, false},
		{"429 no hint", bg, apiErr(429, "GET"), true, 0, false, false},
		{"429 daily spent", bg, apiErr(429, "POST", HeaderDailyRemaining, "0", "Retry-After", "3"), false, 0, false, true},
		{"500 write", bg, apiErr(500, "POST"), true, 0, true, false},
		{"500 read", bg, apiErr(500, "GET"), true, 0, false, false},
		{"502", bg, apiErr(502, "PUT"), true, 0, true, false},
		{"503 with retry-after", bg, apiErr(503, "POST", "Retry-After", "2"), true, 2 * time.Second, false, false},
		{"504", bg, apiErr(504, "POST"), true, 0, true, false},
		{"400", bg, apiErr(400, "POST"), false, 0, false, false},
		{"401", bg, apiErr(401, "GET"), false, 0, false, false},
		{"422", bg, apiErr(422, "POST"), false, 0, false, false},
		{"unknown outcome decode", bg, &ghl.DecodeError{Method: "POST", StatusCode: 201, Err: io.ErrUnexpectedEOF}, true, 0, true, false},
		{"GET truncated body", bg, &ghl.DecodeError{Method: "GET", StatusCode: 200, Err: io.ErrUnexpectedEOF}, true, 0, false, false},
		{"connection reset on write", bg, post(syscall.ECONNRESET), true, 0, true, false},
		{"EOF on write", bg, post(io.EOF), true, 0, true, false},
		{"EOF on read", bg, get(io.EOF), true, 0, false, false},
		{"timeout on write", bg, post(timeoutErr{}), true, 0, true, false},
		{"refused: never sent", bg, post(syscall.ECONNREFUSED), true, 0, false, false},
		{"string fallback", bg, post(errors.New("http2: server sent GOAWAY and closed the connection")), true, 0, true, false},
		{"quota fail-fast", bg, post(&QuotaError{ResetAt: now}), false, 0, false, true},
		{"pacer wait cancelled", bg, post(&waitError{context.Canceled}), false, 0, false, false},
		{"permanent", bg, Permanent(apiErr(503, "POST")), false, 0, false, false},
		{"plain error", bg, errors.New("boom"), false, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, wait := shouldRetry(tt.ctx, tt.err, now)
			if retry != tt.retry || wait != tt.wait {
				t.Errorf("shouldRetry = %v, %v; want %v, %v", retry, wait, tt.retry, tt.wait)
			}
			if got := IsUnknownOutcome(tt.err); got != tt.unknown {
				t.Errorf("IsUnknownOutcome = %v, want %v", got, tt.unknown)
			}
			q := quotaFrom(tt.err, now)
			if (q != nil) != tt.dailyQuota {
				t.Errorf("quotaFrom = %v, want quota %v", q, tt.dailyQuota)
			}
			if q != nil && !errors.Is(q, ErrDailyQuota) {
				t.Errorf("quota error %v is not ErrDailyQuota", q)
			}
		})
	}
}

type countRec struct{ requests, retries, throttled int }

func (r *countRec) Request()   { r.requests++ }
func (r *countRec) Retry()     { r.retries++ }
func (r *countRec) Throttled() { r.throttled++ }

func TestRetry(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Total: 10 * time.Second, MaxAttempts: 5}
	e503 := apiErr(503, "POST")
	tests := []struct {
		name       string
		p          Policy
		errs       []error // answers in order; past the end: success
		wantErr    string  // substring; "" = success
		wantIs     error
		wantCalls  int
		wantSleeps []time.Duration
		wantRec    countRec
	}{
		{"success first", p, nil, "", nil, 1, nil, countRec{1, 0, 0}},
		{"two 503 then ok", p, []error{e503, e503}, "", nil, 3,
			[]time.Duration{100 * time.Millisecond, 100 * time.Millisecond}, countRec{3, 2, 0}},
		{"429 hint honoured", p, []error{apiErr(429, "POST", "Retry-After", "1")}, "", nil, 2,
			[]time.Duration{time.Second}, countRec{2, 1, 1}},
		{"429 hint capped at Max", p, []error{apiErr(429, "POST", "Retry-After", "60")}, "", nil, 2,
			[]time.Duration{2 * time.Second}, countRec{2, 1, 1}},
		{"not retryable", p, []error{apiErr(422, "POST")}, "422", nil, 1, nil, countRec{1, 0, 0}},
		{"max attempts", p, []error{e503, e503, e503, e503, e503, e503}, "gave up after 5 attempts", e503, 5,
			[]time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}, countRec{5, 4, 0}},
		{"total limit", Policy{Initial: time.Second, Max: time.Second, Total: 2500 * time.Millisecond, MaxAttempts: 100},
			[]error{e503, e503, e503, e503, e503}, "gave up after 3 attempts in 2s", e503, 3,
			[]time.Duration{time.Second, time.Second}, countRec{3, 2, 0}},
		{"daily quota stops", p, []error{apiErr(429, "POST", HeaderDailyRemaining, "0")}, "daily API quota spent", ErrDailyQuota, 1, nil, countRec{1, 0, 1}},
		{"permanent returns inner", p, []error{Permanent(e503)}, "503", e503, 1, nil, countRec{1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			rec := &countRec{}
			calls := 0
			err := retry(context.Background(), tt.p, rec, func(ctx context.Context) error {
				calls++
				n, prev := AttemptFromContext(ctx)
				if n != calls {
					t.Errorf("AttemptFromContext = %d, want %d", n, calls)
				}
				if (calls > 1) != (prev != nil) {
					t.Errorf("attempt %d: prev = %v", calls, prev)
				}
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			}, clk, func() float64 { return 0 })
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if fmt.Sprint(clk.slept) != fmt.Sprint(tt.wantSleeps) {
				t.Errorf("slept %v, want %v", clk.slept, tt.wantSleeps)
			}
			if *rec != tt.wantRec {
				t.Errorf("recorder %+v, want %+v", *rec, tt.wantRec)
			}
		})
	}
}

func TestRetryNestedDoesNotMultiply(t *testing.T) {
	clk := newFakeClock()
	p := Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 3}
	inner := 0
	err := retry(context.Background(), p, nil, func(ctx context.Context) error {
		return retry(ctx, p, nil, func(context.Context) error {
			inner++
			return apiErr(503, "POST")
		}, clk, nil)
	}, clk, nil)
	if !errors.Is(err, ghl.ErrUnknownOutcome) && ghl.StatusCode(err) != 503 {
		t.Fatalf("err = %v", err)
	}
	if inner != 3 {
		t.Errorf("inner calls = %d, want 3 (not 9)", inner)
	}
}

func TestRetryCancelledDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Retry(ctx, Policy{Initial: time.Hour, Max: time.Hour, MaxAttempts: 3}, nil, func(context.Context) error {
		calls++
		cancel() // the wait that follows must end at once
		return apiErr(503, "POST")
	})
	if !errors.Is(err, context.Canceled) || ghl.StatusCode(err) != 503 {
		t.Fatalf("err = %v, want Canceled wrapping the 503", err)
	}
	if calls != 1 {
		t.Errorf("calls = %d", calls)
	}
}

func TestParseDailyReset(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		v    string
		want time.Time // zero: not used
	}{
		{"ms until reset (the SDK's reading)", "43200000", now.Add(12 * time.Hour)},
		{"fractional ms", "1500.7", now.Add(1500 * time.Millisecond)},
		{"zero: now", "0", now},
		{"unix seconds", strconv.FormatInt(now.Add(3*time.Hour).Unix(), 10), now.Add(3 * time.Hour)},
		{"unix ms", strconv.FormatInt(now.Add(3*time.Hour).UnixMilli(), 10), now.Add(3 * time.Hour)},
		{"http date", now.Add(time.Hour).Format(http.TimeFormat), now.Add(time.Hour)},
		{"rfc3339", now.Add(2 * time.Hour).Format(time.RFC3339), now.Add(2 * time.Hour)},
		{"past unix seconds", strconv.FormatInt(now.Add(-time.Hour).Unix(), 10), time.Time{}},
		{"beyond two days", strconv.FormatInt(now.Add(72*time.Hour).Unix(), 10), time.Time{}},
		{"negative", "-5", time.Time{}},
		{"blank", " ", time.Time{}},
		{"garbage", "tomorrow", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseDailyReset(tt.v, now)
			if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
				t.Errorf("parseDailyReset(%q) = %v, %v; want %v", tt.v, got, ok, tt.want)
			}
		})
	}
}
