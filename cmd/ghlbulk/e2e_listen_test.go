package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// testWebhookKey is a key of the test's own, trusted by the listener too, to
// sign forged, stale and replayed deliveries.
type testWebhookKey struct {
	priv    ed25519.PrivateKey
	pemPath string
}

func newTestWebhookKey(t *testing.T) testWebhookKey {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	p := filepath.Join(t.TempDir(), "test-key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testWebhookKey{priv: priv, pemPath: p}
}

// post sends body signed with k (or with a wrong signature) and returns
// the status, or 0 when the connection failed.
func (k testWebhookKey) post(url string, body []byte, forge bool) int {
	sig := ed25519.Sign(k.priv, body)
	if forge {
		sig[0] ^= 1
	}
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("x-ghl-signature", base64.StdEncoding.EncodeToString(sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func testEvent(id string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"type": "ContactUpdate", "locationId": "loc", "appId": "ghlbulk", "webhookId": id,
		"timestamp": at.UTC().Format(time.RFC3339Nano), "id": "c-" + id})
	return b
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startListener runs the binary's listen and waits for its LISTEN_URL line.
func startListener(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd, url, _ := startListenerEnv(t, nil, args...)
	return cmd, url
}

type journaledEvent struct {
	WebhookID, Type, Signature string
}

// journalEvents runs `ghlbulk events --json`.
func journalEvents(t *testing.T, journal string) []journaledEvent {
	t.Helper()
	r := runCLI(t, nil, "events", "--journal", journal, "--json")
	if r.code != 0 {
		t.Fatalf("events: exit %d: %s", r.code, r.stderr)
	}
	var out []journaledEvent
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var e journaledEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events --json line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// TestE2EListenSandboxWebhooks: the sandbox's signed webhooks for a run of
// writes reach the real listener and each is journaled once; forged,
// stale and replayed deliveries are refused or change nothing.
func TestE2EListenSandboxWebhooks(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	journal, keys := filepath.Join(dir, "events.db"), filepath.Join(dir, "sandbox.pem")
	s := startSandbox(t, sandbox.Options{Rate: -1, Webhooks: sandbox.WebhookOptions{URL: "http://" + addr + "/webhooks/highlevel"}})
	if err := os.WriteFile(keys, s.WebhookPublicKeys(), 0o600); err != nil {
		t.Fatal(err)
	}
	tk := newTestWebhookKey(t)
	listener, url := startListener(t, "--addr", addr, "--journal", journal, "--public-key", keys, "--public-key", tk.pemPath)

	// Writes: an import of 20 contacts makes 20 ContactCreate; each also
	// gets a note (NoteCreate) through the API.
	csvPath := filepath.Join(dir, "in.csv")
	var csv strings.Builder
	csv.WriteString("email,first_name\n")
	for i := range 20 {
		fmt.Fprintf(&csv, "p%d@example.com,P%d\n", i, i)
	}
	os.WriteFile(csvPath, []byte(csv.String()), 0o600)
	mapping := filepath.Join(dir, "m.yaml")
	os.WriteFile(mapping, []byte("version: 1\nkey: [email]\nfields:\n  email: email\n  firstName: first_name\n"), 0o600)
	if r := runCLI(t, s.env(), "import", csvPath, "--mapping", mapping, "--state", filepath.Join(dir, "state.db"), "--no-progress"); r.code != 0 {
		t.Fatalf("import: exit %d: %s", r.code, r.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WebhooksIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.WebhookStats()
	if st.Queued < 20 || st.Delivered != st.Queued {
		t.Fatalf("sandbox webhooks %+v: want every write's event delivered", st)
	}
	evs := journalEvents(t, journal)
	if int64(len(evs)) != st.Delivered {
		t.Fatalf("journaled %d; the sandbox delivered %d", len(evs), st.Delivered)
	}
	creates := 0
	for _, e := range evs {
		if e.Type == "ContactCreate" {
			creates++
		}
	}
	if creates != 20 {
		t.Fatalf("%d ContactCreate journaled; want 20 (one per contact imported)", creates)
	}

	now := time.Now()
	for i, c := range []struct {
		name   string
		body   []byte
		forge  bool
		status int
	}{
		{"wrong signature", testEvent("forged", now), true, 401},
		{"stale timestamp", testEvent("stale", now.Add(-10*time.Minute)), false, 400},
		{"replayed webhookId", testEvent(evs[0].WebhookID, now), false, 200},
		{"fresh", testEvent("fresh", now), false, 200},
		{"fresh, delivered again", testEvent("fresh", now), false, 200},
	} {
		if got := tk.post(url, c.body, c.forge); got != c.status {
			t.Errorf("%d %s: status %d; want %d", i, c.name, got, c.status)
		}
	}
	after := journalEvents(t, journal)
	if len(after) != len(evs)+1 || after[len(after)-1].WebhookID != "fresh" {
		t.Fatalf("journaled %d after the forged, stale and replayed ones; want %d (only 'fresh' added)", len(after), len(evs)+1)
	}
	ids := map[string]int{}
	for _, e := range after {
		ids[e.WebhookID]++
		if ids[e.WebhookID] > 1 {
			t.Fatalf("webhookId %s journaled twice", e.WebhookID)
		}
	}
	_ = listener.Process.Signal(syscall.SIGTERM)
	_ = listener.Wait()
}

// TestE2EListenKilled: the listener is killed (SIGKILL) while events
// stream in; after a restart, every event that was answered 200 is in the
// journal, and none twice, even once the senders redeliver all of them.
func TestE2EListenKilled(t *testing.T) {
	addr := freeAddr(t)
	journal := filepath.Join(t.TempDir(), "events.db")
	tk := newTestWebhookKey(t)
	listener, url := startListener(t, "--addr", addr, "--journal", journal, "--public-key", tk.pemPath)

	const senders, each = 8, 300
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	start := time.Now()
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("s%d-%d", s, i)
				if tk.post(url, testEvent(id, start), false) == 200 {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := listener.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = listener.Wait()
	wg.Wait()
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()
	if nAcked == senders*each {
		t.Fatalf("every event was answered before the kill: the test killed nothing in flight")
	}

	got := journalEvents(t, journal)
	inJournal := map[string]int{}
	for _, e := range got {
		inJournal[e.WebhookID]++
	}
	for id := range acked {
		if inJournal[id] != 1 {
			t.Fatalf("%s was answered 200 but is journaled %d times", id, inJournal[id])
		}
	}

	// Restart; the senders deliver everything again, as HighLevel retries.
	_, url = startListener(t, "--addr", addr, "--journal", journal, "--public-key", tk.pemPath)
	for s := range senders {
		for i := range each {
			if c := tk.post(url, testEvent(fmt.Sprintf("s%d-%d", s, i), start), false); c != 200 {
				t.Fatalf("redelivery: status %d", c)
			}
		}
	}
	got = journalEvents(t, journal)
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.WebhookID] {
			t.Fatalf("%s journaled twice", e.WebhookID)
		}
		seen[e.WebhookID] = true
	}
	if len(got) != senders*each {
		t.Fatalf("journaled %d after redelivery; want %d", len(got), senders*each)
	}
	r := runCLI(t, nil, "events", "--journal", journal)
	if !strings.Contains(r.stderr, "the listener was not up") {
		t.Fatalf("events: no warning of the time the listener was down; stderr: %s", r.stderr)
	}
	t.Logf("answered 200 before the kill: %d of %d", nAcked, senders*each)
}
