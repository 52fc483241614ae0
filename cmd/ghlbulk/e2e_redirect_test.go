package main

// End-to-end tests of issue 11 finding 1: an API URL that redirects to
// another host gets neither the token nor a request body there.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// recorder is a test server that notes what reaches it: every request, how
// many carried an Authorization header and how many a body. With next set
// it passes each request on (a proxy); else it answers redirect.
type recorder struct {
	*httptest.Server
	mu                    sync.Mutex
	requests, auths, body int
}

func newRecorder(t *testing.T, h http.Handler) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests++
		if req.Header.Get("Authorization") != "" {
			r.auths++
		}
		if len(b) > 0 {
			r.body++
		}
		r.mu.Unlock()
		req.Body = io.NopCloser(strings.NewReader(string(b)))
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) counts() (requests, auths, bodies int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.auths, r.body
}

// redirectTo answers every request 307 to the same path and query at base.
func redirectTo(base string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, base+req.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
}

// The API URL answers 307 to another host (localhost rather than 127.0.0.1,
// and another port) where a proxy to the sandbox would have served it all.
// Before the fix export exited 0 after sending the token there, and import
// sent its upserts with their bodies.
func TestE2ERedirectToOtherHostRefused(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 5})
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	other := newRecorder(t, httputil.NewSingleHostReverseProxy(target))
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	api := newRecorder(t, redirectTo(otherURL))
	env := []string{"GHL_API_URL=" + api.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN=" + s.Token}

	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"export", []string{"--no-progress", "export", "--out", filepath.Join(dir, "out"), "--include", xpAll}},
		{"import", []string{"--no-progress", "import", auSample, "--mapping", auMapping,
			"--state", filepath.Join(dir, "s.state"), "--rejects", filepath.Join(dir, "r.csv")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _, _ := api.counts()
			r := runCLI(t, env, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			for _, want := range []string{"redirect", "another host", "localhost", "--api-url"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the refusal does not say %q:\n%s", want, r.stderr)
				}
			}
			auNoSecret(t, tc.name+" output", []byte(r.stdout+r.stderr), s.Token)
			// One request to the API URL: the refusal is not retried.
			if after, _, _ := api.counts(); after-before != 1 {
				t.Errorf("%d requests to the API URL, want 1 (a refused redirect must not be retried)", after-before)
			}
		})
	}
	n, auths, bodies := other.counts()
	if auths != 0 || bodies != 0 || n != 0 {
		t.Errorf("the other host got %d requests, %d with the token, %d with a body; want none", n, auths, bodies)
	}
	if c := s.Counts(); c.Total != 0 {
		t.Errorf("the sandbox behind the other host served %d requests", c.Total)
	}
}
