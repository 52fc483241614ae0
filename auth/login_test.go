package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// A redirect with the wrong state is answered 400 and ignored; the right
// one that follows completes the login, with PKCE checked by the sandbox.
func TestLoginPKCEAndWrongState(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	var authURL *url.URL
	browser := func(u string) error {
		authURL, _ = url.Parse(u)
		redirect := authURL.Query().Get("redirect_uri")
		// A stale tab (or a forged link) lands first.
		resp, err := http.Get(redirect + "?code=stolen&state=not-this-login")
		if err != nil {
			t.Errorf("wrong-state redirect: %v", err)
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "ignored") {
			t.Errorf("wrong-state redirect answered %d %q, want 400 saying it was ignored", resp.StatusCode, body)
		}
		return scriptedBrowser(t)(u)
	}
	path := filepath.Join(t.TempDir(), "token.json")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out strings.Builder
	info, err := Login(ctx, LoginOptions{APIURL: base, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret,
		TokenFile: path, OpenBrowser: browser, Out: &out, ListenAddr: "localhost:0"})
	if err != nil {
		t.Fatalf("login after a wrong-state redirect: %v", err)
	}
	if info.LocationID != sb.LocationID() {
		t.Errorf("info %+v", info)
	}
	q := authURL.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("no PKCE S256 challenge in the authorization URL: %s", authURL)
	}
	if ru, _ := url.Parse(q.Get("redirect_uri")); ru == nil || ru.Hostname() != "localhost" || ru.Port() == "0" {
		t.Errorf("redirect_uri %q: want http://localhost:PORT/callback with the bound port", q.Get("redirect_uri"))
	}
	if !strings.Contains(out.String(), "Ignored a redirect") {
		t.Errorf("the ignored redirect was not reported:\n%s", out.String())
	}
}

func TestLoopbackAddr(t *testing.T) {
	for _, tc := range []struct {
		in, bind, host string
		bad            bool
	}{
		{"", "127.0.0.1:0", "127.0.0.1", false},
		{"127.0.0.1:8765", "127.0.0.1:8765", "127.0.0.1", false},
		{"localhost:8765", "127.0.0.1:8765", "localhost", false},
		{"[::1]:8765", "[::1]:8765", "::1", false},
		{"0.0.0.0:8765", "", "", true},
		{"[::]:8765", "", "", true},
		{":8765", "", "", true},
		{"192.168.1.10:8765", "", "", true},
		{"example.com:8765", "", "", true},
		{"127.0.0.1", "", "", true},
		{"127.0.0.1:http", "", "", true},
	} {
		bind, host, err := loopbackAddr(tc.in)
		var le *ListenError
		if tc.bad {
			if !errors.As(err, &le) || !strings.Contains(err.Error(), "127.0.0.1:PORT") {
				t.Errorf("%q: err = %v, want a *ListenError naming the fix", tc.in, err)
			}
			continue
		}
		if err != nil || bind != tc.bind || host != tc.host {
			t.Errorf("%q = %q, %q, %v; want %q, %q", tc.in, bind, host, err, tc.bind, tc.host)
		}
	}
}

// The refresh mark: set before the refresh token leaves, cleared with the
// answer saved; found set with the grant refused, it explains the loss.
func TestRefreshMark(t *testing.T) {
	f := newFakeGHL(t)
	for _, tc := range []struct {
		name        string
		interrupted bool
		live        bool
		want        string // in the error; "" = the refresh works
		not         string
	}{
		{"earlier refresh cut off, token still live", true, true, "", ""},
		{"earlier refresh cut off, token spent", true, false, "cut off", "REDACTED token endpoint"},
		{"no mark, token refused", false, false, "the grant was refused", "cut off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rt := f.issue("contacts.readonly", time.Hour)
			if !tc.live {
				rt = "refresh-spent-secret"
			}
			path := filepath.Join(t.TempDir(), "token.json")
			st := storedToken{AccessToken: "old-access-secret", RefreshToken: rt, Expiry: time.Now().Add(-time.Minute), ClientID: fakeClientID}
			if tc.interrupted {
				st.RefreshStarted = time.Now().Add(-time.Hour)
			}
			writeToken(t, path, st)
			src, _, err := Source(context.Background(), Options{APIURL: f.URL, TokenFile: path, Getenv: env(EnvClientSecret, fakeSecret)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Token()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if got := readToken(t, path); !got.RefreshStarted.IsZero() || got.RefreshToken == rt {
					t.Errorf("after a saved refresh: mark %v, rotated %v", got.RefreshStarted, got.RefreshToken != rt)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.not) {
				t.Fatalf("err = %v, want ErrNoCredentials saying %q, not %q", err, tc.want, tc.not)
			}
			assertNoSecret(t, "error", err.Error(), rt, "old-access-secret", fakeSecret)
			if got := readToken(t, path); got.RefreshStarted.IsZero() != !tc.interrupted {
				t.Errorf("mark after a refused refresh: %v (the earlier one must stay, none added)", got.RefreshStarted)
			}
		})
	}
}

// A token endpoint that refuses code_verifier as an unknown property (as
// HighLevel's validation may: its DTO has none) still logs in.
func TestLoginWithoutPKCESupport(t *testing.T) {
	f := newFakeGHL(t)
	f.noPKCE = true
	var out strings.Builder
	_, err := Login(context.Background(), LoginOptions{APIURL: f.URL, ClientID: fakeClientID, ClientSecret: fakeSecret,
		TokenFile: filepath.Join(t.TempDir(), "token.json"), OpenBrowser: scriptedBrowser(t), Out: &out})
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out.String())
	}
	f.mu.Lock()
	n := f.exchanges
	f.mu.Unlock()
	if n != 2 || !strings.Contains(out.String(), "without it") {
		t.Errorf("%d exchanges, want 2 (with the verifier, then without); output:\n%s", n, out.String())
	}
}

// The browser's page tells the login's real outcome: when the code
// exchange fails (here the app's secret is wrong), it says so, and never
// "logged in"; when it succeeds, it says logged in, after the token is
// saved.
func TestLoginPageTellsTheOutcome(t *testing.T) {
	cases := []struct {
		name       string
		secret     string
		wantStatus int
		wantPage   string
	}{
		{"exchange refused", "not-the-secret", http.StatusBadGateway, "login failed"},
		{"exchange done", fakeSecret, http.StatusOK, "logged in"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeGHL(t)
			path := filepath.Join(t.TempDir(), "token.json")
			type answer struct {
				status int
				page   string
			}
			answered := make(chan answer, 1)
			browser := func(u string) error {
				resp, err := http.Get(u)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				answered <- answer{resp.StatusCode, string(b)}
				if _, err := readTokenFile(path); (err == nil) != (c.wantStatus == http.StatusOK) {
					t.Errorf("when the page was answered, token file saved = %v", err == nil)
				}
				return nil
			}
			var out strings.Builder
			_, err := Login(context.Background(), LoginOptions{APIURL: f.URL, ClientID: fakeClientID, ClientSecret: c.secret,
				TokenFile: path, OpenBrowser: browser, Out: &out, Timeout: 10 * time.Second})
			if (err == nil) != (c.wantStatus == http.StatusOK) {
				t.Fatalf("login: %v", err)
			}
			// The browser runs beside Login: wait for its answer.
			var status int
			var page string
			select {
			case a := <-answered:
				status, page = a.status, a.page
			case <-time.After(5 * time.Second):
			}
			if status != c.wantStatus || !strings.Contains(page, c.wantPage) {
				t.Errorf("page %d %q, want %d saying %q", status, page, c.wantStatus, c.wantPage)
			}
			if strings.Contains(page, c.secret) && c.secret != fakeSecret {
				t.Errorf("the page shows the client secret: %q", page)
			}
		})
	}
}
