package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// bearer adds the sandbox token; cancel, when set, cancels a run after a
// number of requests (an interruption at an arbitrary point).
type bearer struct {
	token  string
	base   http.RoundTripper
	n      atomic.Int64
	after  atomic.Int64 // cancel once n reaches this (0: never)
	cancel atomic.Pointer[context.CancelFunc]
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	n := b.n.Add(1)
	if a := b.after.Load(); a > 0 && n >= a {
		if c := b.cancel.Load(); c != nil {
			(*c)()
		}
	}
	return b.base.RoundTrip(r)
}

type fixture struct {
	sb  *sandbox.Server
	url string
	rt  *bearer
	c   *ghl.Client
	loc string
}

func newFixture(t testing.TB, contacts int) *fixture {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{Rate: -1, Daily: -1, Contacts: contacts, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	url, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	tok, err := sb.IssueToken(sb.LocationID(), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rt := &bearer{token: tok, base: http.DefaultTransport}
	return &fixture{sb: sb, url: url, rt: rt, c: ghl.New(url, &http.Client{Transport: rt}), loc: sb.LocationID()}
}

func (f *fixture) config(t testing.TB, out string, store *pipeline.Store) Config {
	return Config{
		Client: f.c, LocationID: f.loc, OutDir: out, Store: store,
		Include: []string{"tasks", "notes", "appointments"}, Workers: 4,
		Retry: pace.Policy{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxAttempts: 3},
	}
}

func openStore(t testing.TB) *pipeline.Store {
	t.Helper()
	s, err := pipeline.OpenStore(filepath.Join(t.TempDir(), "state.db"), pipeline.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// truth is what the API holds, read through another listing (GET
// /contacts/, 100 a page) and the per-contact endpoints.
type truth struct {
	contacts map[string]ghl.Contact
	tasks    map[string]ghl.Task
	notes    map[string]ghl.Note
	appts    map[string]ghl.Appointment
}

// relatedChangedSince is tr with only the related records that are new
// or changed since before.
func (tr truth) relatedChangedSince(before truth) truth {
	out := truth{contacts: tr.contacts, tasks: map[string]ghl.Task{}, notes: map[string]ghl.Note{}, appts: map[string]ghl.Appointment{}}
	for id, x := range tr.tasks {
		if !reflect.DeepEqual(before.tasks[id], x) {
			out.tasks[id] = x
		}
	}
	for id, x := range tr.notes {
		if !reflect.DeepEqual(before.notes[id], x) {
			out.notes[id] = x
		}
	}
	for id, x := range tr.appts {
		if !reflect.DeepEqual(before.appts[id], x) {
			out.appts[id] = x
		}
	}
	return out
}

// relatedOf lists contact's related records as "entity/id".
func (tr truth) relatedOf(contact string) []string {
	var out []string
	for id, x := range tr.tasks {
		if x.ContactID == contact {
			out = append(out, "tasks/"+id)
		}
	}
	for id, x := range tr.notes {
		if x.ContactID == contact {
			out = append(out, "notes/"+id)
		}
	}
	for id, x := range tr.appts {
		if x.ContactID == contact {
			out = append(out, "appointments/"+id)
		}
	}
	return out
}

func (f *fixture) truth(t testing.TB) truth {
	t.Helper()
	ctx := context.Background()
	tr := truth{map[string]ghl.Contact{}, map[string]ghl.Task{}, map[string]ghl.Note{}, map[string]ghl.Appointment{}}
	for page, err := range f.c.ContactPages(ctx, ghl.ListContactsParams{LocationID: f.loc, Limit: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Contacts {
			tr.contacts[c.ID] = c
		}
	}
	for id := range tr.contacts {
		ts, err := f.c.ListTasks(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ts {
			x.ContactID = cmpOr(x.ContactID, id)
			tr.tasks[x.ID] = x
		}
		ns, err := f.c.ListNotes(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ns {
			x.ContactID = cmpOr(x.ContactID, id)
			tr.notes[x.ID] = x
		}
		as, err := f.c.ListAppointments(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range as {
			x.ContactID = cmpOr(x.ContactID, id)
			tr.appts[x.ID] = x
		}
	}
	return tr
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rows reads an export file into rows of column -> text (CSV rendering of
// each value), in file order.
func rows(t testing.TB, path string) []map[string]string {
	t.Helper()
	if strings.HasSuffix(path, ".csv") {
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		all, err := csv.NewReader(fh).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]string
		for _, r := range all[1:] {
			m := map[string]string{}
			for i, h := range all[0] {
				m[h] = r[i]
			}
			out = append(out, m)
		}
		return out
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	pr, err := file.NewParquetReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1000}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	var out []map[string]string
	for rr.Next() {
		rec := rr.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			m := map[string]string{}
			for c, f := range rec.Schema().Fields() {
				m[f.Name] = sinks.CSVValue(rec.Column(c), i)
			}
			out = append(out, m)
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return out
}

func byID(t testing.TB, rs []map[string]string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, r := range rs {
		if _, dup := out[r["id"]]; dup {
			t.Errorf("id %s twice", r["id"])
		}
		out[r["id"]] = r
	}
	return out
}

func ts(s string) string {
	if t, ok := sinks.ParseTime(s); ok {
		return sinks.FormatTime(t)
	}
	return ""
}

func jsonList(vs []string) string {
	if vs == nil {
		return ""
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", v)
	}
	b.WriteByte(']')
	return b.String()
}

// check compares the export in dir with tr, field by field.
func check(t *testing.T, dir, format string, tr truth, wantContacts map[string]bool) {
	t.Helper()
	got := byID(t, rows(t, filepath.Join(dir, "contacts."+format)))
	if wantContacts == nil {
		wantContacts = map[string]bool{}
		for id := range tr.contacts {
			wantContacts[id] = true
		}
	}
	if len(got) != len(wantContacts) {
		t.Errorf("contacts: %d rows, want %d", len(got), len(wantContacts))
	}
	for id := range wantContacts {
		c, r := tr.contacts[id], got[id]
		if r == nil {
			t.Errorf("contact %s missing", id)
			continue
		}
		for col, want := range map[string]string{
			"locationId": c.LocationID, "firstName": c.FirstName, "lastName": c.LastName, "email": c.Email,
			"phone": c.Phone, "companyName": c.CompanyName, "businessId": c.BusinessID, "source": c.Source,
			"city": c.City, "country": c.Country, "tags": jsonList(c.Tags),
			"dateAdded": ts(c.DateAdded), "dateUpdated": ts(c.DateUpdated), "dnd": fmt.Sprint(c.DND),
		} {
			if r[col] != want {
				t.Errorf("contact %s %s = %q, want %q", id, col, r[col], want)
			}
		}
	}
	tasks := map[string]map[string]string{}
	for id, x := range tr.tasks {
		tasks[id] = map[string]string{"contactId": x.ContactID, "title": x.Title, "body": x.Body,
			"dueDate": ts(x.DueDate), "completed": fmt.Sprint(x.Completed), "assignedTo": x.AssignedTo}
	}
	notes := map[string]map[string]string{}
	for id, x := range tr.notes {
		notes[id] = map[string]string{"contactId": x.ContactID, "body": x.Body, "dateAdded": ts(x.DateAdded), "userId": x.UserID}
	}
	appts := map[string]map[string]string{}
	for id, x := range tr.appts {
		appts[id] = map[string]string{"contactId": x.ContactID, "calendarId": x.CalendarID, "title": x.Title,
			"startTime": ts(x.StartTime), "endTime": ts(x.EndTime), "appointmentStatus": x.AppointmentStatus}
	}
	nTasks := checkRelatedFile(t, filepath.Join(dir, "tasks."+format), "task", "tasks", tasks, wantContacts)
	nNotes := checkRelatedFile(t, filepath.Join(dir, "notes."+format), "note", "notes", notes, wantContacts)
	nAppts := checkRelatedFile(t, filepath.Join(dir, "appointments."+format), "appointment", "appointments", appts, wantContacts)
	m, err := sinks.ReadManifest(filepath.Join(dir, sinks.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if m.RowCounts["contacts"] != int64(len(got)) || m.RowCounts["tasks"] != int64(nTasks) ||
		m.RowCounts["notes"] != int64(nNotes) || m.RowCounts["appointments"] != int64(nAppts) {
		t.Errorf("manifest row counts %v disagree with the files", m.RowCounts)
	}
}

// checkRelatedFile compares the file of one related entity with want (its
// columns by id), for the records of the wanted contacts, and returns the
// file's row count.
func checkRelatedFile(t *testing.T, path, one, many string, want map[string]map[string]string, wantContacts map[string]bool) int {
	t.Helper()
	got := byID(t, rows(t, path))
	n := 0
	for id, cols := range want {
		if !wantContacts[cols["contactId"]] {
			continue
		}
		n++
		r := got[id]
		if r == nil {
			t.Errorf("%s %s missing", one, id)
			continue
		}
		for col, w := range cols {
			if r[col] != w {
				t.Errorf("%s %s %s = %q, want %q", one, id, col, r[col], w)
			}
		}
	}
	if len(got) != n {
		t.Errorf("%s: %d rows, want %d", many, len(got), n)
	}
	return len(got)
}

func TestExportFull(t *testing.T) {
	f := newFixture(t, 120)
	tr := f.truth(t)
	if len(tr.tasks) == 0 || len(tr.notes) == 0 || len(tr.appts) == 0 {
		t.Fatalf("sandbox seeded no sub-resources: %d tasks %d notes %d appointments", len(tr.tasks), len(tr.notes), len(tr.appts))
	}
	for _, tc := range []struct {
		name      string
		format    string
		pageLimit int
		store     bool
	}{
		{"parquet", "parquet", 0, true},
		{"csv small pages", "csv", 7, true},
		{"parquet no state", "parquet", 50, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			out := t.TempDir()
			var store *pipeline.Store
			if tc.store {
				store = openStore(t)
			}
			cfg := f.config(t, out, store)
			cfg.Format, cfg.PageLimit, cfg.Mem = tc.format, tc.pageLimit, mem
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Outcome != "done" || rep.RowsWritten["contacts"] != int64(len(tr.contacts)) {
				t.Errorf("report %+v", rep)
			}
			check(t, out, tc.format, tr, nil)
			m, err := sinks.ReadManifest(filepath.Join(out, sinks.ManifestName))
			if err != nil {
				t.Fatal(err)
			}
			if m.Total != int64(len(tr.contacts)) || m.Listed != m.Total || m.Mode != ModeFull || m.Cursor == nil {
				t.Errorf("manifest %+v", m)
			}
			ents, _ := os.ReadDir(out)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			want := []string{"appointments." + tc.format, "contacts." + tc.format, "manifest.json", "notes." + tc.format, "tasks." + tc.format}
			if !slices.Equal(names, want) {
				t.Errorf("out dir holds %v, want %v", names, want)
			}
		})
	}
}

func TestExportParquetTypes(t *testing.T) {
	f := newFixture(t, 10)
	out := t.TempDir()
	if _, err := Run(context.Background(), f.config(t, out, nil)); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(filepath.Join(out, "contacts.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	pr, err := file.NewParquetReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := fr.Schema()
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]arrow.DataType{"dateAdded": sinks.Timestamp, "dateUpdated": sinks.Timestamp, "tags": sinks.StringList, "dnd": arrow.FixedWidthTypes.Boolean} {
		i := sc.FieldIndices(name)
		if len(i) != 1 || !arrow.TypeEqual(sc.Field(i[0]).Type, typ) {
			t.Errorf("%s: %v, want %s", name, sc.Field(i[0]).Type, typ)
		}
	}
	_ = array.NewStringBuilder
}

func TestExportBusiness(t *testing.T) {
	f := newFixture(t, 150)
	tr := f.truth(t)
	count := map[string]int{}
	for _, c := range tr.contacts {
		if c.BusinessID != "" {
			count[c.BusinessID]++
		}
	}
	if len(count) == 0 {
		t.Skip("sandbox seeded no businesses")
	}
	var biz string
	for b, n := range count {
		if biz == "" || n > count[biz] || (n == count[biz] && b < biz) {
			biz = b
		}
	}
	want := map[string]bool{}
	for id, c := range tr.contacts {
		if c.BusinessID == biz {
			want[id] = true
		}
	}
	out := t.TempDir()
	cfg := f.config(t, out, openStore(t))
	cfg.BusinessID = biz
	cfg.PageLimit = 3
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	check(t, out, "parquet", tr, want)
}

func TestExportIncremental(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 60)
	store := openStore(t)
	out := t.TempDir()
	cfg := f.config(t, out, store)
	cfg.Incremental = true
	cfg.Layout = LayoutRun
	cfg.PageLimit = 25
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { clock = clock.Add(time.Hour); return clock }
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	tr := f.truth(t)
	ids := make([]string, 0, len(tr.contacts))
	for id := range tr.contacts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Change two, delete one, add one.
	first, _ := filepath.Glob(filepath.Join(out, "run=*"))
	if len(first) != 1 {
		t.Fatalf("run dirs %v", first)
	}
	time.Sleep(5 * time.Millisecond) // dateUpdated has millisecond resolution
	changed := map[string]bool{}
	for _, id := range ids[:2] {
		name := "Changed"
		if _, err := f.c.UpdateContact(ctx, id, ghl.UpdateContactRequest{FirstName: &name}); err != nil {
			t.Fatal(err)
		}
		changed[id] = true
	}
	if err := f.c.DeleteContact(ctx, ids[5]); err != nil {
		t.Fatal(err)
	}
	email := "new.person@example.com"
	added, err := f.c.CreateContact(ctx, ghl.UpsertContactRequest{LocationID: f.loc, Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	changed[added.ID] = true
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	runs, _ := filepath.Glob(filepath.Join(out, "run=*"))
	if len(runs) != 2 {
		t.Fatalf("run dirs %v", runs)
	}
	second := runs[1]
	tr2 := f.truth(t)
	// The contacts that changed, and the related records that did (none
	// here: a contact's own change leaves its tasks, notes and
	// appointments as they were, so they are not written again).
	check(t, second, "parquet", tr2.relatedChangedSince(tr), changed)
	m, err := sinks.ReadManifest(filepath.Join(second, sinks.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	goneRelated := tr.relatedOf(ids[5])
	if !slices.Equal(m.Deleted, []string{ids[5]}) || m.RowCounts["deleted"] != int64(1+len(goneRelated)) || m.Mode != ModeIncremental || m.Since == nil {
		t.Errorf("manifest: deleted %v counts %v mode %s since %v", m.Deleted, m.RowCounts, m.Mode, m.Since)
	}
	del := rows(t, filepath.Join(second, "deleted.parquet"))
	gotDel := map[string]string{}
	for _, d := range del {
		gotDel[d["entity"]+"/"+d["id"]] = d["contactId"]
	}
	wantDel := map[string]string{"contacts/" + ids[5]: ""}
	for _, k := range goneRelated {
		wantDel[k] = ids[5]
	}
	if !maps.Equal(gotDel, wantDel) {
		t.Errorf("deleted file %v, want %v", gotDel, wantDel)
	}
	// Nothing changed: the third run exports no contact and no deletion.
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	runs, _ = filepath.Glob(filepath.Join(out, "run=*"))
	m, err = sinks.ReadManifest(filepath.Join(runs[2], sinks.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if m.RowCounts["contacts"] != 0 || m.RowCounts["deleted"] != 0 || m.RowCounts["tasks"] != 0 {
		t.Errorf("unchanged run wrote %v", m.RowCounts)
	}
}

func TestExportResume(t *testing.T) {
	f := newFixture(t, 80)
	ref := t.TempDir()
	refCfg := f.config(t, ref, openStore(t))
	refCfg.PageLimit = 9
	if _, err := Run(context.Background(), refCfg); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		format string
		every  int64 // cancel after every·(attempt+1) more requests, until done
	}{
		{"early", "parquet", 3},
		{"mid page", "parquet", 41},
		{"csv", "csv", 57},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.format != "parquet" {
				refCfg.Format = tc.format
				ref = t.TempDir()
				refCfg.OutDir = ref
				refCfg.Store = openStore(t)
				if _, err := Run(context.Background(), refCfg); err != nil {
					t.Fatal(err)
				}
			}
			out := t.TempDir()
			store := openStore(t)
			cfg := f.config(t, out, store)
			cfg.PageLimit, cfg.Format = 9, tc.format
			interrupted := 0
			for attempt := 0; ; attempt++ {
				if attempt > 200 {
					t.Fatal("never finished")
				}
				ctx, cancel := context.WithCancel(context.Background())
				f.rt.cancel.Store(&cancel)
				f.rt.after.Store(f.rt.n.Load() + tc.every*int64(attempt+1))
				_, err := Run(ctx, cfg)
				f.rt.after.Store(0)
				cancel()
				if err == nil {
					break
				}
				if !errors.Is(err, pipeline.ErrInterrupted) || pipeline.ExitCode(err) != 3 {
					t.Fatalf("attempt %d: %v (exit %d), want an interruption", attempt, err, pipeline.ExitCode(err))
				}
				interrupted++
			}
			if interrupted == 0 {
				t.Fatal("the run was never interrupted")
			}
			for _, ent := range []string{"contacts", "tasks", "notes", "appointments"} {
				a, err := os.ReadFile(filepath.Join(ref, ent+"."+tc.format))
				if err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(out, ent+"."+tc.format))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("%s after %d interruptions differs from an uninterrupted export", ent, interrupted)
				}
			}
			if _, err := os.Stat(filepath.Join(out, stageDirName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("staging left behind: %v", err)
			}
		})
	}
}
