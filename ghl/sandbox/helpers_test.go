package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// env is a started sandbox with a full-scope token for its location.
type env struct {
	t     *testing.T
	s     *Server
	base  string
	token string
	hc    *http.Client
}

func start(t *testing.T, opt Options) *env {
	t.Helper()
	s, err := New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	base, err := s.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	tok, err := s.IssueToken("", nil, 0)
	if err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
	// No keep-alives: the transport would otherwise silently retry a
	// request whose reused connection was dropped, hiding injected faults.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &env{t: t, s: s, base: base, token: tok, hc: hc}
}

// resp is an answer: status, headers and the body decoded as JSON (when it
// is JSON).
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
	err    error // transport error (dropped connection)
}

func (r resp) str(k string) string {
	v, _ := r.body[k].(string)
	return v
}

func (r resp) obj(k string) map[string]any {
	v, _ := r.body[k].(map[string]any)
	return v
}

func (r resp) list(k string) []any {
	v, _ := r.body[k].([]any)
	return v
}

// messages is the 422 message list.
func (r resp) messages() []string {
	var out []string
	for _, m := range r.list("message") {
		s, _ := m.(string)
		out = append(out, s)
	}
	return out
}

type hdrs map[string]string

// call sends a request with the env's token and Version 2021-07-28 unless
// h overrides them ("" deletes).
func (e *env) call(method, path string, body any, h hdrs) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Version", "2021-07-28")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := e.hc.Do(req)
	if err != nil {
		return resp{err: err}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (e *env) must(r resp, status int) resp {
	e.t.Helper()
	if r.err != nil {
		e.t.Fatalf("transport error: %v", r.err)
	}
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// upsert posts an upsert for the env's location and returns the answer.
func (e *env) upsert(fields map[string]any) resp {
	e.t.Helper()
	b := map[string]any{"locationId": e.s.LocationID()}
	for k, v := range fields {
		b[k] = v
	}
	return e.call("POST", "/contacts/upsert", b, nil)
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
