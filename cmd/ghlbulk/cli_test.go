package main

import (
	"os"
	"os/exec"
	"path/filepath"
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

func TestImportRefusesBadInputBeforeAnyWrite(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(csv, []byte("Email\na@example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badMapping := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badMapping, []byte("version: 1\nfields:\n  email: \"Emial\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join("..", "..", "mappings", "generic.yaml")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no mapping", []string{"import", csv}, "--mapping is required"},
		{"no file", []string{"import", "--mapping", good}, "requires at least 1 arg"},
		{"missing file", []string{"import", filepath.Join(dir, "nope.csv"), "--mapping", good}, "no such file"},
		{"unknown extension", []string{"import", filepath.Join(dir, "in.xls"), "--mapping", good}, "not a .csv, .csv.gz, .tsv, .txt, .xlsx or .parquet file"},
		{"bad workers", []string{"import", csv, "--mapping", good, "--workers", "0"}, "--workers 0: must be between 1 and 64"},
		{"bad delimiter", []string{"import", csv, "--mapping", good, "--delimiter", ";;"}, "--delimiter"},
		{"mapping names a missing column", []string{"validate", csv, "--mapping", badMapping}, `bad.yaml:3:`},
		{"no location", []string{"import", csv, "--mapping", filepath.Join(dir, "m.yaml")}, ""},
	}
	// The last case needs a mapping that fits, so that it gets as far as the credentials.
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte("version: 1\nfields:\n  email: \"Email\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests[len(tests)-1].want = "no location: set --location or GHL_LOCATION_ID"
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

// TestDemo runs what `make demo` runs: the sandbox in-process, the samples
// imported twice (the second pass writes nothing), the location exported.
func TestDemo(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	cmd := exec.Command(binPath, "demo", "--out", out)
	cmd.Dir = repoRoot // as make demo runs it
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Done.") {
		t.Fatalf("demo: %v\n%s", err, b)
	}
	for _, f := range []string{"contacts.parquet", "notes.parquet", "tasks.parquet", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(out, "export", f)); err != nil {
			t.Errorf("export: %v", err)
		}
	}
}

// validate given a notes mapping says how to check it instead.
func TestValidateNotesMapping(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runCLI(t, nil, "validate", filepath.Join(repoRoot, "samples", "hubspot-notes.csv"),
		"--mapping", filepath.Join(repoRoot, "mappings", "hubspot-notes.yaml"),
		"--rejects", filepath.Join(dir, "r.csv"), "--plan-out", filepath.Join(dir, "p.csv"))
	if r.code != exitRefused || !strings.Contains(r.stderr, "import --kind notes") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}
