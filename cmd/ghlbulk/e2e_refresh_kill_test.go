package main

// End-to-end tests of issue 11 finding 8's refresh: the real binary killed
// (SIGKILL) while its token refresh is in flight.
//
// HighLevel rotates the refresh token when it is used and keeps no grace
// period for the old one (docs/Authorization.md: "valid for a year unless
// they are used"). So a kill before the token endpoint acts on the refresh
// must leave the saved grant usable, and a kill after it acted but before
// the answer was saved loses the grant whatever the client does: the next
// run must then say exactly that, readably, and how to get a new one.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// killDuringRefresh logs in, then runs `export` with an access token due
// for refresh and SIGKILLs it while the sandbox holds its refresh at
// stage. It returns the token file and the tokens saved before the run.
func killDuringRefresh(t *testing.T, s *testSandbox, stage sandbox.RefreshStage) (tokenFile string, before auTokenFile) {
	t.Helper()
	dir := t.TempDir()
	tokenFile = filepath.Join(dir, "token.json")
	auLogin(t, s, tokenFile)
	before = auReadToken(t, tokenFile)

	reached := make(chan struct{}, 1)
	s.SetRefreshHook(func(ctx context.Context, st sandbox.RefreshStage) {
		if st != stage {
			return
		}
		select {
		case reached <- struct{}{}:
		default:
		}
		// Hold the refresh until the killed client's connection closes.
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
		}
	})
	defer s.SetRefreshHook(nil)

	cmd := exec.Command(binPath, "--no-progress", "export", "--out", filepath.Join(dir, "killed"))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}, auEnv(s, tokenFile)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-reached:
	case err := <-exited:
		t.Fatalf("export ended (%v) before its refresh reached the token endpoint", err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no refresh within 30 s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	return tokenFile, before
}

// Killed before the token endpoint spent the refresh token: the next run
// refreshes with the saved grant and works.
func TestE2ERefreshKilledBeforeRotation(t *testing.T) {
	t.Parallel()
	// Access tokens of 2 minutes are due for refresh at once (5 minutes early).
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 3, AccessTTL: 2 * time.Minute})
	tokenFile, before := killDuringRefresh(t, s, sandbox.RefreshReceived)
	auCheckMode(t, tokenFile)

	r := runCLI(t, auEnv(s, tokenFile), "--no-progress", "export", "--out", filepath.Join(t.TempDir(), "out"))
	if r.code != 0 {
		t.Fatalf("the run after the kill: exit %d, want 0\n%s", r.code, r.stderr)
	}
	after := auReadToken(t, tokenFile)
	if after.RefreshToken == before.RefreshToken {
		t.Error("the run after the kill did not rotate the refresh token")
	}
	raw, _ := os.ReadFile(tokenFile)
	if strings.Contains(string(raw), "refresh_started") {
		t.Errorf("the refresh mark was left in the token file after a saved refresh")
	}
	auCheckMode(t, tokenFile)
}

// Killed after the token endpoint rotated the refresh token, before the
// answer was saved: the grant is lost (HighLevel's old refresh token is
// dead), and the next run exits 2 saying exactly that, readably, with the
// fix; a new login then works.
func TestE2ERefreshKilledAfterRotation(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 3, AccessTTL: 2 * time.Minute})
	tokenFile, before := killDuringRefresh(t, s, sandbox.RefreshRotated)

	r := runCLI(t, auEnv(s, tokenFile), "--no-progress", "export", "--out", filepath.Join(t.TempDir(), "out"))
	if r.code != 2 {
		t.Fatalf("the run after the kill: exit %d, want 2\n%s", r.code, r.stderr)
	}
	t.Logf("the run after the kill says:\n%s", r.stderr)
	for _, want := range []string{"grant in " + tokenFile + " is lost", "cut off", "before the new one was saved", "ghlbulk auth login", "the token endpoint answered 400"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the message does not say %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "REDACTED") {
		t.Errorf("the message blanks words (no token is in it to hide):\n%s", r.stderr)
	}
	auNoSecret(t, "the run after the kill", []byte(r.stdout+r.stderr), before.AccessToken, before.RefreshToken, sandbox.DefaultClientSecret)
	// It keeps saying so, and a new login mends it.
	if again := runCLI(t, auEnv(s, tokenFile), "--no-progress", "export", "--out", filepath.Join(t.TempDir(), "out")); again.code != 2 || !strings.Contains(again.stderr, "cut off") {
		t.Errorf("a second run: exit %d\n%s", again.code, again.stderr)
	}
	auLogin(t, s, tokenFile)
	if r := runCLI(t, auEnv(s, tokenFile), "--no-progress", "export", "--out", filepath.Join(t.TempDir(), "out")); r.code != 0 {
		t.Errorf("export after a new login: exit %d\n%s", r.code, r.stderr)
	}
}

// `auth login --listen` off loopback is refused before anything listens.
func TestE2EAuthLoginListenRefused(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1})
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		tokenFile := filepath.Join(t.TempDir(), "token.json")
		r := runCLI(t, auEnv(s, tokenFile), "auth", "login", "--listen", addr)
		if r.code != 2 {
			t.Errorf("--listen %s: exit %d, want 2\n%s", addr, r.code, r.stderr)
		}
		for _, want := range []string{"--listen", "loopback", "127.0.0.1:PORT"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("--listen %s: the refusal does not say %q:\n%s", addr, want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "/oauth/chooselocation") {
			t.Errorf("--listen %s: an authorization URL was printed before the refusal", addr)
		}
	}
}
