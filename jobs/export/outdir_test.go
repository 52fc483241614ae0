package export

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sinks"
)

func manifestJSON(t *testing.T, format string, files map[string]string) string {
	t.Helper()
	raw, err := json.Marshal(sinks.Manifest{SchemaVersion: sinks.SchemaVersion, Format: format, Mode: ModeFull, LocationID: "loc", Files: files})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestCheckOutDir(t *testing.T) {
	csvExport := func(t *testing.T) map[string]string {
		return map[string]string{"manifest.json": manifestJSON(t, "csv", map[string]string{"contacts": "contacts.csv"}), "contacts.csv": "a\n"}
	}
	tests := []struct {
		name   string
		files  func(t *testing.T) map[string]string // name -> body; a name ending in / is a folder
		cfg    Config
		state  string // --state, relative to the folder
		refuse string // "" = allowed, else a substring of the *OutDirError
	}{
		{"new folder", nil, Config{}, "", ""},
		{"empty folder", func(*testing.T) map[string]string { return map[string]string{} }, Config{}, "", ""},
		{"only ghlbulk's own", func(*testing.T) map[string]string {
			return map[string]string{".ghlbulk.state": "", ".ghlbulk.state-wal": "", ".ghlbulk.state.lock": "", ".ghlbulk-staging/": "",
				".contacts.parquet.ghlbulk-1.tmp": "", ".contacts.parquet.99.tmp": "", "run=20260102T150405Z/": "", ".DS_Store": ""}
		}, Config{}, "", ""},
		{"a user's file", func(*testing.T) map[string]string { return map[string]string{"contacts.csv": "mine"} },
			Config{Format: "csv"}, "", "contacts.csv"},
		{"a user's file, layout run", func(*testing.T) map[string]string { return map[string]string{"notes.txt": "mine"} },
			Config{Layout: LayoutRun}, "", "notes.txt"},
		{"a user's hidden temporary file", func(*testing.T) map[string]string { return map[string]string{".notes.txt.tmp": "mine"} },
			Config{}, "", ".notes.txt.tmp"},
		{"a user's run= file (not a folder)", func(*testing.T) map[string]string { return map[string]string{"run=1": "mine"} },
			Config{}, "", "run=1"},
		{"--state in the folder", func(*testing.T) map[string]string { return map[string]string{"my.state": "", "my.state-wal": ""} },
			Config{}, "my.state", ""},
		{"another file beside --state", func(*testing.T) map[string]string { return map[string]string{"my.state": "", "my.csv": ""} },
			Config{}, "my.state", "my.csv"},
		{"first run killed in finish", func(*testing.T) map[string]string {
			return map[string]string{".ghlbulk-staging/": "", ".ghlbulk-staging/files.json": `{"files":["contacts.parquet","tasks.parquet"]}`, "contacts.parquet": "PAR1"}
		}, Config{}, "", ""},
		{"no ledger for the file", func(*testing.T) map[string]string {
			return map[string]string{".ghlbulk-staging/": "", "contacts.parquet": "PAR1"}
		}, Config{}, "", "contacts.parquet"},
		{"a ledger naming a path is not believed", func(*testing.T) map[string]string {
			return map[string]string{".ghlbulk-staging/": "", ".ghlbulk-staging/files.json": `{"files":["../contacts.parquet","x/contacts.parquet"]}`, "contacts.parquet": "PAR1"}
		}, Config{}, "", "contacts.parquet"},
		{"an earlier export with a user's file beside", func(t *testing.T) map[string]string {
			f := csvExport(t)
			f["notes.txt"] = "mine"
			return f
		}, Config{Format: "csv"}, "", ""},
		{"an earlier export, now as parquet", csvExport, Config{}, "", ""},
		{"a user's file the run would replace", func(t *testing.T) map[string]string {
			f := csvExport(t)
			f["tasks.csv"] = "mine"
			return f
		}, Config{Format: "csv", Include: []string{"tasks"}}, "", "tasks.csv"},
		{"a user's file named like the other format", func(t *testing.T) map[string]string {
			f := csvExport(t)
			f["contacts.parquet"] = "mine"
			return f
		}, Config{}, "", "contacts.parquet"},
		{"the deleted file of an incremental run", func(t *testing.T) map[string]string {
			f := csvExport(t)
			f["deleted.csv"] = "mine"
			return f
		}, Config{Format: "csv", Incremental: true}, "", "deleted.csv"},
		{"a manifest of something else", func(*testing.T) map[string]string {
			return map[string]string{"manifest.json": `{"name":"app","icons":[]}`}
		}, Config{}, "", "manifest.json"},
		{"a manifest that names a path", func(t *testing.T) map[string]string {
			return map[string]string{"manifest.json": manifestJSON(t, "csv", map[string]string{"contacts": "../contacts.csv", "tasks": "tasks.csv"}),
				"contacts.parquet": "mine"}
		}, Config{}, "", "contacts.parquet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if tc.files != nil {
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
				files := tc.files(t)
				names := make([]string, 0, len(files))
				for n := range files {
					names = append(names, n)
				}
				slices.Sort(names) // a folder before its files
				for _, n := range names {
					p := filepath.Join(out, n)
					var err error
					if strings.HasSuffix(n, "/") {
						err = os.Mkdir(p, 0o755)
					} else {
						err = os.WriteFile(p, []byte(files[n]), 0o644)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			cfg := tc.cfg
			cfg.OutDir = out
			state := ""
			if tc.state != "" {
				state = filepath.Join(out, tc.state)
			}
			err := CheckOutDir(cfg, state)
			var oe *OutDirError
			switch {
			case tc.refuse == "" && err != nil:
				t.Errorf("CheckOutDir = %v, want it allowed", err)
			case tc.refuse != "" && (!errors.As(err, &oe) || !strings.Contains(err.Error(), tc.refuse) || !strings.Contains(err.Error(), out)):
				t.Errorf("CheckOutDir = %v, want an *OutDirError naming %s and %q", err, out, tc.refuse)
			}
		})
	}
}

func TestCheckOutDirFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "contacts.csv")
	if err := os.WriteFile(out, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	var oe *OutDirError
	if err := CheckOutDir(Config{OutDir: out}, ""); !errors.As(err, &oe) || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("CheckOutDir(a file) = %v, want an *OutDirError saying it is not a folder", err)
	}
}

// TestRemoveStale: only owned files this run did not write are removed.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"contacts.csv", "tasks.csv", "notes.csv", "contacts.parquet", "manifest.json", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	owned := map[string]bool{"contacts.csv": true, "tasks.csv": true, "contacts.parquet": true, "manifest.json": true, "deleted.csv": true}
	written := map[string]string{sinks.EntityContacts: "contacts.parquet"}
	if err := removeStale(dir, owned, written); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{"contacts.parquet", "manifest.json", "notes.csv", "notes.txt"}
	if !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}

// TestExportResumeAfterKillInFinish: a first export killed after it renamed
// some of its files into --out (no manifest yet) resumes over them, since
// its ledger names them, and ends with no ledger and no temporary file.
func TestExportResumeAfterKillInFinish(t *testing.T) {
	f := newFixture(t, 30)
	out := filepath.Join(t.TempDir(), "out")
	store := openStore(t)
	cfg := f.config(t, out, store)
	cfg.PageLimit = 9
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Progress = func(pipeline.Report) { cancel() }
	if _, err := Run(ctx, cfg); !errors.Is(err, pipeline.ErrInterrupted) {
		t.Fatalf("first run: %v, want an interruption", err)
	}
	cfg.Progress = nil
	want := []string{"appointments.parquet", "contacts.parquet", "notes.parquet", "tasks.parquet"}
	if got := readLedger(out); !slices.Equal(got, want) {
		t.Fatalf("ledger of the unfinished run = %v, want %v", got, want)
	}
	// As if killed in finish: contacts.parquet renamed in, tasks.parquet
	// half written aside.
	for name, body := range map[string]string{"contacts.parquet": "PAR1 stale", ".tasks.parquet.ghlbulk-42.tmp": "PAR1"} {
		if err := os.WriteFile(filepath.Join(out, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := CheckOutDir(cfg, store.Path()); err != nil {
		t.Fatalf("CheckOutDir over the unfinished run's own files: %v", err)
	}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	m, err := sinks.ReadManifest(filepath.Join(out, sinks.ManifestName))
	if err != nil || m.RowCounts[sinks.EntityContacts] != 30 {
		t.Fatalf("manifest after the resumed run: %+v, %v", m, err)
	}
	if got := len(rows(t, filepath.Join(out, "contacts.parquet"))); got != 30 {
		t.Errorf("contacts.parquet holds %d rows, want 30", got)
	}
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want = append(want, "manifest.json")
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("--out holds %v, want %v (no staging, ledger or temporary file)", names, want)
	}
}
