package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// PKCE (RFC 7636): a code issued with a code_challenge is exchanged only
// with its verifier; a code issued without one needs none.
func TestOAuthPKCE(t *testing.T) {
	e := start(t, Options{})
	const redirect = "http://127.0.0.1:9/callback"
	verifier := "a-verifier-that-is-long-enough-0123456789-abcdefghijkl"
	sum := sha256.Sum256([]byte(verifier))
	s256 := base64.RawURLEncoding.EncodeToString(sum[:])
	codeFor := func(extra url.Values) string {
		t.Helper()
		q := url.Values{"response_type": {"code"}, "client_id": {DefaultClientID}, "redirect_uri": {redirect}, "scope": {"contacts.readonly"}}
		for k, v := range extra {
			q[k] = v
		}
		r := e.call("GET", "/oauth/chooselocation?"+q.Encode(), nil, hdrs{"Authorization": ""})
		if r.status != 302 {
			t.Fatalf("chooselocation %d %s", r.status, r.raw)
		}
		loc, _ := url.Parse(r.header.Get("Location"))
		return loc.Query().Get("code")
	}
	exchange := func(code, verifier string) resp {
		v := url.Values{"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}, "grant_type": {"authorization_code"},
			"code": {code}, "redirect_uri": {redirect}}
		if verifier != "" {
			v.Set("code_verifier", verifier)
		}
		return e.call("POST", "/oauth/token", v.Encode(), hdrs{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "", "Version": ""})
	}
	s256Code := url.Values{"code_challenge": {s256}, "code_challenge_method": {"S256"}}
	for _, tc := range []struct {
		name      string
		challenge url.Values
		verifier  string
		status    int
	}{
		{"S256, right verifier", s256Code, verifier, 200},
		{"S256, no verifier", s256Code, "", 400},
		{"S256, wrong verifier", s256Code, verifier + "x", 400},
		{"S256, the challenge sent as the verifier", s256Code, s256, 400},
		{"plain, right verifier", url.Values{"code_challenge": {verifier}, "code_challenge_method": {"plain"}}, verifier, 200},
		{"no challenge, no verifier", nil, "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(codeFor(tc.challenge), tc.verifier)
			if r.status != tc.status {
				t.Errorf("exchange: %d %s, want %d", r.status, r.raw, tc.status)
			}
			if tc.status == 400 && r.str("error") != "invalid_grant" {
				t.Errorf("refusal %s, want invalid_grant", r.raw)
			}
		})
	}
	r := e.call("GET", "/oauth/chooselocation?"+url.Values{"response_type": {"code"}, "client_id": {DefaultClientID}, "redirect_uri": {redirect},
		"scope": {"contacts.readonly"}, "code_challenge": {s256}, "code_challenge_method": {"S512"}}.Encode(), nil, hdrs{"Authorization": ""})
	if r.status != 400 {
		t.Errorf("unknown code_challenge_method: %d %s", r.status, r.raw)
	}
}

// The refresh hook sees both stages of a refresh grant, and a client gone
// at RefreshReceived leaves its refresh token unspent.
func TestRefreshHook(t *testing.T) {
	e := start(t, Options{})
	q := url.Values{"response_type": {"code"}, "client_id": {DefaultClientID}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "scope": {"contacts.readonly"}}
	r := e.call("GET", "/oauth/chooselocation?"+q.Encode(), nil, hdrs{"Authorization": ""})
	loc, _ := url.Parse(r.header.Get("Location"))
	form := func(v url.Values) resp {
		v.Set("client_id", DefaultClientID)
		v.Set("client_secret", DefaultClientSecret)
		return e.call("POST", "/oauth/token", v.Encode(), hdrs{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "", "Version": ""})
	}
	tok := e.must(form(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}}), 200)
	var stages []RefreshStage
	e.s.SetRefreshHook(func(ctx context.Context, st RefreshStage) { stages = append(stages, st) })
	next := e.must(form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}), 200)
	if len(stages) != 2 || stages[0] != RefreshReceived || stages[1] != RefreshRotated {
		t.Errorf("stages %v", stages)
	}
	// A client gone before the grant is acted on: the token stays live.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gone := make(chan struct{})
	e.s.SetRefreshHook(func(sctx context.Context, st RefreshStage) {
		if st == RefreshReceived {
			cancel() // the client gives up (as a killed one would)
			select {
			case <-sctx.Done():
				close(gone)
			case <-time.After(10 * time.Second):
			}
		}
	})
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.str("refresh_token")},
		"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
	req, _ := http.NewRequestWithContext(ctx, "POST", e.base+"/oauth/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := e.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the cancelled refresh got an answer")
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the server never saw the client go")
	}
	e.s.SetRefreshHook(nil)
	e.must(form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.str("refresh_token")}}), 200)
}
