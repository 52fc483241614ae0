package sources

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/xitongsys/parquet-go-source/writerfile"
	xparquet "github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/writer"
)

// exportLike is a small file with the column types of ghlbulk's own export
// (strings, a bool, a list of strings, a timestamp, a struct of structs
// like dndSettings), written by pqarrow in two row groups.
func exportLike(t testing.TB, codec compress.Compression) []byte {
	t.Helper()
	setting := arrow.StructOf(
		arrow.Field{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "code", Type: arrow.BinaryTypes.String, Nullable: true},
	)
	dnd := arrow.StructOf(
		arrow.Field{Name: "Email", Type: setting, Nullable: true},
		arrow.Field{Name: "SMS", Type: setting, Nullable: true},
	)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "email", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "dnd", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "dndSettings", Type: dnd, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "dateAdded", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(sc, &buf, parquet.NewWriterProperties(
		parquet.WithMaxRowGroupLength(12), parquet.WithCompression(codec)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		b.Field(0).(*array.StringBuilder).Append("c" + itoa(i))
		b.Field(1).(*array.StringBuilder).Append("p" + itoa(i%7) + "@example.com")
		b.Field(2).(*array.BooleanBuilder).Append(i%3 == 0)
		sb := b.Field(3).(*array.StructBuilder)
		sb.Append(i%4 != 0)
		for c := 0; c < 2; c++ {
			ch := sb.FieldBuilder(c).(*array.StructBuilder)
			ch.Append(i%2 == c)
			ch.FieldBuilder(0).(*array.StringBuilder).Append("active")
			ch.FieldBuilder(1).(*array.StringBuilder).AppendNull()
		}
		lb := b.Field(4).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"vip", "t" + itoa(i%3)}, nil)
		ts, _ := arrow.TimestampFromTime(base.Add(time.Duration(i)*time.Hour), arrow.Millisecond)
		b.Field(5).(*array.TimestampBuilder).Append(ts)
		b.Field(6).(*array.Float64Builder).Append(float64(i) / 4)
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// xRow is written by xitongsys/parquet-go's struct writer, as other tools
// write Parquet: its own page layout, plain encoding, optional columns.
type xRow struct {
	ID        string   `parquet:"name=id, type=BYTE_ARRAY, convertedtype=UTF8"`
	Email     *string  `parquet:"name=email, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	DND       bool     `parquet:"name=dnd, type=BOOLEAN"`
	Tags      []string `parquet:"name=tags, type=LIST, valuetype=BYTE_ARRAY, valueconvertedtype=UTF8"`
	DateAdded *int64   `parquet:"name=dateAdded, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=MILLIS, repetitiontype=OPTIONAL"`
	Score     *float64 `parquet:"name=score, type=DOUBLE, repetitiontype=OPTIONAL"`
}

func xitongsysFile(t testing.TB, codec xparquet.CompressionCodec) []byte {
	t.Helper()
	var buf bytes.Buffer
	pw, err := writer.NewParquetWriter(writerfile.NewWriterFile(&buf), new(xRow), 1)
	if err != nil {
		t.Fatal(err)
	}
	pw.CompressionType = codec
	pw.RowGroupSize = 512 // bytes: several row groups
	for i := 0; i < 20; i++ {
		email := "p" + itoa(i) + "@example.com"
		ms := int64(1709294400000 + i*3600000)
		score := float64(i) / 4
		r := xRow{ID: "c" + itoa(i), DND: i%2 == 0, Tags: []string{"vip", "t" + itoa(i%3)}, DateAdded: &ms, Score: &score}
		if i%5 != 0 {
			r.Email = &email
		}
		if err := pw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.WriteStop(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parquetSeeds are the valid files the damaged ones are made from.
func parquetSeeds(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"pqarrow-snappy":    exportLike(t, compress.Codecs.Snappy),
		"pqarrow-plain":     exportLike(t, compress.Codecs.Uncompressed),
		"xitongsys-snappy":  xitongsysFile(t, xparquet.CompressionCodec_SNAPPY),
		"xitongsys-zstd":    xitongsysFile(t, xparquet.CompressionCodec_ZSTD),
		"xitongsys-uncompr": xitongsysFile(t, xparquet.CompressionCodec_UNCOMPRESSED),
	}
}

// damage changes three bytes of data, chosen by seed.
func damage(data []byte, seed uint64) []byte {
	out := bytes.Clone(data)
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for i := 0; i < 3; i++ {
		out[r.IntN(len(out))] = byte(r.IntN(256))
	}
	return out
}

// drainParquet opens and reads a whole file, as import does.
func drainParquet(path string) (rows int64, err error) {
	src, err := OpenParquet(path, ParquetOptions{BatchSize: 7})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	for {
		b, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows += b.Record.NumRows()
		b.Record.Release()
	}
}

func TestParquetSeedsRead(t *testing.T) {
	for name, data := range parquetSeeds(t) {
		p := filepath.Join(t.TempDir(), name+".parquet")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if rows, err := drainParquet(p); err != nil || rows != 20 {
			t.Errorf("%s: %d rows, %v; want 20, nil", name, rows, err)
		}
	}
}

// TestParquetDamaged: a valid file with three bytes changed (seeds 1-200
// for each writer) is read to the end or refused with an error naming the
// file; it never panics, in our goroutine or in one of Arrow's (which
// would end the test binary).
func TestParquetDamaged(t *testing.T) {
	dir := t.TempDir()
	refused := 0
	for name, data := range parquetSeeds(t) {
		for seed := uint64(1); seed <= 200; seed++ {
			p := filepath.Join(dir, name+"-"+itoa(int(seed))+".parquet")
			if err := os.WriteFile(p, damage(data, seed), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := drainParquet(p)
			if err == nil {
				continue
			}
			refused++
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: error does not name the file: %v", p, err)
			}
		}
	}
	t.Logf("%d of %d damaged files refused", refused, 200*len(parquetSeeds(t)))
}

// FuzzParquet: whatever the bytes, reading them ends in batches or an
// error, never a panic.
func FuzzParquet(f *testing.F) {
	for _, data := range parquetSeeds(f) {
		f.Add(data)
		f.Add(damage(data, 7))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.parquet")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = drainParquet(p)
	})
}

// TestParquetMaxColumns: a file wider than MaxColumns is refused at open.
func TestParquetMaxColumns(t *testing.T) {
	p := writeParquet(t, 3, 3) // 7 columns
	_, err := OpenParquet(p, ParquetOptions{MaxColumns: 6})
	var le *LimitError
	if !errors.As(err, &le) || le.Flag != FlagMaxColumns || le.Limit != 6 || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want a column limit naming the file", err)
	}
	src, err := OpenParquet(p, ParquetOptions{MaxColumns: 7})
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
}
