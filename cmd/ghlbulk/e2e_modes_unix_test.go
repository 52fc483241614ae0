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
// 022) like any tool's output, as the report and the state are. Not
// parallel: the umask is the process's.
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
		report:                              0o644,
		state:                               0o644,
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

// checkMode fails unless path is a file of mode want.
func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if m := st.Mode().Perm(); m != want {
		t.Errorf("%s: mode %v, want %v (the umask decides)", filepath.Base(path), m, want)
	}
}

// TestOutputFilesFollowUmask: the rejects, plan, report, ID map and state
// are 0666 less the umask (here 027: 0640, not the 0644 a fixed mode would
// give), and a temporary file a killed run left beside one is gone after
// the next run. Not parallel: the umask is the process's.
func TestOutputFilesFollowUmask(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o027))
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	in := genPeople(t, dir, 30, 4) // a bad email every 4th row: rejects
	f := newImpFiles(t)
	idMap := filepath.Join(f.dir, "map.csv")
	stale := []string{staleTemp(t, f.rejects), staleTemp(t, f.report), staleTemp(t, idMap)}
	rep := mustImport(t, sb, f, in, peopleMapping, "--id-map", idMap, "--no-plan")
	if rep.Rejected == 0 {
		t.Fatalf("no row rejected: %+v", rep)
	}
	for _, p := range []string{f.rejects, f.report, idMap, f.state} {
		checkMode(t, p, 0o640)
	}

	vdir := t.TempDir()
	vr, vp, vrep := filepath.Join(vdir, "r.csv"), filepath.Join(vdir, "plan.csv"), filepath.Join(vdir, "v.json")
	stale = append(stale, staleTemp(t, vp))
	r := runCLI(t, nil, "validate", in, "--mapping", peopleMapping, "--rejects", vr, "--plan-out", vp, "--report", vrep, "--no-progress")
	if r.code != 0 {
		t.Fatalf("validate: exit %d\n%s", r.code, r.stderr)
	}
	for _, p := range []string{vr, vp, vrep} {
		checkMode(t, p, 0o640)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s, left by a killed run, is still there", filepath.Base(p))
		}
	}
}
