package main

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// sandboxRun is `ghlbulk sandbox` running: the words of its two stdout
// lines, and its stderr once it has stopped.
type sandboxRun struct {
	vars   map[string]string
	stderr string
	code   int
}

// runSandboxCmd starts the binary's sandbox with args, reads its two stdout
// lines, calls during(vars) while it serves, then interrupts it.
func runSandboxCmd(t *testing.T, during func(vars map[string]string), args ...string) sandboxRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append([]string{"sandbox"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd.Stderr = errf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(out)
	for i := 0; i < 2 && sc.Scan(); i++ {
		for _, kv := range strings.Fields(sc.Text()) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
	}
	if len(vars) != 5 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		errb, _ := os.ReadFile(errf.Name())
		t.Fatalf("sandbox %v printed %v; stderr:\n%s", args, vars, errb)
	}
	during(vars)
	_ = cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	run := sandboxRun{vars: vars, code: cmd.ProcessState.ExitCode()}
	errb, _ := os.ReadFile(errf.Name())
	run.stderr = string(errb)
	if err != nil && run.code != 0 {
		t.Errorf("sandbox %v exited %d: %v\n%s", args, run.code, err, errb)
	}
	return run
}

// oauthStatus runs the OAuth flow against base with secret and returns the
// token endpoint's status.
func oauthStatus(t *testing.T, base, secret string) int {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"response_type": {"code"}, "client_id": {sandbox.DefaultClientID},
		"redirect_uri": {"http://127.0.0.1:1/cb"}, "scope": {"contacts.readonly"}}
	res, err := hc.Get(base + "/oauth/chooselocation?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("chooselocation: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	form := url.Values{"client_id": {sandbox.DefaultClientID}, "client_secret": {secret}, "grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:1/cb"}}
	res, err = hc.PostForm(base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// loopbackURL is u with its host made 127.0.0.1 (a sandbox on 0.0.0.0
// prints that address).
func loopbackURL(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Host = "127.0.0.1:" + p.Port()
	return p.String()
}

func TestSandboxCmdBeyondLoopback(t *testing.T) {
	tests := []struct {
		addr    string
		exposed bool
	}{
		{"127.0.0.1:0", false},
		{"0.0.0.0:0", true},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			var defaultStatus, ownStatus int
			run := runSandboxCmd(t, func(vars map[string]string) {
				base := loopbackURL(t, vars["GHL_API_URL"])
				defaultStatus = oauthStatus(t, base, sandbox.DefaultClientSecret)
				ownStatus = oauthStatus(t, base, vars["GHL_CLIENT_SECRET"])
			}, "--addr", tc.addr)
			secret := run.vars["GHL_CLIENT_SECRET"]
			if run.vars["GHL_CLIENT_ID"] != sandbox.DefaultClientID || run.vars["GHL_TOKEN"] == "" {
				t.Errorf("stdout words %v", run.vars)
			}
			warned := strings.Contains(run.stderr, "beyond loopback")
			if warned != tc.exposed {
				t.Errorf("warning on stderr: %v, want %v:\n%s", warned, tc.exposed, run.stderr)
			}
			if (secret == sandbox.DefaultClientSecret) == tc.exposed {
				t.Errorf("client secret %q on %s", secret, tc.addr)
			}
			if strings.Contains(run.stderr, secret) {
				t.Errorf("the client secret reached stderr:\n%s", run.stderr)
			}
			if ownStatus != 200 {
				t.Errorf("the printed secret: token endpoint %d, want 200", ownStatus)
			}
			if wantDefault := map[bool]int{false: 200, true: 401}[tc.exposed]; defaultStatus != wantDefault {
				t.Errorf("the default secret: token endpoint %d, want %d", defaultStatus, wantDefault)
			}
		})
	}
}
