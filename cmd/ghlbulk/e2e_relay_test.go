package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/listen"
)

// receiver stands for Slack, Teams and a generic HTTP endpoint: it keeps
// every delivery's body by its Idempotency-Key, and answers 500 while down.
type receiver struct {
	*httptest.Server
	down     atomic.Bool
	failures atomic.Int64
	mu       sync.Mutex
	got      map[string][]recvd // path -> deliveries answered 200
}

type recvd struct {
	key, sig string
	body     []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: map[string][]recvd{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		body, _ := io.ReadAll(q.Body)
		if r.down.Load() {
			r.failures.Add(1)
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		r.got[q.URL.Path] = append(r.got[q.URL.Path], recvd{q.Header.Get("Idempotency-Key"), q.Header.Get("X-Ghlbulk-Signature"), body})
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) at(path string) []recvd {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recvd(nil), r.got[path]...)
}

// smtpServer is a tiny SMTP server: enough of RFC 5321 for net/smtp; it
// keeps each message's X-Idempotency-Key.
type smtpServer struct {
	ln   net.Listener
	mu   sync.Mutex
	keys []string
	msgs []string
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 test")
		case cmd == "DATA":
			say("354 go on")
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			s.keep(msg.String())
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (s *smtpServer) keep(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, msg)
	for _, l := range strings.Split(msg, "\r\n") {
		if k, ok := strings.CutPrefix(l, "X-Idempotency-Key: "); ok {
			s.keys = append(s.keys, k)
		}
	}
}

func (s *smtpServer) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// startListenerEnv is startListener with an environment of the test's.
func startListenerEnv(t *testing.T, env []string, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"listen"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "LISTEN_URL=") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("listen printed %q (%v); stderr: %s", line, err, stderr.String())
	}
	return cmd, strings.TrimSpace(strings.TrimPrefix(line, "LISTEN_URL=")), &stderr
}

func stopListener(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onceEach fails unless keys are exactly want, each once.
func onceEach(t *testing.T, where string, keys []string, want []string) {
	t.Helper()
	n := map[string]int{}
	for _, k := range keys {
		n[k]++
	}
	for _, k := range want {
		if n[k] != 1 {
			t.Errorf("%s: key %s delivered %d times; want once (all: %v)", where, k, n[k], keys)
		}
	}
	if len(keys) != len(want) {
		t.Errorf("%s: %d deliveries %v; want %d", where, len(keys), keys, len(want))
	}
}

const relayRules = `retry:
  initial: 20ms
  max: 100ms
  attempts: 40
relays:
  hook:
    secret_env: TEST_RELAY_SECRET
rules:
  - name: updates
    events: [ContactUpdate]
    when: 'id != "c-skip"'
    relays: [slack, teams, hook, mail]
    subject: 'contact {{.id}} changed'
    message: '{{.type}}: contact {{.id}} on {{.locationId}}'
  - name: nowhere
    events: [ContactUpdate]
    relays: [broken] # no when: every update, c-skip too
`

// TestE2EListenRelays: each matching event reaches Slack, Teams, a signed
// JSON endpoint and an SMTP server exactly once by idempotency key, across
// an outage of the endpoint (500s, then 200) that spans a listener
// restart; a relay that never answers ends in `events --failed`.
func TestE2EListenRelays(t *testing.T) {
	dir := t.TempDir()
	journal, rules := filepath.Join(dir, "events.db"), filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(relayRules), 0o600); err != nil {
		t.Fatal(err)
	}
	rcv, mail := newReceiver(t), newSMTPServer(t)
	tk := newTestWebhookKey(t)
	addr := freeAddr(t)
	args := []string{"--addr", addr, "--journal", journal, "--public-key", tk.pemPath, "--rules", rules,
		"--relay", "slack=slack+" + rcv.URL + "/slack", "--relay", "teams=teams+" + rcv.URL + "/teams",
		"--relay", "hook=" + rcv.URL + "/hook", "--relay", "mail=smtp://" + mail.ln.Addr().String() + "?from=a@example.com&to=b@example.com",
		"--relay", "broken=http://127.0.0.1:1/nothing"}
	env := []string{"TEST_RELAY_SECRET=s3cret"}

	rcv.down.Store(true) // the outage: 500 for every relay on the receiver
	l, url, _ := startListenerEnv(t, env, args...)
	now := time.Now()
	for _, id := range []string{"a", "b", "skip", "a"} {
		if c := tk.post(url, testEvent(id, now), false); c != 200 {
			t.Fatalf("post %s: %d", id, c)
		}
	}
	waitFor(t, "failed attempts during the outage", 20*time.Second, func() bool { return rcv.failures.Load() >= 9 })
	stopListener(t, l) // a restart in the outage: what is owed stays owed
	rcv.down.Store(false)
	l, url, stderr := startListenerEnv(t, env, args...)
	if c := tk.post(url, testEvent("c", now), false); c != 200 {
		t.Fatalf("post c: %d", c)
	}
	want := func(relay string) []string {
		return []string{"a/" + relay, "b/" + relay, "c/" + relay}
	}
	waitFor(t, "every delivery", 30*time.Second, func() bool {
		return len(rcv.at("/slack")) >= 3 && len(rcv.at("/teams")) >= 3 && len(rcv.at("/hook")) >= 3 && len(mail.got()) >= 3
	})
	waitFor(t, "the dead letters", 30*time.Second, func() bool {
		r := runCLI(t, nil, "events", "--journal", journal, "--failed")
		return strings.Count(r.stdout, "relay:broken") == 4
	})
	time.Sleep(300 * time.Millisecond) // room for a wrong repeat to show
	stopListener(t, l)

	keys := func(rs []recvd) (out []string) {
		for _, r := range rs {
			out = append(out, r.key)
		}
		return out
	}
	onceEach(t, "slack", keys(rcv.at("/slack")), want("slack"))
	onceEach(t, "teams", keys(rcv.at("/teams")), want("teams"))
	onceEach(t, "hook", keys(rcv.at("/hook")), want("hook"))
	onceEach(t, "mail", mail.got(), want("mail"))

	for _, d := range rcv.at("/slack") {
		var m map[string]any
		if err := json.Unmarshal(d.body, &m); err != nil || len(m) != 1 || !strings.HasPrefix(fmt.Sprint(m["text"]), "ContactUpdate: contact c-") {
			t.Errorf("slack body %s: want {\"text\": the rule's message}", d.body)
		}
	}
	for _, d := range rcv.at("/teams") {
		var m map[string]any
		if err := json.Unmarshal(d.body, &m); err != nil || m["@type"] != "MessageCard" || !strings.HasPrefix(fmt.Sprint(m["title"]), "contact c-") || m["text"] == nil {
			t.Errorf("teams body %s: want a MessageCard with the subject as title", d.body)
		}
	}
	for _, d := range rcv.at("/hook") {
		var m map[string]any
		if err := json.Unmarshal(d.body, &m); err != nil || m["type"] != "ContactUpdate" || d.sig != listen.Signature("s3cret", d.body) {
			t.Errorf("hook body %s sig %q: want the event's JSON, signed with TEST_RELAY_SECRET", d.body, d.sig)
		}
	}
	if strings.Contains(stderr.String(), "s3cret") {
		t.Errorf("the relay secret reached the log")
	}
	r := runCLI(t, nil, "events", "--journal", journal, "--failed", "--json")
	if n := strings.Count(r.stdout, "\n"); n != 4 || !strings.Contains(r.stdout, `"key":"skip/broken"`) {
		t.Errorf("events --failed --json: %d lines; want 4 dead letters of relay broken:\n%s", n, r.stdout)
	}
}

// TestE2EListenBadRules: a bad rules file or relay URL stops listen before
// it binds, exit 2, naming the file and line and the fix.
func TestE2EListenBadRules(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "events.db")
	tests := []struct {
		name, rules, relay, want string
	}{
		{"unknown relay", "rules:\n  - name: r\n    relays: [nope]\n", "", "rules.yaml:2: rule \"r\": relay \"nope\" is not declared"},
		{"typo", "rules:\n  - name: r\n    relay: [x]\n", "", "rules.yaml:3"},
		{"bad when", "rules:\n  - name: r\n    relays: [x]\n    when: 'id =='\n", "x=https://example.com/h", "rules.yaml:2: rule \"r\": when:"},
		{"bad url", "", "x=ftp://example.com", "--relay x=ftp://example.com"},
		{"secret unset", "relays:\n  x:\n    url: https://example.com/h\n    secret_env: NOT_SET_ANYWHERE\n", "", "NOT_SET_ANYWHERE is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"listen", "--addr", freeAddr(t), "--journal", journal}
			if tt.rules != "" {
				p := filepath.Join(t.TempDir(), "rules.yaml")
				os.WriteFile(p, []byte(tt.rules), 0o600)
				args = append(args, "--rules", p)
			}
			if tt.relay != "" {
				args = append(args, "--relay", tt.relay)
			}
			r := runCLI(t, nil, args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stdout, "LISTEN_URL") {
				t.Fatalf("exit %d, stderr %q; want exit 2 before binding, naming %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

// TestE2EListenRuleCreatesTask: a rule creates one task per note that
// mentions "follow up", through the sandbox's API, once per event, also
// when HighLevel delivers the event again and across a restart.
func TestE2EListenRuleCreatesTask(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	journal, keys, rules := filepath.Join(dir, "events.db"), filepath.Join(dir, "sandbox.pem"), filepath.Join(dir, "rules.yaml")
	s := startSandbox(t, sandbox.Options{Rate: -1, Webhooks: sandbox.WebhookOptions{URL: "http://" + addr + "/webhooks/highlevel"}})
	os.WriteFile(keys, s.WebhookPublicKeys(), 0o600)
	os.WriteFile(rules, []byte(`retry: {initial: 20ms, max: 100ms}
rules:
  - name: follow-up
    events: [NoteCreate]
    when: 'lower(body) contains "follow up"'
    action: create_task
    task:
      title: 'Follow up: {{.body}}'
      body: 'From note {{.id}}'
      due: 48h
`), 0o600)
	l, _, stderr := startListenerEnv(t, s.env(), "--addr", addr, "--journal", journal, "--public-key", keys, "--rules", rules)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := s.client()
	ct, err := c.CreateContact(ctx, ghl.UpsertContactRequest{LocationID: s.LocationID(), Email: new("f@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"Please FOLLOW UP on pricing", "nothing to do", "follow up next week"} {
		if _, err := c.CreateNote(ctx, ct.ID, ghl.NoteInput{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WebhooksIdle(ctx); err != nil {
		t.Fatal(err)
	}
	tasks := func() []ghl.Task {
		ts, err := c.ListTasks(ctx, ct.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	waitFor(t, "two tasks", 20*time.Second, func() bool { return len(tasks()) >= 2 })
	stopListener(t, l)
	l, _, _ = startListenerEnv(t, s.env(), "--addr", addr, "--journal", journal, "--public-key", keys, "--rules", rules)
	time.Sleep(500 * time.Millisecond)
	stopListener(t, l)
	got := tasks()
	if len(got) != 2 {
		t.Fatalf("%d tasks: %+v; want 2 (one per note mentioning follow up); listen stderr: %s", len(got), got, stderr)
	}
	for _, tk := range got {
		if !strings.HasPrefix(tk.Title, "Follow up: ") || !strings.HasPrefix(tk.Body, "From note ") || tk.DueDate == "" {
			t.Errorf("task %+v: want the rule's templates", tk)
		}
	}
}

// TestE2ENotifyImport: import --notify posts the run's summary to a relay;
// a relay that is down is a warning, not the exit code.
func TestE2ENotifyImport(t *testing.T) {
	s := startSandbox(t, sandbox.Options{Rate: -1})
	rcv := newReceiver(t)
	dir := t.TempDir()
	csvPath, mapping := filepath.Join(dir, "in.csv"), filepath.Join(dir, "m.yaml")
	os.WriteFile(csvPath, []byte("email,first_name\nn1@example.com,A\nnot-an-email,B\n"), 0o600)
	os.WriteFile(mapping, []byte("version: 1\nkey: [email]\nfields:\n  email: email\n  firstName: first_name\n"), 0o600)
	r := runCLI(t, s.env(), "import", csvPath, "--mapping", mapping, "--state", filepath.Join(dir, "s.db"), "--no-progress",
		"--notify", "ops", "--relay", "ops="+rcv.URL+"/ops")
	if r.code != 0 {
		t.Fatalf("import: exit %d: %s", r.code, r.stderr)
	}
	got := rcv.at("/ops")
	if len(got) != 1 {
		t.Fatalf("%d summaries posted; want 1", len(got))
	}
	var sum listen.Summary
	if err := json.Unmarshal(got[0].body, &sum); err != nil || sum.Command != "import" || sum.ExitCode != 0 ||
		sum.Counts["created"] != 1 || sum.Counts["rejected"] != 1 || !strings.HasSuffix(sum.Rejects, ".rejects.csv") {
		t.Fatalf("summary %s: want import, exit 0, 1 created, 1 rejected, the rejects file", got[0].body)
	}

	rcv.down.Store(true)
	r = runCLI(t, s.env(), "import", csvPath, "--mapping", mapping, "--state", filepath.Join(dir, "s.db"), "--no-progress",
		"--notify", "ops", "--relay", "ops="+rcv.URL+"/ops")
	if r.code != 0 || !strings.Contains(r.stderr, "--notify: the summary was not delivered") {
		t.Fatalf("import with the relay down: exit %d, stderr %s; want 0 and a warning", r.code, r.stderr)
	}
	r = runCLI(t, s.env(), "import", csvPath, "--mapping", mapping, "--notify", "nope")
	if r.code != 2 || !strings.Contains(r.stderr, "--notify nope") {
		t.Fatalf("--notify of no relay: exit %d, %s; want 2", r.code, r.stderr)
	}
}
