package listen

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkListen: signed events posted by 1, 16 and 64 concurrent senders
// to a listener over a real journal (synchronous=FULL: every event on disk
// before its 200). Reports events/s and the p99 time to answer.
//
//	go test -run '^$' -bench BenchmarkListen -benchtime 3000x ./jobs/listen/
func BenchmarkListen(b *testing.B) {
	for _, senders := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			benchListen(b, senders)
		})
	}
}

func benchListen(b *testing.B, senders int) {
	j, err := OpenJournal(filepath.Join(b.TempDir(), "journal.db"))
	if err != nil {
		b.Fatal(err)
	}
	s := newTestSigner(b)
	l, err := New(Options{Journal: j, Keys: s.keys(b), MaxInFlight: 1024})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	defer func() { srv.Close(); l.Close(); j.Close() }()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	now := time.Now()
	bodies := make([][]byte, b.N)
	sigs := make([]string, b.N)
	for i := range b.N {
		bodies[i] = event(fmt.Sprintf("w%d", i), "ContactUpdate", now, map[string]any{"id": "c1", "email": "a@example.com"})
		sigs[i] = s.edSig(bodies[i])
	}
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				req, _ := http.NewRequest("POST", srv.URL+Path, bytes.NewReader(bodies[i]))
				req.Header.Set("x-ghl-signature", sigs[i])
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n, _ := j.Count(b.Context()); n != int64(b.N) {
		b.Fatalf("journaled %d of %d", n, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N)/float64(l.w.commits.Load()), "events/commit")
}
