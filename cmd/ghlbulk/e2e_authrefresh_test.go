package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// TestE2EAuthRefresh: auth refresh rotates the stored pair now and saves
// it (0600); a copy of the file made before (a pod's copy of a Secret)
// holds a spent refresh token and is refused, exit 2; GHL_TOKEN has
// nothing to refresh. No token is ever printed.
func TestE2EAuthRefresh(t *testing.T) {
	s := startSandbox(t, sandbox.Options{Contacts: 5})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token.json")
	auLogin(t, s, tokenFile)
	before := auReadToken(t, tokenFile)
	stale := filepath.Join(dir, "copy.json")
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	r := runCLI(t, auEnv(s, tokenFile), "auth", "refresh")
	if r.code != 0 || !strings.Contains(r.stdout, "refreshed "+tokenFile) {
		t.Fatalf("auth refresh: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after := auReadToken(t, tokenFile)
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken {
		t.Error("auth refresh did not rotate the stored pair")
	}
	auCheckMode(t, tokenFile)
	auNoSecret(t, "auth refresh", []byte(r.stdout+r.stderr), before.AccessToken, before.RefreshToken, after.AccessToken, after.RefreshToken)
	if r := runCLI(t, auEnv(s, tokenFile), "export", "--out", filepath.Join(dir, "out"), "--no-progress"); r.code != 0 {
		t.Errorf("export with the refreshed token: exit %d\n%s", r.code, r.stderr)
	}

	r = runCLI(t, auEnv(s, stale), "auth", "refresh")
	if r.code != exitRefused {
		t.Errorf("refresh of a copy whose refresh token is spent: exit %d, want %d\n%s", r.code, exitRefused, r.stderr)
	}
	auNoSecret(t, "stale refresh", []byte(r.stdout+r.stderr), before.AccessToken, before.RefreshToken)

	r = runCLI(t, append(auEnv(s, tokenFile), "GHL_TOKEN="+after.AccessToken), "auth", "refresh")
	if r.code != exitRefused || !strings.Contains(r.stderr, "GHL_TOKEN") {
		t.Errorf("refresh with GHL_TOKEN set: exit %d\n%s", r.code, r.stderr)
	}
}
