package main

import (
	"strings"
	"testing"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"version", "--nope"}, "unknown flag"},
		{"extra argument", []string{"version", "x"}, "unknown command"},
		{"bad log format", []string{"--log-format", "xml", "version"}, `--log-format "xml": must be text or json`},
		{"bad sandbox rate", []string{"sandbox", "--rate", "fast"}, `--rate "fast": must be N/DURATION`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != exitRefused {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitRefused, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, tt.want)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	r := runCLI(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ghlbulk ") {
		t.Fatalf("version: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, nil, "--help")
	if r.code != 0 {
		t.Fatalf("--help exit %d", r.code)
	}
	for _, cmd := range []string{"import", "export", "validate", "sandbox", "auth", "demo"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("--help does not list %q", cmd)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		wantErr bool
	}{
		{"100/10s", 100, false},
		{"off", -1, false},
		{"5/1m", 5, false},
		{"100", 0, true},
		{"x/10s", 0, true},
		{"10/soon", 0, true},
		{"-3/10s", 0, true},
	}
	for _, tt := range tests {
		n, _, err := parseRate(tt.in)
		if (err != nil) != tt.wantErr || n != tt.n {
			t.Errorf("parseRate(%q) = %d, %v; want %d, err=%v", tt.in, n, err, tt.n, tt.wantErr)
		}
	}
}
