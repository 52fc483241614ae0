package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// agencyEnv is a started agency of n locations and a full-scope Location
// token for each.
func agencyEnv(t *testing.T, opt Options, n int) (*env, []string, map[string]string) {
	t.Helper()
	opt.Locations = n
	e := start(t, opt)
	ids := e.s.Locations()
	toks := map[string]string{}
	for _, id := range ids {
		tok, err := e.s.IssueToken(id, nil, 48*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		toks[id] = tok
	}
	return e, ids, toks
}

// list is GET /contacts/ of location id with its own token.
func (e *env) list(id, tok string) resp {
	e.t.Helper()
	return e.call("GET", "/contacts/?locationId="+id+"&limit=1", nil, hdrs{"Authorization": "Bearer " + tok})
}

func TestLocationStorm(t *testing.T) {
	tests := []struct {
		name  string
		spec  string // --faults; "" = the StormLocation hook
		share float64
	}{
		{"hook, every request", "", 1},
		{"--faults, every request", "location=STORMED:5xx=1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probe, err := New(Options{Locations: 3})
			if err != nil {
				t.Fatal(err)
			}
			stormed := probe.Locations()[1] // ids depend on the seed alone
			probe.Close()
			var opt Options
			if tc.spec != "" {
				if opt.Faults, err = ParseFaults(strings.ReplaceAll(tc.spec, "STORMED", stormed)); err != nil {
					t.Fatal(err)
				}
			}
			e, ids, toks := agencyEnv(t, opt, 3)
			if tc.spec == "" {
				e.s.StormLocation(stormed, tc.share)
			}
			statuses := map[int]int{}
			for range 30 {
				r := e.list(stormed, toks[stormed])
				if r.err != nil {
					t.Fatal(r.err)
				}
				statuses[r.status]++
				if r.status < 500 {
					t.Fatalf("stormed location answered %d: %s", r.status, r.raw)
				}
				if r.header.Get("X-Ratelimit-Remaining") != "" {
					t.Errorf("an injected %d carries rate-limit headers (it comes from a proxy)", r.status)
				}
				if r.status == 500 && !strings.Contains(string(r.raw), `"Internal server error"`) {
					t.Errorf("500 body %s, want HighLevel's JSON", r.raw)
				}
				if r.status != 500 && !strings.Contains(string(r.raw), "<html>") {
					t.Errorf("%d body %s, want a gateway's HTML page", r.status, r.raw)
				}
			}
			if len(statuses) < 2 {
				t.Errorf("statuses %v: want a mix of 500, 502 and 503", statuses)
			}
			for _, id := range ids {
				if id != stormed {
					e.must(e.list(id, toks[id]), http.StatusOK)
				}
			}
			c := e.s.Counts()
			if c.Faults["5xx"] != 30 || c.ByLocation[stormed].Requests != 30 || c.ByLocation[ids[0]].Requests != 1 {
				t.Errorf("counts: faults %v, by location %v", c.Faults, c.ByLocation)
			}
			e.s.StormLocation(stormed, 0) // lifted
			e.must(e.list(stormed, toks[stormed]), http.StatusOK)
		})
	}
}

// A storm of 30 % hits about that share, and only its location.
func TestLocationStormShare(t *testing.T) {
	e, ids, toks := agencyEnv(t, Options{Rate: -1}, 2)
	e.s.StormLocation(ids[1], 0.3)
	failed := 0
	for range 200 {
		if r := e.list(ids[1], toks[ids[1]]); r.status >= 500 {
			failed++
		}
		e.must(e.list(ids[0], toks[ids[0]]), http.StatusOK)
	}
	if failed < 35 || failed > 85 {
		t.Errorf("%d of 200 answered 5xx at a share of 0.3", failed)
	}
}

// fakeClock is a settable clock for the limiter's windows.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLocationDailyQuotaSpent(t *testing.T) {
	tests := []struct {
		name string
		spec bool // spent by --faults at start, else by the hook
	}{
		{"hook", false},
		{"--faults location=ID:daily=spent", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probe, err := New(Options{Locations: 3})
			if err != nil {
				t.Fatal(err)
			}
			spent := probe.Locations()[2]
			probe.Close()
			opt := Options{DailyWindow: time.Hour}
			if tc.spec {
				if opt.Faults, err = ParseFaults("location=" + spent + ":daily=spent"); err != nil {
					t.Fatal(err)
				}
			}
			e, ids, toks := agencyEnv(t, opt, 3)
			clk := &fakeClock{t: time.Now()}
			e.s.now = clk.now
			e.must(e.list(ids[0], toks[ids[0]]), http.StatusOK)
			if !tc.spec {
				e.must(e.list(spent, toks[spent]), http.StatusOK) // its bucket exists before it is spent
				e.s.SpendDailyQuota(spent, true)
			}
			r := e.must(e.list(spent, toks[spent]), http.StatusTooManyRequests)
			if r.str("message") != "Daily request limit exceeded" || r.header.Get("X-Ratelimit-Daily-Remaining") != "0" {
				t.Errorf("spent quota: %s, Daily-Remaining %q", r.raw, r.header.Get("X-Ratelimit-Daily-Remaining"))
			}
			if ra := r.header.Get("Retry-After"); ra != "3600" && ra != "3599" {
				t.Errorf("Retry-After %q, want the hour to the daily window's end", ra)
			}
			other := e.must(e.list(ids[0], toks[ids[0]]), http.StatusOK)
			if other.header.Get("X-Ratelimit-Daily-Remaining") != "199998" {
				t.Errorf("another location's quota changed: Daily-Remaining %q", other.header.Get("X-Ratelimit-Daily-Remaining"))
			}
			// Another app on the spent location finds it spent too.
			tok2, _ := e.s.IssueToken(spent, nil, 0)
			e.s.opt.OAuthClients["other-app"] = "x"
			e.s.auth.mu.Lock()
			e.s.auth.tokens[tok2].ClientID = "other-app"
			e.s.auth.mu.Unlock()
			e.must(e.list(spent, tok2), http.StatusTooManyRequests)

			clk.add(time.Hour) // the daily window rolls over
			e.must(e.list(spent, toks[spent]), http.StatusOK)
			e.must(e.list(spent, tok2), http.StatusOK)

			e.s.SpendDailyQuota(spent, true)
			e.must(e.list(spent, toks[spent]), http.StatusTooManyRequests)
			e.s.SpendDailyQuota(spent, false) // given back at once
			e.must(e.list(spent, toks[spent]), http.StatusOK)
			if c := e.s.Counts(); c.ByLocation[spent].RateLimited != 3 {
				t.Errorf("429s counted %+v", c.ByLocation[spent])
			}
		})
	}
}

// RateLimitedLate counts only the 429s after a location's first window,
// and /_sandbox/counts serves the counts as JSON.
func TestRateLimitedLateAndCountsEndpoint(t *testing.T) {
	e, ids, toks := agencyEnv(t, Options{Rate: 2, Interval: 10 * time.Second}, 2)
	clk := &fakeClock{t: time.Now()}
	e.s.now = clk.now
	for range 3 { // the third is a 429 in the first window
		e.list(ids[0], toks[ids[0]])
	}
	clk.add(5 * time.Second)
	for range 3 { // the second location's first window opens here
		e.list(ids[1], toks[ids[1]])
	}
	clk.add(6 * time.Second) // 11 s after the first location's first request
	for range 3 {
		e.list(ids[0], toks[ids[0]])
	}
	r, err := e.hc.Get(e.base + "/_sandbox/counts")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var c Counts
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := map[string]LocationCounts{ids[0]: {Requests: 6, RateLimited: 2, RateLimitedLate: 1}, ids[1]: {Requests: 3, RateLimited: 1}}
	for id, w := range want {
		if c.ByLocation[id] != w {
			t.Errorf("location %s: %+v, want %+v", id, c.ByLocation[id], w)
		}
	}
	if c.RateLimitedLate != 1 || c.RateLimited != 3 {
		t.Errorf("RateLimitedLate %d RateLimited %d, want 1 and 3", c.RateLimitedLate, c.RateLimited)
	}
	e.s.ResetCounts()
	if c := e.s.Counts(); len(c.ByLocation) != 0 || c.RateLimitedLate != 0 {
		t.Errorf("after ResetCounts: %+v", c)
	}
}
