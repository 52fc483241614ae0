package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// toParquet writes a CSV file as Parquet: string columns, a blank cell as
// null, row groups of 64 rows (so the reader crosses several).
func toParquet(t *testing.T, csvPath string) string {
	t.Helper()
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	fields := make([]arrow.Field, len(recs[0]))
	for i, h := range recs[0] {
		fields[i] = arrow.Field{Name: h, Type: arrow.BinaryTypes.String, Nullable: true}
	}
	sc := arrow.NewSchema(fields, nil)
	out := csvPath[:len(csvPath)-len(filepath.Ext(csvPath))] + ".parquet"
	pf, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, pf, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(64)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for _, row := range recs[1:] {
		for i, v := range row {
			sb := b.Field(i).(*array.StringBuilder)
			if v == "" {
				sb.AppendNull()
			} else {
				sb.Append(v)
			}
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportParquet: the same rows imported from Parquet and from CSV end
// up as the same contacts, tags, notes and tasks; a Parquet import run
// again sends no write.
func TestImportParquet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	csvFile := genPeople(t, dir, 300, 25)
	pq := toParquet(t, csvFile)

	fromCSV := startSandbox(t, sandbox.Options{Rate: -1})
	mustImport(t, fromCSV, newImpFiles(t), csvFile, peopleMapping)
	fromPQ := startSandbox(t, sandbox.Options{Rate: -1})
	f := newImpFiles(t)
	rep := mustImport(t, fromPQ, f, pq, peopleMapping)
	if rep.RowsRead != 300 || rep.Rejected == 0 {
		t.Errorf("parquet import: %+v", rep)
	}
	if rj := rejectsFile(t, f.rejects); int64(len(rj)) != rep.Rejected || rj[0]["_file"] != pq || rj[0]["email"] == "" {
		t.Errorf("rejects of the parquet import: %v", rj)
	}
	compareSandboxes(t, fromPQ.contents(t), fromCSV.contents(t))

	fromPQ.ResetCounts()
	again := mustImport(t, fromPQ, f, pq, peopleMapping)
	if w := dataWrites(fromPQ.Counts()); w != 0 || again.Unchanged != 300-rep.Rejected {
		t.Errorf("parquet re-run: %d writes, %+v", w, again)
	}
}

// structParquet writes rows of email, first and address {city, zip} (a
// struct column; null on every third row) as Parquet.
func structParquet(t *testing.T, path string, n int) {
	t.Helper()
	addr := arrow.StructOf(
		arrow.Field{Name: "city", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "zip", Type: arrow.BinaryTypes.String, Nullable: true},
	)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "email", Type: arrow.BinaryTypes.String},
		{Name: "first", Type: arrow.BinaryTypes.String},
		{Name: "address", Type: addr, Nullable: true},
	}, nil)
	pf, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, pf, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(4)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("s%d@example.com", i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("First%d", i))
		sb := b.Field(2).(*array.StructBuilder)
		if i%3 == 2 {
			sb.AppendNull()
			continue
		}
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append(fmt.Sprintf("City%d", i))
		sb.FieldBuilder(1).(*array.StringBuilder).Append(fmt.Sprintf("%05d", i))
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestImportParquetStructField: a mapping names a struct column's field as
// "address.city"; validate accepts it and import sets each contact's city
// (none where the struct is null).
func TestImportParquetStructField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pq := filepath.Join(dir, "nested.parquet")
	structParquet(t, pq, 9)
	mapping := filepath.Join(dir, "nested.yaml")
	m := "version: 1\nkey: [email]\nfields:\n  email: \"email\"\n  firstName: \"first\"\n  city: \"address.city\"\n  postalCode: \"address.zip\"\n"
	if err := os.WriteFile(mapping, []byte(m), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	f := newImpFiles(t)
	v := runCLI(t, sb.env(), "validate", pq, "--mapping", mapping, "--rejects", f.rejects,
		"--plan-out", filepath.Join(f.dir, "plan.csv"), "--no-progress")
	if v.code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	rep := mustImport(t, sb, f, pq, mapping)
	if rep.Created != 9 {
		t.Fatalf("import: %+v", rep)
	}
	got := map[string]string{}
	for _, h := range sb.contents(t) {
		got[h.Email] = h.City + "|" + h.PostalCode
	}
	for i := range 9 {
		want := fmt.Sprintf("City%d|%05d", i, i)
		if i%3 == 2 {
			want = "|"
		}
		if e := fmt.Sprintf("s%d@example.com", i); got[e] != want {
			t.Errorf("%s: city|zip %q, want %q", e, got[e], want)
		}
	}
}
