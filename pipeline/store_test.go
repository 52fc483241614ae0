package pipeline

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// DB is the database, for tests that inspect the state; the jobs use the
// store's methods.
func (s *Store) DB() *sql.DB { return s.db }

func openTestStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenStore(path, StoreOptions{})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seedStore makes a valid state with some rows, closed.
func seedStore(t *testing.T, path string, rows int) {
	t.Helper()
	s, err := OpenStore(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var outs []RowOutcome
	for i := range rows {
		outs = append(outs, RowOutcome{FP: "fp", File: "a.csv", Row: int64(i + 1), Key: "email:" + strconv.Itoa(i) + "@x.io",
			ContactID: "c" + strconv.Itoa(i), Hash: strings.Repeat("h", 40), Status: record.StatusCreated})
	}
	if err := s.CommitRows(context.Background(), outs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenStoreRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string // substring of the StateError
		// ours: a ghlbulk state (damaged or of another version), which the
		// error sends to --restart and Restart replaces; otherwise the file
		// is somebody else's, which Restart refuses and leaves as it is.
		ours bool
	}{
		{"text file", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("email,phone\na@b.c,1\n"), 0o600)
		}, "not a ghlbulk state", false},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "is a directory", false},
		{"short file", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("SQLite"), 0o600)
		}, "damaged", true},
		{"truncated", func(t *testing.T, path string) {
			seedStore(t, path, 3000)
			st, _ := os.Stat(path)
			if err := os.Truncate(path, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "damaged", true},
		{"foreign sqlite", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)"); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, "SQLite database of something else", false},
		{"foreign meta", func(t *testing.T, path string) {
			db, _ := sql.Open("sqlite", path)
			db.Exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
			db.Exec("INSERT INTO meta VALUES ('application', 'other')")
			db.Close()
		}, "something else", false},
		{"schema version", func(t *testing.T, path string) {
			seedStore(t, path, 1)
			db, _ := sql.Open("sqlite", path)
			if _, err := db.Exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'"); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, "schema version 99", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			tc.prepare(t, path)
			before := snapshotPath(t, path)
			_, err := OpenStore(path, StoreOptions{})
			var se *StateError
			if !errors.As(err, &se) {
				t.Fatalf("OpenStore = %v, want *StateError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q: want it to name %q and the file", err, tc.want)
			}
			if got := strings.Contains(err.Error(), "--restart to start over"); got != tc.ours {
				t.Errorf("error %q: advises --restart = %v, want %v", err, got, tc.ours)
			}
			s, err := OpenStore(path, StoreOptions{Restart: true})
			if tc.ours {
				// --restart starts over from a state of ours, whatever its shape.
				if err != nil {
					t.Fatalf("OpenStore with Restart: %v", err)
				}
				s.Close()
				return
			}
			if !errors.As(err, &se) || !strings.Contains(err.Error(), "another --state") {
				t.Fatalf("OpenStore with Restart over somebody else's file = %v, want a refusal pointing at another --state", err)
			}
			if after := snapshotPath(t, path); after != before {
				t.Errorf("Restart changed somebody else's file:\nbefore %s\nafter  %s", before, after)
			}
			if _, err := os.Stat(path + ".lock"); err == nil {
				t.Errorf("a refused state left %s.lock beside it", path)
			}
		})
	}
}

// snapshotPath describes what path holds: a file's bytes, or a directory's
// entries, so a test can see it was left alone.
func snapshotPath(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		return "absent: " + err.Error()
	}
	if fi.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{"dir"}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return strings.Join(names, " ")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return "file " + hex.EncodeToString(sum[:])
}

func TestOpenStoreReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	seedStore(t, path, 10)
	s := openTestStore(t, path)
	rows, err := s.Rows(context.Background(), "fp", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 || rows[3].Status != record.StatusCreated || rows[3].ContactID != "c2" {
		t.Errorf("rows after reopen = %v", rows)
	}
}

func TestStoreLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTestStore(t, path)
	_, err := OpenStore(path, StoreOptions{})
	var se *StateError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "another ghlbulk run is using") ||
		!strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second OpenStore = %v, want the lock refusal naming our pid", err)
	}
	// Restart must not wipe a state in use either.
	if _, err := OpenStore(path, StoreOptions{Restart: true}); !errors.As(err, &se) {
		t.Fatalf("OpenStore(Restart) on a locked state = %v", err)
	}
	s.Close()
	s2, err := OpenStore(path, StoreOptions{})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	s2.Close()
}

func TestStoreBind(t *testing.T) {
	ctx := context.Background()
	in := func(fps ...string) []Input {
		var out []Input
		for i, fp := range fps {
			out = append(out, Input{File: "f" + strconv.Itoa(i) + ".csv", Fingerprint: fp})
		}
		return out
	}
	tests := []struct {
		name   string
		first  Binding
		finish bool
		second Binding
		want   string // "" = accepted
	}{
		{"same", Binding{Location: "loc", MappingHash: "m1", Inputs: in("a")}, false, Binding{Location: "loc", MappingHash: "m1", Inputs: in("a")}, ""},
		{"other location", Binding{Location: "loc", MappingHash: "m1", Inputs: in("a")}, true, Binding{Location: "loc2", MappingHash: "m1", Inputs: in("a")}, "another location"},
		{"other mapping", Binding{Location: "loc", MappingHash: "m1", Inputs: in("a")}, true, Binding{Location: "loc", MappingHash: "m2", Inputs: in("a")}, "another mapping"},
		{"other input unfinished", Binding{Location: "loc", MappingHash: "m1", Inputs: in("a")}, false, Binding{Location: "loc", MappingHash: "m1", Inputs: in("b")}, "unfinished import of other input"},
		{"more input unfinished", Binding{Location: "loc", MappingHash: "m1", Inputs: in("a")}, false, Binding{Location: "loc", MappingHash: "m1", Inputs: in("a", "b")}, "unfinished"},
		{"other input finished", Binding{Location: "loc", MappingHash: "m1", Inputs: in("a")}, true, Binding{Location: "loc", MappingHash: "m1", Inputs: in("b")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t, filepath.Join(t.TempDir(), "state.db"))
			if err := s.Bind(ctx, tc.first); err != nil {
				t.Fatal(err)
			}
			if tc.finish {
				if err := s.Finish(ctx); err != nil {
					t.Fatal(err)
				}
			}
			err := s.Bind(ctx, tc.second)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Bind = %v, want nil", err)
				}
				return
			}
			var se *StateError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Bind = %v, want StateError %q", err, tc.want)
			}
		})
	}
}

func TestStoreCommitRows(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, filepath.Join(t.TempDir(), "state.db"))
	if err := s.Bind(ctx, Binding{Location: "loc", MappingHash: "m", Inputs: []Input{{File: "a.csv", Fingerprint: "fa", Header: []string{"email", "name"}}}}); err != nil {
		t.Fatal(err)
	}
	err := s.CommitRows(ctx, []RowOutcome{
		{FP: "fa", File: "a.csv", Row: 1, Key: "email:a@x.io", ContactID: "c1", Hash: "h1", Status: record.StatusCreated},
		{FP: "fa", File: "a.csv", Row: 2, Hash: "h2", Status: record.StatusRejected, Reason: `phone "1": too short`, Raw: []string{"", "Bo"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Contacts(ctx, []string{"email:a@x.io", "email:none@x.io"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 1 || c["email:a@x.io"] != (ContactRecord{ContactID: "c1", Hash: "h1"}) {
		t.Errorf("Contacts = %v", c)
	}
	var got []RejectRecord
	for r, err := range s.Rejects(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != 1 || got[0].Row != 2 || got[0].Raw[1] != "Bo" || got[0].Header[0] != "email" {
		t.Errorf("Rejects = %+v", got)
	}
	// Written later (fixed input): the reject goes.
	if err := s.CommitRows(ctx, []RowOutcome{{FP: "fa", Row: 2, Key: "email:b@x.io", ContactID: "c2", Hash: "h3", Status: record.StatusUpdated}}); err != nil {
		t.Fatal(err)
	}
	for r, err := range s.Rejects(ctx) {
		t.Errorf("reject left: %+v %v", r, err)
	}
	// Journal.
	ref := record.RelatedRef{Key: "email:a@x.io", Kind: record.KindNote, ContentHash: "n1", ContactID: "c1"}
	if err := s.MarkRelated(ctx, ref, record.RelatedPending, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRelated(ctx, ref, record.RelatedDone, "note1"); err != nil {
		t.Fatal(err)
	}
	subs, err := s.RelatedOf(ctx, "email:a@x.io")
	if err != nil || len(subs) != 1 || subs[0].State != record.RelatedDone || subs[0].RemoteID != "note1" {
		t.Errorf("Subs = %+v, %v", subs, err)
	}
}
