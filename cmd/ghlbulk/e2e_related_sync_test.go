package main

// End-to-end tests of notes and tasks kept in step with their source rows
// (issue 14): a row with a source_key that comes again changed updates its
// record, one gone from the input is deleted with --delete-missing, and the
// plan printed first counts what the run sends.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// syncCase is a notes or tasks file, its edit, and how a record reads.
type syncCase struct {
	kind, mapping string
	header        string
	rows, edited  []string
	// want is one row's record as held ("" fields left out), from its
	// CSV fields; held reads the contact's records the same way.
	want func(f []string) string
	held func(t *testing.T, sb *testSandbox, contact string) []string
	// updates and deletes are what the edit takes.
	updates, deletes int
}

func heldTasks(t *testing.T, sb *testSandbox, contact string) []string {
	var tasks []ghl.Task
	again(t, func(ctx context.Context) (err error) {
		tasks, err = sb.client().ListTasks(ctx, contact)
		return err
	})
	var out []string
	for _, tk := range tasks {
		due, _ := time.Parse(time.RFC3339, tk.DueDate)
		out = append(out, fmt.Sprintf("%s|%s|%s|%v", tk.Title, tk.Body, due.UTC().Format("2006-01-02 15:04"), tk.Completed))
	}
	return out
}

func heldNotes(t *testing.T, sb *testSandbox, contact string) []string {
	var notes []ghl.Note
	again(t, func(ctx context.Context) (err error) {
		notes, err = sb.client().ListNotes(ctx, contact)
		return err
	})
	var out []string
	for _, n := range notes {
		out = append(out, n.Body)
	}
	return out
}

var syncCases = []syncCase{
	{
		kind: "tasks", mapping: "hubspot-tasks.yaml",
		header: "Record ID,Task Title,Notes,Due date,Task Status,Associated Contact IDs",
		rows: []string{
			"T1,Send proposal,Pro plan,2024-02-01 09:00,Not started,51000",
			"T2,Call,,2024-02-05 10:00,Not started,51007",
			"T3,Call,,2024-03-05 10:00,Not started,51007",
			"T4,Book demo,SSO first.,2024-02-12 14:00,In progress,51014",
			"T5,Chase,,2024-04-01 09:00,Not started,51000",
		},
		edited: []string{
			"T1,Send proposal,Pro plan,2024-02-01 09:00,Completed,51000",          // status
			"T2,Call,,2024-02-05 10:00,Not started,51007",                         // as it was
			"T3,Call,,2024-03-09 10:00,Not started,51007",                         // due date
			"T4,Book demo,SSO and SCIM first.,2024-02-12 14:00,In progress,51014", // text
		},
		want: func(f []string) string {
			// The mapping reads the dates in UTC (no timezone default).
			return fmt.Sprintf("%s|%s|%s|%v", f[1], f[2], f[3], f[4] == "Completed")
		},
		held: heldTasks, updates: 3, deletes: 1,
	},
	{
		kind: "notes", mapping: "hubspot-notes.yaml",
		header: "Record ID,Activity date,Note body,Associated Contact IDs",
		rows: []string{
			"N1,2024-01-03 09:12,Intro call.,51000",
			"N2,2024-01-10 16:40,Sent the pricing sheet.,51000",
			"N3,2024-01-05 11:05,Prefers email.,51007",
			"N4,2024-01-06 11:05,Left a voicemail.,51007",
		},
		edited: []string{
			"N1,2024-01-03 09:12,Intro call.,51000",
			"N2,2024-01-10 16:40,Sent the pricing sheet and two case studies.,51000",
			"N3,2024-01-05 11:05,Prefers email.,51007",
		},
		want: func(f []string) string { return f[2] },
		held: heldNotes, updates: 1, deletes: 1,
	},
}

var (
	planUpdates = regexp.MustCompile(`(?m)^  notes/tasks to update\s+(\d+)$`)
	planDeletes = regexp.MustCompile(`(?m)^  notes/tasks to delete\s+(\d+)$`)
)

// A tasks file and a notes file imported, then again with a status, a due
// date and a text changed and a row removed (--delete-missing): as many
// records as rows, each equal to its row, the removed one gone, the plan's
// count the run's; the same input again sends no write.
func TestImportRelatedKeptInStep(t *testing.T) {
	for _, tc := range syncCases {
		t.Run(tc.kind, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{Rate: -1})
			idMap := importContactsWithMap(t, sb, filepath.Join(repoRoot, "samples", "hubspot-contacts.csv"), filepath.Join(repoRoot, "mappings", "hubspot.yaml"))
			ids := map[string]string{}
			for _, r := range relCSV(t, idMap) {
				ids[r["source_key"]] = r["contact_id"]
			}
			f := newImpFiles(t)
			file := filepath.Join(f.dir, tc.kind+".csv")
			mapping := filepath.Join(repoRoot, "mappings", tc.mapping)
			args := []string{"--kind", tc.kind, "--id-map", idMap, "--delete-missing"}
			writeLines(t, file, tc.header, tc.rows)
			rep := mustImport(t, sb, f, file, mapping, args...)
			if rep.Created != int64(len(tc.rows)) {
				t.Fatalf("first import: created %d, want %d", rep.Created, len(tc.rows))
			}
			checkInStep(t, sb, tc, ids, tc.rows)

			writeLines(t, file, tc.header, tc.edited)
			sb.ResetCounts()
			r := runCLI(t, sb.env(), f.args(file, mapping, args...)...)
			if r.code != 0 {
				t.Fatalf("edited import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			rep = readReport(t, f.report)
			if rep.Created != 0 || rep.Updated != int64(tc.updates) || rep.RelatedDeleted != int64(tc.deletes) {
				t.Errorf("edited import: created %d updated %d deleted %d; want 0, %d, %d", rep.Created, rep.Updated, rep.RelatedDeleted, tc.updates, tc.deletes)
			}
			checkInStep(t, sb, tc, ids, tc.edited)
			for re, want := range map[*regexp.Regexp]int{planUpdates: tc.updates, planDeletes: tc.deletes} {
				if m := re.FindStringSubmatch(r.stdout); m == nil || m[1] != fmt.Sprint(want) {
					t.Errorf("plan lacks %q = %d:\n%s", re, want, r.stdout)
				}
			}
			if m := planRequests.FindStringSubmatch(r.stdout); m == nil || m[1] != fmt.Sprint(rep.Requests-rep.Retries) {
				t.Errorf("plan says %v requests, the run made %d (%d retries):\n%s", m, rep.Requests, rep.Retries, r.stdout)
			}
			if w := dataWrites(sb.Counts()); w != int64(tc.updates+tc.deletes) {
				t.Errorf("edited import sent %d writes, want %d: %v", w, tc.updates+tc.deletes, sb.Counts().ByRoute)
			}

			sb.ResetCounts()
			rep = mustImport(t, sb, f, file, mapping, args...)
			if c := sb.Counts(); c.Writes != 0 || rep.RelatedDeleted != 0 {
				t.Errorf("re-run sent %d writes (%v), deleted %d", c.Writes, c.ByRoute, rep.RelatedDeleted)
			}
			checkInStep(t, sb, tc, ids, tc.edited)
		})
	}
}

// Without --delete-missing a row gone from the input leaves its record;
// a row whose deleted: holds deletes its record.
func TestImportRelatedDeletedCondition(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	idMap := importContactsWithMap(t, sb, filepath.Join(repoRoot, "samples", "hubspot-contacts.csv"), filepath.Join(repoRoot, "mappings", "hubspot.yaml"))
	ids := map[string]string{}
	for _, r := range relCSV(t, idMap) {
		ids[r["source_key"]] = r["contact_id"]
	}
	f := newImpFiles(t)
	mapping := filepath.Join(f.dir, "tasks.yaml")
	body := "version: 1\nkind: tasks\ncontact: \"Who\"\nsource_key: \"Id\"\ntasks:\n  - title: { column: \"Subject\" }\n    due: 'col[\"Due\"]'\n    deleted: 'col[\"Deleted\"] == \"yes\"'\n"
	if err := os.WriteFile(mapping, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(f.dir, "tasks.csv")
	args := []string{"--kind", "tasks", "--id-map", idMap}
	writeLines(t, file, "Id,Subject,Due,Deleted,Who", []string{"A,Call,2024-02-01,,51000", "B,Write,2024-02-02,,51000", "C,Visit,2024-02-03,,51000"})
	mustImport(t, sb, f, file, mapping, args...)
	writeLines(t, file, "Id,Subject,Due,Deleted,Who", []string{"A,Call,2024-02-01,yes,51000", "B,Write,2024-02-02,,51000"})
	rep := mustImport(t, sb, f, file, mapping, args...)
	got := heldTasks(t, sb, ids["51000"])
	titles := []string{}
	for _, g := range got {
		if !strings.HasPrefix(g, "Send proposal|") { // the contacts import's own
			titles = append(titles, strings.SplitN(g, "|", 2)[0])
		}
	}
	slices.Sort(titles)
	if fmt.Sprint(titles) != "[Visit Write]" || rep.Updated != 1 {
		t.Errorf("tasks %v (updated %d): want C left without --delete-missing and A deleted by deleted:", titles, rep.Updated)
	}
}

// A run killed mid-way through an edited file, then resumed, leaves every
// record once and equal to its row.
func TestImportRelatedKilledAndResumed(t *testing.T) {
	faults, err := sandbox.ParseFaults("latency=4ms-8ms,seed=7")
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	idMap := importContactsWithMap(t, sb, filepath.Join(repoRoot, "samples", "hubspot-contacts.csv"), filepath.Join(repoRoot, "mappings", "hubspot.yaml"))
	ids := map[string]string{}
	var contacts []string
	for _, r := range relCSV(t, idMap) {
		ids[r["source_key"]] = r["contact_id"]
		contacts = append(contacts, r["source_key"])
	}
	slices.Sort(contacts)
	tc := syncCases[0]
	tc.rows, tc.edited = nil, nil
	for i := range 60 {
		who := contacts[i%len(contacts)]
		tc.rows = append(tc.rows, fmt.Sprintf("K%d,Task %d,,2024-05-01 09:00,Not started,%s", i, i%4, who))
		if i%10 != 9 { // every tenth row removed
			tc.edited = append(tc.edited, fmt.Sprintf("K%d,Task %d,Edited %d,2024-05-02 09:00,Completed,%s", i, i%4, i, who))
		}
	}
	f := newImpFiles(t)
	file := filepath.Join(f.dir, "tasks.csv")
	mapping := filepath.Join(repoRoot, "mappings", tc.mapping)
	args := f.args(file, mapping, "--kind", "tasks", "--id-map", idMap, "--delete-missing")
	writeLines(t, file, tc.header, tc.rows)
	mustImport(t, sb, f, file, mapping, args[len(args)-5:]...)
	writeLines(t, file, tc.header, tc.edited)
	kills := 0
	for _, at := range []int64{7, 25, 51} {
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
	mustImport(t, sb, f, file, mapping, args[len(args)-5:]...)
	checkInStep(t, sb, tc, ids, tc.edited)
}

func writeLines(t *testing.T, path, header string, rows []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(header+"\n"+strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkInStep checks that the contacts hold exactly the rows' records
// (besides the contacts import's own, which no row names).
func checkInStep(t *testing.T, sb *testSandbox, tc syncCase, ids map[string]string, rows []string) {
	t.Helper()
	want := map[string][]string{}
	all := map[string]bool{}
	for _, r := range rows {
		f := strings.Split(r, ",")
		who := f[len(f)-1]
		want[who] = append(want[who], tc.want(f))
	}
	for who := range want {
		all[who] = true
	}
	for _, r := range tc.rows {
		f := strings.Split(r, ",")
		all[f[len(f)-1]] = true
	}
	for who := range all {
		own := map[string]bool{}
		for _, r := range append(slices.Clone(tc.rows), rows...) {
			f := strings.Split(r, ",")
			if f[len(f)-1] == who {
				own[strings.SplitN(tc.want(f), "|", 2)[0]] = true
			}
		}
		var got []string
		for _, h := range tc.held(t, sb, ids[who]) {
			if own[strings.SplitN(h, "|", 2)[0]] {
				got = append(got, h)
			}
		}
		w := slices.Clone(want[who])
		slices.Sort(w)
		slices.Sort(got)
		if !slices.Equal(got, w) {
			t.Errorf("contact %s holds\n %q\nwant\n %q", who, got, w)
		}
	}
}
