package main

// End-to-end tests of `ghlbulk export --snapshot` (issue 13): the top-level
// tables after an incremental run equal, row for row and field for field,
// a fresh full export taken at the same moment; a run killed and resumed
// ends with the same tables.

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// snapChange changes, through the API, contacts (3 updated, 1 created with
// a note, 2 deleted) and related records only (a note added and one
// edited, a task completed and one deleted), and returns the changed and
// deleted contact ids.
func snapChange(t *testing.T, s *testSandbox) (changed, deleted []string) {
	t.Helper()
	ctx := context.Background()
	c := s.client()
	before := xpServedData(t, s)
	ids := slices.Sorted(maps.Keys(before.contacts))
	for i, id := range ids[:3] {
		name := fmt.Sprintf("Snap%d", i)
		if _, err := c.UpdateContact(ctx, id, ghl.UpdateContactRequest{FirstName: &name}); err != nil {
			t.Fatal(err)
		}
		changed = append(changed, id)
	}
	first, email := "Fresh", "fresh.snapshot@example.com"
	nc, err := c.CreateContact(ctx, ghl.UpsertContactRequest{LocationID: s.LocationID(), FirstName: &first, Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	changed = append(changed, nc.ID)
	if _, err := c.CreateNote(ctx, nc.ID, ghl.NoteInput{Body: "a new contact's note"}); err != nil {
		t.Fatal(err)
	}
	deleted = ids[len(ids)-2:]
	for _, id := range deleted {
		if err := c.DeleteContact(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	var tasks []ghl.Task
	for _, x := range before.tasks {
		if !slices.Contains(deleted, x.ContactID) {
			tasks = append(tasks, x)
		}
	}
	slices.SortFunc(tasks, func(a, b ghl.Task) int { return strings.Compare(a.ID, b.ID) })
	var notes []ghl.Note
	for _, x := range before.notes {
		if !slices.Contains(deleted, x.ContactID) {
			notes = append(notes, x)
		}
	}
	slices.SortFunc(notes, func(a, b ghl.Note) int { return strings.Compare(a.ID, b.ID) })
	if len(tasks) < 2 || len(notes) < 1 {
		t.Fatalf("seed has %d tasks, %d notes", len(tasks), len(notes))
	}
	if _, err := c.CreateNote(ctx, ids[7], ghl.NoteInput{Body: "a note added"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateNote(ctx, notes[0].ContactID, notes[0].ID, ghl.NoteInput{Body: "edited"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteTask(ctx, tasks[0].ContactID, tasks[0].ID, !tasks[0].Completed); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTask(ctx, tasks[1].ContactID, tasks[1].ID); err != nil {
		t.Fatal(err)
	}
	return changed, deleted
}

func TestE2EExportSnapshot(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"parquet", "csv"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			const n = 240
			s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 41})
			dir := t.TempDir()
			out, state := filepath.Join(dir, "out"), filepath.Join(dir, "snap.state")
			args := []string{"export", "--out", out, "--snapshot", "--state", state, "--include", xpAll, "--format", format, "--no-progress"}
			full := func(name string) string {
				ref := filepath.Join(dir, name)
				xpMustRun(t, s.env(), "export", "--out", ref, "--include", xpAll, "--format", format, "--no-progress")
				return ref
			}

			xpMustRun(t, s.env(), args...)
			m1 := xpReadExport(t, out).manifest
			if !m1.Snapshot || m1.RowCounts["contacts"] != n || m1.ChangeCounts["contacts"] != n {
				t.Fatalf("first --snapshot run: a full export wanted, manifest %+v", m1)
			}
			xpSameRows(t, "the first snapshot", xpRowSet(t, out), xpRowSet(t, full("ref1")))

			changed, deleted := snapChange(t, s)
			xpMustRun(t, s.env(), args...)
			got := xpReadExport(t, out)
			if got.manifest.RowCounts["contacts"] != n-1 {
				t.Errorf("snapshot holds %d contacts, want %d", got.manifest.RowCounts["contacts"], n-1)
			}
			xpSameRows(t, "the snapshot after an incremental run", xpRowSet(t, out), xpRowSet(t, full("ref2")))

			// The run's own changes are beside the snapshot.
			ch := got.manifest.Changes
			_, rows := xpReadFile(t, filepath.Join(out, ch["contacts"]))
			var ids []string
			for _, r := range rows {
				ids = append(ids, r["id"])
			}
			slices.Sort(ids)
			slices.Sort(changed)
			if !slices.Equal(ids, changed) {
				t.Errorf("changes/contacts holds %v, want %v", ids, changed)
			}
			gone := xpDeleted(xpFiles{rows: map[string]map[string]xpRow{"deleted": xpByID(t, "deleted", snapRows(t, filepath.Join(out, ch["deleted"])))}})
			if !slices.Equal(slices.Sorted(maps.Keys(gone["contacts"])), deleted) {
				t.Errorf("changes/deleted lists contacts %v, want %v", slices.Sorted(maps.Keys(gone["contacts"])), deleted)
			}
			if _, err := os.Stat(filepath.Join(out, sinks.FileName("deleted", format))); err == nil {
				t.Error("a deleted file among the snapshot's tables: it belongs in changes/")
			}
		})
	}
}

func snapRows(t *testing.T, path string) []xpRow {
	_, rows := xpReadFile(t, path)
	return rows
}

func TestE2EExportSnapshotKilledAndResumed(t *testing.T) {
	t.Parallel()
	const n = 1050
	const inc = "tasks,notes"
	faults, err := sandbox.ParseFaults("latency=1ms")
	if err != nil {
		t.Fatal(err)
	}
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 43, Faults: faults})
	dir := t.TempDir()
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "kill.state")
	args := []string{"export", "--out", out, "--snapshot", "--state", state, "--include", inc, "--no-progress"}
	xpMustRun(t, s.env(), args...)
	snapChange(t, s)

	// The incremental run reads every contact's notes (1050 requests):
	// kill it in the middle of them.
	s.ResetCounts()
	if !killAtSubRequests(t, s.env(), args, s, 500+300) {
		t.Fatal("the --snapshot run was not killed mid-run")
	}
	xpMustRun(t, s.env(), args...)

	ref := filepath.Join(dir, "ref")
	xpMustRun(t, s.env(), "export", "--out", ref, "--include", inc, "--no-progress")
	xpSameRows(t, "the resumed snapshot", xpRowSet(t, out), xpRowSet(t, ref))
	if _, err := os.Stat(filepath.Join(out, ".ghlbulk-staging")); err == nil {
		t.Error("staging directory left in --out after the resumed run finished")
	}
}
