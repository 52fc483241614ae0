package sinks

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/ghlbulk/ghlbulk/ghl"
)

var testFields = []ghl.CustomField{
	{ID: "cf1", Name: "Score", FieldKey: "contact.score", DataType: "NUMERICAL", Model: "contact"},
	{ID: "cf2", Name: "Renewal", FieldKey: "contact.renewal_date", DataType: "DATE", Model: "contact"},
	{ID: "cf3", Name: "Interests", FieldKey: "contact.interests", DataType: "MULTIPLE_OPTIONS", Model: "contact"},
	{ID: "cf4", Name: "Notes", FieldKey: "contact.notes_text", DataType: "TEXT", Model: "contact"},
	{ID: "cf5", Name: "Opp", FieldKey: "opportunity.x", DataType: "TEXT", Model: "opportunity"},
}

func testContacts() []ghl.Contact {
	return []ghl.Contact{
		{
			ID: "c1", LocationID: "loc", FirstName: "Ann", LastName: "O'Neil, \"Jr\"", Email: "ann@example.com",
			Phone: "+15550100", Tags: []string{"vip", "a,b;c"}, DateAdded: "2024-05-01T12:00:00.123Z",
			DateUpdated: "2024-05-02T13:00:00+02:00", DND: true,
			DNDSettings: ghl.DNDSettings{"Email": {Status: "active", Message: "asked", Code: "x"}},
			CustomFields: []ghl.CustomFieldValue{
				{ID: "cf1", Value: json.RawMessage(`42.5`)},
				{ID: "cf2", Value: json.RawMessage(`"2024-06-01"`)},
				{ID: "cf3", Value: json.RawMessage(`["golf","chess"]`)},
				{ID: "cf4", Value: json.RawMessage(`"line1\nline2"`)},
				{ID: "unknown", Value: json.RawMessage(`"kept raw"`)},
			},
		},
		{ID: "c2", LocationID: "loc", Email: "b@example.com", DateAdded: "not a date",
			CustomFields: []ghl.CustomFieldValue{{ID: "cf1", Value: json.RawMessage(`"1,234"`)}, {ID: "cf2", Value: json.RawMessage(`1717200000000`)}}},
	}
}

func TestContactSchema(t *testing.T) {
	cs := NewContactSchema(append(testFields, ghl.CustomField{ID: "cf6", FieldKey: "contact.score", DataType: "TEXT"}))
	want := map[string]arrow.DataType{
		"contact_score": arrow.PrimitiveTypes.Float64, "contact_renewal_date": Timestamp,
		"contact_interests": StringList, "contact_notes_text": arrow.BinaryTypes.String,
		"contact_score_2": arrow.BinaryTypes.String, "tags": StringList, "dateAdded": Timestamp,
	}
	for name, typ := range want {
		idx := cs.Schema.FieldIndices(name)
		if len(idx) != 1 {
			t.Errorf("column %q: found %d times", name, len(idx))
			continue
		}
		if got := cs.Schema.Field(idx[0]).Type; !arrow.TypeEqual(got, typ) {
			t.Errorf("column %q: type %s, want %s", name, got, typ)
		}
	}
	if len(cs.Schema.FieldIndices("opportunity_x")) != 0 {
		t.Error("a non-contact custom field got a column")
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"2024-05-01T12:00:00.123Z", "2024-05-01T12:00:00.123Z"},
		{"2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"},
		{"2024-05-01 12:00:00", "2024-05-01T12:00:00Z"},
		{"2024-05-01", "2024-05-01T00:00:00Z"},
		{"1714564800000", "2024-05-01T12:00:00Z"},
		{"garbage", ""},
		{"", ""},
		{"1e400", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseTime(tc.in)
			if tc.want == "" {
				if ok {
					t.Fatalf("ParseTime(%q) = %v, want failure", tc.in, got)
				}
				return
			}
			if !ok || FormatTime(got) != tc.want {
				t.Fatalf("ParseTime(%q) = %v %v, want %s", tc.in, FormatTime(got), ok, tc.want)
			}
		})
	}
}

func readParquet(t *testing.T, path string, mem memory.Allocator) arrow.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestParquetRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name        string
		compression string
		rowGroup    int64
		repeat      int
	}{
		{"zstd", "zstd", 0, 1},
		{"snappy small groups", "snappy", 3, 5},
		{"empty", "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			cs := NewContactSchema(testFields)
			w, err := Create(FormatParquet, dir, EntityContacts, cs.Schema, Options{Compression: tc.compression, RowGroupRows: tc.rowGroup, Mem: mem})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.repeat; i++ {
				rec := ContactsRecord(mem, cs, testContacts())
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
				rec.Release()
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Rows() != int64(2*tc.repeat) {
				t.Fatalf("Rows() = %d", w.Rows())
			}
			tbl := readParquet(t, filepath.Join(dir, "contacts.parquet"), mem)
			defer tbl.Release()
			if tbl.NumRows() != int64(2*tc.repeat) {
				t.Fatalf("read %d rows, want %d", tbl.NumRows(), 2*tc.repeat)
			}
			sameColumns(t, tbl.Schema(), cs.Schema)
			if tc.repeat == 0 {
				return
			}
			tr := array.NewTableReader(tbl, -1)
			defer tr.Release()
			tr.Next()
			rec := tr.Record()
			col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
			if got := col("lastName").(*array.String).Value(0); got != `O'Neil, "Jr"` {
				t.Errorf("lastName = %q", got)
			}
			da := col("dateAdded").(*array.Timestamp)
			if got := FormatTime(da.Value(0).ToTime(arrow.Millisecond)); got != "2024-05-01T12:00:00.123Z" {
				t.Errorf("dateAdded = %s", got)
			}
			if !da.IsNull(1) {
				t.Error("unparseable dateAdded is not null")
			}
			if got := FormatTime(col("dateUpdated").(*array.Timestamp).Value(0).ToTime(arrow.Millisecond)); got != "2024-05-02T11:00:00Z" {
				t.Errorf("dateUpdated = %s", got)
			}
			if tz := col("dateUpdated").DataType().(*arrow.TimestampType).TimeZone; tz != "UTC" {
				t.Errorf("timezone %q", tz)
			}
			if got := CSVValue(col("tags"), 0); got != `["vip","a,b;c"]` {
				t.Errorf("tags = %s", got)
			}
			if !col("tags").IsNull(1) {
				t.Error("absent tags not null")
			}
			if got := CSVValue(col("dndSettings"), 0); got != `{"Email":{"code":"x","message":"asked","status":"active"}}` {
				t.Errorf("dndSettings = %s", got)
			}
			if got := col("contact_score").(*array.Float64).Value(1); got != 1234 {
				t.Errorf("score = %v", got)
			}
			if got := CSVValue(col("contact_renewal_date"), 1); got != "2024-06-01T00:00:00Z" {
				t.Errorf("renewal = %s", got)
			}
			if got := CSVValue(col("contact_interests"), 0); got != `["golf","chess"]` {
				t.Errorf("interests = %s", got)
			}
			if got := CSVValue(col("customFields"), 0); !strings.Contains(got, `"kept raw"`) {
				t.Errorf("customFields = %s", got)
			}
		})
	}
}

func TestCSVSinkRFC4180(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	cs := NewContactSchema(testFields)
	w, err := Create(FormatCSV, dir, EntityContacts, cs.Schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := ContactsRecord(mem, cs, testContacts())
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "contacts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "\"O'Neil, \"\"Jr\"\"\"") {
		t.Errorf("quotes not doubled inside a quoted field:\n%s", raw)
	}
	if !strings.HasSuffix(string(raw), "\r\n") {
		t.Error("lines do not end in CRLF")
	}
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d lines, want header + 2", len(rows))
	}
	get := func(r int, name string) string {
		for i, h := range rows[0] {
			if h == name {
				return rows[r][i]
			}
		}
		t.Fatalf("no column %q", name)
		return ""
	}
	for _, tc := range []struct {
		row        int
		col, value string
	}{
		{1, "id", "c1"},
		{1, "lastName", `O'Neil, "Jr"`},
		{1, "tags", `["vip","a,b;c"]`},
		{1, "dateAdded", "2024-05-01T12:00:00.123Z"},
		{1, "dateUpdated", "2024-05-02T11:00:00Z"},
		{1, "dnd", "true"},
		{1, "contact_notes_text", "line1\nline2"},
		{1, "contact_score", "42.5"},
		{2, "dateAdded", ""},
		{2, "tags", ""},
		{2, "dnd", "false"},
	} {
		t.Run(tc.col, func(t *testing.T) {
			if got := get(tc.row, tc.col); got != tc.value {
				t.Errorf("row %d %s = %q, want %q", tc.row, tc.col, got, tc.value)
			}
		})
	}
}

func TestAtomicFileNoPartial(t *testing.T) {
	for _, format := range []string{FormatParquet, FormatCSV} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			final := filepath.Join(dir, FileName(EntityTasks, format))
			if err := os.WriteFile(final, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := Create(format, dir, EntityTasks, TaskSchema, Options{})
			if err != nil {
				t.Fatal(err)
			}
			rec := TasksRecord(memory.DefaultAllocator, []ghl.Task{{ID: "t1", ContactID: "c1", Title: "x", DueDate: "2024-01-01T00:00:00Z"}})
			defer rec.Release()
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			// A record of another schema fails the write; the run aborts.
			bad := NotesRecord(memory.DefaultAllocator, []ghl.Note{{ID: "n"}})
			defer bad.Release()
			if err := w.Write(bad); err == nil {
				t.Fatal("writing a record of another schema succeeded")
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(final)
			if string(got) != "previous" {
				t.Fatalf("final file changed to %q", got)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Fatalf("left behind: %v", ents)
			}
		})
	}
}

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	since := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	m := Manifest{SchemaVersion: SchemaVersion, Format: "parquet", Mode: "incremental", LocationID: "loc",
		Include: []string{"tasks"}, CreatedAt: since, Since: &since,
		Cursor: &ExportCursor{Field: "dateUpdated", Value: since.Add(time.Hour), IDs: []string{"a"}},
		Total:  3, Listed: 3, RowCounts: map[string]int64{"contacts": 3}, Files: map[string]string{"contacts": "contacts.parquet"},
		Deleted: []string{"z"}, CustomFields: CustomFieldsManifest(NewContactSchema(testFields))}
	if err := WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("manifest read back:\n%+v\nwant\n%+v", got, m)
	}
	if _, err := ReadManifest(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing manifest: %v", err)
	}
}

// sameColumns checks names and types (Parquet adds field_id metadata).
func sameColumns(t *testing.T, got, want *arrow.Schema) {
	t.Helper()
	if got.NumFields() != want.NumFields() {
		t.Fatalf("%d columns, want %d", got.NumFields(), want.NumFields())
	}
	for i, f := range want.Fields() {
		g := got.Field(i)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) {
			t.Errorf("column %d: %s %s, want %s %s", i, g.Name, g.Type, f.Name, f.Type)
		}
	}
}
