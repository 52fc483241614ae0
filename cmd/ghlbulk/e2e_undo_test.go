package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// undoReport is undo's --report.
type undoReport struct {
	ContactsDeleted int64    `json:"contacts_deleted"`
	NotesDeleted    int64    `json:"notes_deleted"`
	TasksDeleted    int64    `json:"tasks_deleted"`
	TagsRemoved     int64    `json:"tags_removed"`
	Skipped         []string `json:"skipped"`
	LeftOnUpdated   int64    `json:"left_on_updated"`
	Requests        int64    `json:"requests"`
}

// TestUndo: a run that creates contacts and adds tags, notes and tasks to
// contacts an earlier import made is undone in two steps (what it created,
// then with --updated what it added to the others), after which the
// location holds exactly what it held before the run; a contact whose run
// tag was taken off is left alone; importing the same file again writes it
// again.
func TestUndo(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	row := func(b *strings.Builder, i int, stage, note, task string) {
		fmt.Fprintf(b, "ID-%d,Name%d,Surname%d,undo%03d@example.com,,Boston,Co 0,%s,%s,%s\n", i, i, i, i, stage, note, task)
	}
	header := "id,first,last,email,phone,city,company,stage,note,task\n"
	var before, run strings.Builder
	before.WriteString(header)
	run.WriteString(header)
	for i := range 10 {
		row(&before, i, "lead", fmt.Sprintf("first note %d", i), "")
	}
	for i := 5; i < 25; i++ {
		// Rows 5-9 update contacts of the first import with the same
		// fields, another stage, a second note and a task.
		row(&run, i, "customer", fmt.Sprintf("second note %d", i), fmt.Sprintf("call %d back", i))
	}
	first, second := filepath.Join(dir, "before.csv"), filepath.Join(dir, "run.csv")
	os.WriteFile(first, []byte(before.String()), 0o644)
	os.WriteFile(second, []byte(run.String()), 0o644)

	f1 := newImpFiles(t)
	mustImport(t, sb, f1, first, peopleMapping)
	snapshot := sb.contents(t)

	f2 := newImpFiles(t)
	rep := mustImport(t, sb, f2, second, peopleMapping)
	if rep.RunID == "" || !strings.Contains(rep.RunTag, rep.RunID) || rep.Created != 15 || rep.Updated != 5 {
		t.Fatalf("second import: %+v", rep)
	}
	// Somebody takes one created contact over: it loses the run tag.
	c := sb.client()
	var taken string
	for _, h := range sb.contents(t) {
		if h.Email == "undo024@example.com" {
			taken = h.ID
			if _, err := c.RemoveTags(context.Background(), h.ID, []string{rep.RunTag}); err != nil {
				t.Fatal(err)
			}
		}
	}

	undoCLI := func(extra ...string) undoReport {
		t.Helper()
		path := filepath.Join(t.TempDir(), "undo.json")
		args := append([]string{"undo", "--state", f2.state, "--run", rep.RunID, "--report", path}, extra...)
		r := runCLI(t, sb.env(), args...)
		if r.code != 0 {
			t.Fatalf("undo %v: exit %d\n%s\n%s", extra, r.code, r.stdout, r.stderr)
		}
		var u undoReport
		b, _ := os.ReadFile(path)
		if err := json.Unmarshal(b, &u); err != nil {
			t.Fatalf("undo report %s: %v", b, err)
		}
		return u
	}

	// Listing the runs, and refusing an unknown one.
	if r := runCLI(t, sb.env(), "undo", "--state", f2.state); r.code != 0 || !strings.Contains(r.stdout, rep.RunID) {
		t.Errorf("undo without --run: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := runCLI(t, sb.env(), "undo", "--state", f2.state, "--run", "nope"); r.code != exitRefused || !strings.Contains(r.stderr, rep.RunID) {
		t.Errorf("undo --run nope: exit %d, stderr %q", r.code, r.stderr)
	}

	sb.ResetCounts()
	dry := undoCLI("--dry-run", "--updated")
	if w := dataWrites(sb.Counts()); w != 0 || dry.ContactsDeleted != 14 || dry.NotesDeleted != 5 {
		t.Errorf("dry run: %d writes, report %+v", w, dry)
	}

	u := undoCLI()
	if u.ContactsDeleted != 14 || len(u.Skipped) != 1 || u.Skipped[0] != taken || u.LeftOnUpdated == 0 {
		t.Errorf("undo: %+v (taken over: %s)", u, taken)
	}
	u = undoCLI("--updated")
	// Rows 5-9: a note, a task and the stage:customer tag each.
	if u.ContactsDeleted != 0 || u.NotesDeleted != 5 || u.TasksDeleted != 5 || u.TagsRemoved != 5 {
		t.Errorf("undo --updated: %+v", u)
	}
	after := sb.contents(t)
	var kept []held
	for _, h := range after {
		if h.ID != taken {
			kept = append(kept, h)
		}
	}
	if len(kept) != len(after)-1 {
		t.Errorf("the taken-over contact %s is gone", taken)
	}
	compareSandboxes(t, kept, snapshot)

	// Once more: nothing left to undo (the taken-over contact is still
	// left alone).
	sb.ResetCounts()
	if u := undoCLI("--updated"); u.ContactsDeleted+u.NotesDeleted+u.TasksDeleted+u.TagsRemoved != 0 || dataWrites(sb.Counts()) != 0 || len(u.Skipped) != 1 {
		t.Errorf("second undo: %+v, %d writes", u, dataWrites(sb.Counts()))
	}

	// The state forgot what was undone: the same import writes it again.
	again := mustImport(t, sb, f2, second, peopleMapping)
	if again.Created != 14 || again.Updated != 5 || again.Unchanged != 1 {
		t.Errorf("import after undo: %+v", again)
	}
}

// TestUndoUnderFaults: with 5xx answers and connections dropped before and
// after the request was applied, an import and its undo still leave the
// location as it was (a delete applied but unheard is found gone on retry).
func TestUndoUnderFaults(t *testing.T) {
	t.Parallel()
	faults, err := sandbox.ParseFaults("5xx=0.08,drop-before=0.05,drop-after=0.05,seed=11")
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	dir := t.TempDir()
	before := genPeople(t, dir, 40, 0)
	f1 := newImpFiles(t)
	mustImport(t, sb, f1, before, peopleMapping)
	snapshot := sb.contents(t)

	// The second run: rows 30-89 of the same generator (30-39 update the
	// first import's contacts with the same fields), each with a note and
	// a task of its own and another stage (a tag).
	all, err := os.ReadFile(genPeople(t, t.TempDir(), 90, 0))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(all)), "\n")
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for i, line := range lines[31:] {
		cells := strings.Split(line, ",")
		n := len(cells)
		cells[n-3], cells[n-2], cells[n-1] = "wave-2", fmt.Sprint("wave two ", i), fmt.Sprint("call ", i)
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	run := filepath.Join(dir, "run.csv")
	os.WriteFile(run, []byte(b.String()), 0o644)
	f2 := newImpFiles(t)
	rep := mustImport(t, sb, f2, run, peopleMapping)
	if rep.Created != 50 || rep.Updated != 10 {
		t.Fatalf("second import: %+v", rep)
	}
	r := runCLI(t, sb.env(), "undo", "--state", f2.state, "--run", rep.RunID, "--updated")
	if r.code != 0 {
		t.Fatalf("undo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if sb.Counts().Faults["drop-after"] == 0 {
		t.Error("no fault was injected")
	}
	compareSandboxes(t, sb.contents(t), snapshot)
}

// TestUndoNotesRun: a notes file's run is undone with --updated: its notes
// go, the contacts (another run's) stay.
func TestUndoNotesRun(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	ids := importContactsWithMap(t, sb, filepath.Join(repoRoot, "samples", "hubspot-contacts.csv"), filepath.Join(repoRoot, "mappings", "hubspot.yaml"))
	snapshot := sb.contents(t)
	f := newImpFiles(t)
	rep := mustImport(t, sb, f, filepath.Join(repoRoot, "samples", "hubspot-notes.csv"), filepath.Join(repoRoot, "mappings", "hubspot-notes.yaml"),
		"--kind", "notes", "--id-map", ids)
	if rep.Created == 0 || rep.RunID == "" {
		t.Fatalf("notes import: %+v", rep)
	}
	path := filepath.Join(t.TempDir(), "undo.json")
	r := runCLI(t, sb.env(), "undo", "--state", f.state, "--run", rep.RunID, "--updated", "--report", path)
	var u undoReport
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &u); r.code != 0 || err != nil || u.ContactsDeleted != 0 || u.NotesDeleted != rep.NotesCreated {
		t.Fatalf("undo: exit %d, %+v (the run created %d notes)\n%s\n%s", r.code, u, rep.NotesCreated, r.stdout, r.stderr)
	}
	compareSandboxes(t, sb.contents(t), snapshot)
}

// TestUndoWithoutRunTag: a run made with --run-tag "" is undone on its
// record, checked against the contacts added since it started: a contact
// added before it, planted in its record, is left alone.
func TestUndoWithoutRunTag(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	mustImport(t, sb, newImpFiles(t), genPeople(t, dir, 10, 0), peopleMapping)
	snapshot := sb.contents(t)
	time.Sleep(1500 * time.Millisecond) // the check allows a second of clock skew
	all, _ := os.ReadFile(genPeople(t, t.TempDir(), 25, 0))
	lines := strings.Split(strings.TrimSpace(string(all)), "\n")
	run := filepath.Join(dir, "run.csv")
	os.WriteFile(run, []byte(strings.Join(append(lines[:1], lines[11:]...), "\n")+"\n"), 0o644)
	f := newImpFiles(t)
	rep := mustImport(t, sb, f, run, peopleMapping, "--run-tag", "")
	if rep.Created != 15 || rep.RunTag != "" {
		t.Fatalf("import: %+v", rep)
	}
	// A wrong record: a contact of the first import, as if this run made it.
	planted := snapshot[0].ID
	// The store has no method to write a wrong record: the test writes it
	// to the state's file by hand.
	st, err := sql.Open("sqlite", f.state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Exec(`INSERT INTO made(run, kind, id, contact_id) VALUES (?, 'contact', ?, ?)`, rep.RunID, planted, planted); err != nil {
		t.Fatal(err)
	}
	st.Close()
	path := filepath.Join(t.TempDir(), "undo.json")
	r := runCLI(t, sb.env(), "undo", "--state", f.state, "--run", rep.RunID, "--report", path)
	var u undoReport
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &u); r.code != 0 || err != nil || u.ContactsDeleted != 15 || len(u.Skipped) != 1 || u.Skipped[0] != planted {
		t.Fatalf("undo: exit %d, %+v (planted %s)\n%s", r.code, u, planted, r.stderr)
	}
	compareSandboxes(t, sb.contents(t), snapshot)
}
