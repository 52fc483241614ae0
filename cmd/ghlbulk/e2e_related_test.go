package main

// End-to-end tests of `ghlbulk import --kind notes|tasks`: a contacts
// import writes the ID map, then the notes or tasks export of the same CRM
// is imported through it, and the sandbox is read back.

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// relCSV reads a small CSV file as rows of column -> value, with each
// row's 1-based data row number.
func relCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for i, rec := range recs[1:] {
		m := map[string]string{"#row": fmt.Sprint(i + 1)}
		for j, h := range recs[0] {
			m[strings.TrimPrefix(h, "\uFEFF")] = rec[j]
		}
		out = append(out, m)
	}
	return out
}

// importContactsWithMap imports a contacts sample and returns the ID map
// it wrote.
func importContactsWithMap(t *testing.T, sb *testSandbox, sample, mapping string) string {
	t.Helper()
	dir := t.TempDir()
	idMap := filepath.Join(dir, "map.csv")
	r := runCLI(t, sb.env(), "import", sample, "--mapping", mapping, "--state", filepath.Join(dir, "c.state"),
		"--rejects", filepath.Join(dir, "c.rejects.csv"), "--id-map", idMap, "--no-progress", "--no-plan", "-q")
	if r.code != 0 {
		t.Fatalf("contacts import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return idMap
}

// relatedCase is one CRM's notes or tasks export and what its rows say.
type relatedCase struct {
	name                 string
	contacts, cmapping   string // the contacts sample and mapping
	sourceKey, emailCol  string // the contacts sample's id and email columns
	file, mapping, kind  string
	contactCol           string                             // the column naming the contact
	content              func(row map[string]string) string // a note's body, a task's "title|body"
	completed            func(row map[string]string) bool   // tasks only
	rejects              map[string]string                  // _row -> part of the reason
	sameContactDuplicate string                             // a contact id with two rows of equal content
}

var relatedCases = []relatedCase{
	{
		name: "hubspot notes", contacts: "hubspot-contacts.csv", cmapping: "hubspot.yaml", sourceKey: "Record ID", emailCol: "Email",
		file: "hubspot-notes.csv", mapping: "hubspot-notes.yaml", kind: "notes", contactCol: "Associated Contact IDs",
		content: func(r map[string]string) string { return strings.TrimSpace(r["Note body"]) },
		rejects: map[string]string{"7": `contact "51999" (Associated Contact IDs) is not in the ID map `},
		// two "Left a voicemail." notes (two HubSpot notes) for one contact
		sameContactDuplicate: "51021",
	},
	{
		name: "hubspot tasks", contacts: "hubspot-contacts.csv", cmapping: "hubspot.yaml", sourceKey: "Record ID", emailCol: "Email",
		file: "hubspot-tasks.csv", mapping: "hubspot-tasks.yaml", kind: "tasks", contactCol: "Associated Contact IDs",
		content:   func(r map[string]string) string { return r["Task Title"] + "|" + r["Notes"] },
		completed: func(r map[string]string) bool { return r["Task Status"] == "Completed" },
		rejects:   map[string]string{"7": `contact "51888" (Associated Contact IDs) is not in the ID map `},
		// two "Call" tasks for one contact, one done, one due later
		sameContactDuplicate: "51007",
	},
	{
		name: "salesforce tasks", contacts: "salesforce-contacts.csv", cmapping: "salesforce.yaml", sourceKey: "Id", emailCol: "Email",
		file: "salesforce-tasks.csv", mapping: "salesforce-tasks.yaml", kind: "tasks", contactCol: "WhoId",
		content:   func(r map[string]string) string { return r["Subject"] + "|" + r["Description"] },
		completed: func(r map[string]string) bool { return r["Status"] == "Completed" },
		rejects: map[string]string{
			"5": `contact "0031x00000AbCdE" (WhoId) is not in the ID map `,
			"6": "no contact: WhoId is blank",
		},
		sameContactDuplicate: "003WKbsDE3kGZoD",
	},
}

// Every note or task of the sample ends up on the contact its row names
// (the contact whose source row has that id), each once; the rows whose
// contact the map lacks are in the rejects file with their row number and
// the reason; the same run again sends no write request.
func TestImportRelatedFromTheirOwnFiles(t *testing.T) {
	for _, tc := range relatedCases {
		t.Run(tc.name, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{Rate: -1})
			idMap := importContactsWithMap(t, sb, filepath.Join(repoRoot, "samples", tc.contacts), filepath.Join(repoRoot, "mappings", tc.cmapping))
			emailOf := map[string]string{}
			for _, r := range relCSV(t, filepath.Join(repoRoot, "samples", tc.contacts)) {
				emailOf[r[tc.sourceKey]] = strings.ToLower(r[tc.emailCol])
			}
			file := filepath.Join(repoRoot, "samples", tc.file)
			rows := relCSV(t, file)
			// want: email -> content -> count; done: content -> completed, by email
			want := map[string]map[string]int{}
			sawDuplicate := false
			for _, r := range rows {
				if _, rej := tc.rejects[r["#row"]]; rej {
					continue
				}
				email, ok := emailOf[r[tc.contactCol]]
				if !ok {
					t.Fatalf("sample row %s names contact %q, not in %s and not an expected reject", r["#row"], r[tc.contactCol], tc.contacts)
				}
				if want[email] == nil {
					want[email] = map[string]int{}
				}
				want[email][tc.content(r)]++
				if r[tc.contactCol] == tc.sameContactDuplicate && len(want[email]) < sumCounts(want[email]) {
					sawDuplicate = true
				}
			}
			if tc.kind == "notes" && !sawDuplicate {
				t.Fatalf("the sample lacks two equal notes for contact %s", tc.sameContactDuplicate)
			}
			f := newImpFiles(t)
			args := []string{"--kind", tc.kind, "--id-map", idMap}
			rep := mustImport(t, sb, f, file, filepath.Join(repoRoot, "mappings", tc.mapping), args...)
			written := int64(len(rows) - len(tc.rejects))
			if rep.RowsRead != int64(len(rows)) || rep.Created != written || rep.Rejected != int64(len(tc.rejects)) || rep.Updated != 0 {
				t.Errorf("report: read %d created %d updated %d rejected %d; want %d rows, %d created, %d rejected",
					rep.RowsRead, rep.Created, rep.Updated, rep.Rejected, len(rows), written, len(tc.rejects))
			}
			if n := rep.NotesCreated + rep.TasksCreated; n != written {
				t.Errorf("%d notes and tasks created, want %d", n, written)
			}

			// Each on the right contact, each once.
			held := sb.contents(t)
			got := map[string]map[string]int{}
			all := map[string]bool{}
			for _, byContent := range want {
				for c := range byContent {
					all[c] = true
				}
			}
			for _, h := range held {
				items := h.notes
				if tc.kind == "tasks" {
					items = h.tasks
				}
				for _, it := range items {
					if !all[it] {
						continue // from the contacts import (its Message column)
					}
					e := strings.ToLower(h.Email)
					if got[e] == nil {
						got[e] = map[string]int{}
					}
					got[e][it]++
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("on the contacts:\n got %v\nwant %v", got, want)
			}
			if tc.completed != nil {
				checkCompleted(t, sb, held, rows, tc, emailOf)
			}

			// The rejects: their row, their file, the reason.
			rej := rejectsFile(t, f.rejects)
			if len(rej) != len(tc.rejects) {
				t.Fatalf("rejects %v, want rows %v", rej, tc.rejects)
			}
			for _, r := range rej {
				reason, ok := tc.rejects[r["_row"]]
				if !ok || !strings.Contains(r["_reason"], reason) || r["_file"] != file || r[tc.contactCol] != rows[atoi(t, r["_row"])-1][tc.contactCol] {
					t.Errorf("reject %v, want one of %v", r, tc.rejects)
				}
				if strings.Contains(reason, "ID map") && !strings.HasSuffix(r["_reason"], idMap) {
					t.Errorf("reason %q does not name the map %s", r["_reason"], idMap)
				}
			}

			// Again: nothing to send.
			sb.ResetCounts()
			rep = mustImport(t, sb, f, file, filepath.Join(repoRoot, "mappings", tc.mapping), args...)
			if c := sb.Counts(); c.Writes != 0 {
				t.Errorf("re-run sent %d write requests: %v", c.Writes, c.ByRoute)
			}
			if rep.Created != 0 || rep.Unchanged != written || rep.Rejected != int64(len(tc.rejects)) {
				t.Errorf("re-run report: created %d unchanged %d rejected %d", rep.Created, rep.Unchanged, rep.Rejected)
			}
		})
	}
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkCompleted checks each task's completed flag against its row.
func checkCompleted(t *testing.T, sb *testSandbox, held []held, rows []map[string]string, tc relatedCase, emailOf map[string]string) {
	t.Helper()
	idOf := map[string]string{}
	for _, h := range held {
		idOf[strings.ToLower(h.Email)] = h.ID
	}
	// by email and "title|body": the completed flags wanted and held, sorted
	want, got := map[string][]bool{}, map[string][]bool{}
	for _, r := range rows {
		if _, rej := tc.rejects[r["#row"]]; rej {
			continue
		}
		k := emailOf[r[tc.contactCol]] + " " + tc.content(r)
		want[k] = append(want[k], tc.completed(r))
	}
	for email := range wantEmails(want) {
		var tasks []ghl.Task
		again(t, func(ctx context.Context) (err error) {
			tasks, err = sb.client().ListTasks(ctx, idOf[email])
			return err
		})
		for _, tk := range tasks {
			k := email + " " + tk.Title + "|" + tk.Body
			if _, ok := want[k]; ok {
				got[k] = append(got[k], tk.Completed)
			}
		}
	}
	for k := range want {
		slices.SortFunc(want[k], cmpBool)
		slices.SortFunc(got[k], cmpBool)
		if !slices.Equal(want[k], got[k]) {
			t.Errorf("%s: completed %v, want %v", k, got[k], want[k])
		}
	}
}

func wantEmails(m map[string][]bool) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[strings.SplitN(k, " ", 2)[0]] = true
	}
	return out
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// A notes file without source ids: two equal rows for one contact are two
// notes; run again, nothing is sent; a later export with one row more
// (a new file: the state's run had finished) sends that row's note only.
func TestImportNotesWithoutSourceIDs(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	idMap := importContactsWithMap(t, sb, filepath.Join(repoRoot, "samples", "hubspot-contacts.csv"), filepath.Join(repoRoot, "mappings", "hubspot.yaml"))
	dir := t.TempDir()
	mapping := filepath.Join(dir, "notes.yaml")
	if err := os.WriteFile(mapping, []byte("version: 1\nkind: notes\ncontact: { column: \"Email\", match: email }\nnotes:\n  - \"Note\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "notes.csv")
	lines := []string{"Email,Note", "ava.nguyen@example.com,Called.", "AVA.NGUYEN@example.com,Called.", "liam.patel@example.com,Called."}
	write := func() {
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	f := newImpFiles(t)
	args := []string{"--kind", "notes", "--id-map", idMap}
	called := func() map[string]int {
		out := map[string]int{}
		for _, h := range sb.contents(t) {
			for _, n := range h.notes {
				if n == "Called." {
					out[h.Email]++
				}
			}
		}
		return out
	}
	rep := mustImport(t, sb, f, file, mapping, args...)
	if rep.Created != 3 {
		t.Errorf("created %d, want 3", rep.Created)
	}
	if got := fmt.Sprint(called()); got != "map[ava.nguyen@example.com:2 liam.patel@example.com:1]" {
		t.Errorf("notes: %s", got)
	}
	sb.ResetCounts()
	mustImport(t, sb, f, file, mapping, args...)
	if w := sb.Counts().Writes; w != 0 {
		t.Errorf("re-run: %d writes", w)
	}
	lines = append(lines, "ava.nguyen@example.com,Called.")
	write()
	sb.ResetCounts()
	rep = mustImport(t, sb, f, file, mapping, args...)
	if w := sb.Counts().ByRoute["POST /contacts/{contactId}/notes"]; w != 1 || rep.Created != 1 || rep.Unchanged != 3 {
		t.Errorf("grown file: %d notes sent, created %d, unchanged %d; want 1, 1, 3", w, rep.Created, rep.Unchanged)
	}
	if got := fmt.Sprint(called()); got != "map[ava.nguyen@example.com:3 liam.patel@example.com:1]" {
		t.Errorf("notes after the grown file: %s", got)
	}
}

// A bad mapping, a missing or malformed ID map, or the wrong kind stop the
// run with exit 2 before any request, saying what to fix; --dry-run judges
// every row with no request either.
func TestImportRelatedRefusals(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	notes := filepath.Join(repoRoot, "samples", "hubspot-notes.csv")
	preset := filepath.Join(repoRoot, "mappings", "hubspot-notes.yaml")
	goodMap := filepath.Join(dir, "map.csv")
	badMap := filepath.Join(dir, "bad-map.csv")
	typo := filepath.Join(dir, "typo.yaml")
	for p, body := range map[string]string{
		goodMap: "source_key,key,contact_id\n51000,email:ava.nguyen@example.com,abc\n",
		badMap:  "Record ID,Email\n51000,ava.nguyen@example.com\n",
		typo:    "version: 1\nkind: notes\ncontact: \"Associated Contact ID\"\nnotes:\n  - \"Note body\"\n",
	} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no --id-map", []string{"import", "--kind", "notes", notes, "--mapping", preset},
			[]string{"--kind notes needs --id-map MAP.csv", "--id-map MAP.csv)"}},
		{"missing map", []string{"import", "--kind", "notes", notes, "--mapping", preset, "--id-map", filepath.Join(dir, "nope.csv")},
			[]string{"nope.csv: no such file", "ghlbulk import CONTACTS.csv --mapping M.yaml --id-map"}},
		{"malformed map", []string{"import", "--kind", "notes", notes, "--mapping", preset, "--id-map", badMap},
			[]string{"bad-map.csv:1: header is \"Record ID,Email\"", "source_key,key,contact_id"}},
		{"unknown column", []string{"import", "--kind", "notes", notes, "--mapping", typo, "--id-map", goodMap},
			[]string{"typo.yaml:3:10: unknown column \"Associated Contact ID\" (did you mean \"Associated Contact IDs\"?)"}},
		{"contacts mapping", []string{"import", "--kind", "notes", notes, "--mapping", filepath.Join(repoRoot, "mappings", "hubspot.yaml"), "--id-map", goodMap},
			[]string{"hubspot.yaml:4:1: a contacts mapping", "kind: notes"}},
		{"notes mapping without --kind", []string{"import", notes, "--mapping", preset},
			[]string{"is a notes mapping (kind: notes): import it with ghlbulk import --kind notes"}},
		{"kinds disagree", []string{"import", "--kind", "tasks", notes, "--mapping", preset, "--id-map", goodMap},
			[]string{"hubspot-notes.yaml:8:7: kind: notes, but tasks were asked for"}},
		{"bad --kind", []string{"import", "--kind", "note", notes, "--mapping", preset, "--id-map", goodMap},
			[]string{`--kind "note": must be contacts, notes or tasks`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb.ResetCounts()
			args := append(tc.args, "--state", filepath.Join(dir, "s.state"), "--rejects", filepath.Join(dir, "r.csv"), "--no-progress")
			r := runCLI(t, sb.env(), args...)
			if r.code != exitRefused {
				t.Fatalf("exit %d, want 2\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if n := sb.Counts().Total; n != 0 {
				t.Errorf("%d requests before refusing: %v", n, sb.Counts().ByRoute)
			}
		})
	}
	t.Run("dry run", func(t *testing.T) {
		sb.ResetCounts()
		rejects := filepath.Join(dir, "dry.rejects.csv")
		r := runCLI(t, sb.env(), "import", "--kind", "notes", notes, "--mapping", preset, "--id-map", goodMap, "--dry-run",
			"--rejects", rejects, "--no-progress")
		if r.code != 0 || !strings.Contains(r.stdout, "import notes (dry run: nothing written)") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if n := sb.Counts().Total; n != 0 {
			t.Errorf("%d requests in a dry run", n)
		}
		// The map knows one contact: its two notes would be written, the
		// other rows are rejects naming the map.
		rej := rejectsFile(t, rejects)
		if len(rej) != len(relCSV(t, notes))-2 {
			t.Errorf("%d rejects", len(rej))
		}
		for _, x := range rej {
			if !strings.Contains(x["_reason"], "is not in the ID map "+goodMap) {
				t.Errorf("reject %v", x)
			}
		}
	})
}
