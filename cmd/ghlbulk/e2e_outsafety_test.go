package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// Safety of the files around a run: an export never replaces or removes a
// user's file in --out, --restart never removes what is not a ghlbulk
// state, and a temporary file a killed run left is cleared by the next.

// dirSnapshot maps every path under dir (relative) to a hash of its bytes,
// or "dir" for a folder, so a test can see a folder was left exactly as it
// was.
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			snap[rel] = "dir"
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(raw)
		snap[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func sameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for p, h := range want {
		if got[p] != h {
			t.Errorf("%s: %s changed or went (was %.12s, now %.12q)", what, p, h, got[p])
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// userCSV is a file of the user's that is named like an export's.
const userCSV = "id,email\nmine-1,me@example.com\nmine-2,you@example.com\n"

// TestE2EExportRefusesUserFiles: a folder holding files no export wrote is
// refused with exit 2 before any request, and left byte for byte as it was.
func TestE2EExportRefusesUserFiles(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 20, Seed: 21})
	for _, tc := range []struct {
		name  string
		files map[string]string
		args  []string
		says  string
	}{
		{"csv files named like the export's", map[string]string{"contacts.csv": userCSV, "tasks.csv": userCSV, "notes.parquet": "PAR1 not really"},
			[]string{"--include", "tasks,notes", "--format", "csv"}, "no ghlbulk export wrote"},
		{"parquet export over csv files", map[string]string{"contacts.csv": userCSV, "tasks.csv": userCSV, "notes.parquet": "PAR1 not really"},
			[]string{"--include", "tasks,notes"}, "no ghlbulk export wrote"},
		{"unrelated files only", map[string]string{"thesis.docx": "chapter one", "notes.txt": "todo"},
			nil, "thesis.docx"},
		{"another program's manifest.json", map[string]string{"manifest.json": `{"name":"my app","icons":[]}`},
			nil, "manifest.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "mine")
			writeFiles(t, out, tc.files)
			before := dirSnapshot(t, out)
			s.ResetCounts()
			args := append([]string{"export", "--out", out, "--no-progress"}, tc.args...)
			r := runCLI(t, s.env(), args...)
			if r.code != exitRefused {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{out, tc.says, "choose an empty"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if n := s.Counts().Total; n != 0 {
				t.Errorf("%d requests before the refusal", n)
			}
			sameSnapshot(t, "the user's folder", dirSnapshot(t, out), before)
		})
	}
}

// TestE2EExportRerunKeepsUserFiles: a run over an earlier export replaces
// and removes only the files that export's manifest lists; a user's files
// beside it survive, and one the run would replace is refused.
func TestE2EExportRerunKeepsUserFiles(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 30, Seed: 22})
	out := filepath.Join(t.TempDir(), "out")
	xpMustRun(t, s.env(), "export", "--out", out, "--include", "tasks", "--format", "csv", "--no-progress")

	// The user keeps notes beside the export, one of them named like a file
	// of an export (notes.csv), which this export never wrote.
	user := map[string]string{"notes.txt": "what I found\n", "notes.csv": userCSV, "contacts.csv.bak": userCSV}
	writeFiles(t, out, user)
	// A manifest as an older ghlbulk wrote it: no layout field.
	mpath := filepath.Join(out, sinks.ManifestName)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "layout")
	raw, _ = json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(mpath, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	// Again, as Parquet and without tasks: the CSV files of the earlier
	// export go, the user's stay.
	xpMustRun(t, s.env(), "export", "--out", out, "--no-progress")
	got := xpReadExport(t, out)
	if got.manifest.Format != "parquet" || len(got.rows[sinks.EntityContacts]) != 30 {
		t.Errorf("re-run: manifest %+v, %d contacts", got.manifest, len(got.rows[sinks.EntityContacts]))
	}
	for _, gone := range []string{"contacts.csv", "tasks.csv"} {
		if _, err := os.Stat(filepath.Join(out, gone)); err == nil {
			t.Errorf("%s of the earlier export is still there", gone)
		}
	}
	for name, body := range user {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(b) != body {
			t.Errorf("the user's %s: %q, %v; want it as it was", name, b, err)
		}
	}

	// A run that would write notes.csv, which the manifest does not list, is
	// refused before any request.
	before := dirSnapshot(t, out)
	s.ResetCounts()
	r := runCLI(t, s.env(), "export", "--out", out, "--include", "notes", "--format", "csv", "--no-progress")
	if r.code != exitRefused || !strings.Contains(r.stderr, "notes.csv") {
		t.Errorf("an export over the user's notes.csv: exit %d, want 2 naming notes.csv\n%s", r.code, r.stderr)
	}
	if n := s.Counts().Total; n != 0 {
		t.Errorf("%d requests before the refusal", n)
	}
	sameSnapshot(t, "the export folder", dirSnapshot(t, out), before)
}

// TestE2EExportRemovesItsLeftovers: the temporary files a killed export left
// in --out (its own, by their name) go with the next run; a user's file
// that only looks a bit like one stays.
func TestE2EExportRemovesItsLeftovers(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 10, Seed: 23})
	for _, tc := range []struct {
		name    string
		earlier bool // an export ran in the folder before the leftovers
	}{{"first run killed", false}, {"later run killed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if tc.earlier {
				xpMustRun(t, s.env(), "export", "--out", out, "--no-progress")
			}
			ours := []string{".contacts.parquet.ghlbulk-2804416915.tmp", ".manifest.json.ghlbulk-17.tmp", ".tasks.parquet.1234567.tmp"}
			writeFiles(t, out, map[string]string{ours[0]: "", ours[1]: "", ours[2]: "PAR1"})
			// The name this version gives them: of a process that is gone.
			ours = append(ours, filepath.Base(staleTemp(t, filepath.Join(out, "contacts.parquet"))))
			// Files of the user's beside an earlier export are not in the way
			// (in a folder of no export they would be refused, see above).
			users := map[string]string{}
			if tc.earlier {
				users = map[string]string{".notes.txt.tmp": "mine", "draft.tmp": "mine too", ".contacts.parquet.tmp": "mine"}
			}
			writeFiles(t, out, users)
			xpMustRun(t, s.env(), "export", "--out", out, "--no-progress")
			for _, name := range ours {
				if _, err := os.Stat(filepath.Join(out, name)); err == nil {
					t.Errorf("leftover %s is still in --out", name)
				}
			}
			for name, body := range users {
				if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(b) != body {
					t.Errorf("the user's %s: %q, %v", name, b, err)
				}
			}
			ents, _ := os.ReadDir(out)
			for _, e := range ents {
				if fsx.IsTempName(e.Name(), "") {
					t.Errorf("a temporary file is left in --out: %s", e.Name())
				}
			}
		})
	}
}

// TestE2ERestartKeepsForeignState: --restart never removes a --state that
// is not a ghlbulk state (the input itself, a directory); the refusal says
// to pick another --state, not to --restart. A real state still restarts.
func TestE2ERestartKeepsForeignState(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	file := genPeople(t, dir, 300, 0)
	emptyDir := filepath.Join(dir, "state-dir")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, state string
		args        func(state string) []string
	}{
		{"import, the input as --state", file, func(state string) []string {
			return []string{"import", file, "--mapping", peopleMapping, "--state", state, "--rejects", filepath.Join(t.TempDir(), "r.csv"), "--no-progress"}
		}},
		{"import, an empty directory as --state", emptyDir, func(state string) []string {
			return []string{"import", file, "--mapping", peopleMapping, "--state", state, "--rejects", filepath.Join(t.TempDir(), "r.csv"), "--no-progress"}
		}},
		{"export, the input as --state", file, func(state string) []string {
			return []string{"export", "--out", filepath.Join(t.TempDir(), "out"), "--state", state, "--no-progress"}
		}},
		{"export, an empty directory as --state", emptyDir, func(state string) []string {
			return []string{"export", "--out", filepath.Join(t.TempDir(), "out"), "--state", state, "--no-progress"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dirSnapshot(t, dir)
			for _, restart := range []bool{false, true} {
				args := tc.args(tc.state)
				if restart {
					args = append(args, "--restart")
				}
				sb.ResetCounts()
				r := runCLI(t, sb.env(), args...)
				if r.code != exitRefused {
					t.Errorf("restart=%v: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", restart, r.code, r.stdout, r.stderr)
				}
				// An input given as --state is caught first by the check
				// that no output names an input; the advice is the same.
				advised := strings.Contains(r.stderr, "another --state") || strings.Contains(r.stderr, "give --state a path of its own")
				if !strings.Contains(r.stderr, tc.state) || !advised {
					t.Errorf("restart=%v: stderr does not name the state and advise another --state:\n%s", restart, r.stderr)
				}
				if strings.Contains(r.stderr, "run with --restart") {
					t.Errorf("restart=%v: stderr still advises --restart:\n%s", restart, r.stderr)
				}
				if w := dataWrites(sb.Counts()); w != 0 {
					t.Errorf("restart=%v: %d write requests", restart, w)
				}
				sameSnapshot(t, "the input's folder", dirSnapshot(t, dir), before)
			}
		})
	}

	t.Run("a ghlbulk state still restarts", func(t *testing.T) {
		f := newImpFiles(t)
		mustImport(t, sb, f, file, peopleMapping)
		rep := mustImport(t, sb, f, file, peopleMapping, "--restart")
		if rep.RowsRead != 300 {
			t.Errorf("--restart over a real state read %d rows, want 300", rep.RowsRead)
		}
	})
}

// TestE2EExportFreshFolderListing: after runs over their own export, only
// the files, the manifest and the default state are in --out: the staging
// ledger, which would make a later run take a user's file of a name it
// lists for its own, is gone with the staging directory.
func TestE2EExportFreshFolderListing(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 5, Seed: 24})
	out := filepath.Join(t.TempDir(), "out")
	for range 2 {
		xpMustRun(t, s.env(), "export", "--out", out, "--incremental", "--no-progress")
	}
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".ghlbulk.state") {
			names = append(names, e.Name())
		}
	}
	want := []string{"contacts.parquet", "deleted.parquet", "manifest.json"}
	if !slices.Equal(names, want) {
		t.Errorf("--out holds %v, want %v", names, want)
	}
}
