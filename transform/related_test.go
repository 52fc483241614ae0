package transform

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testIDMap = `source_key,key,contact_id
003A,email:a@example.com,C1
003B,email:b@example.com,C2
,phone:+14155550100,C3
003D,email:d@example.com,C4
003D,email:d2@example.com,C5
`

func idMapOf(t *testing.T, text string) *IDMap {
	t.Helper()
	m, err := parseIDMap("map.csv", strings.NewReader(text))
	if err != nil {
		t.Fatalf("parseIDMap: %v", err)
	}
	return m
}

func TestReadIDMap(t *testing.T) {
	cases := []struct {
		name, text string
		want       string // substring of the error; "" for none
	}{
		{"ok", testIDMap, ""},
		{"BOM", "\uFEFF" + testIDMap, ""},
		{"empty", "", "map.csv: empty file"},
		{"header only", "source_key,key,contact_id\n", "lists no contact"},
		{"other header", "Record ID,Email,Id\n1,a@b.c,x\n", `map.csv:1: header is "Record ID,Email,Id"`},
		{"no contact id", "source_key,key,contact_id\n1,email:a@b.c,\n", "map.csv:2: no contact_id"},
		{"no keys", "source_key,key,contact_id\n,,C1\n", "map.csv:2: neither a source_key nor a key"},
		{"field count", "source_key,key,contact_id\n1,email:a@b.c,C1,extra\n", "map.csv:2: 4 fields"},
		{"bad quote", "source_key,key,contact_id\n1,\"email:a@b.c,C1\n", "map.csv:2: not valid CSV"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseIDMap("map.csv", strings.NewReader(tc.text))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if m.Len() != 5 || m.Lookup("source_key", "003A")[0] != "C1" || m.Lookup("key", "phone:+14155550100")[0] != "C3" {
					t.Errorf("map read wrong: %+v", m)
				}
				return
			}
			var ie *IDMapError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want *IDMapError with %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "--id-map map.csv") {
				t.Errorf("error does not say how to write the map: %v", err)
			}
		})
	}
	_, err := ReadIDMap(filepath.Join(t.TempDir(), "missing.csv"))
	if err == nil || !strings.Contains(err.Error(), "missing.csv: no such file") {
		t.Errorf("missing map: %v", err)
	}
}

const tasksYAML = `version: 1
kind: tasks
contact: "WhoId"
source_key: "Id"
optional_columns: ["Status"]
tasks:
  - title: { column: "Subject" }
    body: { column: "Description" }
    due: 'col["ActivityDate"]'
    completed: 'lower(col["Status"]) == "completed"'
    when: 'col["Subject"] != "skip me"'
`

func TestParseRelatedMappingLints(t *testing.T) {
	cases := []struct {
		name, kind, yaml string
		want             []string // substrings of the error, "" entries none; nil: no error
	}{
		{"tasks ok", KindTasks, tasksYAML, nil},
		{"kind from the file", "", tasksYAML, nil},
		{"notes ok", KindNotes, "version: 1\nkind: notes\ncontact: \"ParentId\"\nnotes:\n  - \"Body\"\n", nil},
		{"kind mismatch", KindNotes, tasksYAML, []string{"m.yaml:2:7: kind: tasks, but notes were asked for (run with --kind tasks"}},
		{"no kind", KindNotes, "version: 1\ncontact: X\nnotes: [B]\n", []string{"m.yaml:1:1: no kind: (add kind: notes"}},
		{"bad kind", KindNotes, "version: 1\nkind: note\ncontact: X\nnotes: [B]\n", []string{`m.yaml:2:7: kind "note": must be notes or tasks (did you mean "notes"?)`}},
		{"contacts mapping", KindNotes, "version: 1\nkey: [email]\nfields:\n  email: Email\n", []string{"m.yaml:1:1: a contacts mapping", "mappings/hubspot-notes.yaml"}},
		{"typo", KindNotes, "version: 1\nkind: notes\ncontcat: X\nnotes: [B]\n", []string{`m.yaml:3:1: unknown key "contcat" (did you mean "contact"?)`, "m.yaml:1:1: no contact:"}},
		{"contacts key", KindNotes, "version: 1\nkind: notes\ncontact: X\ntags: [a]\nnotes: [B]\n", []string{"m.yaml:4:1: tags: not in a notes mapping"}},
		{"bad match", KindNotes, "version: 1\nkind: notes\ncontact: { column: X, match: emial }\nnotes: [B]\n", []string{`m.yaml:3:30: match "emial": must be source_key, key, email or phone (did you mean "email"?)`}},
		{"tasks in notes", KindNotes, "version: 1\nkind: notes\ncontact: X\nnotes: [B]\ntasks:\n  - { title: T, due: 'col[\"D\"]' }\n", []string{"m.yaml:5:1: tasks: a notes mapping writes notes only"}},
		{"no notes", KindNotes, "version: 1\nkind: notes\ncontact: X\n", []string{"no notes: nothing would be written"}},
		{"task without due", KindTasks, "version: 1\nkind: tasks\ncontact: X\ntasks:\n  - title: { column: S }\n", []string{"m.yaml:5:5: a task needs a due date"}},
		{"task key typo", KindTasks, "version: 1\nkind: tasks\ncontact: X\ntasks:\n  - { title: T, due: D, complete: C }\n", []string{`unknown key "complete" (did you mean "completed"?)`}},
		{"not YAML", KindNotes, "version: 1\nkind: [notes\n", []string{"m.yaml:1:1: not valid YAML"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseRelatedMapping("m.yaml", []byte(tc.yaml), tc.kind)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				if tc.kind != "" && s.Kind() != tc.kind {
					t.Errorf("kind %q, want %q", s.Kind(), tc.kind)
				}
				return
			}
			var le *LintError
			if !errors.As(err, &le) {
				t.Fatalf("error %v, want a *LintError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestCompileRelatedLints(t *testing.T) {
	header := []string{"Id", "WhoId", "Subject", "Description", "ActivityDate"}
	ids := idMapOf(t, testIDMap)
	cases := []struct {
		name, yaml string
		want       string // "" for no error
	}{
		{"ok", tasksYAML, ""},
		{"unknown contact column", strings.Replace(tasksYAML, `contact: "WhoId"`, `contact: "WhoID"`, 1), `m.yaml:3:10: unknown column "WhoID" (did you mean "WhoId"?)`},
		{"bare title that is a column", strings.Replace(tasksYAML, `title: { column: "Subject" }`, `title: Subject`, 1),
			`m.yaml:7:12: task title "Subject" is the text "Subject", and also a column of the file (write { column: "Subject" }`},
		{"explicit constant title", strings.Replace(tasksYAML, `title: { column: "Subject" }`, `title: { value: "Subject" }`, 1), ""},
		{"unknown column in due", strings.Replace(tasksYAML, `col["ActivityDate"]`, `col["Activity Date"]`, 1), `unknown column "Activity Date" in expression (did you mean "ActivityDate"?)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseRelatedMapping("m.yaml", []byte(tc.yaml), KindTasks)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			_, err = s.Compile(header, ids)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant %q", err, tc.want)
			}
		})
	}
}

func compileRelated(t *testing.T, yaml, kind string, header []string, ids *IDMap) *RelatedMapping {
	t.Helper()
	s, err := ParseRelatedMapping("m.yaml", []byte(yaml), kind)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	m, err := s.Compile(header, ids)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return m
}

func TestRelatedApplyTasks(t *testing.T) {
	header := []string{"Id", "WhoId", "Subject", "Description", "ActivityDate", "Status"}
	m := compileRelated(t, tasksYAML, KindTasks, header, idMapOf(t, testIDMap))
	cases := []struct {
		name      string
		row       []string
		contactID string
		title     string
		due       string
		completed bool
		key       string
		reason    string // the reject's reason, exactly
	}{
		{name: "by source key", row: []string{"00T1", "003A", "Call", "About the budget", "2024-03-15", "Completed"},
			contactID: "C1", title: "Call", due: "2024-03-15T00:00:00Z", completed: true, key: "id:C1"},
		{name: "open task", row: []string{"00T2", " 003B ", "Send quote", "", "3/20/2024", "Not Started"},
			contactID: "C2", title: "Send quote", due: "2024-03-20T00:00:00Z", key: "id:C2"},
		{name: "not in the map", row: []string{"00T3", "0031x000003", "Call", "", "2024-03-15", ""},
			reason: `contact "0031x000003" (WhoId) is not in the ID map map.csv`},
		{name: "blank contact", row: []string{"00T4", "", "Call", "", "2024-03-15", ""},
			reason: "no contact: WhoId is blank"},
		{name: "ambiguous", row: []string{"00T5", "003D", "Call", "", "2024-03-15", ""},
			reason: `contact "003D" (WhoId) is 2 contacts in the ID map map.csv (C4, C5): rewrite the map from one contacts import`},
		{name: "a list", row: []string{"00T6", "003A;003B", "Call", "", "2024-03-15", ""},
			reason: `contact "003A;003B" (WhoId) is not in the ID map map.csv; it looks like a list, and a row attaches to one contact`},
		{name: "bad due and unknown contact", row: []string{"00T7", "003Z", "Call", "", "someday", ""},
			reason: `task "Call" due "someday": not a date I can read (try 2006-01-02 or RFC 3339); contact "003Z" (WhoId) is not in the ID map map.csv`},
		{name: "no title", row: []string{"00T8", "003A", " ", "x", "2024-03-15", ""},
			reason: "no task: Subject is blank"},
		{name: "skipped by when", row: []string{"00T9", "003Z", "skip me", "", "", ""}, key: SkipKey},
	}
	var rows [][]string
	for _, tc := range cases {
		rows = append(rows, tc.row)
	}
	rec := stringRecord(t, header, rows)
	defer rec.Release()
	got := m.Apply(rec, "tasks.csv", 1)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := got[i]
			if r.Row != int64(i+1) || r.File != "tasks.csv" {
				t.Errorf("row %d of %s, want %d", r.Row, r.File, i+1)
			}
			if r.Hash == "" {
				t.Errorf("no hash")
			}
			if tc.reason != "" {
				var re *RowError
				if !errors.As(r.Err, &re) || re.Reason() != tc.reason {
					t.Fatalf("reject reason %v, want %q", r.Err, tc.reason)
				}
				if r.ContactID != "" || len(r.Tasks) != 0 && r.Key != "" {
					t.Errorf("a reject with contact %q key %q", r.ContactID, r.Key)
				}
				return
			}
			if r.Err != nil {
				t.Fatalf("rejected: %v", r.Err)
			}
			if r.ContactID != tc.contactID || r.Key != tc.key {
				t.Errorf("contact %q key %q, want %q %q", r.ContactID, r.Key, tc.contactID, tc.key)
			}
			if tc.title == "" {
				if len(r.Tasks) != 0 {
					t.Errorf("tasks %+v, want none", r.Tasks)
				}
				return
			}
			if len(r.Tasks) != 1 {
				t.Fatalf("tasks %+v, want one", r.Tasks)
			}
			tk := r.Tasks[0]
			if tk.Title != tc.title || tk.DueDate != tc.due || tk.Completed != tc.completed {
				t.Errorf("task %+v, want title %q due %q completed %v", tk, tc.title, tc.due, tc.completed)
			}
			if r.SourceKey != tc.row[0] || len(r.Contact.CustomFields) != 0 || len(r.Tags) != 0 {
				t.Errorf("source key %q, contact %+v, tags %q", r.SourceKey, r.Contact, r.Tags)
			}
		})
	}
}

func TestRelatedApplyMatch(t *testing.T) {
	header := []string{"Email", "Phone", "Body"}
	cases := []struct {
		name, contact string
		row           []string
		want, reason  string
	}{
		{"email", `{ column: Email, match: email }`, []string{" A@Example.com ", "", "hi"}, "C1", ""},
		{"email not in the map", `{ column: Email, match: email }`, []string{"zz@example.com", "", "hi"}, "",
			`contact "zz@example.com" (Email) is not in the ID map map.csv (looked up as email:zz@example.com)`},
		{"key as it is", `{ column: Email, match: key }`, []string{"email:b@example.com", "", "hi"}, "C2", ""},
		{"phone", `{ column: Phone, match: phone }`, []string{"", "(415) 555-0100", "hi"}, "C3", ""},
		{"source key then email", `{ column: Email, match: [source_key, email] }`, []string{"003B", "", "hi"}, "C2", ""},
		{"expression", `{ expr: 'lower(trim(col["Email"]))', match: email }`, []string{"B@EXAMPLE.COM", "", "hi"}, "C2", ""},
	}
	ids := idMapOf(t, testIDMap)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			y := "version: 1\nkind: notes\ncontact: " + tc.contact + "\nnotes:\n  - { column: Body, title: Imported }\n"
			m := compileRelated(t, y, KindNotes, header, ids)
			rec := stringRecord(t, header, [][]string{tc.row})
			defer rec.Release()
			r := m.Apply(rec, "n.csv", 1)[0]
			if tc.reason != "" {
				if r.Err == nil || r.Err.(*RowError).Reason() != tc.reason {
					t.Fatalf("reject %v, want %q", r.Err, tc.reason)
				}
				return
			}
			if r.Err != nil || r.ContactID != tc.want {
				t.Fatalf("contact %q (err %v), want %q", r.ContactID, r.Err, tc.want)
			}
			if len(r.Notes) != 1 || r.Notes[0].Body != "hi" || r.Notes[0].Title != "Imported" {
				t.Errorf("notes %+v", r.Notes)
			}
		})
	}
}

// Two rows with the same text for one contact are two notes (two hashes);
// reading the file again from its first row gives the same hashes; a
// source_key makes the identity; a reject for a contact the map lacks is
// judged again (another hash) once the map has it.
func TestRelatedHashIdentity(t *testing.T) {
	header := []string{"Id", "Contact", "Body"}
	rows := [][]string{
		{"n1", "003A", "Left a voicemail."},
		{"n2", "003A", "Left a voicemail."},
		{"n3", "003B", "Left a voicemail."},
		{"n4", "003X", "Left a voicemail."},
	}
	hashes := func(yaml string, ids *IDMap, batches ...int) [][]string {
		m := compileRelated(t, yaml, KindNotes, header, ids)
		var out [][]string
		for pass := 0; pass < 2; pass++ { // the second pass: the file read again
			var hs []string
			first := 0
			for _, n := range batches {
				rec := stringRecord(t, header, rows[first:first+n])
				for _, r := range m.Apply(rec, "n.csv", int64(first+1)) {
					hs = append(hs, r.Hash)
				}
				rec.Release()
				first += n
			}
			out = append(out, hs)
		}
		return out
	}
	noKey := "version: 1\nkind: notes\ncontact: Contact\nnotes: [Body]\n"
	withKey := "version: 1\nkind: notes\ncontact: Contact\nsource_key: Id\nnotes: [Body]\n"
	ids := idMapOf(t, testIDMap)
	for _, tc := range []struct {
		name    string
		yaml    string
		batches []int
	}{
		{"occurrence, one batch", noKey, []int{4}},
		{"occurrence, batches", noKey, []int{1, 2, 1}},
		{"source key", withKey, []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hashes(tc.yaml, ids, tc.batches...)
			if strings.Join(h[0], ",") != strings.Join(h[1], ",") {
				t.Errorf("reading the file again changed the hashes:\n%q\n%q", h[0], h[1])
			}
			seen := map[string]bool{}
			for _, x := range h[0] {
				if seen[x] {
					t.Errorf("two rows share hash %s: %q", x, h[0])
				}
				seen[x] = true
			}
		})
	}
	// The same rows in batches or not: the same identities.
	a, b := hashes(noKey, ids, 4), hashes(noKey, ids, 2, 2)
	if strings.Join(a[0], ",") != strings.Join(b[0], ",") {
		t.Errorf("batching changed the hashes")
	}
	// Once the map has 003X, row 4 is no longer the same reject.
	grown := idMapOf(t, testIDMap+"003X,email:x@example.com,C9\n")
	c := hashes(noKey, grown, 4)
	if a[0][3] == c[0][3] || a[0][0] != c[0][0] {
		t.Errorf("hashes with the grown map: %q, before %q", c[0], a[0])
	}
}

func TestMappingKind(t *testing.T) {
	dir := t.TempDir()
	for name, want := range map[string]string{
		"c.yaml": KindContacts, "n.yaml": KindNotes, "t.yaml": KindTasks,
	} {
		body := map[string]string{"c.yaml": "version: 1\nfields: {email: Email}\n", "n.yaml": "version: 1\nkind: notes\n", "t.yaml": "kind: tasks\n"}[name]
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := MappingKind(p); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}
}

// The shipped presets compile against their samples.
func TestRelatedPresets(t *testing.T) {
	for _, tc := range []struct{ mapping, sample, kind string }{
		{"hubspot-notes.yaml", "hubspot-notes.csv", KindNotes},
		{"hubspot-tasks.yaml", "hubspot-tasks.csv", KindTasks},
		{"salesforce-tasks.yaml", "salesforce-tasks.csv", KindTasks},
	} {
		t.Run(tc.mapping, func(t *testing.T) {
			s, err := LoadRelatedMapping(filepath.Join("..", "mappings", tc.mapping), "")
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind() != tc.kind {
				t.Errorf("kind %q", s.Kind())
			}
			header, rows := readCSV(t, filepath.Join("..", "samples", tc.sample))
			ids := idMapOf(t, "source_key,key,contact_id\n51000,email:ava.nguyen@example.com,C1\n003WKbsDE3kGZoD,email:mkim0@example.org,C2\n")
			m, err := s.Compile(header, ids)
			if err != nil {
				t.Fatal(err)
			}
			rec := stringRecord(t, header, rows)
			defer rec.Release()
			ok := 0
			for _, r := range m.Apply(rec, tc.sample, 1) {
				if r.Err == nil {
					ok++
					continue
				}
				if re := r.Err.(*RowError).Reason(); !strings.Contains(re, "is not in the ID map") && !strings.Contains(re, "no contact:") {
					t.Errorf("row %d: %v", r.Row, r.Err)
				}
			}
			if ok == 0 {
				t.Errorf("no row of %s maps", tc.sample)
			}
		})
	}
}
