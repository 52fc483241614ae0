//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// TestExportFilesFollowUmask: a warehouse loader running as another user
// reads the export files, so they are 0666 less the umask (0644 under
// 022) like any tool's output; the report and the state, which are not for
// the loader, stay 0600. Not parallel: the umask is the process's.
func TestExportFilesFollowUmask(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 5, Seed: 21})
	dir := t.TempDir()
	out, state, report := filepath.Join(dir, "out"), filepath.Join(dir, "x.state"), filepath.Join(dir, "report.json")
	old := syscall.Umask(0o022)
	r := runCLI(t, sb.env(), "export", "--out", out, "--state", state, "--report", report, "--format", "csv", "--no-progress")
	syscall.Umask(old)
	if r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	want := map[string]os.FileMode{
		filepath.Join(out, "contacts.csv"):  0o644,
		filepath.Join(out, "manifest.json"): 0o644,
		report:                              0o600,
		state:                               0o600,
	}
	for path, mode := range want {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s is %v, want %v", filepath.Base(path), st.Mode().Perm(), mode)
		}
	}
}
