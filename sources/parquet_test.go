package sources

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// writeParquet writes n rows of typed columns through pqarrow, in row
// groups of rg rows.
func writeParquet(t *testing.T, n, rg int) string {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "email", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "rating", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "vip", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "created", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "born", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
	p := filepath.Join(t.TempDir(), "in.parquet")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(int64(rg))), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		b.Field(0).(*array.StringBuilder).Append("p" + itoa(i+1) + "@example.com")
		b.Field(1).(*array.Int64Builder).Append(int64(i + 1))
		b.Field(2).(*array.Float64Builder).Append(float64(i) + 0.5)
		b.Field(3).(*array.BooleanBuilder).Append(i%2 == 0)
		ts, _ := arrow.TimestampFromTime(base.Add(time.Duration(i)*time.Hour), arrow.Millisecond)
		b.Field(4).(*array.TimestampBuilder).Append(ts)
		b.Field(5).(*array.Date32Builder).Append(arrow.Date32FromTime(base))
		lb := b.Field(6).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParquetRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p := writeParquet(t, 2500, 1000)
	src, err := OpenParquet(p, ParquetOptions{BatchSize: 300, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := []string{"email", "score", "rating", "vip", "created", "born", "tags"}
	if got := src.Header(); len(got) != len(want) {
		t.Fatalf("header = %q", got)
	}
	var next int64 = 1
	for {
		b, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.FirstRow != next {
			t.Errorf("FirstRow = %d, want %d", b.FirstRow, next)
		}
		if b.Record.NumRows() > 300 {
			t.Errorf("batch of %d rows, want at most 300", b.Record.NumRows())
		}
		emails := b.Record.Column(0).(*array.String)
		scores := b.Record.Column(1).(*array.Int64)
		for i := 0; i < emails.Len(); i++ {
			row := next + int64(i)
			if emails.Value(i) != "p"+itoa(int(row))+"@example.com" || scores.Value(i) != row {
				t.Fatalf("row %d = %q %d", row, emails.Value(i), scores.Value(i))
			}
		}
		next += b.Record.NumRows()
		b.Record.Release()
	}
	if next != 2501 {
		t.Errorf("read %d rows, want 2500", next-1)
	}
	if err := src.Close(); err != nil {
		t.Error(err)
	}
}

func TestParquetNotParquet(t *testing.T) {
	p := writeFile(t, "x.parquet", []byte("a,b\n1,2\n"))
	if _, err := OpenParquet(p, ParquetOptions{}); err == nil {
		t.Fatal("want an error for a CSV named .parquet")
	}
}
