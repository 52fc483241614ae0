package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// demoRun runs the binary's demo with --out as make demo does, from the
// repository's root, and returns its exit code and output.
func demoRun(t *testing.T, out string) (int, string) {
	t.Helper()
	cmd := exec.Command(binPath, "demo", "--out", out)
	cmd.Dir = repoRoot
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(b)
	case err != nil:
		t.Fatalf("demo: %v\n%s", err, b)
	}
	return 0, string(b)
}

// TestDemoKeepsUserFolder: demo clears its --out, so it refuses, with exit
// 2 and nothing removed, a folder it did not make: one with a user's file
// (also beside an earlier demo's files), one with only names a demo would
// write but no sign a demo made it, and a file.
func TestDemoKeepsUserFolder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string // "" body for a folder
	}{
		{"a user's file", map[string]string{"thesis.docx": "years of work"}},
		{"a user's folder", map[string]string{"photos/": "", "photos/cat.jpg": "meow"}},
		{"a user's file beside a demo's", map[string]string{demoMarker: "", "export/": "", "export/manifest.json": "{}", "thesis.docx": "years of work"}},
		{"a demo's names, no marker", map[string]string{"hubspot-contacts.csv.rejects.csv": "mine"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "mine")
			plant(t, out, tc.files)
			code, msg := demoRun(t, out)
			if code != exitRefused || !strings.Contains(msg, "nothing was removed") || !strings.Contains(msg, "--out") {
				t.Errorf("demo --out a folder of the user's: exit %d, want %d saying nothing was removed\n%s", code, exitRefused, msg)
			}
			for name, body := range tc.files {
				if strings.HasSuffix(name, "/") {
					continue
				}
				if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(b) != body {
					t.Errorf("%s after the demo: %q, %v", name, b, err)
				}
			}
		})
	}
	t.Run("a file", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "notes.txt")
		plant(t, filepath.Dir(out), map[string]string{"notes.txt": "mine"})
		if code, msg := demoRun(t, out); code != exitRefused {
			t.Errorf("demo --out a file: exit %d, want %d\n%s", code, exitRefused, msg)
		}
		if b, err := os.ReadFile(out); err != nil || string(b) != "mine" {
			t.Errorf("the file after the demo: %q, %v", b, err)
		}
	})
}

// TestDemoTwice: make demo run twice in a row clears and rewrites its own
// folder, and an earlier demo's folder without the marker (an older
// ghlbulk's) is recognised by its export's manifest.
func TestDemoTwice(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out", "demo")
	for i := range 2 {
		if code, msg := demoRun(t, out); code != 0 || !strings.Contains(msg, "Done.") {
			t.Fatalf("demo run %d: exit %d\n%s", i+1, code, msg)
		}
	}
	if err := os.Remove(filepath.Join(out, demoMarker)); err != nil {
		t.Fatal(err)
	}
	if code, msg := demoRun(t, out); code != 0 {
		t.Fatalf("demo over an older demo's folder: exit %d\n%s", code, msg)
	}
	if _, err := os.Stat(filepath.Join(out, demoMarker)); err != nil {
		t.Errorf("the demo wrote no marker: %v", err)
	}
}

// plant makes dir with files (a name ending in "/" is a folder).
func plant(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
