package pace

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// simServer is a RoundTripper that enforces a burst limit on the fake clock,
// in fixed windows (keyed on the interval, as HighLevel does) or a sliding
// one, and a daily quota, and answers with HighLevel's headers.
type simServer struct {
	clk      *fakeClock
	max      int
	interval time.Duration
	sliding  bool
	opened   bool // fixed windows opened by the first request in them (the sandbox), not aligned to the epoch
	daily    int  // 0: unlimited
	latency  time.Duration

	mu       sync.Mutex
	window   int64
	winStart time.Time
	count    int
	hits     []time.Time // accepted, for the sliding window
	ok       int
	rejected []time.Time
	used     int
}

func (s *simServer) RoundTrip(req *http.Request) (*http.Response, error) {
	s.clk.advance(s.latency / 2)
	now := s.clk.Now()
	s.mu.Lock()
	h := http.Header{}
	h.Set(HeaderMax, strconv.Itoa(s.max))
	h.Set(HeaderInterval, strconv.Itoa(int(s.interval.Milliseconds())))
	if s.daily > 0 {
		h.Set(HeaderDailyLimit, strconv.Itoa(s.daily))
	}
	var used int
	if s.sliding {
		keep := s.hits[:0]
		for _, t := range s.hits {
			if now.Sub(t) < s.interval {
				keep = append(keep, t)
			}
		}
		s.hits = keep
		used = len(s.hits)
	} else if s.opened {
		if s.winStart.IsZero() || now.Sub(s.winStart) >= s.interval {
			s.winStart, s.count = now, 0
		}
		used = s.count
	} else {
		w := now.UnixMilli() / s.interval.Milliseconds()
		if w != s.window {
			s.window, s.count = w, 0
		}
		used = s.count
	}
	status := http.StatusOK
	switch {
	case s.daily > 0 && s.used >= s.daily:
		status = http.StatusTooManyRequests
		h.Set(HeaderDailyRemaining, "0")
	case used >= s.max:
		status = http.StatusTooManyRequests
		s.rejected = append(s.rejected, now)
	default:
		s.ok++
		s.used++
		used++
		s.count++
		s.hits = append(s.hits, now)
	}
	h.Set(HeaderRemaining, strconv.Itoa(s.max-used))
	if s.daily > 0 && status == http.StatusOK {
		h.Set(HeaderDailyRemaining, strconv.Itoa(s.daily-s.used))
	}
	s.mu.Unlock()
	s.clk.advance(s.latency - s.latency/2)
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

func newSimTransport(s *simServer, l Limits) *Transport {
	tr := NewTransport(s, l)
	tr.clock = s.clk
	return tr
}

func get(t *testing.T, tr http.RoundTripper, ctx context.Context, u string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	return resp, err
}

// TestPacingEfficiency runs the transport against simulated servers and
// checks the two targets: at least 97% of the allowed rate, and no 429
// after the first window. The clock is fake, so this is exact, not timed.
func TestPacingEfficiency(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		interval time.Duration
		sliding  bool
		latency  time.Duration
		start    Limits
		minEff   float64
		opened   bool
	}{
		{"opened-by-first 100/10s", 100, 10 * time.Second, false, 30 * time.Millisecond, DefaultLimits(), 0.97, true},
		{"fixed 100/10s", 100, 10 * time.Second, false, 30 * time.Millisecond, DefaultLimits(), 0.97, false},
		{"sliding 100/10s", 100, 10 * time.Second, true, 30 * time.Millisecond, DefaultLimits(), 0.97, false},
		{"fixed, no latency", 100, 10 * time.Second, false, 0, DefaultLimits(), 0.97, false},
		{"fixed 20/200ms learned from headers", 20, 200 * time.Millisecond, false, time.Millisecond, DefaultLimits(), 0.89, false},
		{"sliding, started too high", 50, 10 * time.Second, true, 10 * time.Millisecond, Limits{Burst: 500, Interval: 10 * time.Second}, 0.95, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			srv := &simServer{clk: clk, max: tt.max, interval: tt.interval, sliding: tt.sliding, opened: tt.opened, latency: tt.latency}
			tr := newSimTransport(srv, tt.start)
			ctx := WithLocation(context.Background(), "loc1")
			const windows = 30
			start := clk.Now()
			var firstOK time.Time
			for clk.Now().Sub(start) < windows*tt.interval {
				resp, err := get(t, tr, ctx, "http://sim/contacts/x")
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode == http.StatusOK && firstOK.IsZero() {
					firstOK = clk.Now()
				}
			}
			elapsed := clk.Now().Sub(start)
			for _, r := range srv.rejected {
				if r.Sub(start) >= tt.interval {
					t.Errorf("429 at %v, after the first window", r.Sub(start))
				}
			}
			eff := float64(srv.ok) / (elapsed.Seconds() / tt.interval.Seconds() * float64(tt.max))
			t.Logf("%d ok, %d rejected in %v: %.1f%% of the allowed rate", srv.ok, len(srv.rejected), elapsed, eff*100)
			if eff < tt.minEff {
				t.Errorf("efficiency %.3f, want ≥ %.2f", eff, tt.minEff)
			}
			obs := tr.Observed()
			if obs.Max != tt.max || obs.Interval != tt.interval || obs.Location != "loc1" {
				t.Errorf("Observed = %v", obs)
			}
		})
	}
}

// TestRemainingZeroWaitsForWindow: when another client spends the window,
// the transport holds requests until the window rolls instead of drawing
// 429s, for windows on the epoch and windows opened by a first request.
func TestRemainingZeroWaitsForWindow(t *testing.T) {
	for _, opened := range []bool{false, true} {
		t.Run(map[bool]string{false: "epoch windows", true: "opened windows"}[opened], func(t *testing.T) {
			clk := newFakeClock()
			clk.advance(300 * time.Millisecond) // not on a window boundary
			srv := &simServer{clk: clk, max: 10, interval: time.Second, opened: opened}
			tr := newSimTransport(srv, Limits{Burst: 10, Interval: time.Second})
			ctx := context.Background()
			get(t, tr, ctx, "http://sim/contacts/?locationId=A")
			// Someone else uses up the rest of this window.
			srv.mu.Lock()
			srv.count = srv.max - 1
			srv.mu.Unlock()
			resp, _ := get(t, tr, ctx, "http://sim/contacts/?locationId=A")
			if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderRemaining) != "0" {
				t.Fatalf("setup: status %d remaining %q", resp.StatusCode, resp.Header.Get(HeaderRemaining))
			}
			resp, _ = get(t, tr, ctx, "http://sim/contacts/?locationId=A")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d after Remaining 0, want the transport to wait for the window", resp.StatusCode)
			}
			if len(srv.rejected) != 0 {
				t.Errorf("%d requests rejected", len(srv.rejected))
			}
			// It waited no longer than the window needed (plus the margin).
			if waited := clk.Now().Sub(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)); waited > 1300*time.Millisecond+50*time.Millisecond {
				t.Errorf("sent at +%v; the window ended at +1s (epoch) or +1.3s (opened)", waited)
			}
		})
	}
}

func TestPerLocationLimiters(t *testing.T) {
	tests := []struct {
		name string
		url  string
		ctx  string
		want string
	}{
		{"query param", "http://x/contacts/?locationId=A&limit=1", "", "A"},
		{"query beats ctx", "http://x/contacts/?locationId=A", "B", "A"},
		{"ctx", "http://x/contacts/abc", "B", "B"},
		{"fallback", "http://x/contacts/abc", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx != "" {
				ctx = WithLocation(ctx, tt.ctx)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tt.url, nil)
			if got := locationOf(req); got != tt.want {
				t.Errorf("locationOf = %q, want %q", got, tt.want)
			}
		})
	}

	// Two locations each get their own budget: spending A's leaves B alone.
	clk := newFakeClock()
	srv := &simServer{clk: clk, max: 5, interval: time.Second}
	tr := newSimTransport(srv, Limits{Burst: 5, Interval: time.Second})
	ctx := context.Background()
	for range 3 {
		get(t, tr, ctx, "http://sim/contacts/?locationId=A")
	}
	tr.mu.Lock()
	a, b := tr.locs["A"], tr.locs["B"]
	tr.mu.Unlock()
	if a == nil || b != nil {
		t.Fatalf("limiters: A %v, B %v", a, b)
	}
	get(t, tr, ctx, "http://sim/contacts/?locationId=B")
	if _, ok := tr.ObservedFor("B"); !ok {
		t.Error("ObservedFor(B) not recorded")
	}
}

func TestDailyQuotaFailsFast(t *testing.T) {
	clk := newFakeClock()
	srv := &simServer{clk: clk, max: 100, interval: time.Second, daily: 3}
	tr := newSimTransport(srv, Limits{Burst: 100, Interval: time.Second})
	ctx := WithLocation(context.Background(), "L")
	for i := range 3 {
		resp, err := get(t, tr, ctx, "http://sim/contacts/x")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
	}
	if obs := tr.Observed(); obs.DailyRemaining != 0 || obs.DailyLimit != 3 {
		t.Errorf("Observed = %v", obs)
	}
	// The day's last 2xx doesn't say when the quota comes back: one more
	// request goes out and its 429 (which spends no quota) says.
	if resp, err := get(t, tr, ctx, "http://sim/contacts/x"); err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("probe after the last request: %v %v, want a 429", resp, err)
	}
	okBefore := srv.ok + len(srv.rejected)
	_, err := get(t, tr, ctx, "http://sim/contacts/x")
	var q *QuotaError
	if !errors.Is(err, ErrDailyQuota) || !errors.As(err, &q) {
		t.Fatalf("err = %v, want *QuotaError", err)
	}
	if q.Location != "L" || !q.ResetAt.After(clk.Now()) {
		t.Errorf("QuotaError = %+v", q)
	}
	if srv.ok+len(srv.rejected) != okBefore {
		t.Error("a request was sent after the 429 said the quota was spent")
	}
	if retry, _ := ShouldRetry(context.Background(), err); retry {
		t.Error("ShouldRetry says retry a spent quota")
	}
	// Other locations are not affected.
	if resp, err := get(t, tr, context.Background(), "http://sim/contacts/?locationId=other"); err == nil && resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("other location: %v", resp.StatusCode)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	clk := newFakeClock()
	srv := &simServer{clk: clk, max: 1, interval: time.Hour}
	tr := newSimTransport(srv, Limits{Burst: 1, Interval: time.Hour})
	get(t, tr, context.Background(), "http://sim/?locationId=A")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := get(t, tr, ctx, "http://sim/?locationId=A")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	if IsUnknownOutcome(err) {
		t.Error("a request cancelled while waiting was never sent; outcome is known")
	}
}

// fixedWindowServer is a tiny stand-in for the sandbox's rate limiter: a
// fixed-window limit on real time, keyed on the interval.
func fixedWindowServer(max int, interval time.Duration) (*httptest.Server, *fixedCounts) {
	c := &fixedCounts{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		c.mu.Lock()
		win := now.UnixMilli() / interval.Milliseconds()
		if win != c.window {
			c.window, c.count = win, 0
		}
		status := http.StatusOK
		if c.count >= max {
			status = http.StatusTooManyRequests
			c.rejected = append(c.rejected, now)
		} else {
			c.count++
			c.ok++
		}
		remaining := max - c.count
		c.mu.Unlock()
		w.Header().Set(HeaderMax, strconv.Itoa(max))
		w.Header().Set(HeaderInterval, strconv.Itoa(int(interval.Milliseconds())))
		w.Header().Set(HeaderRemaining, strconv.Itoa(remaining))
		w.Header().Set(HeaderDailyLimit, "200000")
		w.Header().Set(HeaderDailyRemaining, "150000")
		w.WriteHeader(status)
		io.WriteString(w, "{}")
	}))
	return srv, c
}

type fixedCounts struct {
	mu       sync.Mutex
	window   int64
	winStart time.Time
	count    int
	ok       int
	rejected []time.Time
}

// TestLoopbackFixedWindow runs concurrent workers over real HTTP against a
// fixed-window 20/200ms server: after the first window, no 429. Throughput
// is logged, not asserted (wall-clock timing belongs to the simulation).
func TestLoopbackFixedWindow(t *testing.T) {
	const max, interval = 20, 200 * time.Millisecond
	srv, counts := fixedWindowServer(max, interval)
	defer srv.Close()
	tr := NewTransport(http.DefaultTransport, DefaultLimits())
	hc := &http.Client{Transport: tr}
	start := time.Now()
	deadline := start.Add(6 * interval)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := hc.Get(srv.URL + "/contacts/?locationId=loc")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	counts.mu.Lock()
	defer counts.mu.Unlock()
	late := 0
	for _, r := range counts.rejected {
		if r.Sub(start) > interval {
			late++
		}
	}
	t.Logf("%d ok, %d rejected (%d after the first window) in %v: %.0f%% of the allowed rate",
		counts.ok, len(counts.rejected), late, elapsed, 100*float64(counts.ok)/(elapsed.Seconds()/interval.Seconds()*max))
	if late > 0 {
		t.Errorf("%d requests rejected after the first window", late)
	}
	if obs := tr.Observed(); obs.Max != max || obs.DailyRemaining != 150000 {
		t.Errorf("Observed = %v", obs)
	}
}

// A 2xx that spends the day's last request and says when the quota
// resets (X-RateLimit-Daily-Reset) stops the next request before it is
// sent, with that reset time.
func TestDailyResetHeaderStopsWithoutProbe(t *testing.T) {
	clk := newFakeClock()
	sent := 0
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		sent++
		h := http.Header{}
		h.Set(HeaderDailyRemaining, "0")
		h.Set(HeaderDailyReset, "7200000")
		return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
	})
	tr := NewTransport(base, Limits{})
	tr.clock = clk
	ctx := WithLocation(context.Background(), "L")
	if _, err := get(t, tr, ctx, "http://sim/contacts/x"); err != nil {
		t.Fatal(err)
	}
	want := clk.Now().Add(2 * time.Hour)
	_, err := get(t, tr, ctx, "http://sim/contacts/x")
	var q *QuotaError
	if !errors.As(err, &q) || !q.ResetAt.Equal(want) {
		t.Fatalf("err = %v, want *QuotaError resetting at %v", err, want)
	}
	if sent != 1 {
		t.Errorf("sent %d requests, want 1 (the stop needs no probe)", sent)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
