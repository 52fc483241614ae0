package main

// End-to-end tests of export's plan and request cap (issue 13) and its
// change feed (issue 16, --changes).

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sinks"
)

var xpPlanRE = regexp.MustCompile(`(?m)^  requests\s+(\d+) \(`)

// xpPlanRequests is the requests total a printed plan announces.
func xpPlanRequests(t *testing.T, stdout string) int64 {
	t.Helper()
	m := xpPlanRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no plan with a requests line in the output:\n%s", stdout)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestE2EExportPlanMatchesRun: the plan printed before a full export of
// 1,000 contacts with tasks, notes and appointments announces the run's
// requests exactly (the sandbox answers every request first time).
func TestE2EExportPlanMatchesRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		related *sandbox.RelatedMix
	}{
		{"default seed", nil},
		// 1,000 tasks: two full pages, so the listing ends on a third,
		// empty one, which the plan must count too.
		{"tasks a multiple of a page", &sandbox.RelatedMix{Tasks: 1, Notes: 1, Appointments: 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 1000, Seed: 17, Related: tc.related})
			dir := t.TempDir()
			rep := filepath.Join(dir, "rep.json")
			r := xpMustRun(t, s.env(), "export", "--out", filepath.Join(dir, "out"), "--include", xpAll, "--no-progress", "--report", rep)
			planned, made := xpPlanRequests(t, r.stdout), xpReport(t, rep).Requests
			t.Logf("plan:\n%s", r.stdout)
			if planned != made {
				t.Errorf("the plan announced %d requests, the run made %d", planned, made)
			}
			r = xpMustRun(t, s.env(), "export", "--out", filepath.Join(dir, "out2"), "--include", xpAll, "--no-progress", "--no-plan")
			if xpPlanRE.MatchString(r.stdout) {
				t.Errorf("--no-plan printed a plan:\n%s", r.stdout)
			}
		})
	}
}

// TestE2EExportMaxRequests: --max-requests stops the export with exit 3
// and the same command without it finishes with every record.
func TestE2EExportMaxRequests(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 600, Seed: 19})
	served := xpServedData(t, s)
	dir := t.TempDir()
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "x.state")
	r := runCLI(t, s.env(), "export", "--out", out, "--state", state, "--include", xpAll, "--no-progress", "--max-requests", "200")
	if r.code != 3 {
		t.Fatalf("export --max-requests 200: exit %d, want 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	xpMustRun(t, s.env(), "export", "--out", out, "--state", state, "--include", xpAll, "--no-progress")
	xpCheckContent(t, xpReadExport(t, out), served)
}

// TestE2EExportChanges: the sandbox's webhooks reach `ghlbulk listen`;
// after notes are added to 1% of 1,000 contacts, `export --incremental
// --changes JOURNAL` reads notes for those contacts only and writes every
// new note; without --changes the same run reads every contact's notes;
// after the listener was down, --changes sweeps and says why.
func TestE2EExportChanges(t *testing.T) {
	const n, changed = 1000, 10
	addr := freeAddr(t)
	dir := t.TempDir()
	journal, keys := filepath.Join(dir, "events.db"), filepath.Join(dir, "sandbox.pem")
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 29, Webhooks: sandbox.WebhookOptions{URL: "http://" + addr + "/webhooks/highlevel"}})
	if err := os.WriteFile(keys, s.WebhookPublicKeys(), 0o600); err != nil {
		t.Fatal(err)
	}
	listener, _ := startListener(t, "--addr", addr, "--journal", journal, "--public-key", keys)
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "x.state")
	export := func(extra ...string) (result, pipeline.Report, int64) {
		t.Helper()
		rep := filepath.Join(dir, "rep.json")
		s.ResetCounts()
		args := append([]string{"export", "--out", out, "--state", state, "--include", xpAll, "--no-progress", "--incremental", "--report", rep}, extra...)
		r := xpMustRun(t, s.env(), args...)
		return r, xpReport(t, rep), subRequests(s.Counts())
	}
	r, _, _ := export("--changes", journal)
	if !strings.Contains(r.stdout, "first run with --changes") {
		t.Errorf("the first run with --changes does not say it sweeps:\n%s", r.stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.client()
	want := map[string]bool{}
	served := xpServedData(t, s)
	for id := range served.contacts {
		if len(want) == changed {
			break
		}
		note, err := c.CreateNote(ctx, id, ghl.NoteInput{Body: "changed " + id})
		if err != nil {
			t.Fatal(err)
		}
		want[note.ID] = true
	}
	if err := s.WebhooksIdle(ctx); err != nil {
		t.Fatal(err)
	}
	r, rep, notes := export("--changes", journal)
	t.Logf("incremental export with --changes after %d changed contacts of %d: %d requests, %d of them notes\n%s", changed, n, rep.Requests, notes, r.stdout)
	if notes != changed {
		t.Errorf("--changes read notes of %d contacts, want %d", notes, changed)
	}
	got := xpReadExport(t, out)
	for id := range want {
		if _, ok := got.rows[sinks.EntityNotes][id]; !ok {
			t.Errorf("new note %s is not in the notes file", id)
		}
	}
	if len(got.rows[sinks.EntityNotes]) != changed {
		t.Errorf("%d notes written, want the %d new ones", len(got.rows[sinks.EntityNotes]), changed)
	}
	if d := xpDeleted(got)[sinks.EntityNotes]; len(d) != 0 {
		t.Errorf("notes listed as deleted: %v", d)
	}
	_, rep2, notes2 := export()
	t.Logf("the same without --changes: %d requests, %d of them notes", rep2.Requests, notes2)
	if notes2 != n {
		t.Errorf("without --changes: notes of %d contacts read, want %d", notes2, n)
	}
	// The listener goes down and comes back: a gap since the watermark.
	_ = listener.Process.Signal(syscall.SIGTERM)
	_ = listener.Wait()
	time.Sleep(1500 * time.Millisecond)
	startListener(t, "--addr", addr, "--journal", journal, "--public-key", keys)
	r, _, notes3 := export("--changes", journal)
	if !strings.Contains(r.stdout, "the listener was not up") || notes3 != n {
		t.Errorf("after a gap: notes of %d contacts read (want %d), plan:\n%s", notes3, n, r.stdout)
	}
}
