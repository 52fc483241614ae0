package listen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

func openTestListener(t *testing.T, mod func(*Options)) (*Listener, *Journal, *httptest.Server) {
	t.Helper()
	j, err := OpenJournal(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Journal: j, Keys: newTestSigner(t).keys(t)}
	if mod != nil {
		mod(&opt)
	}
	l, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(func() {
		srv.Close()
		l.Close()
		j.Close()
	})
	return l, j, srv
}

func event(id, typ string, at time.Time, extra map[string]any) []byte {
	m := map[string]any{"type": typ, "locationId": "loc1", "webhookId": id, "timestamp": at.UTC().Format(time.RFC3339Nano), "appId": "app1"}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func post(t *testing.T, url string, body []byte, h http.Header) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+Path, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func signed(t *testing.T, body []byte) http.Header {
	return header("x-ghl-signature", newTestSigner(t).edSig(body))
}

func journaled(t *testing.T, j *Journal) []Event {
	t.Helper()
	var out []Event
	for e, err := range j.Events(context.Background(), Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestListenerAnswers: each kind of delivery gets its answer, and only the
// genuine, fresh, first ones are journaled.
func TestListenerAnswers(t *testing.T) {
	now := time.Now()
	l, j, srv := openTestListener(t, func(o *Options) { o.AppID = "app1" })
	s := newTestSigner(t)
	fresh := event("w1", "ContactCreate", now, nil)
	taskNoContact := event("w2", "TaskCreate", now, map[string]any{"id": "t1", "title": "x"})
	noteShort := []byte(fmt.Sprintf(`{"type":"NoteCreate","appId":"app1","webhookId":"w3","timestamp":%q,"id":"n1","body":"b","contactId":"c1","dateAdded":"2021-11-26T12:41:02.193Z"}`, now.UTC().Format(time.RFC3339)))
	legacy := event("w4", "NoteDelete", now, nil)
	stale := event("w5", "ContactUpdate", now.Add(-6*time.Minute), nil)
	future := event("w6", "ContactUpdate", now.Add(6*time.Minute), nil)
	otherApp := event("w7", "ContactCreate", now, map[string]any{"appId": "app2"})
	cases := []struct {
		name   string
		body   []byte
		h      http.Header
		status int
	}{
		{"genuine", fresh, signed(t, fresh), 200},
		{"replay of the same delivery", fresh, signed(t, fresh), 200},
		{"a TaskCreate without contactId", taskNoContact, signed(t, taskNoContact), 200},
		{"a note with only id, body, contactId, dateAdded", noteShort, signed(t, noteShort), 200},
		{"legacy RSA signature", legacy, header("x-wh-signature", s.rsaSig(t, legacy)), 200},
		{"no signature", event("w8", "ContactCreate", now, nil), nil, 401},
		{"wrong signature", event("w9", "ContactCreate", now, nil), signed(t, fresh), 401},
		{"stale timestamp", stale, signed(t, stale), 400},
		{"timestamp in the future", future, signed(t, future), 400},
		{"another app's event", otherApp, signed(t, otherApp), 200},
		{"not JSON", []byte("{"), signed(t, []byte("{")), 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := post(t, srv.URL, c.body, c.h); got != c.status {
				t.Fatalf("status %d; want %d", got, c.status)
			}
		})
	}
	var ids []string
	for _, e := range journaled(t, j) {
		ids = append(ids, e.WebhookID+":"+e.Signature)
	}
	want := []string{"w1:x-ghl-signature", "w2:x-ghl-signature", "w3:x-ghl-signature", "w4:x-wh-signature"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("journaled %v; want %v", ids, want)
	}
	st := l.Stats()
	if st.Journaled != 4 || st.Repeats != 1 || st.BadSignature != 2 || st.Stale != 2 || st.OtherApp != 1 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestListenerKeepsBodyAsSent: the journal holds the exact bytes.
func TestListenerKeepsBodyAsSent(t *testing.T) {
	_, j, srv := openTestListener(t, nil)
	body := []byte(fmt.Sprintf(`{ "type" : "TaskCreate",  "webhookId":"w1", "timestamp":%q, "extra": [1, 2] }`, time.Now().UTC().Format(time.RFC3339)))
	if got, _ := post(t, srv.URL, body, signed(t, body)); got != 200 {
		t.Fatalf("status %d", got)
	}
	evs := journaled(t, j)
	if len(evs) != 1 || !bytes.Equal(evs[0].Body, body) || evs[0].Type != "TaskCreate" {
		t.Fatalf("journaled %+v", evs)
	}
}

// TestListenerAppIDRule is the SDK's rule: with an app id configured, an
// event must carry exactly it; a missing appId is another app's.
func TestListenerAppIDRule(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name, app string
		extra     map[string]any
		kept      bool
	}{
		{"same app", "app1", nil, true},
		{"other app", "app1", map[string]any{"appId": "app1-x"}, false},
		{"no appId in the event", "app1", map[string]any{"appId": nil}, false},
		{"no app configured: every app", "", map[string]any{"appId": "zzz"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, j, srv := openTestListener(t, func(o *Options) { o.AppID = c.app })
			body := event("w1", "ContactCreate", now, c.extra)
			if got, _ := post(t, srv.URL, body, signed(t, body)); got != 200 {
				t.Fatalf("status %d", got)
			}
			if n := len(journaled(t, j)); (n == 1) != c.kept {
				t.Fatalf("journaled %d; want kept=%v", n, c.kept)
			}
		})
	}
}

// TestListenerBusy: an event the journal cannot take is 429 with
// Retry-After, and is not journaled. The writer is held up by a long
// write transaction on the journal from another connection.
func TestListenerBusy(t *testing.T) {
	_, j, srv := openTestListener(t, func(o *Options) { o.Queue = 1; o.MaxBatch = 1 })
	tx, err := j.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE uptime SET seen_ms = seen_ms`); err != nil {
		t.Fatal(err)
	}
	// The writer takes one event and waits on the lock; one more fills
	// the queue; the next ones are refused.
	codes := make(chan int, 6)
	for i := range 6 {
		go func() {
			body := event(fmt.Sprintf("w%d", i), "ContactCreate", time.Now(), nil)
			c, h := post(t, srv.URL, body, signed(t, body))
			if c == 429 && h.Get("Retry-After") == "" {
				c = -1
			}
			codes <- c
		}()
	}
	n429 := 0
	for range 4 {
		if c := <-codes; c == 429 {
			n429++
		} else {
			t.Fatalf("status %d before the journal was free; want 429 with Retry-After", c)
		}
	}
	tx.Rollback()
	n200 := 0
	for range 2 {
		if c := <-codes; c == 200 {
			n200++
		}
	}
	if got := len(journaled(t, j)); got != n200 || n200 != 2 {
		t.Fatalf("journaled %d, answered 200 %d; want 2 and 2", got, n200)
	}
}

func TestListenerBodyCap(t *testing.T) {
	_, j, srv := openTestListener(t, func(o *Options) { o.MaxBody = 100 })
	body := event("w1", "ContactCreate", time.Now(), map[string]any{"pad": string(make([]byte, 200))})
	if got, _ := post(t, srv.URL, body, signed(t, body)); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d; want 413", got)
	}
	if n := len(journaled(t, j)); n != 0 {
		t.Fatalf("journaled %d", n)
	}
}

func TestGaps(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 1, 1, 0, m, 0, 0, time.UTC) }
	spans := []Span{{Start: at(10), Stop: at(20)}, {Start: at(30), Stop: at(40), Killed: true}}
	cases := []struct {
		name         string
		since, until int
		want         string
	}{
		{"around both", 0, 50, "[{0 10} {20 30} {40 50}]"},
		{"inside one", 12, 18, "[]"},
		{"ends before the second", 15, 25, "[{20 25}]"},
		{"starts in the gap", 25, 35, "[{25 30}]"},
		{"before all", 0, 5, "[{0 5}]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, g := range gapsOf(spans, at(c.since), at(c.until)) {
				got = append(got, fmt.Sprintf("{%d %d}", g.From.Minute(), g.To.Minute()))
			}
			if s := fmt.Sprint(got); s != c.want && !(len(got) == 0 && c.want == "[]") {
				t.Fatalf("gaps %s; want %s", s, c.want)
			}
		})
	}
}
