package main

// End-to-end tests of `ghlbulk export` (issue 5): the real binary against an
// in-process sandbox, the files read back with pqarrow and encoding/csv and
// compared field by field with what the sandbox serves through the ghl
// client.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// xpServed is what the sandbox serves: every contact of the location and
// their sub-resources, keyed by id.
type xpServed struct {
	contacts map[string]ghl.Contact
	tasks    map[string]ghl.Task
	notes    map[string]ghl.Note
	appts    map[string]ghl.Appointment
}

// xpServedData lists the location through the client (GET /contacts/, a
// different listing from the export's search) and reads each contact's
// sub-resources. The test's own requests are not counted in any assertion.
func xpServedData(t *testing.T, s *testSandbox) xpServed {
	t.Helper()
	ctx := context.Background()
	c := s.client()
	d := xpServed{contacts: map[string]ghl.Contact{}, tasks: map[string]ghl.Task{}, notes: map[string]ghl.Note{}, appts: map[string]ghl.Appointment{}}
	for page, err := range c.ContactPages(ctx, ghl.ListContactsParams{LocationID: s.LocationID(), Limit: 100}) {
		if err != nil {
			t.Fatalf("listing the sandbox's contacts: %v", err)
		}
		for _, ct := range page.Contacts {
			if _, dup := d.contacts[ct.ID]; dup {
				t.Fatalf("sandbox listed contact %s twice", ct.ID)
			}
			d.contacts[ct.ID] = ct
		}
	}
	type subs struct {
		id    string
		tasks []ghl.Task
		notes []ghl.Note
		appts []ghl.Appointment
		err   error
	}
	ids := make(chan string)
	results := make(chan subs)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				r := subs{id: id}
				if r.tasks, r.err = c.ListTasks(ctx, id); r.err == nil {
					if r.notes, r.err = c.ListNotes(ctx, id); r.err == nil {
						r.appts, r.err = c.ListAppointments(ctx, id)
					}
				}
				results <- r
			}
		}()
	}
	go func() {
		for id := range d.contacts {
			ids <- id
		}
		close(ids)
		wg.Wait()
		close(results)
	}()
	var firstErr error
	for r := range results {
		if r.err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("sub-resources of %s: %w", r.id, r.err)
			}
			continue
		}
		for _, x := range r.tasks {
			if x.ContactID == "" {
				x.ContactID = r.id
			}
			d.tasks[x.ID] = x
		}
		for _, x := range r.notes {
			if x.ContactID == "" {
				x.ContactID = r.id
			}
			d.notes[x.ID] = x
		}
		for _, x := range r.appts {
			if x.ContactID == "" {
				x.ContactID = r.id
			}
			d.appts[x.ID] = x
		}
	}
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return d
}

// only keeps the contacts (and their sub-resources) keep says yes to.
func (d xpServed) only(keep func(ghl.Contact) bool) xpServed {
	out := xpServed{contacts: map[string]ghl.Contact{}, tasks: map[string]ghl.Task{}, notes: map[string]ghl.Note{}, appts: map[string]ghl.Appointment{}}
	for id, c := range d.contacts {
		if keep(c) {
			out.contacts[id] = c
		}
	}
	for id, x := range d.tasks {
		if _, ok := out.contacts[x.ContactID]; ok {
			out.tasks[id] = x
		}
	}
	for id, x := range d.notes {
		if _, ok := out.contacts[x.ContactID]; ok {
			out.notes[id] = x
		}
	}
	for id, x := range d.appts {
		if _, ok := out.contacts[x.ContactID]; ok {
			out.appts[id] = x
		}
	}
	return out
}

// xpRow is one exported row: column name -> the value as the CSV file
// writes it ("" for null). Parquet values are rendered with sinks.CSVValue,
// so both formats compare the same way.
type xpRow map[string]string

// xpReadFile reads an export file back (Parquet with pqarrow, CSV with
// encoding/csv) and, for Parquet, checks the logical types the contract
// promises.
func xpReadFile(t *testing.T, path string) (header []string, rows []xpRow) {
	t.Helper()
	if strings.HasSuffix(path, ".csv") {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r := csv.NewReader(f)
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(recs) == 0 {
			t.Fatalf("%s: no header", path)
		}
		header = recs[0]
		for _, rec := range recs[1:] {
			row := xpRow{}
			for i, h := range header {
				row[h] = rec[i]
			}
			rows = append(rows, row)
		}
		return header, rows
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 512}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer tbl.Release()
	sc := tbl.Schema()
	for _, fld := range sc.Fields() {
		header = append(header, fld.Name)
		switch fld.Name {
		case "dateAdded", "dateUpdated", "dueDate", "startTime", "endTime", "detectedAt":
			ts, ok := fld.Type.(*arrow.TimestampType)
			if !ok || ts.Unit != arrow.Millisecond || ts.TimeZone != "UTC" {
				t.Errorf("%s: column %s is %s, want timestamp[ms, tz=UTC]", path, fld.Name, fld.Type)
			}
		case "tags", "users", "additionalEmails":
			if !arrow.TypeEqual(fld.Type, arrow.ListOf(arrow.BinaryTypes.String)) {
				if lt, ok := fld.Type.(*arrow.ListType); !ok || lt.Elem().ID() != arrow.STRING {
					t.Errorf("%s: column %s is %s, want list<string>", path, fld.Name, fld.Type)
				}
			}
		}
	}
	tr := array.NewTableReader(tbl, 512)
	defer tr.Release()
	for tr.Next() {
		rec := tr.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := xpRow{}
			for j, fld := range sc.Fields() {
				row[fld.Name] = sinks.CSVValue(rec.Column(j), i)
			}
			rows = append(rows, row)
		}
	}
	return header, rows
}

// xpByID indexes rows by id and fails on an id seen twice.
func xpByID(t *testing.T, what string, rows []xpRow) map[string]xpRow {
	t.Helper()
	out := map[string]xpRow{}
	for _, r := range rows {
		id := r["id"]
		if id == "" {
			t.Errorf("%s: a row without an id: %v", what, r)
			continue
		}
		if _, dup := out[id]; dup {
			t.Errorf("%s: id %s exported twice", what, id)
		}
		out[id] = r
	}
	return out
}

var xpTimeColumns = map[string]bool{"dateAdded": true, "dateUpdated": true, "dueDate": true, "startTime": true, "endTime": true}

// xpCompare checks one exported row against the API's object, column by
// column: every column the file has that the API's JSON names is compared
// (times as instants to the millisecond, lists and structs as JSON values,
// booleans and strings as text); typed custom field columns are checked by
// xpCheckCustom.
func xpCompare(t *testing.T, what string, header []string, got xpRow, apiObj any) {
	t.Helper()
	raw, err := json.Marshal(apiObj)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for _, col := range header {
		if strings.HasPrefix(col, "contact_") {
			continue
		}
		w, present := want[col]
		g := got[col]
		switch {
		case xpTimeColumns[col]:
			ws, _ := w.(string)
			wt, wok := sinks.ParseTime(ws)
			gt, gok := sinks.ParseTime(g)
			if wok != gok || (wok && wt.UnixMilli() != gt.UnixMilli()) {
				t.Errorf("%s: %s = %q, API says %q", what, col, g, ws)
			}
		case col == "customFields" || col == "tags" || col == "users" || col == "additionalEmails" || col == "dndSettings":
			if !present || w == nil || (col != "customFields" && col != "tags" && reflect.ValueOf(w).Len() == 0) {
				if g != "" && g != "[]" && g != "{}" {
					t.Errorf("%s: %s = %q, API has none", what, col, g)
				}
				continue
			}
			var gv any
			if err := json.Unmarshal([]byte(g), &gv); err != nil {
				t.Errorf("%s: %s = %q: not JSON: %v", what, col, g, err)
				continue
			}
			if col == "dndSettings" {
				// The file has every channel (null when the API has none).
				gm, _ := gv.(map[string]any)
				for k, v := range gm {
					if v == nil {
						delete(gm, k)
					}
				}
				for _, v := range gm {
					if m, ok := v.(map[string]any); ok {
						for k, x := range m {
							if x == nil {
								delete(m, k)
							}
						}
					}
				}
			}
			if !reflect.DeepEqual(gv, w) {
				t.Errorf("%s: %s = %s, API says %s", what, col, g, xpJSON(w))
			}
		case !present:
			if g != "" && g != "false" {
				t.Errorf("%s: %s = %q, API has none", what, col, g)
			}
		default:
			var ws string
			switch x := w.(type) {
			case string:
				ws = x
			case bool:
				ws = strconv.FormatBool(x)
			default:
				ws = xpJSON(x)
			}
			if g != ws {
				t.Errorf("%s: %s = %q, API says %q", what, col, g, ws)
			}
		}
	}
}

func xpJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// xpCheckCustom checks the typed custom field columns of a contact row
// against its raw values: TEXT and SINGLE_OPTIONS as text, NUMERICAL as a
// number, MULTIPLE_OPTIONS as a list.
func xpCheckCustom(t *testing.T, what string, m sinks.Manifest, got xpRow, c ghl.Contact) {
	t.Helper()
	byID := map[string]json.RawMessage{}
	for _, f := range c.CustomFields {
		byID[f.ID] = f.Value
	}
	for _, cf := range m.CustomFields {
		g, raw := got[cf.Column], byID[cf.ID]
		if len(raw) == 0 || string(raw) == "null" {
			if g != "" {
				t.Errorf("%s: %s = %q, API has no value", what, cf.Column, g)
			}
			continue
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		switch cf.DataType {
		case "TEXT", "SINGLE_OPTIONS", "LARGE_TEXT":
			if s, ok := v.(string); ok && g != s {
				t.Errorf("%s: %s = %q, API says %q", what, cf.Column, g, s)
			}
		case "NUMERICAL":
			var want float64
			switch x := v.(type) {
			case float64:
				want = x
			case string:
				want, _ = strconv.ParseFloat(x, 64)
			}
			if gf, err := strconv.ParseFloat(g, 64); err != nil || gf != want {
				t.Errorf("%s: %s = %q, API says %s", what, cf.Column, g, raw)
			}
		case "MULTIPLE_OPTIONS":
			var gl []string
			if err := json.Unmarshal([]byte(g), &gl); err != nil {
				t.Errorf("%s: %s = %q: not a list: %v", what, cf.Column, g, err)
			}
		case "DATE":
			if g == "" {
				t.Errorf("%s: %s is null, API says %s", what, cf.Column, raw)
			}
		}
	}
}

// xpFiles is an export directory read back.
type xpFiles struct {
	manifest sinks.Manifest
	headers  map[string][]string
	rows     map[string]map[string]xpRow // entity -> id -> row
}

func xpReadExport(t *testing.T, dir string) xpFiles {
	t.Helper()
	m, err := sinks.ReadManifest(filepath.Join(dir, sinks.ManifestName))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	out := xpFiles{manifest: m, headers: map[string][]string{}, rows: map[string]map[string]xpRow{}}
	for ent, name := range m.Files {
		h, rows := xpReadFile(t, filepath.Join(dir, name))
		out.headers[ent] = h
		out.rows[ent] = xpByID(t, ent, rows)
		if n := int64(len(rows)); n != m.RowCounts[ent] {
			t.Errorf("manifest says %d %s rows, the file has %d", m.RowCounts[ent], ent, n)
		}
	}
	return out
}

// xpCheckContent asserts the export holds exactly want, field by field.
func xpCheckContent(t *testing.T, got xpFiles, want xpServed) {
	t.Helper()
	check := func(ent string, want map[string]any) {
		t.Helper()
		rows := got.rows[ent]
		if len(rows) != len(want) {
			t.Errorf("%s: %d rows exported, sandbox serves %d", ent, len(rows), len(want))
		}
		for id, obj := range want {
			r, ok := rows[id]
			if !ok {
				t.Errorf("%s: %s missing from the export", ent, id)
				continue
			}
			xpCompare(t, ent+" "+id, got.headers[ent], r, obj)
			if c, ok := obj.(ghl.Contact); ok {
				xpCheckCustom(t, ent+" "+id, got.manifest, r, c)
			}
		}
		for id := range rows {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: %s exported but not served", ent, id)
			}
		}
	}
	anyMap := func(m any) map[string]any {
		out := map[string]any{}
		v := reflect.ValueOf(m)
		for _, k := range v.MapKeys() {
			out[k.String()] = v.MapIndex(k).Interface()
		}
		return out
	}
	check(sinks.EntityContacts, anyMap(want.contacts))
	if _, ok := got.manifest.Files[sinks.EntityTasks]; ok {
		check(sinks.EntityTasks, anyMap(want.tasks))
	}
	if _, ok := got.manifest.Files[sinks.EntityNotes]; ok {
		check(sinks.EntityNotes, anyMap(want.notes))
	}
	if _, ok := got.manifest.Files[sinks.EntityAppointments]; ok {
		check(sinks.EntityAppointments, anyMap(want.appts))
	}
}

func xpReport(t *testing.T, path string) pipeline.Report {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var r pipeline.Report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("report %s: %v", raw, err)
	}
	return r
}

func xpMustRun(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("ghlbulk %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

const xpAll = "tasks,notes,appointments"

func TestE2EExportFullParquetAndCSV(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 250, Seed: 11})
	want := xpServedData(t, s)
	if len(want.tasks) == 0 || len(want.notes) == 0 || len(want.appts) == 0 {
		t.Fatalf("the seed has no sub-resources to export: %d tasks, %d notes, %d appointments", len(want.tasks), len(want.notes), len(want.appts))
	}
	for _, format := range []string{"parquet", "csv"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			rep := filepath.Join(dir, "report.json")
			xpMustRun(t, s.env(), "export", "--out", out, "--include", xpAll, "--format", format, "--report", rep, "--no-progress")
			got := xpReadExport(t, out)
			m := got.manifest
			if m.Format != format || m.Mode != "full" || m.LocationID != s.LocationID() || m.SchemaVersion != sinks.SchemaVersion {
				t.Errorf("manifest: %+v", m)
			}
			if m.Total != int64(len(want.contacts)) || m.Listed != m.Total {
				t.Errorf("manifest: total %d, listed %d; sandbox has %d", m.Total, m.Listed, len(want.contacts))
			}
			if m.Cursor == nil || m.Cursor.Field != "dateUpdated" {
				t.Errorf("manifest cursor = %+v, want one on dateUpdated", m.Cursor)
			}
			for ent, name := range m.Files {
				if name != ent+"."+format {
					t.Errorf("manifest file for %s is %q", ent, name)
				}
			}
			xpCheckContent(t, got, want)
			r := xpReport(t, rep)
			for ent, n := range map[string]int{"contacts": len(want.contacts), "tasks": len(want.tasks), "notes": len(want.notes), "appointments": len(want.appts)} {
				if r.RowsWritten[ent] != int64(n) {
					t.Errorf("report rows_written[%s] = %d, want %d", ent, r.RowsWritten[ent], n)
				}
			}
			// Nothing but the files, the manifest and the default state.
			ents, _ := os.ReadDir(out)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			wantNames := []string{".ghlbulk.state", "appointments." + format, "contacts." + format, "manifest.json", "notes." + format, "tasks." + format}
			names = slices.DeleteFunc(names, func(n string) bool {
				return strings.HasPrefix(n, ".ghlbulk.state.") || strings.HasPrefix(n, ".ghlbulk.state-")
			})
			if !slices.Equal(names, wantNames) {
				t.Errorf("files in --out: %v, want %v", names, wantNames)
			}
		})
	}
}

func TestE2EExportBusiness(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 200, Seed: 12})
	all := xpServedData(t, s)
	counts := map[string]int{}
	for _, c := range all.contacts {
		if c.BusinessID != "" {
			counts[c.BusinessID]++
		}
	}
	if len(counts) == 0 {
		t.Fatal("no seeded contact has a businessId")
	}
	// The business with the most contacts, so its listing takes more
	// than one page when it can.
	var biz string
	for id, n := range counts {
		if biz == "" || n > counts[biz] || (n == counts[biz] && id < biz) {
			biz = id
		}
	}
	want := all.only(func(c ghl.Contact) bool { return c.BusinessID == biz })
	dir := t.TempDir()
	out := filepath.Join(dir, "biz")
	xpMustRun(t, s.env(), "export", "--out", out, "--business", biz, "--include", xpAll, "--format", "csv", "--no-progress")
	got := xpReadExport(t, out)
	if got.manifest.BusinessID != biz {
		t.Errorf("manifest business_id = %q, want %q", got.manifest.BusinessID, biz)
	}
	xpCheckContent(t, got, want)
	t.Logf("business %s: %d of %d contacts", biz, len(want.contacts), len(all.contacts))
}

// subRequests counts the per-contact sub-resource requests the sandbox
// served.
func subRequests(c sandbox.Counts) int64 {
	var n int64
	for route, v := range c.ByRoute {
		if strings.HasPrefix(route, "GET /contacts/{contactId}/") {
			n += v
		}
	}
	return n
}

// xpChangedSince is after's contacts that keep says yes to, with the
// related records new or changed since before (those an incremental run
// writes).
func xpChangedSince(before, after xpServed, keep func(ghl.Contact) bool) xpServed {
	out := after.only(keep)
	out.tasks, out.notes, out.appts = map[string]ghl.Task{}, map[string]ghl.Note{}, map[string]ghl.Appointment{}
	for id, x := range after.tasks {
		if !reflect.DeepEqual(before.tasks[id], x) {
			out.tasks[id] = x
		}
	}
	for id, x := range after.notes {
		if !reflect.DeepEqual(before.notes[id], x) {
			out.notes[id] = x
		}
	}
	for id, x := range after.appts {
		if !reflect.DeepEqual(before.appts[id], x) {
			out.appts[id] = x
		}
	}
	return out
}

// xpDeleted is the deleted file as entity -> id -> contactId.
func xpDeleted(got xpFiles) map[string]map[string]string {
	out := map[string]map[string]string{}
	for id, r := range got.rows[sinks.EntityDeleted] {
		if out[r["entity"]] == nil {
			out[r["entity"]] = map[string]string{}
		}
		out[r["entity"]][id] = r["contactId"]
	}
	return out
}

// wideRequests counts the location-wide listings' requests.
func wideRequests(c sandbox.Counts) (tasks, events int64) {
	return c.ByRoute["POST /locations/{locationId}/tasks/search"], c.ByRoute["GET /calendars/events"]
}

func TestE2EExportIncremental(t *testing.T) {
	t.Parallel()
	const n = 300
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 13})
	dir := t.TempDir()
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "inc.state")
	args := func(rep string) []string {
		return []string{"export", "--out", out, "--incremental", "--state", state, "--include", xpAll, "--report", rep, "--no-progress"}
	}
	// First run: a full export that sets the cursor. Tasks and
	// appointments come from the location-wide listings; only notes are
	// read per contact.
	s.ResetCounts()
	xpMustRun(t, s.env(), args(filepath.Join(dir, "r1.json"))...)
	fullSub := subRequests(s.Counts())
	m1 := xpReadExport(t, out).manifest
	if m1.Mode != "incremental" || m1.RowCounts["contacts"] != n || m1.Cursor == nil {
		t.Fatalf("first incremental run: %+v", m1)
	}
	if fullSub != n {
		t.Errorf("first run made %d per-contact requests, want %d (notes only)", fullSub, n)
	}
	if tk, ev := wideRequests(s.Counts()); tk < 2 || ev == 0 {
		t.Errorf("first run: %d tasks searches, %d calendar event listings; want the location-wide listings", tk, ev)
	}

	// Change 3 contacts (1%), add 1, delete 2, through the API.
	ctx := context.Background()
	c := s.client()
	before := xpServedData(t, s)
	ids := slices.Sorted(maps.Keys(before.contacts))
	changed := map[string]bool{}
	for i, id := range ids[:3] {
		name := fmt.Sprintf("Changed%d", i)
		if _, err := c.UpdateContact(ctx, id, ghl.UpdateContactRequest{FirstName: &name}); err != nil {
			t.Fatal(err)
		}
		changed[id] = true
	}
	first, email := "Newcomer", "newcomer@example.com"
	nc, err := c.CreateContact(ctx, ghl.UpsertContactRequest{LocationID: s.LocationID(), FirstName: &first, Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	changed[nc.ID] = true
	if _, err := c.CreateNote(ctx, nc.ID, ghl.NoteInput{Body: "first note"}); err != nil {
		t.Fatal(err)
	}
	deleted := []string{ids[n-1], ids[n-2]}
	for _, id := range deleted {
		if err := c.DeleteContact(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(deleted)
	want := xpChangedSince(before, xpServedData(t, s), func(c ghl.Contact) bool { return changed[c.ID] })
	if len(want.contacts) != 4 || len(want.notes) != 1 {
		t.Fatalf("want 4 changed contacts and 1 new note served, have %d and %d", len(want.contacts), len(want.notes))
	}
	wantGone := map[string]map[string]string{"contacts": {}}
	for _, id := range deleted {
		wantGone["contacts"][id] = ""
		for _, x := range before.only(func(c ghl.Contact) bool { return c.ID == id }).tasks {
			xpPut(wantGone, "tasks", x.ID, id)
		}
		for _, x := range before.only(func(c ghl.Contact) bool { return c.ID == id }).notes {
			xpPut(wantGone, "notes", x.ID, id)
		}
		for _, x := range before.only(func(c ghl.Contact) bool { return c.ID == id }).appts {
			xpPut(wantGone, "appointments", x.ID, id)
		}
	}

	// Second run: the changed and added contacts, the one new note, the
	// deleted contacts (in the manifest) and their records (in the
	// deleted file).
	s.ResetCounts()
	xpMustRun(t, s.env(), args(filepath.Join(dir, "r2.json"))...)
	incSub := subRequests(s.Counts())
	got := xpReadExport(t, out)
	xpCheckContent(t, got, want)
	if got.manifest.Mode != "incremental" || got.manifest.Since == nil {
		t.Errorf("second run manifest: mode %q, since %v", got.manifest.Mode, got.manifest.Since)
	}
	if !slices.Equal(got.manifest.Deleted, deleted) {
		t.Errorf("manifest deleted = %v, want %v", got.manifest.Deleted, deleted)
	}
	if gone := xpDeleted(got); !reflect.DeepEqual(gone, wantGone) {
		t.Errorf("deleted file = %v, want %v", gone, wantGone)
	}
	if got.manifest.Cursor == nil || !got.manifest.Cursor.Value.After(m1.Cursor.Value) {
		t.Errorf("cursor did not move: %+v -> %+v", m1.Cursor, got.manifest.Cursor)
	}
	// Cost: notes have no change journal, so every contact's are read
	// again; tasks and appointments cost their location-wide listings.
	if incSub != n-1 {
		t.Errorf("second run made %d per-contact requests, want %d (one notes read per contact)", incSub, n-1)
	}

	// Third run, nothing changed: no contacts, no records, no deletions.
	s.ResetCounts()
	xpMustRun(t, s.env(), args(filepath.Join(dir, "r3.json"))...)
	got3 := xpReadExport(t, out)
	for _, ent := range []string{"contacts", "tasks", "notes", "appointments", "deleted"} {
		if len(got3.rows[ent]) != 0 {
			t.Errorf("unchanged third run exported %d %s", len(got3.rows[ent]), ent)
		}
	}
}

func xpPut(m map[string]map[string]string, ent, id, contact string) {
	if m[ent] == nil {
		m[ent] = map[string]string{}
	}
	m[ent][id] = contact
}

// TestE2EExportIncrementalRelatedOnly: changes to tasks and notes alone
// (a contact's dateUpdated does not move) are all in the next incremental
// run: a note added and one edited, a task completed and one deleted.
func TestE2EExportIncrementalRelatedOnly(t *testing.T) {
	t.Parallel()
	const n = 120
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 31})
	dir := t.TempDir()
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "inc.state")
	args := []string{"export", "--out", out, "--incremental", "--state", state, "--include", xpAll, "--no-progress"}
	xpMustRun(t, s.env(), args...)

	ctx := context.Background()
	c := s.client()
	before := xpServedData(t, s)
	var withTasks []ghl.Task
	for _, x := range before.tasks {
		withTasks = append(withTasks, x)
	}
	slices.SortFunc(withTasks, func(a, b ghl.Task) int { return strings.Compare(a.ID, b.ID) })
	notes := slices.SortedFunc(maps.Values(before.notes), func(a, b ghl.Note) int { return strings.Compare(a.ID, b.ID) })
	contacts := slices.Sorted(maps.Keys(before.contacts))
	if len(withTasks) < 2 || len(notes) < 1 {
		t.Fatalf("seed has %d tasks, %d notes", len(withTasks), len(notes))
	}
	added, err := c.CreateNote(ctx, contacts[7], ghl.NoteInput{Body: "a note added"})
	if err != nil {
		t.Fatal(err)
	}
	edited := notes[0]
	if _, err := c.UpdateNote(ctx, edited.ContactID, edited.ID, ghl.NoteInput{Body: "edited"}); err != nil {
		t.Fatal(err)
	}
	done := withTasks[0]
	if _, err := c.CompleteTask(ctx, done.ContactID, done.ID, !done.Completed); err != nil {
		t.Fatal(err)
	}
	gone := withTasks[1]
	if err := c.DeleteTask(ctx, gone.ContactID, gone.ID); err != nil {
		t.Fatal(err)
	}
	after := xpServedData(t, s)
	want := xpChangedSince(before, after, func(ct ghl.Contact) bool {
		return ct.DateUpdated != before.contacts[ct.ID].DateUpdated
	})
	if len(want.contacts) != 0 {
		t.Fatalf("the sandbox moved %d contacts' dateUpdated: the test needs related-only changes", len(want.contacts))
	}
	if len(want.notes) != 2 || len(want.tasks) != 1 || want.notes[added.ID].ID == "" {
		t.Fatalf("want 2 notes and 1 task changed, have %d and %d", len(want.notes), len(want.tasks))
	}

	xpMustRun(t, s.env(), args...)
	got := xpReadExport(t, out)
	xpCheckContent(t, got, want)
	wantGone := map[string]map[string]string{"tasks": {gone.ID: gone.ContactID}}
	if g := xpDeleted(got); !reflect.DeepEqual(g, wantGone) {
		t.Errorf("deleted file = %v, want %v", g, wantGone)
	}
}

// xpRowSet is an export as comparable text: entity -> sorted rows, each
// its columns rendered in order.
func xpRowSet(t *testing.T, dir string) map[string][]string {
	t.Helper()
	f := xpReadExport(t, dir)
	out := map[string][]string{}
	for ent, rows := range f.rows {
		var lines []string
		for _, r := range rows {
			var b strings.Builder
			for _, h := range f.headers[ent] {
				b.WriteString(h + "=" + r[h] + "\x1f")
			}
			lines = append(lines, b.String())
		}
		slices.Sort(lines)
		out[ent] = lines
	}
	return out
}

func xpSameRows(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	for _, ent := range slices.Sorted(maps.Keys(want)) {
		g, w := got[ent], want[ent]
		if len(g) != len(w) {
			t.Errorf("%s: %s has %d rows, want %d", what, ent, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s: %s differs:\n got %s\nwant %s", what, ent, g[i], w[i])
				break
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: entities %v, want %v", what, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

func TestE2EExportKilledAndResumed(t *testing.T) {
	t.Parallel()
	// 1050 contacts are three search pages (500, 500, 50), so a kill after
	// the first page is checkpointed leaves something to resume from.
	const n = 1050
	const inc = "tasks,notes"
	faults, err := sandbox.ParseFaults("latency=1ms")
	if err != nil {
		t.Fatal(err)
	}
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 14, Faults: faults})
	dir := t.TempDir()

	// The reference: an uninterrupted export.
	ref := filepath.Join(dir, "ref")
	xpMustRun(t, s.env(), "export", "--out", ref, "--include", inc, "--no-progress")
	want := xpRowSet(t, ref)

	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "kill.state")
	args := []string{"export", "--out", out, "--state", state, "--include", inc, "--no-progress", "--report", filepath.Join(dir, "resumed.json")}
	s.ResetCounts()
	// Kill it in the middle of the second page: once the first page's
	// 500 notes requests (tasks come from the location-wide search) and
	// some of the second's were served.
	if !killAtSubRequests(t, s.env(), args, s, 500+300) {
		t.Fatalf("the export was not killed mid-run (%d sub-resource requests)", subRequests(s.Counts()))
	}
	beforeKill := subRequests(s.Counts())
	if _, err := os.Stat(filepath.Join(out, sinks.ManifestName)); err == nil {
		t.Fatal("a killed export left a manifest behind")
	}

	s.ResetCounts()
	xpMustRun(t, s.env(), args...)
	resumedSub := subRequests(s.Counts())
	t.Logf("killed after %d sub-resource requests; the resumed run made %d (a whole run: %d)", beforeKill, resumedSub, n)
	if resumedSub >= n {
		t.Errorf("the resumed run made %d sub-resource requests, as many as a whole run: it did not resume", resumedSub)
	}
	xpSameRows(t, "resumed export", xpRowSet(t, out), want)
	// No staging left behind.
	if _, err := os.Stat(filepath.Join(out, ".ghlbulk-staging")); err == nil {
		t.Error("staging directory left in --out after the resumed run finished")
	}
}

func TestE2EExportUnderFaults(t *testing.T) {
	t.Parallel()
	opt := sandbox.Options{Rate: -1, Contacts: 100, Seed: 15}
	clean := startSandbox(t, opt)
	faults, err := sandbox.ParseFaults("5xx=0.04,drop-before=0.02,seed=5")
	if err != nil {
		t.Fatal(err)
	}
	opt.Faults = faults
	faulty := startSandbox(t, opt)

	dir := t.TempDir()
	cleanOut, faultyOut := filepath.Join(dir, "clean"), filepath.Join(dir, "faulty")
	xpMustRun(t, clean.env(), "export", "--out", cleanOut, "--include", xpAll, "--no-progress")
	xpMustRun(t, faulty.env(), "export", "--out", faultyOut, "--include", xpAll, "--no-progress", "--report", filepath.Join(dir, "faulty.json"))
	c := faulty.Counts()
	if c.FaultsTotal() == 0 {
		t.Fatalf("no fault was injected: %+v", c.Faults)
	}
	rep := xpReport(t, filepath.Join(dir, "faulty.json"))
	if rep.Retries == 0 {
		t.Errorf("report shows no retries under %d injected faults", c.FaultsTotal())
	}
	t.Logf("faults injected: %v; retries %d", c.Faults, rep.Retries)
	// Same seed, same data: the faulty export holds what the clean one does,
	// and what the clean sandbox serves.
	xpSameRows(t, "export under faults", xpRowSet(t, faultyOut), xpRowSet(t, cleanOut))
	xpCheckContent(t, xpReadExport(t, faultyOut), xpServedData(t, clean))
}

func TestE2EExportLayoutRun(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 40, Seed: 16})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	var runDirs []string
	for i := range 2 {
		xpMustRun(t, s.env(), "export", "--out", out, "--layout", "run", "--include", "tasks", "--incremental", "--no-progress")
		ents, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		runDirs = runDirs[:0]
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), "run=") {
				runDirs = append(runDirs, e.Name())
			}
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".ghlbulk.state") {
				t.Errorf("--layout run left a file at the top of --out: %s", e.Name())
			}
		}
		if len(runDirs) != i+1 {
			t.Fatalf("after run %d: run directories %v, want %d", i+1, runDirs, i+1)
		}
	}
	for i, rd := range runDirs {
		got := xpReadExport(t, filepath.Join(out, rd))
		m := got.manifest
		if m.Layout != "run" || m.RunDir != rd {
			t.Errorf("%s: manifest layout %q, run_dir %q; want run, %q", rd, m.Layout, m.RunDir, rd)
		}
		// run=<start to the second>, and -2, -3, ... for a later run that
		// started in the same second.
		ts, _, _ := strings.Cut(strings.TrimPrefix(rd, "run="), "-")
		if _, err := time.Parse("20060102T150405Z", ts); err != nil {
			t.Errorf("%s: not run=<UTC time>: %v", rd, err)
		}
		wantContacts := 40
		if i == 1 {
			wantContacts = 0 // nothing changed since the first run
		}
		if len(got.rows[sinks.EntityContacts]) != wantContacts {
			t.Errorf("%s: %d contacts, want %d", rd, len(got.rows[sinks.EntityContacts]), wantContacts)
		}
	}
}

func TestE2EExportRefusals(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 3})
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"bad include", []string{"--include", "tasks,deals"}, "--include"},
		{"bad format", []string{"--format", "xlsx"}, "--format"},
		{"bad layout", []string{"--layout", "daily"}, "--layout"},
		{"incremental and since", []string{"--incremental", "--since", "2024-01-01T00:00:00Z"}, "--since"},
		{"bad since", []string{"--since", "yesterday"}, "--since"},
		{"no out", nil, "--out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"export"}
			if tc.name != "no out" {
				args = append(args, "--out", t.TempDir())
			}
			s.ResetCounts()
			r := runCLI(t, s.env(), append(args, tc.args...)...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.says) {
				t.Errorf("stderr does not name %s:\n%s", tc.says, r.stderr)
			}
			if n := s.Counts().Total; n != 0 {
				t.Errorf("%d requests before the refusal", n)
			}
		})
	}
}

func TestE2EExportHelp(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "export", "--help")
	if r.code != 0 {
		t.Fatalf("export --help: exit %d\n%s", r.code, r.stderr)
	}
	for _, s := range []string{"--out", "--include", "--format", "--incremental", "--since", "--state", "--report", "--layout", "--business", "Example", "manifest.json", "Exit codes"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("export --help does not mention %s", s)
		}
	}
}

// TestE2EExportRequestCount counts the requests of a full export with
// every related kind on 1,000 contacts (docs/benchmarks.md): contact
// pages, task pages, calendar windows and one notes read per contact,
// plus the run's few fixed requests, against 3 per contact before.
func TestE2EExportRequestCount(t *testing.T) {
	t.Parallel()
	const n = 1000
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 17})
	served := xpServedData(t, s)
	dir := t.TempDir()
	s.ResetCounts()
	// --no-plan: the plan's counting requests (two here) are not the export's.
	xpMustRun(t, s.env(), "export", "--out", filepath.Join(dir, "out"), "--include", xpAll, "--no-progress", "--no-plan")
	c := s.Counts()
	tasks, events := wideRequests(c)
	pages := c.ByRoute["POST /contacts/search"]
	notes := subRequests(c)
	floor := int64(n/500+1+len(served.tasks)/500+1+n) + events // a listing ends on its first short page
	t.Logf("full export of %d contacts with %s: %d requests (contact pages %d, task pages %d, calendar windows %d, notes %d, other %d); floor %d; per contact as before: %d",
		n, xpAll, c.Total, pages, tasks, events, notes, c.Total-pages-tasks-events-notes, floor, n/500+1+3*n)
	if notes != n {
		t.Errorf("%d per-contact requests, want %d (notes only)", notes, n)
	}
	// The fixed requests: the preflight, the custom fields, the tasks
	// probe and the calendars listing.
	if c.Total > floor+4 {
		t.Errorf("%d requests, more than the floor %d and the 4 fixed ones", c.Total, floor)
	}
	got := xpReadExport(t, filepath.Join(dir, "out"))
	xpCheckContent(t, got, served)
}

// TestE2EExportWithoutListingScopes: a token that may not search tasks or
// list calendars still exports every task and appointment, read per
// contact, and the run names the scopes that would make it cheaper.
func TestE2EExportWithoutListingScopes(t *testing.T) {
	t.Parallel()
	const n = 40
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 23})
	tok, err := s.IssueToken(s.LocationID(), []string{"contacts.readonly", "locations/customFields.readonly"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	served := xpServedData(t, s)
	out := filepath.Join(t.TempDir(), "out")
	s.ResetCounts()
	r := runCLI(t, []string{"GHL_API_URL=" + s.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN=" + tok},
		"--no-progress", "export", "--out", out, "--include", xpAll)
	if r.code != 0 {
		t.Fatalf("export without the listing scopes: exit %d\n%s", r.code, r.stderr)
	}
	for _, scope := range []string{"locations/tasks.readonly", "calendars.readonly", "calendars/events.readonly"} {
		if !strings.Contains(r.stderr, scope) {
			t.Errorf("the run does not name scope %s:\n%s", scope, r.stderr)
		}
	}
	if sub := subRequests(s.Counts()); sub != 3*n {
		t.Errorf("%d per-contact requests, want %d", sub, 3*n)
	}
	xpCheckContent(t, xpReadExport(t, out), served)
}
