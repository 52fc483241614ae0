package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchRequests is how many requests one benchmark iteration sends, spread
// over benchClients concurrent clients on real loopback HTTP. `make bench`
// runs 2 iterations; req/s is the figure to read.
const (
	benchRequests = 20000
	benchClients  = 32
)

func benchServer(b *testing.B, contacts int) (*Server, string, string, *http.Client) {
	b.Helper()
	if v := os.Getenv("SANDBOX_BENCH_CONTACTS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			contacts = n
		}
	}
	s, err := New(Options{Rate: -1, Daily: -1, Contacts: contacts, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	base, err := s.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	tok, err := s.IssueToken("", nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * benchClients, MaxIdleConnsPerHost: 2 * benchClients}}
	return s, base, tok, hc
}

// hammer sends benchRequests requests made by mk from benchClients
// goroutines and reports requests per second.
func hammer(b *testing.B, hc *http.Client, tok string, mk func(i int64) (*http.Request, error)) {
	b.Helper()
	var failed atomic.Int64
	var elapsed time.Duration
	b.ResetTimer()
	for iter := range b.N {
		var next atomic.Int64
		offset := int64(iter) * benchRequests
		t0 := time.Now()
		var wg sync.WaitGroup
		for range benchClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > benchRequests {
						return
					}
					req, err := mk(offset + i)
					if err != nil {
						failed.Add(1)
						continue
					}
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Version", "2021-07-28")
					res, err := hc.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode >= 300 {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed += time.Since(t0)
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Errorf("%d requests failed", n)
	}
	b.ReportMetric(float64(b.N*benchRequests)/elapsed.Seconds(), "req/s")
}

// BenchmarkServeUpsert: POST /contacts/upsert, half new contacts and half
// updates of seeded ones, limits off.
func BenchmarkServeUpsert(b *testing.B) {
	s, base, tok, hc := benchServer(b, 10000)
	s.mu.RLock()
	var emails []string
	for _, c := range s.locs[s.LocationID()].contacts {
		if c.Email != "" {
			emails = append(emails, c.Email)
		}
	}
	s.mu.RUnlock()
	loc := s.LocationID()
	hammer(b, hc, tok, func(i int64) (*http.Request, error) {
		email := fmt.Sprintf("bench%d@example.com", i)
		if i%2 == 0 && len(emails) > 0 {
			email = emails[int(i/2)%len(emails)]
		}
		body := fmt.Sprintf(`{"locationId":%q,"email":%q,"firstName":"Bench","lastName":"Mark","phone":"+1415%07d","tags":["bench"],"source":"bench"}`,
			loc, email, i%10000000)
		req, err := http.NewRequest("POST", base+"/contacts/upsert", bytes.NewBufferString(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
}

// BenchmarkServeGet: GET /contacts/{id} of seeded contacts, limits off.
func BenchmarkServeGet(b *testing.B) {
	s, base, tok, hc := benchServer(b, 100000)
	s.mu.RLock()
	ids := make([]string, 0, len(s.locs[s.LocationID()].contacts))
	for id := range s.locs[s.LocationID()].contacts {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	hammer(b, hc, tok, func(i int64) (*http.Request, error) {
		return http.NewRequest("GET", base+"/contacts/"+ids[int(i)%len(ids)], nil)
	})
}

// BenchmarkSeed measures seeding (SANDBOX_BENCH_CONTACTS, default 100k).
func BenchmarkSeed(b *testing.B) {
	n := 100000
	if v := os.Getenv("SANDBOX_BENCH_CONTACTS"); v != "" {
		if x, err := strconv.Atoi(v); err == nil {
			n = x
		}
	}
	for range b.N {
		s, err := New(Options{Contacts: n, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
	}
	b.ReportMetric(float64(n), "contacts")
}
