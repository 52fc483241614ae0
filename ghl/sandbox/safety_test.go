package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The sandbox as a server: timeouts, header size, who can get tokens when
// it listens beyond loopback, input that overflows, file modes, and faults
// that stay where they are documented.

// hostPort is base ("http://127.0.0.1:N") as host:port.
func hostPort(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// closedWithin reports whether the server closes c (a read returns an error
// or EOF, whatever it answered first) before d has passed.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false // our deadline: the server kept it open
	}
	return true
}

func TestReadTimeoutClosesTricklers(t *testing.T) {
	const n = 20
	e := start(t, Options{ReadTimeout: 200 * time.Millisecond, Rate: -1})
	addr := hostPort(t, e.base)
	head := "POST /contacts/upsert HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer " + e.token +
		"\r\nVersion: 2021-07-28\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
	var wg sync.WaitGroup
	open := make(chan string, n)
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				open <- err.Error()
				return
			}
			defer c.Close()
			// Half trickle the headers, half send them and trickle the body:
			// a byte every 20 ms, well inside any per-read deadline.
			first, rest := head, "{"+strings.Repeat(" ", 200)
			if i%2 == 0 {
				first, rest = "", head
			}
			if _, err := io.WriteString(c, first); err != nil {
				open <- err.Error()
				return
			}
			stop := make(chan struct{})
			go func() {
				for j := 0; j < len(rest); j++ {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := c.Write([]byte{rest[j]}); err != nil {
						return
					}
				}
			}()
			if !closedWithin(c, 3*time.Second) {
				open <- fmt.Sprintf("client %d still open after 3 s", i)
			}
			close(stop)
		}()
	}
	wg.Wait()
	close(open)
	for msg := range open {
		t.Error(msg)
	}
	t.Logf("%d trickling clients closed after %v", n, time.Since(t0).Round(time.Millisecond))
	// The server still serves.
	e.must(e.call("GET", "/contacts/?locationId="+e.s.LocationID(), nil, nil), 200)
}

func TestSlowBodyWithinReadTimeoutIsAnswered(t *testing.T) {
	e := start(t, Options{ReadTimeout: 2 * time.Second, Rate: -1})
	body := `{"locationId":"` + e.s.LocationID() + `","email":"slow@example.com"}`
	pr, pw := io.Pipe()
	go func() {
		// Three pieces 100 ms apart: slow, but far inside the timeout.
		for i := 0; i < 3; i++ {
			_, _ = io.WriteString(pw, body[i*len(body)/3:(i+1)*len(body)/3])
			time.Sleep(100 * time.Millisecond)
		}
		_ = pw.Close()
	}()
	req, _ := http.NewRequest("POST", e.base+"/contacts/upsert", pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Version", "2021-07-28")
	req.Header.Set("Content-Type", "application/json")
	res, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		t.Fatalf("slow upsert answered %d", res.StatusCode)
	}
}

func TestServerLimits(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		e := start(t, Options{})
		hs := e.s.hs
		got := []any{hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout, hs.MaxHeaderBytes}
		want := []any{DefaultReadHeaderTimeout, DefaultReadTimeout, DefaultReadTimeout + DefaultWriteGrace, DefaultIdleTimeout, DefaultMaxHeaderBytes}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("server limits %v, want %v", got, want)
		}
	})
	t.Run("idle keep-alive closed", func(t *testing.T) {
		e := start(t, Options{IdleTimeout: 200 * time.Millisecond})
		c, err := net.Dial("tcp", hostPort(t, e.base))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /contacts/?locationId=%s HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer %s\r\nVersion: 2021-07-28\r\n\r\n", e.s.LocationID(), e.token)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		if !closedWithin(c, 3*time.Second) {
			t.Errorf("an idle keep-alive connection was still open after 3 s with IdleTimeout 200ms")
		}
	})
	t.Run("header too large", func(t *testing.T) {
		e := start(t, Options{})
		r := e.call("GET", "/contacts/?locationId="+e.s.LocationID(), nil, hdrs{"X-Padding": strings.Repeat("a", 2*DefaultMaxHeaderBytes)})
		if r.err != nil || r.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a %d KiB header: status %d err %v, want 431", 2*DefaultMaxHeaderBytes>>10, r.status, r.err)
		}
	})
	if _, err := New(Options{ReadTimeout: -time.Second}); err == nil {
		t.Errorf("a negative ReadTimeout was accepted")
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"", true},
		{"127.0.0.1:8089", true},
		{"127.0.0.1:0", true},
		{"127.1.2.3:80", true},
		{"localhost:8089", true},
		{"[::1]:8089", true},
		{":8089", false},
		{"0.0.0.0:8089", false},
		{"[::]:8089", false},
		{"192.168.1.20:8089", false},
		{"sandbox.example.com:8089", false},
	}
	for _, tc := range tests {
		if got := IsLoopback(tc.addr); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// tokenWith runs the OAuth flow (chooselocation, then the code exchange)
// with secret and returns the token endpoint's status.
func tokenWith(t *testing.T, e *env, secret string) int {
	t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {DefaultClientID}, "redirect_uri": {"http://127.0.0.1:1/cb"}, "scope": {"contacts.readonly"}}
	r := e.call("GET", "/oauth/chooselocation?"+q.Encode(), nil, nil)
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("chooselocation: %d %q", r.status, r.header.Get("Location"))
	}
	form := url.Values{"client_id": {DefaultClientID}, "client_secret": {secret}, "grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:1/cb"}}
	return e.call("POST", "/oauth/token", form.Encode(), hdrs{"Content-Type": "application/x-www-form-urlencoded"}).status
}

func TestExposedAddrUsesRandomSecret(t *testing.T) {
	local := start(t, Options{})
	if local.s.Exposed() || local.s.ClientSecret() != DefaultClientSecret {
		t.Fatalf("loopback: exposed %v secret %q, want the default", local.s.Exposed(), local.s.ClientSecret())
	}
	if st := tokenWith(t, local, DefaultClientSecret); st != 200 {
		t.Errorf("loopback, default secret: token endpoint %d", st)
	}

	wide := start(t, Options{Addr: "0.0.0.0:0"})
	secret := wide.s.ClientSecret()
	if !wide.s.Exposed() || secret == DefaultClientSecret || len(secret) < 20 {
		t.Fatalf("0.0.0.0: exposed %v secret %q, want a random one", wide.s.Exposed(), secret)
	}
	if other := start(t, Options{Addr: "0.0.0.0:0"}).s.ClientSecret(); other == secret {
		t.Errorf("two exposed sandboxes share the secret %q", secret)
	}
	if st := tokenWith(t, wide, DefaultClientSecret); st != 401 {
		t.Errorf("0.0.0.0, default secret: token endpoint %d, want 401", st)
	}
	if st := tokenWith(t, wide, secret); st != 200 {
		t.Errorf("0.0.0.0, its own secret: token endpoint %d, want 200", st)
	}
	// Explicit clients are kept as given, exposed or not.
	s, err := New(Options{Addr: "0.0.0.0:0", OAuthClients: map[string]string{DefaultClientID: "mine"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientSecret() != "mine" {
		t.Errorf("explicit client secret replaced by %q", s.ClientSecret())
	}
}

func TestSearchRefusesOverflowAndNaN(t *testing.T) {
	e := start(t, Options{Contacts: 30, Rate: -1})
	loc := e.s.LocationID()
	tests := []struct {
		name string
		body string
		want string // in the 422 message
	}{
		{"page 2^63-1", `{"locationId":"` + loc + `","pageLimit":10,"page":9223372036854775807}`, "page * pageLimit must not be greater than 10000"},
		{"page 2^62", `{"locationId":"` + loc + `","pageLimit":4,"page":4611686018427387904}`, "page * pageLimit must not be greater than 10000"},
		{"page 1e300", `{"locationId":"` + loc + `","pageLimit":1,"page":1e300}`, "page * pageLimit must not be greater than 10000"},
		{"NaN cursor", `{"locationId":"` + loc + `","pageLimit":10,"searchAfter":["NaN","x"]}`, "searchAfter must be [sortValue, id]"},
		{"Infinity cursor", `{"locationId":"` + loc + `","pageLimit":10,"searchAfter":["Infinity","x"]}`, "searchAfter must be [sortValue, id]"},
		{"cursor beyond a date", `{"locationId":"` + loc + `","pageLimit":10,"searchAfter":[1e300,"x"]}`, "searchAfter must be [sortValue, id]"},
		{"NaN cursor on dateUpdated", `{"locationId":"` + loc + `","pageLimit":10,"sort":[{"field":"dateUpdated"}],"searchAfter":["nan","x"]}`, "searchAfter must be [sortValue, id]"},
		{"NaN in a date filter", `{"locationId":"` + loc + `","pageLimit":10,"filters":[{"field":"dateAdded","operator":"gt","value":"NaN"}]}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", "/contacts/search", tc.body, nil)
			if r.err != nil || r.status != 422 {
				t.Fatalf("status %d err %v, want 422: %.200s", r.status, r.err, r.raw)
			}
			if r.body["statusCode"] != float64(422) || r.str("error") != "Unprocessable Entity" {
				t.Errorf("body is not UnprocessableDTO: %s", r.raw)
			}
			if msgs := strings.Join(r.messages(), "|"); !strings.Contains(msgs, tc.want) {
				t.Errorf("messages %q, want %q", msgs, tc.want)
			}
		})
	}
	// The edge of the window and a real cursor still work.
	r := e.must(e.call("POST", "/contacts/search", `{"locationId":"`+loc+`","pageLimit":10,"page":1000}`, nil), 200)
	if len(r.list("contacts")) != 0 || r.body["total"] != float64(30) {
		t.Errorf("page 1000: %s", r.raw)
	}
	e.must(e.call("POST", "/contacts/search", `{"locationId":"`+loc+`","pageLimit":10,"page":9223372036854775807,"searchAfter":["1700000000000","x"]}`, nil), 200)
}

func TestListingsRefuseHugeNumbers(t *testing.T) {
	e := start(t, Options{Contacts: 100, Seed: 2, Rate: -1})
	loc := e.s.LocationID()
	r := e.call("GET", "/contacts/?locationId="+loc+"&startAfter=1e300", nil, nil)
	if r.status != 422 {
		t.Errorf("startAfter=1e300: %d %.200s, want 422", r.status, r.raw)
	}
	var biz string
	e.s.mu.RLock()
	for b := range e.s.locs[loc].business {
		biz = b
		break
	}
	e.s.mu.RUnlock()
	if biz == "" {
		t.Fatal("no business seeded")
	}
	r = e.call("GET", "/contacts/business/"+biz+"?locationId="+loc+"&skip=1e300", nil, nil)
	if r.err != nil || r.status != 200 || len(r.list("contacts")) != 0 {
		t.Errorf("skip=1e300: status %d err %v %.200s, want 200 and no contacts", r.status, r.err, r.raw)
	}
}

func TestDataFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sandbox.db")
	check := func(when string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if err != nil {
				if when == "running" {
					t.Errorf("%s: %v", when, err)
				}
				continue
			}
			if m := st.Mode().Perm(); m != 0o600 {
				t.Errorf("%s: %s is mode %04o, want 0600", when, filepath.Base(p), m)
			}
		}
	}
	s, err := New(Options{DataPath: path, Contacts: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueToken("", nil, 0); err != nil { // a token is written through
		t.Fatal(err)
	}
	s.db.flush()
	check("running")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed")
	// A file made readable by others before (an older sandbox) is made
	// private when opened.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = New(Options{DataPath: path})
	if err != nil {
		t.Fatal(err)
	}
	s.db.flush()
	check("reopened")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFault422AfterSparesReads(t *testing.T) {
	spec, err := ParseFaults("422-after=1")
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, Options{Faults: spec, Contacts: 3})
	loc := e.s.LocationID()
	reads := []struct{ method, path, body string }{
		{"GET", "/contacts/?locationId=" + loc, ""},
		{"POST", "/contacts/search", `{"locationId":"` + loc + `","pageLimit":5}`},
		{"GET", "/locations/" + loc + "/customFields", ""},
	}
	for _, rd := range reads {
		var body any
		if rd.body != "" {
			body = rd.body
		}
		e.must(e.call(rd.method, rd.path, body, nil), 200)
	}
	if n := e.s.Counts().Faults["422-after"]; n != 0 {
		t.Errorf("422-after counted %d on reads", n)
	}
	e.must(e.upsert(map[string]any{"email": "w@example.com"}), 422)
	if n := e.s.Counts().Faults["422-after"]; n != 1 {
		t.Errorf("422-after counted %d after one write, want 1", n)
	}
}
