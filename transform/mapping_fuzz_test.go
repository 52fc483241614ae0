package transform

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"gopkg.in/yaml.v3"
)

// Fuzz targets for the mapping parsers: a mapping file, whatever its bytes,
// is either refused with a *LintError or compiled and applied to sample
// rows without a panic. The seeds are the shipped mappings.

// fixture is a header and a record of sample rows to compile and apply
// fuzzed mappings against: the union of the sample files' headers, and
// their first rows.
type fixture struct {
	header []string
	rec    arrow.Record
}

func sampleFixture(tb testing.TB, files ...string) fixture {
	tb.Helper()
	idx := map[string]int{}
	var header []string
	var rows []map[string]string
	for _, name := range files {
		h, rs := readCSV(tb, filepath.Join("..", "samples", name))
		for _, c := range h {
			if _, ok := idx[c]; !ok {
				idx[c] = len(header)
				header = append(header, c)
			}
		}
		for _, r := range rs[:min(3, len(rs))] {
			row := map[string]string{}
			for i, c := range h {
				if i < len(r) {
					row[c] = r[i]
				}
			}
			rows = append(rows, row)
		}
	}
	var cells [][]string
	for _, row := range rows {
		cs := make([]string, len(header))
		for i, c := range header {
			cs[i] = row[c]
		}
		cells = append(cells, cs)
	}
	cells = append(cells, make([]string, len(header)), []string{"ragged"})
	return fixture{header: header, rec: stringRecord(tb, header, cells)}
}

// mappingSeeds adds the shipped mappings of one kind ("" for contacts).
func mappingSeeds(f *testing.F, kind string, add func(data []byte)) {
	paths, _ := filepath.Glob(filepath.Join("..", "mappings", "*.yaml"))
	paths = append(paths, filepath.Join("..", "scripts", "bench-mapping.yaml"))
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var doc struct{ Kind string }
		_ = yaml.Unmarshal(data, &doc)
		if doc.Kind == kind {
			add(data)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no %q mappings to seed from", kind)
	}
}

// lintOnly fails the test unless err is a *LintError with something in it:
// a mapping's problems are reported with their place in the file.
func lintOnly(t *testing.T, what string, err error) {
	t.Helper()
	var le *LintError
	if !errors.As(err, &le) || len(le.Lints) == 0 {
		t.Fatalf("%s: error %v (%T), want a *LintError", what, err, err)
	}
}

func FuzzParseMapping(f *testing.F) {
	mappingSeeds(f, "", func(data []byte) { f.Add(data) })
	for _, s := range []string{
		"version: 1\nfields:\n  email: Email\n  name: { expr: 'trim(col[\"First Name\"] + \" \" + col[\"Last Name\"])' }\n",
		"version: 1\nkey: [{ column: Email }]\nfields: &f\n  email: Email\ncustom_fields: *f\n",
		"version: 1\nduplicates: report\nfields:\n  email: { column: Email, normalize: email, default: x@example.com }\n",
		"version: 1\nfields:\n  phone: Phone\ntags:\n  - { split: Tags, sep: ';', prefix: 't:', when: 'row > 1' }\n",
		"version: 1\ndefaults: { phone_region: GB, timezone: Europe/London }\nfields:\n  email: Email\n  dateOfBirth: { column: Birthday, normalize: day }\n",
		"version: 1\nfields:\n  email: Email\ntasks:\n  - { title: T, due: 'add_days(col[\"Signed Up\"], 3)', body: { value: b } }\n",
		"", "version: 1\n", "[1, 2]", "version: 2\nfields: {}\n", "version: 1\nfields:\n  email: { expr: 'col[row]' }\n",
	} {
		f.Add([]byte(s))
	}
	fx := sampleFixture(f, "hubspot-contacts.csv", "salesforce-contacts.csv", "mailchimp-audience.csv", "dirty.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseMapping("m.yaml", data)
		if err != nil {
			lintOnly(t, "ParseMapping", err)
			return
		}
		_ = s.CustomFieldKeys()
		m, err := s.Compile(fx.header, sandboxFields)
		if err != nil {
			lintOnly(t, "Compile", err)
			return
		}
		rows := m.Apply(fx.rec, "f.csv", 1)
		if len(rows) != int(fx.rec.NumRows()) {
			t.Fatalf("Apply gave %d rows for %d", len(rows), fx.rec.NumRows())
		}
		for _, r := range rows {
			if r.Err == nil && (r.Key == "" || r.Hash == "") {
				t.Fatalf("row %d: accepted without a key or hash: %+v", r.Row, r)
			}
		}
	})
}

// relatedIDMap holds the sample notes' and tasks' contacts.
const relatedIDMap = `source_key,key,contact_id
51000,email:ava.nguyen@example.com,C1
003WKbsDE3kGZoD,email:mkim0@example.org,C2
,phone:+14155550100,C3
`

func FuzzParseRelatedMapping(f *testing.F) {
	kinds := []string{"", KindNotes, KindTasks}
	mappingSeeds(f, KindNotes, func(data []byte) { f.Add(data, uint8(1)) })
	mappingSeeds(f, KindTasks, func(data []byte) { f.Add(data, uint8(2)) })
	f.Add([]byte(tasksYAML), uint8(0))
	f.Add([]byte("version: 1\nkind: notes\ncontact: { column: \"Associated Contact IDs\", match: [source_key, email] }\nnotes:\n  - { column: \"Note body\", title: { expr: 'col[\"Created by\"]' } }\n"), uint8(1))
	f.Add([]byte("version: 1\nkey: [email]\nfields:\n  email: Email\n"), uint8(1))
	fx := sampleFixture(f, "hubspot-notes.csv", "hubspot-tasks.csv", "salesforce-tasks.csv")
	ids, err := parseIDMap("map.csv", strings.NewReader(relatedIDMap))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		kind := kinds[int(k)%len(kinds)]
		s, err := ParseRelatedMapping("m.yaml", data, kind)
		if err != nil {
			lintOnly(t, "ParseRelatedMapping", err)
			return
		}
		if kind != "" && s.Kind() != kind {
			t.Fatalf("asked for %s, got a %s mapping", kind, s.Kind())
		}
		rm, err := s.Compile(fx.header, ids)
		if err != nil {
			lintOnly(t, "Compile", err)
			return
		}
		rows := rm.Apply(fx.rec, "f.csv", 1)
		if len(rows) != int(fx.rec.NumRows()) {
			t.Fatalf("Apply gave %d rows for %d", len(rows), fx.rec.NumRows())
		}
		for _, r := range rows {
			if r.Err == nil && r.Key != SkipKey && (r.ContactID == "" || r.Hash == "") {
				t.Fatalf("row %d: accepted without a contact or hash: %+v", r.Row, r)
			}
		}
	})
}
