package pipeline

import (
	"context"
	"path/filepath"
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
	if err != nil || !slices.Equal(pages, []ExportPage{{Page: 0, Contacts: 2, Notes: 3}}) {
		t.Errorf("ExportPages: %+v, %v", pages, err)
	}

	if err := s.FinishExport(ctx, run.Scope, "r1", &ExportCursor{ValueMs: 99, IDs: []string{"b"}}); err != nil {
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
