package auth

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

func TestSandboxLoginRefreshPreflight(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{AccessTTL: 2 * time.Minute}) // due for refresh at once
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ghlbulk", "token.json")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := Login(ctx, LoginOptions{APIURL: base, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret,
		Scopes: []string{"contacts.readonly", "contacts.write"}, TokenFile: path, OpenBrowser: scriptedBrowser(t)})
	if err != nil {
		t.Fatal(err)
	}
	if info.LocationID != sb.LocationID() {
		t.Errorf("info %+v", info)
	}
	first := readToken(t, path)

	opt := Options{APIURL: base, TokenFile: path, Getenv: env(EnvClientID, sandbox.DefaultClientID, EnvClientSecret, sandbox.DefaultClientSecret)}
	src, info, err := Source(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == first.AccessToken {
		t.Error("not refreshed 5 minutes before expiry")
	}
	// The old refresh token is dead after rotation. (A file of its own:
	// src re-reads its file under the lock and must keep the live one.)
	dead := filepath.Join(t.TempDir(), "dead.json")
	writeToken(t, dead, storedToken{AccessToken: "x-secret", RefreshToken: first.RefreshToken, Expiry: time.Now().Add(-time.Minute), ClientID: sandbox.DefaultClientID})
	deadOpt := opt
	deadOpt.TokenFile = dead
	src2, _, _ := Source(ctx, deadOpt)
	if _, err := src2.Token(); !errors.Is(err, ErrNoCredentials) || strings.Contains(err.Error(), first.RefreshToken) {
		t.Errorf("old refresh token: err = %v", err)
	}

	hc := &http.Client{Transport: NewTransport(nil, src)}
	for _, need := range []Scope{ScopeContactsRead, ScopeContactsWrite} {
		if err := Preflight(ctx, hc, base, sb.LocationID(), need); err != nil {
			t.Errorf("preflight %s: %v", need, err)
		}
	}
	ro, err := sb.IssueToken(sb.LocationID(), []string{"contacts.readonly"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hc = &http.Client{Transport: NewTransport(nil, staticSource(ro))}
	var pe *PreflightError
	if err := Preflight(ctx, hc, base, sb.LocationID(), ScopeContactsWrite); !errors.As(err, &pe) || !strings.Contains(err.Error(), "lacks contacts.write") {
		t.Errorf("read-only token, write preflight: %v", err)
	}
	if err := Preflight(ctx, hc, base, "someOtherLocation", ScopeContactsRead); !errors.As(err, &pe) {
		t.Errorf("other location: %v", err)
	}
}

// A token with both scopes for another location passes the write probe
// (which names no location) and must still be refused for writing: the
// read probe's 403 says "location", not "scope".
func TestSandboxPreflightOtherLocationWrite(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	other, err := sb.IssueToken("OtherLocation0000001", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: NewTransport(nil, staticSource(other))}
	var pe *PreflightError
	for _, need := range []Scope{ScopeContactsRead, ScopeContactsWrite} {
		if err := Preflight(ctx, hc, base, sb.LocationID(), need); !errors.As(err, &pe) || !strings.Contains(err.Error(), "location") {
			t.Errorf("%s with another location's token: %v", need, err)
		}
	}
	// A write-only token (no contacts.readonly) is still let through.
	wo, err := sb.IssueToken(sb.LocationID(), []string{"contacts.write"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hc = &http.Client{Transport: NewTransport(nil, staticSource(wo))}
	if err := Preflight(ctx, hc, base, sb.LocationID(), ScopeContactsWrite); err != nil {
		t.Errorf("write-only token, write preflight: %v", err)
	}
}
