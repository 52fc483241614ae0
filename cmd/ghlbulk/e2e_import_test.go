package main

// End-to-end tests of `ghlbulk import`: the built binary against an
// in-process sandbox, checked against what the sandbox holds afterwards.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sources"
	"github.com/ghlbulk/ghlbulk/transform"
)

// repoRoot is where samples/ and mappings/ are, from cmd/ghlbulk.
const repoRoot = "../.."

var peopleMapping = filepath.Join("testdata", "import", "people.yaml")

// impFiles are the paths one import run writes, in its own directory.
type impFiles struct {
	dir, state, rejects, report string
}

func newImpFiles(t *testing.T) impFiles {
	dir := t.TempDir()
	return impFiles{dir: dir, state: filepath.Join(dir, "run.state"), rejects: filepath.Join(dir, "rejects.csv"),
		report: filepath.Join(dir, "report.json")}
}

// args is `import FILE --mapping M --state --rejects --report --no-progress` plus extra.
func (f impFiles) args(file, mapping string, extra ...string) []string {
	a := []string{"import", file, "--mapping", mapping, "--state", f.state, "--rejects", f.rejects,
		"--report", f.report, "--no-progress"}
	return append(a, extra...)
}

func readReport(t *testing.T, path string) pipeline.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var r pipeline.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report %s: %v", b, err)
	}
	return r
}

// dataWrites is the write requests a sandbox answered, less the
// preflight's probe (PUT /contacts/<an id that can't exist>, which changes
// nothing; an import never sends PUT /contacts/{id} for a key the upsert
// matches on).
func dataWrites(c sandbox.Counts) int64 {
	return c.Writes - c.ByRoute["PUT /contacts/{contactId}"]
}

// checkSums asserts rows_read = created + updated + unchanged + rejected.
func checkSums(t *testing.T, r pipeline.Report) {
	t.Helper()
	if r.RowsRead != r.Created+r.Updated+r.Unchanged+r.Rejected {
		t.Errorf("rows_read %d != created %d + updated %d + unchanged %d + rejected %d",
			r.RowsRead, r.Created, r.Updated, r.Unchanged, r.Rejected)
	}
}

// mustImport runs an import and fails the test unless it exits 0.
func mustImport(t *testing.T, sb *testSandbox, f impFiles, file, mapping string, extra ...string) pipeline.Report {
	t.Helper()
	r := runCLI(t, sb.env(), f.args(file, mapping, extra...)...)
	if r.code != 0 {
		t.Fatalf("import %s: exit %d\nstdout: %s\nstderr: %s", file, r.code, r.stdout, r.stderr)
	}
	rep := readReport(t, f.report)
	checkSums(t, rep)
	return rep
}

// client is the test's own API client on the sandbox, with its all-scopes
// token, through the same auth transport the CLI uses.
func (s *testSandbox) client() *ghl.Client {
	rt := auth.NewTransport(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: s.Token}))
	return ghl.New(s.URL, &http.Client{Timeout: 30 * time.Second, Transport: rt})
}

// again retries a read that a faulty sandbox may fail (any error: reads
// are safe to repeat).
func again(t *testing.T, fn func(ctx context.Context) error) {
	t.Helper()
	var err error
	for range 100 {
		if err = fn(context.Background()); err == nil {
			return
		}
	}
	t.Fatalf("reading the sandbox: %v", err)
}

// held is one contact as the sandbox holds it, with its notes and tasks.
type held struct {
	ghl.Contact
	notes []string // bodies, sorted
	tasks []string // "title|body", sorted
}

// tagSet is the contact's tags, sorted.
// tagSet is the contact's tags sorted, each run tag (one per run, so it
// differs between two sandboxes) written as ghlbulk-RUN.
func (h held) tagSet() []string {
	tags := slices.Clone(h.Tags)
	for i, t := range tags {
		if runTagRE.MatchString(t) {
			tags[i] = "ghlbulk-RUN"
		}
	}
	sort.Strings(tags)
	return tags
}

var runTagRE = regexp.MustCompile(`^ghlbulk-\d{8}-\d{6}-[0-9a-f]{4}$`)

// summary is everything compared between two sandboxes.
func (h held) summary() string {
	return fmt.Sprintf("first=%q last=%q email=%q phone=%q city=%q company=%q country=%q source=%q tags=%q notes=%q tasks=%q",
		h.FirstName, h.LastName, h.Email, h.Phone, h.City, h.CompanyName, h.Country, h.Source, h.tagSet(), h.notes, h.tasks)
}

// contents lists every contact of the sandbox's location, with notes and
// tasks (read eight at a time).
func (s *testSandbox) contents(t *testing.T) []held {
	t.Helper()
	c := s.client()
	var out []held
	p := ghl.ListContactsParams{LocationID: s.LocationID(), Limit: 100}
	for done := false; !done; {
		var page *ghl.ContactsPage
		again(t, func(ctx context.Context) (err error) { page, err = c.ListContacts(ctx, p); return err })
		for _, ct := range page.Contacts {
			out = append(out, held{Contact: ct})
		}
		done = page.Last || len(page.Contacts) == 0
		p = page.NextParams
		if len(out) > 100000 {
			t.Fatal("listing does not end")
		}
	}
	errs := make([]error, len(out))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h := &out[i]
			for range 100 {
				ns, err := c.ListNotes(context.Background(), h.ID)
				if err == nil {
					var ts []ghl.Task
					if ts, err = c.ListTasks(context.Background(), h.ID); err == nil {
						for _, n := range ns {
							h.notes = append(h.notes, n.Body)
						}
						for _, tk := range ts {
							h.tasks = append(h.tasks, tk.Title+"|"+tk.Body)
						}
						sort.Strings(h.notes)
						sort.Strings(h.tasks)
						errs[i] = nil
						return
					}
				}
				errs[i] = err
				// A sandbox with limits or faults on: wait out a window.
				time.Sleep(150 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("reading notes and tasks: %v", err)
	}
	return out
}

// byKey indexes contacts by the import's match keys ("email:...",
// "phone:..."), failing the test if one key has two contacts.
func byKey(t *testing.T, hs []held) map[string]held {
	t.Helper()
	out := make(map[string]held)
	for _, h := range hs {
		var keys []string
		if h.Email != "" {
			keys = append(keys, "email:"+strings.ToLower(h.Email))
		}
		if h.Phone != "" {
			keys = append(keys, "phone:"+h.Phone)
		}
		for _, k := range keys {
			if prev, ok := out[k]; ok {
				t.Errorf("two contacts for %s: %s and %s", k, prev.ID, h.ID)
			}
			out[k] = h
		}
	}
	return out
}

// expected is what one match key should end up as after an import: the
// last non-blank value of each field among its rows, the union of tags,
// and each distinct note and task once.
type expected struct {
	key    string
	rows   []int64
	fields map[string]string
	tags   map[string]bool
	notes  map[string]bool
	tasks  map[string]bool
}

// expectRows maps file through mapping as the binary does (with the
// sandbox's custom field definitions) and returns the rows and what each
// key should hold.
func expectRows(t *testing.T, sb *testSandbox, file, mapping string) ([]record.Row, map[string]*expected) {
	t.Helper()
	spec, err := transform.LoadMapping(mapping)
	if err != nil {
		t.Fatal(err)
	}
	var fields []ghl.CustomField
	if spec.NeedsCustomFields() {
		again(t, func(ctx context.Context) (err error) {
			fields, err = sb.client().ListCustomFields(ctx, sb.LocationID())
			return err
		})
	}
	src, err := sources.OpenCSV(file, sources.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m, err := spec.Compile(src.Header(), fields)
	if err != nil {
		t.Fatal(err)
	}
	var rows []record.Row
	for {
		b, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, m.Apply(b.Record, file, b.FirstRow)...)
		b.Record.Release()
	}
	want := make(map[string]*expected)
	for _, r := range rows {
		if r.Err != nil {
			continue
		}
		e := want[r.Key]
		if e == nil {
			e = &expected{key: r.Key, fields: map[string]string{}, tags: map[string]bool{}, notes: map[string]bool{}, tasks: map[string]bool{}}
			want[r.Key] = e
		}
		e.rows = append(e.rows, r.Row)
		c := r.Contact
		for name, v := range map[string]*string{"firstName": c.FirstName, "lastName": c.LastName, "email": c.Email,
			"phone": c.Phone, "city": c.City, "companyName": c.CompanyName, "country": c.Country, "source": c.Source} {
			if v != nil && *v != "" {
				e.fields[name] = *v
			}
		}
		for _, tg := range r.Tags {
			e.tags[strings.ToLower(strings.TrimSpace(tg))] = true
		}
		for _, n := range r.Notes {
			e.notes[n.Body] = true
		}
		for _, tk := range r.Tasks {
			e.tasks[tk.Title+"|"+tk.Body] = true
		}
	}
	return rows, want
}

// checkHolds compares what the sandbox holds with what the rows ask for:
// one contact per key, its fields, tags (at least those), and its notes
// and tasks exactly (each once).
func checkHolds(t *testing.T, got map[string]held, want map[string]*expected) {
	t.Helper()
	for key, e := range want {
		h, ok := got[key]
		if !ok {
			t.Errorf("%s (rows %v): not in the sandbox", key, e.rows)
			continue
		}
		have := map[string]string{"firstName": h.FirstName, "lastName": h.LastName, "email": h.Email, "phone": h.Phone,
			"city": h.City, "companyName": h.CompanyName, "country": h.Country, "source": h.Source}
		for name, v := range e.fields {
			if have[name] != v {
				t.Errorf("%s: %s = %q, the rows say %q", key, name, have[name], v)
			}
		}
		for tg := range e.tags {
			if !slices.Contains(h.Tags, tg) {
				t.Errorf("%s: tag %q missing from %q", key, tg, h.Tags)
			}
		}
		if w := sortedKeys(e.notes); !slices.Equal(h.notes, w) {
			t.Errorf("%s: notes %q, the rows give %q", key, h.notes, w)
		}
		if w := sortedKeys(e.tasks); !slices.Equal(h.tasks, w) {
			t.Errorf("%s: tasks %q, the rows give %q", key, h.tasks, w)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rejectsFile reads a rejects file strictly (a half-written line fails)
// and returns its rows as column -> value.
func rejectsFile(t *testing.T, path string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("rejects: %v", err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("rejects file %s is not whole CSV: %v\n%s", path, err, b)
	}
	if len(recs) == 0 {
		t.Fatalf("rejects file %s has no header", path)
	}
	head := recs[0]
	if n := len(head); n < 3 || !slices.Equal(head[n-3:], []string{"_row", "_file", "_reason"}) {
		t.Fatalf("rejects header %q does not end in _row,_file,_reason", head)
	}
	var out []map[string]string
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		m := make(map[string]string, len(head))
		for i, c := range head {
			m[c] = rec[i]
		}
		id := m["_file"] + "#" + m["_row"]
		if seen[id] {
			t.Errorf("rejects file lists %s twice", id)
		}
		seen[id] = true
		if m["_reason"] == "" {
			t.Errorf("reject %s has no reason", id)
		}
		out = append(out, m)
	}
	return out
}

// checkNothingLost asserts every row of the input is either held by the
// sandbox (its key) or in the rejects file, with a reason.
func checkNothingLost(t *testing.T, rows []record.Row, got map[string]held, rejects []map[string]string) {
	t.Helper()
	rejected := map[string]string{}
	for _, r := range rejects {
		rejected[r["_row"]] = r["_reason"]
	}
	for _, r := range rows {
		_, in := got[r.Key]
		reason, rej := rejected[fmt.Sprint(r.Row)]
		switch {
		case r.Err != nil && !rej:
			t.Errorf("row %d (%v) is not in the rejects file", r.Row, r.Err)
		case r.Err == nil && !in && !rej:
			t.Errorf("row %d (%s) is lost: neither in the sandbox nor rejected", r.Row, r.Key)
		case r.Err == nil && in && rej:
			t.Logf("row %d (%s) is in the sandbox and rejected: %s", r.Row, r.Key, reason)
		}
	}
}

// genPeople writes n rows for testdata/import/people.yaml: every row an
// email and a phone of its own, a stage out of four, a note on every
// third row, a task on every fifth, and (bad > 0) a bad email every bad rows
// (with no phone: a bad email beside a valid phone costs only the email).
func genPeople(t *testing.T, dir string, n, bad int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,first,last,email,phone,city,company,stage,note,task\n")
	stages := []string{"lead", "customer", "subscriber", "opportunity"}
	cities := []string{"Boston", "Zürich", "São Paulo", "Kraków"}
	for i := range n {
		email := fmt.Sprintf("person%04d@example.com", i)
		if bad > 0 && i%bad == bad-1 {
			email = fmt.Sprintf("person%04d-at-example.com", i)
		}
		note, task := "", ""
		if i%3 == 0 {
			note = fmt.Sprintf("Met at the fair (row %d).", i)
		}
		if i%5 == 0 {
			task = fmt.Sprintf("Call back #%d", i)
		}
		phone := fmt.Sprintf("(%03d) 555-%04d", 212+i%3*100, i)
		if bad > 0 && i%bad == bad-1 {
			phone = ""
		}
		fmt.Fprintf(&b, "ID-%d,Name%d,Surname%d,%s,%s,%s,Co %d,%s,%s,%s\n",
			i, i, i, email, phone, cities[i%len(cities)], i%7, stages[i%len(stages)], note, task)
	}
	path := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportPresets imports each preset's sample and checks the sandbox
// holds what the mapped rows say, notes and tasks exactly.
func TestImportPresets(t *testing.T) {
	for _, tc := range []struct{ sample, mapping string }{
		{"hubspot-contacts.csv", "hubspot.yaml"},
		{"salesforce-contacts.csv", "salesforce.yaml"},
		{"mailchimp-audience.csv", "mailchimp.yaml"},
	} {
		t.Run(tc.mapping, func(t *testing.T) {
			t.Parallel()
			sb := startSandbox(t, sandbox.Options{Rate: -1})
			f := newImpFiles(t)
			sample := filepath.Join(repoRoot, "samples", tc.sample)
			mapping := filepath.Join(repoRoot, "mappings", tc.mapping)
			rep := mustImport(t, sb, f, sample, mapping)
			rows, want := expectRows(t, sb, sample, mapping)
			if rep.RowsRead != int64(len(rows)) || rep.Rejected != 0 || rep.Created != int64(len(want)) {
				t.Errorf("report: read %d, created %d, rejected %d; the sample has %d rows, %d contacts",
					rep.RowsRead, rep.Created, rep.Rejected, len(rows), len(want))
			}
			got := sb.contents(t)
			if len(got) != len(want) {
				t.Errorf("sandbox holds %d contacts, want %d", len(got), len(want))
			}
			checkHolds(t, byKey(t, got), want)
			var notes, tasks int
			for _, e := range want {
				notes += len(e.notes)
				tasks += len(e.tasks)
			}
			if rep.NotesCreated != int64(notes) || rep.TasksCreated != int64(tasks) {
				t.Errorf("report: %d notes, %d tasks created; the rows give %d, %d", rep.NotesCreated, rep.TasksCreated, notes, tasks)
			}
			if notes == 0 || tasks == 0 {
				t.Errorf("the sample gives %d notes and %d tasks: nothing to check", notes, tasks)
			}
			t.Logf("%d rows, %d requests %v", rep.RowsRead, rep.Requests, rep.RequestsByKind)
		})
	}
}

// TestImportPresetSpotChecks pins a few values by hand, so that the
// comparison above is not only the mapping compared with itself.
func TestImportPresetSpotChecks(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	f := newImpFiles(t)
	mustImport(t, sb, f, filepath.Join(repoRoot, "samples", "hubspot-contacts.csv"), filepath.Join(repoRoot, "mappings", "hubspot.yaml"))
	got := byKey(t, sb.contents(t))
	liam := got["email:liam.patel@example.com"]
	if liam.FirstName != "Liam" || liam.Phone != "+12125550101" || liam.Country != "US" || liam.CompanyName != "Globex" ||
		!slices.Contains(liam.Tags, "hubspot") || !slices.Contains(liam.Tags, "stage:subscriber") || !slices.Contains(liam.Tags, "new-lead") {
		t.Errorf("Liam Patel: %s", liam.summary())
	}
	emma := got["email:emma.kim@example.com"]
	if len(emma.notes) != 1 || emma.notes[0] != "Please follow up next week about the demo." ||
		len(emma.tasks) != 1 || !strings.HasPrefix(emma.tasks[0], "Follow up|From HubSpot: Please follow up") {
		t.Errorf("Emma Kim: %s", emma.summary())
	}
}

// dirtyExtra adds to samples/dirty.csv's kinds of trouble, for
// mappings/generic.yaml.
const dirtyExtra = "\ufeffCustomer ID,First Name,Last Name,Email,Phone,Company,City,Country,Birthday,Interests,Score,Tags,Signed Up,Notes\n" +
	"D-1,Ana,García,ana@example.com,(415) 555-0100,Acme,Zürich,CH,,,,vip,2024-01-01,\"first line\nsecond line, with a comma\"\n" +
	"D-2,😀 Emoji,Ünïcödé,EMOJI@Example.com,,,,,,,,,2024-01-01,\n" +
	"D-3,Dup,One,ana@example.com,,,,,,,,newsletter,2024-01-01,a note from the duplicate\n" +
	"D-4,Nat,Phone,,020 7946 0958,,London,GB,,,,,2024-01-01,\n" +
	"D-5,UK,Phone,,+44 20 7946 0959,,London,GB,,,,,2024-01-01,\n" +
	"D-6,Bad,Mail,ana@@example.com,,,,,,,,,2024-01-01,\n" +
	"D-7,Bad,Mail2,ana example.com,,,,,,,,,2024-01-01,\n" +
	",,,,,,,,,,,,,\n" +
	"\n" +
	"D-8,US,National,,(646) 555-0199,,New York,,,,,,2024-01-01,follow-up: call\n" +
	"D-9,Score,Text,score@example.com,,,,,,,abc,,2024-01-01,\n" +
	"D-10,Only,Anid,,,,Paris,FR,,,,,2024-01-01,\n" +
	"D-10,Only,Anid,,,,Lyon,FR,,,,,2024-01-01,second row of the same id\n"

// TestImportDirty: every row of a dirty file is in GHL or in the rejects
// file with a reason, and the report adds up.
func TestImportDirty(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"sample", filepath.Join(repoRoot, "samples", "dirty.csv")},
		{"extra", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := startSandbox(t, sandbox.Options{Rate: -1})
			f := newImpFiles(t)
			file := tc.file
			if file == "" {
				file = filepath.Join(f.dir, "dirty-extra.csv")
				if err := os.WriteFile(file, []byte(dirtyExtra), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mapping := filepath.Join(repoRoot, "mappings", "generic.yaml")
			rep := mustImport(t, sb, f, file, mapping)
			rows, want := expectRows(t, sb, file, mapping)
			rejects := rejectsFile(t, f.rejects)
			if rep.RowsRead != int64(len(rows)) || rep.Rejected != int64(len(rejects)) {
				t.Errorf("report: read %d, rejected %d; file has %d rows, rejects file %d", rep.RowsRead, rep.Rejected, len(rows), len(rejects))
			}
			for _, r := range rejects {
				if r["_file"] != file {
					t.Errorf("reject row %s: _file %q, want %q", r["_row"], r["_file"], file)
				}
				t.Logf("rejected row %s: %s", r["_row"], r["_reason"])
			}
			all := sb.contents(t)
			got := byKey(t, all)
			// A row with neither email nor phone is keyed by its Customer
			// ID, which the contact does not show: find it by name.
			for _, r := range rows {
				if r.Err != nil || strings.HasPrefix(r.Key, "email:") || strings.HasPrefix(r.Key, "phone:") {
					continue
				}
				n := 0
				for _, h := range all {
					if h.Email == "" && h.Phone == "" && r.Contact.LastName != nil && h.LastName == *r.Contact.LastName {
						got[r.Key] = h
						n++
					}
				}
				if n != 1 {
					t.Errorf("row %d (%s): %d contacts without email and phone named %q", r.Row, r.Key, n, *r.Contact.LastName)
				}
			}
			checkNothingLost(t, rows, got, rejects)
			// Keys other than email and phone (Customer ID) are not in byKey.
			var plain map[string]*expected = map[string]*expected{}
			for k, e := range want {
				if strings.HasPrefix(k, "email:") || strings.HasPrefix(k, "phone:") {
					plain[k] = e
				}
			}
			checkHolds(t, got, plain)
			if len(all) != len(want) {
				t.Errorf("sandbox holds %d contacts; the rows name %d keys", len(all), len(want))
			}
		})
	}
}

// TestImportRerunSendsNoWrite: a finished import run again over the same
// input sends no write request.
func TestImportRerunSendsNoWrite(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	f := newImpFiles(t)
	file := genPeople(t, f.dir, 300, 40)
	first := mustImport(t, sb, f, file, peopleMapping)
	sb.ResetCounts()
	second := mustImport(t, sb, f, file, peopleMapping)
	// Strictly none: the write preflight's probe too is sent only when a
	// write is due.
	if w := sb.Counts().Writes; w != 0 {
		t.Errorf("re-run sent %d write requests: %v", w, sb.Counts().ByRoute)
	}
	if second.Requests != 0 || second.Unchanged != first.Created+first.Updated || second.Rejected != first.Rejected {
		t.Errorf("re-run report: %+v (first %+v)", second, first)
	}
	// Same input under a new state: every contact exists, so nothing is
	// created twice (notes and tasks included).
	f2 := f
	f2.state = filepath.Join(f.dir, "other.state")
	mustImport(t, sb, f2, file, peopleMapping)
	_, want := expectRows(t, sb, file, peopleMapping)
	got := sb.contents(t)
	if len(got) != len(want) {
		t.Errorf("sandbox holds %d contacts, want %d", len(got), len(want))
	}
	checkHolds(t, byKey(t, got), want)
}

// compareSandboxes asserts two sandboxes hold the same contacts (by email),
// fields, tags, notes and tasks.
func compareSandboxes(t *testing.T, got, want []held) {
	t.Helper()
	index := func(hs []held) map[string]string {
		m := map[string]string{}
		for _, h := range hs {
			k := strings.ToLower(h.Email)
			if k == "" {
				k = h.Phone
			}
			if _, dup := m[k]; dup {
				t.Errorf("two contacts for %s", k)
			}
			m[k] = h.summary()
		}
		return m
	}
	g, w := index(got), index(want)
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s:\n got  %s\n want %s", k, g[k], v)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: held, not in the clean run", k)
		}
	}
}

// TestImportUnderFaults: 5xx answers and dropped connections (before and
// after the write was applied) change nothing in what ends up in GHL.
func TestImportUnderFaults(t *testing.T) {
	t.Parallel()
	// Each retry waits the binary's backoff (500 ms and up): a few dozen
	// faults keep the test short and still hit every kind of request.
	const rows = 200
	clean := startSandbox(t, sandbox.Options{Rate: -1})
	fc := newImpFiles(t)
	file := genPeople(t, fc.dir, rows, 50)
	repClean := mustImport(t, clean, fc, file, peopleMapping)
	want := clean.contents(t)

	faults, err := sandbox.ParseFaults("5xx=0.05,drop-before=0.03,drop-after=0.03,seed=3")
	if err != nil {
		t.Fatal(err)
	}
	faulty := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	ff := newImpFiles(t)
	rep := mustImport(t, faulty, ff, file, peopleMapping)
	if faulty.Counts().FaultsTotal() == 0 || rep.Retries == 0 {
		t.Errorf("no fault injected or no retry: %v, retries %d", faulty.Counts().Faults, rep.Retries)
	}
	if rep.Rejected != repClean.Rejected || rep.Created+rep.Updated != repClean.Created {
		t.Errorf("faulty run: %+v\nclean run: %+v", rep, repClean)
	}
	compareSandboxes(t, faulty.contents(t), want)
	t.Logf("faults %v; requests %d (clean %d), retries %d", faulty.Counts().Faults, rep.Requests, repClean.Requests, rep.Retries)
}

// TestImport422After: the API applies a write and still answers 422. The
// row must not be lost, nor its notes and tasks sent twice.
func TestImport422After(t *testing.T) {
	t.Parallel()
	const rows = 300
	clean := startSandbox(t, sandbox.Options{Rate: -1})
	fc := newImpFiles(t)
	file := genPeople(t, fc.dir, rows, 0)
	mustImport(t, clean, fc, file, peopleMapping)
	want := clean.contents(t)

	faults, err := sandbox.ParseFaults("422-after=0.05,seed=5")
	if err != nil {
		t.Fatal(err)
	}
	faulty := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	ff := newImpFiles(t)
	rep := mustImport(t, faulty, ff, file, peopleMapping)
	if faulty.Counts().Faults["422-after"] == 0 {
		t.Fatal("no 422-after injected")
	}
	rejects := rejectsFile(t, ff.rejects)
	got := faulty.contents(t)
	expRows, _ := expectRows(t, faulty, file, peopleMapping)
	checkNothingLost(t, expRows, byKey(t, got), rejects)
	// A row rejected after three 422s in a row is possible, if rare: it
	// is then in the rejects file, and its contact is left out of the
	// comparison.
	skip := map[string]bool{}
	for _, r := range rejects {
		if !strings.Contains(r["_reason"], "422") {
			t.Errorf("row %s rejected for %s", r["_row"], r["_reason"])
		}
		skip[strings.ToLower(r["email"])] = true
	}
	if len(rejects) > 2 {
		t.Errorf("%d rows rejected for 422s that were applied", len(rejects))
	}
	var g, w []held
	for _, h := range got {
		if !skip[strings.ToLower(h.Email)] {
			g = append(g, h)
		}
	}
	for _, h := range want {
		if !skip[strings.ToLower(h.Email)] {
			w = append(w, h)
		}
	}
	compareSandboxes(t, g, w)
	t.Logf("faults %v; report created %d updated %d rejected %d requests %d retries %d",
		faulty.Counts().Faults, rep.Created, rep.Updated, rep.Rejected, rep.Requests, rep.Retries)
}

// startImport starts the binary without waiting for it.
func startImport(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// waitWrites polls the sandbox until it has answered at least n write
// requests, or the process exits; it reports whether the count was reached
// with the process still running.
// killImportAt runs an import and SIGKILLs it once the sandbox has
// counted at writes; killed is false when it ended first. werr is its
// Wait's error, out what it printed.
func killImportAt(t *testing.T, sb *testSandbox, args []string, at int64) (killed bool, werr error, out *bytes.Buffer) {
	t.Helper()
	cmd, out := startImport(t, sb.env(), args...)
	exited := make(chan struct{})
	go func() { werr = cmd.Wait(); close(exited) }()
	killed = waitWrites(t, sb, at, exited)
	if killed {
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}
	<-exited
	return killed, werr, out
}

func waitWrites(t *testing.T, sb *testSandbox, n int64, exited <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if sb.Counts().Writes >= n {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d writes not reached in a minute (%d)", n, sb.Counts().Writes)
	return false
}

func exitOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return -int(st.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1000
	}
	return 0
}

// TestImportKilledAndResumed kills the binary with SIGKILL at three points,
// early and mid-way, resumes each time, and checks nothing is doubled or
// lost.
func TestImportKilledAndResumed(t *testing.T) {
	t.Parallel()
	const rows = 400
	faults, err := sandbox.ParseFaults("latency=2ms-6ms,seed=11")
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	f := newImpFiles(t)
	file := genPeople(t, f.dir, rows, 37)
	args := f.args(file, peopleMapping)
	killed := 0
	for _, at := range []int64{5, 120, 330} {
		landed, werr, out := killImportAt(t, sb, args, at)
		if landed {
			if exitOf(werr) != -int(syscall.SIGKILL) {
				t.Fatalf("kill at %d writes: %v\n%s", at, werr, out)
			}
			killed++
			t.Logf("killed at %d writes (asked %d)", sb.Counts().Writes, at)
		} else {
			t.Logf("run ended (%v) before %d writes", werr, at)
		}
	}
	if killed < 2 {
		t.Errorf("only %d of 3 kills landed mid-run", killed)
	}
	rep := mustImport(t, sb, f, file, peopleMapping)
	if rep.RowsRead != rows {
		t.Errorf("final run read %d rows, want %d", rep.RowsRead, rows)
	}
	expRows, want := expectRows(t, sb, file, peopleMapping)
	all := sb.contents(t)
	got := byKey(t, all)
	if len(all) != len(want) {
		t.Errorf("sandbox holds %d contacts, want %d", len(all), len(want))
	}
	checkHolds(t, got, want)
	rejects := rejectsFile(t, f.rejects)
	checkNothingLost(t, expRows, got, rejects)
	if int64(len(rejects)) != rep.Rejected || rep.Rejected != int64(rows/37) {
		t.Errorf("rejects file %d rows, report %d, want %d", len(rejects), rep.Rejected, rows/37)
	}
}

// TestImportInterrupted: SIGINT mid-run exits 3 with the progress saved,
// and the same command again finishes the job.
func TestImportInterrupted(t *testing.T) {
	t.Parallel()
	const rows = 300
	faults, _ := sandbox.ParseFaults("latency=3ms,seed=2")
	sb := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	f := newImpFiles(t)
	file := genPeople(t, f.dir, rows, 0)
	cmd, out := startImport(t, sb.env(), f.args(file, peopleMapping)...)
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	if !waitWrites(t, sb, 60, exited) {
		t.Fatalf("run ended before it could be interrupted: %v\n%s", werr, out)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	<-exited
	if code := exitOf(werr); code != exitStopped {
		t.Fatalf("SIGINT: exit %d, want %d\n%s", code, exitStopped, out)
	}
	first := readReport(t, f.report)
	checkSums(t, first)
	if first.Outcome != "interrupted" || first.RowsRead >= rows || first.Created == 0 {
		t.Errorf("interrupted report: %+v", first)
	}
	rep := mustImport(t, sb, f, file, peopleMapping)
	if rep.RowsRead != rows || rep.Unchanged < first.Created {
		t.Errorf("resumed report: %+v", rep)
	}
	_, want := expectRows(t, sb, file, peopleMapping)
	all := sb.contents(t)
	if len(all) != len(want) {
		t.Errorf("sandbox holds %d contacts, want %d", len(all), len(want))
	}
	checkHolds(t, byKey(t, all), want)
}

// TestImportStopGrace: a soft stop whose rows in flight can't be finished
// within --stop-grace cancels them and exits 3; the next run converges with
// nothing lost and nothing twice (as after a kill).
func TestImportStopGrace(t *testing.T) {
	t.Parallel()
	const rows = 80
	faults, _ := sandbox.ParseFaults("latency=150ms,seed=4")
	sb := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	f := newImpFiles(t)
	file := genPeople(t, f.dir, rows, 40)
	cmd, out := startImport(t, sb.env(), append(f.args(file, peopleMapping), "--stop-grace", "50ms")...)
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	if !waitWrites(t, sb, 20, exited) {
		t.Fatalf("run ended before it could be interrupted: %v\n%s", werr, out)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	<-exited
	if code := exitOf(werr); code != exitStopped {
		t.Fatalf("SIGINT: exit %d, want %d\n%s", code, exitStopped, out)
	}
	if first := readReport(t, f.report); first.Outcome != "interrupted" {
		t.Errorf("interrupted report: %+v", first)
	}
	if !strings.Contains(out.String(), "stopped before the rows in flight were finished") {
		t.Errorf("the grace period did not cut the drain short:\n%s\nreport %+v", out, readReport(t, f.report))
	}
	rep := mustImport(t, sb, f, file, peopleMapping)
	if rep.RowsRead != rows {
		t.Errorf("resumed report: %+v", rep)
	}
	_, want := expectRows(t, sb, file, peopleMapping)
	all := sb.contents(t)
	if len(all) != len(want) {
		t.Errorf("sandbox holds %d contacts, want %d", len(all), len(want))
	}
	checkHolds(t, byKey(t, all), want)
}

// TestImportRefusals: what must exit 2 before any write does.
func TestImportRefusals(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	file := genPeople(t, dir, 60, 0)

	t.Run("damaged state", func(t *testing.T) {
		f := newImpFiles(t)
		mustImport(t, sb, f, file, peopleMapping)
		for _, size := range []int64{10, 4096} {
			st, err := os.Stat(f.state)
			if err != nil {
				t.Fatal(err)
			}
			if size >= st.Size() {
				size = st.Size() / 2
			}
			if err := os.Truncate(f.state, size); err != nil {
				t.Fatal(err)
			}
			sb.ResetCounts()
			r := runCLI(t, sb.env(), f.args(file, peopleMapping)...)
			if r.code != exitRefused || !strings.Contains(r.stderr, f.state) {
				t.Errorf("truncated to %d bytes: exit %d, want 2 naming the state\n%s", size, r.code, r.stderr)
			}
			if w := dataWrites(sb.Counts()); w != 0 {
				t.Errorf("truncated state: %d write requests", w)
			}
		}
		sb.ResetCounts()
		rep := mustImport(t, sb, f, file, peopleMapping, "--restart")
		if rep.RowsRead != 60 {
			t.Errorf("--restart report %+v", rep)
		}
		// Everything was there already: notes and tasks not sent again.
		if n := sb.Counts().ByRoute["POST /contacts/{contactId}/notes"] + sb.Counts().ByRoute["POST /contacts/{contactId}/tasks"]; n != 0 {
			t.Errorf("--restart over an imported file created %d notes and tasks again", n)
		}
	})

	t.Run("concurrent run", func(t *testing.T) {
		slow, _ := sandbox.ParseFaults("latency=20ms")
		sbs := startSandbox(t, sandbox.Options{Rate: -1, Faults: slow})
		f := newImpFiles(t)
		cmd, out := startImport(t, sbs.env(), f.args(file, peopleMapping)...)
		exited := make(chan struct{})
		var werr error
		go func() { werr = cmd.Wait(); close(exited) }()
		if !waitWrites(t, sbs, 1, exited) {
			t.Fatalf("first run ended too soon: %v\n%s", werr, out)
		}
		before := sbs.Counts().Writes
		r := runCLI(t, sbs.env(), "import", file, "--mapping", peopleMapping, "--state", f.state,
			"--rejects", filepath.Join(f.dir, "second.csv"), "--no-progress")
		if r.code != exitRefused || !strings.Contains(r.stderr, "another ghlbulk run") {
			t.Errorf("second run: exit %d, want 2\n%s", r.code, r.stderr)
		}
		<-exited
		if werr != nil {
			t.Errorf("first run: %v\n%s", werr, out)
		}
		_ = before
	})

	t.Run("mapping error", func(t *testing.T) {
		m := filepath.Join(t.TempDir(), "bad.yaml")
		bad := "version: 1\nkey: [email]\nfields:\n  email: \"email\"\n  firstName: \"no such column\"\n"
		os.WriteFile(m, []byte(bad), 0o644)
		sb.ResetCounts()
		f := newImpFiles(t)
		r := runCLI(t, sb.env(), f.args(file, m)...)
		if r.code != exitRefused || !strings.Contains(r.stderr, "bad.yaml:5") {
			t.Errorf("mapping error: exit %d, want 2 naming bad.yaml:5\n%s", r.code, r.stderr)
		}
		bad = "version: 1\nkey: [email]\nfields:\n  email: \"email\"\n  frstName: \"first\"\n"
		os.WriteFile(m, []byte(bad), 0o644)
		r = runCLI(t, sb.env(), f.args(file, m)...)
		if r.code != exitRefused || !strings.Contains(r.stderr, "bad.yaml:5") {
			t.Errorf("unknown field: exit %d, want 2 naming bad.yaml:5\n%s", r.code, r.stderr)
		}
		if w := dataWrites(sb.Counts()); w != 0 {
			t.Errorf("%d write requests", w)
		}
	})

	t.Run("read-only token", func(t *testing.T) {
		tok, err := sb.IssueToken(sb.LocationID(), []string{"contacts.readonly"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sb.ResetCounts()
		f := newImpFiles(t)
		env := []string{"GHL_API_URL=" + sb.URL, "GHL_LOCATION_ID=" + sb.LocationID(), "GHL_TOKEN=" + tok}
		r := runCLI(t, env, f.args(file, peopleMapping)...)
		if r.code != exitRefused {
			t.Errorf("read-only token: exit %d, want 2\n%s", r.code, r.stderr)
		}
		if w := dataWrites(sb.Counts()); w != 0 {
			t.Errorf("read-only token: %d write requests", w)
		}
		if strings.Contains(r.stderr, tok) || strings.Contains(r.stdout, tok) {
			t.Error("the token is printed")
		}
	})
}

// TestImportRequestsPerContact: new contacts without notes or tasks, with
// three tags every row has and one that varies, cost at most 1.05
// requests a contact (upserts and bulk tag calls shared by up to 100
// contacts across every lane): one of four stages; vip on a third of the
// rows as well; or one of 40 cohorts (50 rows each), where a tag batched
// per lane group would cost a call for nearly every row.
func TestImportRequestsPerContact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rows    int
		vip     int // rows with company "Co 0" get vip: every vip-th
		cohorts int // the varied tag is one of this many, not a stage
		max     float64
	}{
		{"common and stage", 1000, 0, 0, 1.05},
		{"common, vip and stage", 1000, 3, 0, 1.05},
		{"common and a cohort of 40", 2000, 0, 40, 1.05},
	} {
		rows := tc.rows
		sb := startSandbox(t, sandbox.Options{Rate: -1})
		f := newImpFiles(t)
		var b strings.Builder
		b.WriteString("id,first,last,email,phone,city,company,stage,note,task\n")
		stages := []string{"lead", "customer", "subscriber", "opportunity"}
		for i := range rows {
			co := "Co"
			if tc.vip > 0 {
				co = fmt.Sprintf("Co %d", i%tc.vip)
			}
			stage := stages[(i*7/3)%len(stages)]
			if tc.cohorts > 0 {
				stage = fmt.Sprint("cohort-", i%tc.cohorts)
			}
			fmt.Fprintf(&b, "ID-%d,Name%d,Surname%d,tags%04d@example.com,,Boston,%s,%s,,\n", i, i, i, i, co, stage)
		}
		file := filepath.Join(f.dir, "tags.csv")
		os.WriteFile(file, []byte(b.String()), 0o644)
		rep := mustImport(t, sb, f, file, peopleMapping)
		if rep.Created != int64(rows) {
			t.Fatalf("%s: created %d of %d", tc.name, rep.Created, rows)
		}
		per := float64(rep.Requests) / float64(rep.Created)
		t.Logf("%s: %.3f requests a contact: %v", tc.name, per, rep.RequestsByKind)
		if per > tc.max {
			t.Errorf("%s: %.3f requests a contact, want at most %.2f: %v", tc.name, per, tc.max, rep.RequestsByKind)
		}
		_, want := expectRows(t, sb, file, peopleMapping)
		checkHolds(t, byKey(t, sb.contents(t)), want)
	}
}
