package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/ghl/pace"
)

// seen is what a test server was sent: path, Authorization, body.
type seen struct {
	path, auth, body string
}

type seenServer struct {
	*httptest.Server
	mu  sync.Mutex
	got []seen
}

func newSeenServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *seenServer {
	s := &seenServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, seen{r.URL.Path, r.Header.Get("Authorization"), string(b)})
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *seenServer) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.got...)
}

func TestNewClientRedirects(t *testing.T) {
	other := newSeenServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })
	api := newSeenServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
		case "/other":
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/stolen", http.StatusTemporaryRedirect)
		case "/other-port":
			http.Redirect(w, r, other.URL+"/stolen", http.StatusPermanentRedirect)
		default:
			w.Write([]byte(`{}`))
		}
	})
	hc := NewClient(api.URL, nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok-secret"}), 10*time.Second)
	post := func(path string) error {
		req, _ := http.NewRequest(http.MethodPost, api.URL+path, strings.NewReader(`{"email":"a@b.c"}`))
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	t.Run("same host is followed with token and body", func(t *testing.T) {
		if err := post("/same"); err != nil {
			t.Fatal(err)
		}
		got := api.requests()
		last := got[len(got)-1]
		if last.path != "/moved" || last.auth != "Bearer tok-secret" || last.body != `{"email":"a@b.c"}` {
			t.Errorf("after a same-host 307 the API got %+v", last)
		}
	})
	for _, path := range []string{"/other", "/other-port"} {
		t.Run(path, func(t *testing.T) {
			err := post(path)
			var oh *OtherHostError
			if !errors.Is(err, ErrOtherHost) || !errors.As(err, &oh) || !oh.Redirect {
				t.Fatalf("err = %v, want an *OtherHostError", err)
			}
			if !strings.Contains(err.Error(), "another host") || strings.Contains(err.Error(), "tok-secret") {
				t.Errorf("message: %v", err)
			}
			if retry, _ := pace.ShouldRetry(context.Background(), err); retry {
				t.Error("pace would retry a refused redirect")
			}
		})
	}
	if got := other.requests(); len(got) != 0 {
		t.Errorf("the other host got %d requests: %+v", len(got), got)
	}

	// Defence in depth: the Transport alone refuses another origin.
	tr := &Transport{Source: staticSource("tok-secret"), APIURL: api.URL}
	req, _ := http.NewRequest(http.MethodGet, other.URL+"/direct", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, ErrOtherHost) {
		t.Errorf("Transport sent to another origin: %v", err)
	}
	if got := other.requests(); len(got) != 0 {
		t.Errorf("the other host got %+v", got)
	}
}

// The token endpoint's form holds the client secret and the refresh token:
// a redirect to another host must not carry it there.
func TestRefreshRedirectNotFollowed(t *testing.T) {
	other := newSeenServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	api := newSeenServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	path := filepath.Join(t.TempDir(), "token.json")
	writeToken(t, path, storedToken{AccessToken: "old-access", RefreshToken: "refresh-secret", Expiry: time.Now().Add(-time.Minute), ClientID: fakeClientID})
	src, _, err := Source(context.Background(), Options{APIURL: api.URL, TokenFile: path, Getenv: env(EnvClientSecret, fakeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Token()
	if !errors.Is(err, ErrOtherHost) {
		t.Errorf("err = %v, want ErrOtherHost", err)
	}
	if err != nil {
		assertNoSecret(t, "error", err.Error(), "refresh-secret", fakeSecret)
	}
	if got := other.requests(); len(got) != 0 {
		t.Errorf("the other host got the token endpoint's form: %d requests", len(got))
	}
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"https://services.leadconnectorhq.com", "https://services.leadconnectorhq.com:443/contacts/", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/x?y=1", true},
		{"http://Example.com", "http://example.com:80/", true},
		{"http://127.0.0.1:8080", "http://localhost:8080/", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8081/", false},
		{"https://api.example", "http://api.example/", false},
		{"https://api.example", "https://evil.api.example/", false},
	} {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if got := origin(a) == origin(b); got != tc.same {
			t.Errorf("same origin %s, %s = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
