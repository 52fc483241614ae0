package pipeline

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestExportStateFormat pins what the export's statements write: a run
// saved, checkpointed page by page and finished reads back as it was, and
// its columns hold the text earlier versions wrote (states of users carry
// unfinished runs across upgrades).
func TestExportStateFormat(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, filepath.Join(t.TempDir(), "state.db"))
	if err := s.InitExport(ctx); err != nil {
		t.Fatal(err)
	}
	run := &ExportRun{Scope: "loc\x00\x00/out", Params: `{"format":"csv"}`, RunID: "r1",
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), FinalDir: "/out", StageDir: "/out/.s/r1",
		Fields: "null", Cursor: `{"page":0}`}
	if err := s.SaveExportRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	var started, maxIDs, boundIDs string
	if err := s.db.QueryRow(`SELECT started_at, max_ids, bound_ids FROM export_runs WHERE scope = ?`, run.Scope).Scan(&started, &maxIDs, &boundIDs); err != nil {
		t.Fatal(err)
	}
	if started != "2026-01-02T03:04:05.006Z" || maxIDs != "[]" || boundIDs != "[]" {
		t.Errorf("export_runs columns: started_at %q, max_ids %q, bound_ids %q", started, maxIDs, boundIDs)
	}

	next := *run
	next.Listed, next.MaxUpdated, next.MaxIDs = 2, 99, []string{"b"}
	if err := s.CommitExportPage(ctx, ExportPage{Page: 0, Contacts: 2, Notes: 3}, []string{"a", "b"}, &next); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadExportRun(ctx, run.Scope)
	if err != nil || got == nil || got.Listed != 2 || !slices.Equal(got.MaxIDs, []string{"b"}) || !got.StartedAt.Equal(run.StartedAt) || got.Cursor != run.Cursor {
		t.Fatalf("LoadExportRun after a page: %+v, %v", got, err)
	}
	seen, err := s.ExportSeen(ctx, "r1", []string{"a", "c"})
	if err != nil || !seen["a"] || seen["c"] {
		t.Errorf("ExportSeen: %v, %v", seen, err)
	}
	pages, err := s.ExportPages(ctx, "r1")
	if err != nil || !reflect.DeepEqual(pages, []ExportPage{{Page: 0, Contacts: 2, Notes: 3}}) {
		t.Errorf("ExportPages: %+v, %v", pages, err)
	}

	if err := s.FinishExport(ctx, ExportFinish{Scope: run.Scope, RunID: "r1", Cursor: &ExportCursor{ValueMs: 99, IDs: []string{"b"}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LoadExportRun(ctx, run.Scope); got != nil || err != nil {
		t.Errorf("the finished run is still there: %+v, %v", got, err)
	}
	var ids string
	if err := s.db.QueryRow(`SELECT ids FROM export_cursor WHERE scope = ?`, run.Scope).Scan(&ids); err != nil || ids != `["b"]` {
		t.Errorf("export_cursor ids %q, %v", ids, err)
	}
	cur, ok, err := s.ExportCursor(ctx, run.Scope)
	if err != nil || !ok || cur.ValueMs != 99 || !slices.Equal(cur.IDs, []string{"b"}) {
		t.Errorf("ExportCursor: %+v %v %v", cur, ok, err)
	}
	// The next run lists only b: a was deleted.
	if err := s.CommitExportPage(ctx, ExportPage{}, []string{"b"}, &ExportRun{Scope: run.Scope, RunID: "r2"}); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.ExportDeleted(ctx, run.Scope, "r2")
	if err != nil || !slices.Equal(deleted, []string{"a"}) {
		t.Errorf("ExportDeleted: %v, %v", deleted, err)
	}
	if err := s.DropExportRun(ctx, run.Scope, "r2"); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.ExportSeen(ctx, "r2", []string{"b"}); len(seen) != 0 {
		t.Errorf("DropExportRun left the run's ids: %v", seen)
	}
}

// TestExportStateMigrates: a state an older ghlbulk left with an unfinished
// export (export_runs without the related column) opens, and its run
// reads back with Related "" (read per contact, as it began).
func TestExportStateMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTestStore(t, path)
	old := `CREATE TABLE export_runs (scope TEXT PRIMARY KEY, params TEXT NOT NULL, run_id TEXT NOT NULL,
		started_at TEXT NOT NULL, final_dir TEXT NOT NULL, stage_dir TEXT NOT NULL, fields TEXT NOT NULL, cursor TEXT NOT NULL,
		total INTEGER NOT NULL DEFAULT 0, listed INTEGER NOT NULL DEFAULT 0, max_updated INTEGER NOT NULL DEFAULT 0,
		max_ids TEXT NOT NULL DEFAULT '[]', bound_ms INTEGER NOT NULL DEFAULT 0, bound_ids TEXT NOT NULL DEFAULT '[]');
		INSERT INTO export_runs (scope, params, run_id, started_at, final_dir, stage_dir, fields, cursor)
		VALUES ('sc', '{}', 'r0', '2026-01-02T03:04:05Z', '/o', '/o/.s/r0', 'null', '{}');`
	if _, err := s.db.Exec(old); err != nil {
		t.Fatal(err)
	}
	if err := s.InitExport(ctx); err != nil {
		t.Fatalf("InitExport on an older state: %v", err)
	}
	got, err := s.LoadExportRun(ctx, "sc")
	if err != nil || got == nil || got.RunID != "r0" || got.Related != "" {
		t.Fatalf("the older run: %+v, %v", got, err)
	}
	if err := s.InitExport(ctx); err != nil {
		t.Fatalf("InitExport twice: %v", err)
	}
}

// TestExportRelatedKnown: a complete run's records become the scope's
// known ones; the next run finds those it did not read again deleted,
// and sees which it read already.
func TestExportRelatedKnown(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, filepath.Join(t.TempDir(), "state.db"))
	if err := s.InitExport(ctx); err != nil {
		t.Fatal(err)
	}
	commit := func(run string, recs ...ExportRecord) {
		t.Helper()
		if err := s.CommitExportPage(ctx, ExportPage{Records: recs}, nil, &ExportRun{Scope: "sc", RunID: run}); err != nil {
			t.Fatal(err)
		}
	}
	commit("r1", ExportRecord{"tasks", "t1", "c1", "h1"}, ExportRecord{"tasks", "t2", "c1", "h2"}, ExportRecord{"notes", "n1", "c2", "h3"})
	if err := s.FinishExport(ctx, ExportFinish{Scope: "sc", RunID: "r1", Kinds: []string{"tasks", "notes"}, Values: map[string]int64{"k": 7}}); err != nil {
		t.Fatal(err)
	}
	known, err := s.ExportRelatedKnown(ctx, "sc", "tasks", []string{"t1", "t2", "t9"})
	if err != nil || !reflect.DeepEqual(known, map[string]string{"t1": "h1", "t2": "h2"}) {
		t.Errorf("known tasks: %v, %v", known, err)
	}
	commit("r2", ExportRecord{"tasks", "t1", "c1", "h1b"})
	seen, err := s.ExportRelatedSeen(ctx, "r2", "tasks", []string{"t1", "t2"})
	if err != nil || !reflect.DeepEqual(seen, map[string]bool{"t1": true}) {
		t.Errorf("seen: %v, %v", seen, err)
	}
	del, err := s.ExportRelatedDeleted(ctx, "sc", "r2", []string{"tasks", "notes"})
	want := []ExportRecord{{Kind: "tasks", ID: "t2", ContactID: "c1"}, {Kind: "notes", ID: "n1", ContactID: "c2"}}
	if err != nil || !reflect.DeepEqual(del, want) {
		t.Errorf("deleted: %+v, %v; want %+v", del, err, want)
	}
	if v, ok, err := s.ExportScopeValue(ctx, "sc", "k"); v != 7 || !ok || err != nil {
		t.Errorf("scope value: %d %v %v", v, ok, err)
	}
	// A run that read only tasks leaves the known notes as they were.
	if err := s.FinishExport(ctx, ExportFinish{Scope: "sc", RunID: "r2", Kinds: []string{"tasks"}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.ExportRelatedKnown(ctx, "sc", "notes", []string{"n1"}); n["n1"] != "h3" {
		t.Errorf("known notes after a tasks-only run: %v", n)
	}
}
