package main

// End-to-end tests of the notes and tasks a contacts mapping writes (its
// notes: and tasks:) kept in step with their rows (issue 14): each known by
// the contact's source key and its place in the mapping, updated when its
// row changes, deleted by its deleted:, never created twice.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// contactsWithItems is a contacts mapping with one note and one task a row.
const contactsWithItems = `version: 1
key: [email]
source_key: "Id"
fields:
  firstName: "First"
  email: "Email"
notes:
  - column: "Note"
    deleted: 'col["Gone"] == "note"'
tasks:
  - title: { column: "Task" }
    due: 'col["Due"]'
    completed: 'col["Status"] == "done"'
    deleted: 'col["Gone"] == "task"'
`

const itemsHeader = "Id,First,Email,Note,Task,Due,Status,Gone"

// itemRow is one contacts row with a note and a task.
func itemRow(i int, note, due, status, gone string) string {
	return fmt.Sprintf("C%d,Ann%d,ann%d@example.com,%s,Task %d,%s,%s,%s", i, i, i, note, i, due, status, gone)
}

// wantItems is what each contact (by email) should hold: its note's body
// and its task as heldTasks reads it.
func wantItems(rows []string) (notes, tasks map[string][]string) {
	notes, tasks = map[string][]string{}, map[string][]string{}
	for _, r := range rows {
		f := strings.Split(r, ",")
		email := f[2]
		notes[email], tasks[email] = nil, nil
		if f[7] != "note" {
			notes[email] = []string{f[3]}
		}
		if f[7] != "task" {
			tasks[email] = []string{fmt.Sprintf("%s||%s 00:00|%v", f[4], f[5], f[6] == "done")}
		}
	}
	return notes, tasks
}

// checkItems checks that every contact holds exactly its row's note and
// task: none twice, none left over from an earlier content.
func checkItems(t *testing.T, sb *testSandbox, rows []string) {
	t.Helper()
	ids := map[string]string{}
	for _, h := range sb.contents(t) {
		ids[h.Email] = h.ID
	}
	notes, tasks := wantItems(rows)
	for email := range notes {
		id := ids[email]
		if id == "" {
			t.Errorf("no contact %s", email)
			continue
		}
		if got := heldNotes(t, sb, id); !slices.Equal(got, notes[email]) {
			t.Errorf("%s holds notes %q, want %q", email, got, notes[email])
		}
		if got := heldTasks(t, sb, id); !slices.Equal(got, tasks[email]) {
			t.Errorf("%s holds tasks %q, want %q", email, got, tasks[email])
		}
	}
}

func writeItemsMapping(t *testing.T, dir string) string {
	t.Helper()
	mapping := filepath.Join(dir, "contacts.yaml")
	if err := os.WriteFile(mapping, []byte(contactsWithItems), 0o644); err != nil {
		t.Fatal(err)
	}
	return mapping
}

var planNotesTasks = regexp.MustCompile(`(\d+) notes, (\d+) tasks`)

// A contacts file with a note and a task a row, imported, then again with a
// note's text, a task's status and a due date changed and a deleted: that
// holds: as many notes and tasks as before (less the deleted one), each its
// row's; the plan's counts are the run's; the same file again sends no write.
func TestImportContactsItemsKeptInStep(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	f := newImpFiles(t)
	mapping := writeItemsMapping(t, f.dir)
	file := filepath.Join(f.dir, "contacts.csv")
	var rows []string
	for i := range 5 {
		rows = append(rows, itemRow(i, fmt.Sprintf("First call %d.", i), "2024-03-01", "open", ""))
	}
	writeLines(t, file, itemsHeader, rows)
	mustImport(t, sb, f, file, mapping)
	checkItems(t, sb, rows)

	edited := slices.Clone(rows)
	edited[0] = itemRow(0, "First call 0 and a second.", "2024-03-01", "open", "") // note text
	edited[1] = itemRow(1, "First call 1.", "2024-03-01", "done", "")              // task status
	edited[2] = itemRow(2, "First call 2.", "2024-03-09", "open", "")              // due date
	edited[3] = itemRow(3, "First call 3.", "2024-03-01", "open", "note")          // deleted:
	writeLines(t, file, itemsHeader, edited)
	sb.ResetCounts()
	r := runCLI(t, sb.env(), f.args(file, mapping)...)
	if r.code != 0 {
		t.Fatalf("edited import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rep := readReport(t, f.report)
	checkItems(t, sb, edited)
	c := sb.Counts()
	if n := c.ByRoute["POST /contacts/{contactId}/notes"] + c.ByRoute["POST /contacts/{contactId}/tasks"]; n != 0 {
		t.Errorf("edited import created %d notes or tasks, want 0: %v", n, c.ByRoute)
	}
	for re, want := range map[*regexp.Regexp]int{planUpdates: 3, planDeletes: 1} {
		if m := re.FindStringSubmatch(r.stdout); m == nil || m[1] != fmt.Sprint(want) {
			t.Errorf("plan lacks %q = %d:\n%s", re, want, r.stdout)
		}
	}
	if m := planNotesTasks.FindStringSubmatch(r.stdout); m == nil || m[1] != "0" || m[2] != "0" {
		t.Errorf("plan counts notes or tasks to create (%v), want none:\n%s", m, r.stdout)
	}
	if m := planRequests.FindStringSubmatch(r.stdout); m == nil || m[1] != fmt.Sprint(rep.Requests-rep.Retries) {
		t.Errorf("plan says %v requests, the run made %d (%d retries):\n%s", m, rep.Requests, rep.Retries, r.stdout)
	}

	sb.ResetCounts()
	mustImport(t, sb, f, file, mapping)
	if c := sb.Counts(); c.Writes != 0 {
		t.Errorf("re-run sent %d writes: %v", c.Writes, c.ByRoute)
	}
	checkItems(t, sb, edited)
}

// A contacts import with --delete-missing is refused before any write:
// contacts are never deleted by an import, and neither are the notes and
// tasks of a row gone from the file.
func TestImportContactsDeleteMissingRefused(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	f := newImpFiles(t)
	mapping := writeItemsMapping(t, f.dir)
	file := filepath.Join(f.dir, "contacts.csv")
	writeLines(t, file, itemsHeader, []string{itemRow(0, "A note.", "2024-03-01", "open", "")})
	r := runCLI(t, sb.env(), f.args(file, mapping, "--delete-missing")...)
	if r.code != 2 || sb.Counts().Writes != 0 || !strings.Contains(r.stderr, "--delete-missing") {
		t.Errorf("exit %d, %d writes; want 2 and none\n%s", r.code, sb.Counts().Writes, r.stderr)
	}
}

// A contacts import whose notes and tasks all change, killed mid-way again
// and again, then resumed: every contact holds its row's note and task
// once.
func TestImportContactsItemsKilledAndResumed(t *testing.T) {
	faults, err := sandbox.ParseFaults("latency=4ms-8ms,seed=11")
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	f := newImpFiles(t)
	mapping := writeItemsMapping(t, f.dir)
	file := filepath.Join(f.dir, "contacts.csv")
	var rows, edited []string
	for i := range 40 {
		rows = append(rows, itemRow(i, fmt.Sprintf("Note %d.", i), "2024-05-01", "open", ""))
		gone := ""
		if i%10 == 9 {
			gone = "task"
		}
		edited = append(edited, itemRow(i, fmt.Sprintf("Note %d edited.", i), "2024-05-02", "done", gone))
	}
	writeLines(t, file, itemsHeader, rows)
	mustImport(t, sb, f, file, mapping)
	writeLines(t, file, itemsHeader, edited)
	args := f.args(file, mapping)
	kills := 0
	for _, at := range []int64{9, 31, 63} {
		sb.ResetCounts()
		if landed, _, out := killImportAt(t, sb, args, at); landed {
			kills++
		} else {
			t.Logf("run ended before %d writes\n%s", at, out)
		}
	}
	if kills == 0 {
		t.Fatal("no kill landed mid-run")
	}
	mustImport(t, sb, f, file, mapping)
	checkItems(t, sb, edited)
}
