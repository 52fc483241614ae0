package main

// End-to-end test of appointment changes in an incremental export (issue
// 13): an appointment moved and one deleted through the API, with no
// contact changed, are in the next --incremental run's files, and a
// --snapshot folder equals a fresh full export.

import (
	"context"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// apptMoveAndDelete moves one seeded appointment a day later (its calendar
// and length kept) and deletes another, and returns the deleted one.
func apptMoveAndDelete(t *testing.T, s *testSandbox, before xpServed) (moved, gone ghl.Appointment) {
	t.Helper()
	appts := slices.SortedFunc(maps.Values(before.appts), func(a, b ghl.Appointment) int { return strings.Compare(a.ID, b.ID) })
	if len(appts) < 2 {
		t.Fatalf("seed has %d appointments", len(appts))
	}
	moved, gone = appts[0], appts[1]
	start, err := time.ParseInLocation(time.DateTime, moved.StartTime, time.UTC)
	if err != nil {
		t.Fatalf("seeded appointment %s starts at %q: %v", moved.ID, moved.StartTime, err)
	}
	ctx := context.Background()
	c := s.client()
	if _, err := c.UpdateAppointment(ctx, moved.ID, ghl.AppointmentInput{StartTime: start.Add(24 * time.Hour).Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAppointment(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	return moved, gone
}

func TestE2EExportAppointmentChanges(t *testing.T) {
	t.Parallel()
	const n = 200
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 53})
	dir := t.TempDir()
	inc, snap := filepath.Join(dir, "inc"), filepath.Join(dir, "snap")
	incArgs := []string{"export", "--out", inc, "--incremental", "--state", filepath.Join(dir, "inc.state"), "--include", xpAll, "--no-progress"}
	snapArgs := []string{"export", "--out", snap, "--snapshot", "--state", filepath.Join(dir, "snap.state"), "--include", xpAll, "--no-progress"}
	xpMustRun(t, s.env(), incArgs...)
	xpMustRun(t, s.env(), snapArgs...)

	before := xpServedData(t, s)
	moved, gone := apptMoveAndDelete(t, s, before)
	after := xpServedData(t, s)
	want := xpChangedSince(before, after, func(ct ghl.Contact) bool { return !reflect.DeepEqual(ct, before.contacts[ct.ID]) })
	if len(want.contacts) != 0 {
		t.Fatalf("moving and deleting appointments changed %d contacts: the test needs appointment-only changes", len(want.contacts))
	}
	if len(want.appts) != 1 || want.appts[moved.ID].StartTime == moved.StartTime {
		t.Fatalf("want the moved appointment %s changed, have %v", moved.ID, slices.Collect(maps.Keys(want.appts)))
	}

	xpMustRun(t, s.env(), incArgs...)
	got := xpReadExport(t, inc)
	xpCheckContent(t, got, want)
	if g, w := xpDeleted(got), map[string]map[string]string{"appointments": {gone.ID: gone.ContactID}}; !reflect.DeepEqual(g, w) {
		t.Errorf("deleted file = %v, want %v", g, w)
	}

	xpMustRun(t, s.env(), snapArgs...)
	ref := filepath.Join(dir, "ref")
	xpMustRun(t, s.env(), "export", "--out", ref, "--include", xpAll, "--no-progress")
	xpSameRows(t, "the snapshot after appointment changes", xpRowSet(t, snap), xpRowSet(t, ref))
}
