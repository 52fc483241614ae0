package auth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// scriptedBrowser plays the user: it follows the authorization URL's
// redirects to the login listener.
func scriptedBrowser(t *testing.T) func(string) error {
	return func(u string) error {
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("browser: %v", err)
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("browser: %d %s", resp.StatusCode, body)
		}
		return nil
	}
}

func writeToken(t *testing.T, path string, st storedToken) {
	t.Helper()
	if err := writeTokenFile(path, st); err != nil {
		t.Fatal(err)
	}
}

func readToken(t *testing.T, path string) storedToken {
	t.Helper()
	st, err := readTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// assertNoSecret fails if s holds any of the secrets.
func assertNoSecret(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("%s leaks a secret: %q", what, s)
		}
	}
}

func TestLoginScriptedBrowser(t *testing.T) {
	f := newFakeGHL(t)
	dir := filepath.Join(t.TempDir(), "cfg", "ghlbulk")
	path := filepath.Join(dir, "token.json")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := Login(ctx, LoginOptions{
		APIURL: f.URL, ClientID: fakeClientID, ClientSecret: fakeSecret,
		TokenFile: path, OpenBrowser: scriptedBrowser(t), Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.LocationID != fakeLoc || info.CompanyID != "COMP1" || info.Kind != KindOAuth {
		t.Errorf("info = %+v", info)
	}
	if has, known := info.HasScope(ScopeContactsWrite); !has || !known {
		t.Errorf("scopes %v", info.Scopes)
	}
	st := readToken(t, path)
	if st.ClientID != fakeClientID || st.RefreshToken == "" || st.Expiry.IsZero() {
		t.Errorf("stored %+v", st)
	}
	raw, _ := os.ReadFile(path)
	assertNoSecret(t, "token file", string(raw), fakeSecret)
	assertNoSecret(t, "login output", out.String(), fakeSecret, st.AccessToken, st.RefreshToken)
	assertNoSecret(t, "info", info.String(), st.AccessToken, st.RefreshToken)
	if !strings.Contains(out.String(), "/oauth/chooselocation?") {
		t.Errorf("output has no authorization URL: %s", out.String())
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

func TestLoginFailures(t *testing.T) {
	f := newFakeGHL(t)
	// visit follows the authorization URL like a browser, after edit, and
	// ignores the page it lands on.
	visit := func(edit func(string) string) func(string) error {
		return func(u string) error {
			resp, err := http.Get(edit(u))
			if err == nil {
				resp.Body.Close()
			}
			return nil
		}
	}
	same := func(u string) string { return u }
	tests := []struct {
		name    string
		opt     LoginOptions
		browser func(string) error
		want    string
	}{
		{"no secret", LoginOptions{ClientID: "x"}, visit(same), "client id and secret"},
		{"wrong secret", LoginOptions{ClientID: fakeClientID, ClientSecret: "wrong-secret-123"}, visit(same), "token endpoint answered 401"},
		// A forged state alone never ends the login: it times out.
		{"only a forged state", LoginOptions{ClientID: fakeClientID, ClientSecret: fakeSecret, Timeout: 300 * time.Millisecond},
			visit(func(u string) string { return strings.Replace(u, "state=", "state=evil", 1) }), "deadline exceeded"},
		{"listen on every interface", LoginOptions{ClientID: fakeClientID, ClientSecret: fakeSecret, ListenAddr: "0.0.0.0:0"}, visit(same), "loopback"},
		{"browser never comes", LoginOptions{ClientID: fakeClientID, ClientSecret: fakeSecret, Timeout: 50 * time.Millisecond},
			func(string) error { return errors.New("no display") }, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opt
			o.APIURL = f.URL
			o.TokenFile = filepath.Join(t.TempDir(), "token.json")
			o.OpenBrowser = tt.browser
			_, err := Login(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			assertNoSecret(t, "error", err.Error(), fakeSecret, "wrong-secret-123")
			if _, serr := os.Stat(o.TokenFile); serr == nil {
				t.Error("a token file was written after a failed login")
			}
		})
	}
}

func TestRefreshBeforeExpiryAndRotation(t *testing.T) {
	f := newFakeGHL(t)
	path := filepath.Join(t.TempDir(), "token.json")
	at, rt := f.issue("contacts.readonly contacts.write", 2*time.Minute)
	writeToken(t, path, storedToken{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(2 * time.Minute),
		Scope: "contacts.readonly contacts.write", LocationID: fakeLoc, ClientID: fakeClientID})
	opt := Options{APIURL: f.URL, TokenFile: path, Getenv: env(EnvClientSecret, fakeSecret)}
	src, info, err := Source(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != KindOAuth || !info.CanRefresh {
		t.Errorf("info %+v", info)
	}
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == at {
		t.Fatal("a token with 2 minutes left was not refreshed (refresh is due 5 minutes before expiry)")
	}
	st := readToken(t, path)
	if st.AccessToken != tok.AccessToken || st.RefreshToken == rt || st.RefreshToken == "" {
		t.Errorf("rotation not persisted: %v", st)
	}
	if f.refreshLive(rt) {
		t.Error("the old refresh token still works")
	}
	if !f.refreshLive(st.RefreshToken) {
		t.Error("the stored refresh token is not the live one")
	}
	// A fresh token is handed out without another refresh.
	if tok2, _ := src.Token(); tok2.AccessToken != tok.AccessToken || f.refreshCount() != 1 {
		t.Errorf("second Token refreshed again (%d refreshes)", f.refreshCount())
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after refresh", fi.Mode().Perm())
	}

	// Using the old refresh token again fails, without leaking it.
	writeToken(t, path, storedToken{AccessToken: "stale-access-secret", RefreshToken: rt, Expiry: time.Now().Add(-time.Minute), ClientID: fakeClientID})
	src2, _, err := Source(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src2.Token()
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "auth login") {
		t.Fatalf("err = %v, want a CredentialsError asking to log in", err)
	}
	assertNoSecret(t, "refresh error", err.Error(), rt, fakeSecret, "stale-access-secret")
}

// TestConcurrentRefresh: two token sources over one file (as two processes
// would have: flock locks belong to the open file) and several goroutines
// each, all needing a refresh at once. Exactly one refresh happens, nobody
// uses a dead refresh token, and the file ends with the live one.
func TestConcurrentRefresh(t *testing.T) {
	f := newFakeGHL(t)
	path := filepath.Join(t.TempDir(), "token.json")
	at, rt := f.issue("contacts.readonly", time.Minute)
	writeToken(t, path, storedToken{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(time.Minute), ClientID: fakeClientID})
	opt := Options{APIURL: f.URL, Getenv: env(EnvClientSecret, fakeSecret)}
	var srcs []*FileSource
	for range 2 {
		s, err := OpenFileSource(context.Background(), path, opt)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, s)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := srcs[i%2].Token()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[tok.AccessToken] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if f.refreshCount() != 1 {
		t.Errorf("%d refreshes, want 1", f.refreshCount())
	}
	if len(seen) != 1 {
		t.Errorf("%d different access tokens handed out, want 1", len(seen))
	}
	st := readToken(t, path)
	if !f.refreshLive(st.RefreshToken) {
		t.Error("the token file's refresh token is dead: the user would be locked out")
	}
}

// TestTransportRetriesOnceAfter401: the server stops accepting the access
// token; the transport refreshes and sends the request again, once.
func TestTransportRetriesOnceAfter401(t *testing.T) {
	f := newFakeGHL(t)
	path := filepath.Join(t.TempDir(), "token.json")
	at, rt := f.issue("contacts.readonly contacts.write", time.Hour)
	writeToken(t, path, storedToken{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(time.Hour), ClientID: fakeClientID})
	src, err := OpenFileSource(context.Background(), path, Options{APIURL: f.URL, Getenv: env(EnvClientSecret, fakeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: NewTransport(nil, src)}
	f.revoke(at)
	req, _ := http.NewRequest(http.MethodPut, f.URL+"/contacts/abc", strings.NewReader(`{"firstName":"A"}`))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d after refresh, want the API's answer (404)", resp.StatusCode)
	}
	if f.refreshCount() != 1 {
		t.Errorf("%d refreshes, want 1", f.refreshCount())
	}
	// A token that refresh can't fix: the 401 comes back, with one refresh attempt only.
	f.revoke(readToken(t, path).AccessToken)
	f.mu.Lock()
	f.refresh = map[string]grant{}
	f.mu.Unlock()
	resp, err = hc.Get(f.URL + "/contacts/?locationId=" + fakeLoc)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	}
}

func TestSourceSelection(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "x", "token.json")
	writeToken(t, good, storedToken{AccessToken: "file-access-secret", Expiry: time.Now().Add(time.Hour), LocationID: "L1"})
	xdgFile := filepath.Join(dir, "xdg", "ghlbulk", "token.json")
	writeToken(t, xdgFile, storedToken{AccessToken: "xdg-access-secret", LocationID: "L2"})
	homeFile := filepath.Join(dir, "home", ".config", "ghlbulk", "token.json")
	writeToken(t, homeFile, storedToken{AccessToken: "home-access-secret", LocationID: "L3"})
	tests := []struct {
		name    string
		opt     Options
		kind    Kind
		token   string
		wantErr string
	}{
		{"GHL_TOKEN wins", Options{TokenFile: good, Getenv: env(EnvToken, "pit-secret")}, KindEnv, "pit-secret", ""},
		{"--token-file", Options{TokenFile: good, Getenv: env()}, KindOAuth, "file-access-secret", ""},
		{"GHL_TOKEN_FILE", Options{Getenv: env(EnvTokenFile, good)}, KindOAuth, "file-access-secret", ""},
		{"XDG default", Options{Getenv: env("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"), "HOME", filepath.Join(dir, "home"))}, KindOAuth, "xdg-access-secret", ""},
		{"~/.config fallback", Options{Getenv: env("HOME", filepath.Join(dir, "home"))}, KindOAuth, "home-access-secret", ""},
		{"nothing", Options{Getenv: env("HOME", filepath.Join(dir, "nobody"))}, "", "", "set GHL_TOKEN or run `ghlbulk auth login`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, info, err := Source(context.Background(), tt.opt)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			if info.Kind != tt.kind || tok.AccessToken != tt.token {
				t.Errorf("kind %q token %q", info.Kind, tok.AccessToken)
			}
			st, err := Status(tt.opt)
			if err != nil || st.Kind != tt.kind {
				t.Errorf("Status = %+v, %v", st, err)
			}
			assertNoSecret(t, "status", st.String(), tt.token)
		})
	}
}

func TestLogout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	writeToken(t, path, storedToken{AccessToken: "a-secret"})
	got, err := Logout(Options{TokenFile: path, Getenv: env()})
	if err != nil || got != path {
		t.Fatalf("Logout = %q, %v", got, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("token file still there")
	}
	if _, err := Logout(Options{TokenFile: path, Getenv: env()}); err != nil {
		t.Errorf("second logout: %v", err)
	}
}

func TestDamagedTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	os.WriteFile(path, []byte(`{"access_token": "half-a-secret`), 0o600)
	_, _, err := Source(context.Background(), Options{TokenFile: path, Getenv: env()})
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, "error", err.Error(), "half-a-secret")
}

func TestPreflight(t *testing.T) {
	f := newFakeGHL(t)
	rw, _ := f.issue("contacts.readonly contacts.write", time.Hour)
	ro, _ := f.issue("contacts.readonly", time.Hour)
	wo, _ := f.issue("contacts.write", time.Hour)
	tests := []struct {
		name   string
		token  string
		loc    string
		need   Scope
		info   Info
		status int    // of the *PreflightError; -1: success
		want   string // substring of the error
	}{
		{"read ok", ro, fakeLoc, ScopeContactsRead, Info{}, -1, ""},
		{"write ok, probed", rw, fakeLoc, ScopeContactsWrite, Info{}, -1, ""},
		{"write-only token, probed", wo, fakeLoc, ScopeContactsWrite, Info{}, -1, ""},
		{"write lacking, probed", ro, fakeLoc, ScopeContactsWrite, Info{}, 403, "lacks contacts.write: add it to your app's scopes"},
		{"write lacking, recorded", rw, fakeLoc, ScopeContactsWrite, Info{Scopes: []string{"contacts.readonly"}}, 0, "lacks contacts.write"},
		{"read lacking", wo, fakeLoc, ScopeContactsRead, Info{}, 403, "contacts.readonly"},
		{"bad token", "nonsense-secret", fakeLoc, ScopeContactsRead, Info{}, 401, "refused (401"},
		{"bad token write", "nonsense-secret", fakeLoc, ScopeContactsWrite, Info{}, 401, "refused (401"},
		{"other location", rw, "OTHER", ScopeContactsRead, Info{}, 403, "location OTHER"},
		{"other location, recorded", rw, "OTHER", ScopeContactsWrite, Info{LocationID: fakeLoc}, 0, "is for location LOC123, not OTHER"},
		{"no location", rw, "", ScopeContactsRead, Info{}, 0, "--location"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := &http.Client{Transport: NewTransport(nil, staticSource(tt.token))}
			err := PreflightWithInfo(context.Background(), hc, f.URL, tt.loc, tt.need, tt.info)
			if tt.status < 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var pe *PreflightError
			if !errors.As(err, &pe) || pe.Status != tt.status || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (status %v), want status %d and %q", err, pe, tt.status, tt.want)
			}
			if !errors.Is(err, ErrNoCredentials) {
				t.Error("PreflightError is not ErrNoCredentials")
			}
			assertNoSecret(t, "error", err.Error(), tt.token)
		})
	}
}

func TestLocationToken(t *testing.T) {
	f := newFakeGHL(t)
	company, _ := f.issue("oauth.write", time.Hour)
	tok, err := LocationToken(context.Background(), f.URL, company, "COMP1", "LOC9")
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "loc-token-secret" || tok.Extra("locationId") != "LOC9" || tok.Expiry.IsZero() {
		t.Errorf("token %+v", tok)
	}
	_, err = LocationToken(context.Background(), f.URL, "bad-company-secret", "COMP1", "LOC9")
	if !errors.Is(err, ErrNoCredentials) {
		t.Errorf("err = %v", err)
	}
	assertNoSecret(t, "error", err.Error(), "bad-company-secret")
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		secrets []string
		want    string
	}{
		{"listed secret", "token abcd1234 here", []string{"abcd1234"}, "token REDACTED here"},
		{"short secret left alone", "a b c", []string{"b"}, "a b c"},
		{"bearer header", "Authorization: Bearer eyJhbGciOi.xyz", nil, "Authorization: Bearer REDACTED"},
		{"url params", "https://x/cb?code=C0DE&state=s&access_token=AT1", nil, "https://x/cb?code=REDACTED&state=s&access_token=REDACTED"},
		{"json body", `{"refresh_token":"RT-1","client_secret": "S"}`, nil, `{"refresh_token":"REDACTED","client_secret": "REDACTED"}`},
		{"nothing", "plain words", nil, "plain words"},
		{"prose with token and code", "refreshing the access token: the token endpoint answered 400; exit code: 2",
			nil, "refreshing the access token: the token endpoint answered 400; exit code: 2"},
		{"bare keys as params", "cb?token=T0K&code=C0DE", nil, "cb?token=REDACTED&code=REDACTED"},
		{"bare keys in json", `{"token": "T0K", "code":"C0DE", "code_verifier":"V"}`, nil, `{"token": "REDACTED", "code":"REDACTED", "code_verifier":"REDACTED"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Redact(tt.in, tt.secrets...); got != tt.want {
				t.Errorf("Redact = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStringsHideSecrets(t *testing.T) {
	st := storedToken{AccessToken: "acc-secret", RefreshToken: "ref-secret"}
	c := clientCreds{ID: "id", Secret: "cli-secret"}
	for _, s := range []string{st.String(), st.GoString(), c.String(), c.GoString()} {
		assertNoSecret(t, "String", s, "acc-secret", "ref-secret", "cli-secret")
	}
}

type staticSource string

func (s staticSource) Token() (*oauth2Token, error) {
	return &oauth2Token{AccessToken: string(s), TokenType: "Bearer"}, nil
}
