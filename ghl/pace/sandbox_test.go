package pace

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

func TestSandboxNo429AfterFirstWindow(t *testing.T) {
	const rate, interval = 20, 200 * time.Millisecond
	sb, err := sandbox.New(sandbox.Options{Rate: rate, Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sb.IssueToken(sb.LocationID(), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTransport(http.DefaultTransport, DefaultLimits())
	hc := &http.Client{Transport: tr}
	start := time.Now()
	deadline := start.Add(6 * interval)
	var ok, late atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodGet, base+"/contacts/?limit=1&locationId="+sb.LocationID(), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Version", "2021-07-28")
				resp, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusTooManyRequests && time.Since(start) > interval:
					late.Add(1)
				case resp.StatusCode == http.StatusOK:
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d ok in %v, %d late 429s", ok.Load(), time.Since(start), late.Load())
	if late.Load() > 0 {
		t.Errorf("%d answers 429 after the first window", late.Load())
	}
	if obs := tr.Observed(); obs.Max != rate || obs.Interval != interval {
		t.Errorf("Observed = %v", obs)
	}
}
