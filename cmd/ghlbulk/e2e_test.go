package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// binPath is the real ghlbulk binary, built once by TestMain: end-to-end
// tests run it exactly as a user or a scheduler would.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ghlbulk-e2e-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "ghlbulk")
	if runtime.GOOS == "windows" {
		binPath += ".exe"
	}
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building ghlbulk for end-to-end tests: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testSandbox is an in-process sandbox on a real loopback port, so a test can
// both point the binary at it and read its request counts.
type testSandbox struct {
	*sandbox.Server
	URL   string
	Token string
}

func startSandbox(t *testing.T, opt sandbox.Options) *testSandbox {
	t.Helper()
	if opt.Addr == "" {
		opt.Addr = "127.0.0.1:0"
	}
	srv, err := sandbox.New(opt)
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	url, err := srv.Start()
	if err != nil {
		t.Fatalf("sandbox start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	tok, err := srv.IssueToken(srv.LocationID(), sandbox.AllScopes, time.Hour)
	if err != nil {
		t.Fatalf("sandbox token: %v", err)
	}
	return &testSandbox{Server: srv, URL: url, Token: tok}
}

// env is the environment a user would set for this sandbox.
func (s *testSandbox) env() []string {
	return []string{"GHL_API_URL=" + s.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN=" + s.Token}
}

type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with a minimal environment plus env.
func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running ghlbulk %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}
