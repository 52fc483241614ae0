package sources

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// readErr reads a CSV source to the end and returns the rows and the
// error that stopped it (nil at EOF).
func readErr(src *CSV) (rows int64, err error) {
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

func TestCSVLimits(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name  string
		data  string
		delim rune
		// want: the *LimitError, or nil when the file reads to the end
		want *LimitError
		rows int64
	}{
		{"fits", "a,b\n1," + long[:90] + "\n", 0, nil, 1},
		{"long field", "a,b\n1,2\n3," + long + "\n5,6\n", 0,
			&LimitError{Row: 2, Line: 3, Limit: 100, Flag: FlagMaxRecordBytes}, 1},
		{"long quoted field over lines", "a,b\n1,\"" + strings.Repeat("x\n", 60) + "\"\n", 0,
			&LimitError{Row: 1, Line: 2, Limit: 100, Flag: FlagMaxRecordBytes}, 0},
		{"long header", long + ",b\n1,2\n", 0, &LimitError{Row: 0, Line: 1, Limit: 100, Flag: FlagMaxRecordBytes}, 0},
		{"wide header", "a,b,c,d,e,f\n1,2,3,4,5,6\n", 0, &LimitError{Row: 0, Line: 1, Limit: 5, Flag: FlagMaxColumns}, 0},
		{"wide row", "a,b\n1,2\n1,2,3,4,5,6,7\n", 0, &LimitError{Row: 2, Line: 3, Limit: 5, Flag: FlagMaxColumns}, 1},
		{"blank lines are rows", "a,b\n1,2\n\n\n1,2,3,4,5,6,7\n", 0, &LimitError{Row: 4, Line: 5, Limit: 5, Flag: FlagMaxColumns}, 1},
		{"commas inside quotes", "a,b\n\"1,2,3,4,5,6,7\",2\n", 0, nil, 1},
		{"quoted line breaks and quotes", "a,b\n\"x\"\"\n,,,,,,\",2\n3,4\n", 0, nil, 2},
		{"bare quote in the long record", "a,b\n1,2\n3\"" + long + "\n", 0,
			&LimitError{Row: 2, Line: 3, Limit: 100, Flag: FlagMaxRecordBytes}, 1},
		{"bare quote then wide row", "a,b\n1\"2,3\n1,2,3,4,5,6\n", 0, &LimitError{Row: 2, Line: 3, Limit: 5, Flag: FlagMaxColumns}, 1},
		{"crlf", "a,b\r\n1,2\r\n1,2,3,4,5,6\r\n", 0, &LimitError{Row: 2, Line: 3, Limit: 5, Flag: FlagMaxColumns}, 1},
		{"multi-byte delimiter", "a§b\n1§2\n1§2§3§4§5§6\n", '§', &LimitError{Row: 2, Line: 3, Limit: 5, Flag: FlagMaxColumns}, 1},
		{"multi-byte delimiter, other runes", "a§b\n1¶§2¶¶\n", '§', nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "in.csv", []byte(tt.data))
			src, err := OpenCSV(p, CSVOptions{Delimiter: tt.delim, MaxRecordBytes: 100, MaxColumns: 5, BatchSize: 1})
			var rows int64
			if err == nil {
				rows, err = readErr(src)
				src.Close()
			}
			var le *LimitError
			errors.As(err, &le)
			if tt.want == nil {
				if err != nil || rows != tt.rows {
					t.Fatalf("%d rows, %v; want %d rows, no error", rows, err, tt.rows)
				}
				return
			}
			tt.want.File = p
			if le == nil || *le != *tt.want || rows != tt.rows {
				t.Fatalf("%d rows, %v\nwant %d rows, %v", rows, err, tt.rows, tt.want)
			}
			for _, s := range []string{p, tt.want.Flag} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}

// gzipBomb is a .csv.gz whose second row holds one field of n bytes: a few
// hundred KB on disk.
func gzipBomb(t testing.TB, n int) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	io.WriteString(w, "email,name\nx@example.com,")
	zeros := make([]byte, 1<<20)
	for i := range zeros {
		zeros[i] = 'x'
	}
	for ; n > 0; n -= len(zeros) {
		w.Write(zeros[:min(n, len(zeros))])
	}
	io.WriteString(w, "\n")
	w.Close()
	return buf.Bytes()
}

// allocated is the bytes fn allocates (a bound on the memory it needs).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestCSVGzipBomb: a field of 64 MiB, a few hundred KB gzipped, is
// refused at the default limit having read little more than the limit
// (encoding/csv alone would hold it three times over).
func TestCSVGzipBomb(t *testing.T) {
	p := writeFile(t, "bomb.csv.gz", gzipBomb(t, 64<<20))
	var err error
	alloc := allocated(func() {
		src, oerr := OpenCSV(p, CSVOptions{})
		if oerr != nil {
			err = oerr
			return
		}
		defer src.Close()
		_, err = readErr(src)
	})
	var le *LimitError
	if !errors.As(err, &le) || le.Row != 1 || le.Flag != FlagMaxRecordBytes || le.Limit != DefaultMaxRecordBytes {
		t.Fatalf("err = %v, want a record-size limit at data row 1", err)
	}
	if alloc > 192<<20 {
		t.Errorf("allocated %d MiB reading a 64 MiB field, want under 192", alloc>>20)
	}
}

// TestCSVManyColumns: a header of 100,000 columns is refused before any
// builder is made for them.
func TestCSVManyColumns(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100_000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("c" + itoa(i))
	}
	b.WriteString("\n" + strings.Repeat(",", 99_999) + "\n")
	p := writeFile(t, "wide.csv", []byte(b.String()))
	var err error
	alloc := allocated(func() { _, err = OpenCSV(p, CSVOptions{}) })
	var le *LimitError
	if !errors.As(err, &le) || le.Row != 0 || le.Flag != FlagMaxColumns || le.Limit != DefaultMaxColumns {
		t.Fatalf("err = %v, want a column limit at the header", err)
	}
	if alloc > 16<<20 {
		t.Errorf("allocated %d MiB, want under 16", alloc>>20)
	}
}

// TestCSVBatchBytes: big rows end a batch at maxBatchBytes, not at
// BatchSize rows.
func TestCSVBatchBytes(t *testing.T) {
	defer func(n int) { maxBatchBytes = n }(maxBatchBytes)
	maxBatchBytes = 1 << 20
	var b bytes.Buffer
	b.WriteString("a\n")
	row := strings.Repeat("y", 64<<10) + "\n"
	for i := 0; i < 100; i++ {
		b.WriteString(row)
	}
	src, err := OpenCSV(writeFile(t, "big.csv", b.Bytes()), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var total int64
	for {
		bt, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := bt.Record.NumRows(); n > 16 {
			t.Errorf("batch of %d rows of 64 KiB, want at most 16 in 1 MiB", n)
		}
		total += bt.Record.NumRows()
		bt.Record.Release()
	}
	if total != 100 {
		t.Errorf("%d rows, want 100", total)
	}
}

// checkLimitReader holds limitReader to encoding/csv on data: the records
// it lets through are the ones encoding/csv reads without it, and it stops
// only at a record that is past a limit (or malformed, where the two may
// count fields differently).
func checkLimitReader(t *testing.T, data []byte, maxBytes int64, maxCols int) {
	ref := csv.NewReader(bytes.NewReader(data))
	ref.FieldsPerRecord = -1
	lr := newLimitReader(bytes.NewReader(data), ',', maxBytes, maxCols)
	lim := csv.NewReader(lr)
	lim.FieldsPerRecord = -1
	for i := 0; ; i++ {
		start := ref.InputOffset()
		want, werr := ref.Read()
		span := ref.InputOffset() - start
		got, gerr := lim.Read()
		gerr = lr.explain(gerr)
		var el *errLimit
		if errors.As(gerr, &el) {
			var pe *csv.ParseError
			if werr == io.EOF {
				t.Fatalf("record %d: limit error past the last record", i)
			}
			if !errors.As(werr, &pe) && span <= maxBytes && len(want) <= maxCols {
				t.Fatalf("record %d: %d fields, %d bytes: stopped, limits %d bytes, %d fields", i, len(want), span, maxBytes, maxCols)
			}
			return
		}
		if (werr == nil) != (gerr == nil) || werr == io.EOF != (gerr == io.EOF) {
			t.Fatalf("record %d: err %v, want %v", i, gerr, werr)
		}
		if werr == io.EOF {
			return
		}
		var pe *csv.ParseError
		if !errors.As(werr, &pe) && (len(want) > maxCols || span > maxBytes+int64(bytes.Count(data[start:start+span], []byte("\n")))) {
			// Past a limit, yet let through: only blank lines before a
			// record count to encoding/csv's span and not to ours.
			t.Fatalf("record %d: %d fields, %d bytes let through, limits %d bytes, %d fields", i, len(want), span, maxBytes, maxCols)
		}
		if werr == nil && strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("record %d: %q, want %q", i, got, want)
		}
	}
}

// FuzzCSV: whatever the bytes, a CSV source yields rows or an error, never
// a panic, and its limits match encoding/csv's records.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n",
		"email;name\n\"x;y\";\"a\"\"b\"\n\n;\n",
		"a,b\r\n\"multi\nline\",2\r\n1,2,3\r\n",
		"a,b\n1\"2,3\n\"x\"y,4\n\"open,5\n",
		"\xEF\xBB\xBFa\tb\n1\t2\n",
		"a|b|c\n|||||||||\n",
	} {
		f.Add([]byte(s), false, uint16(64), uint8(4))
		f.Add([]byte(s), true, uint16(8), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, zip bool, maxBytes uint16, maxCols uint8) {
		mb, mc := int64(maxBytes%512)+1, int(maxCols%16)+1
		checkLimitReader(t, data, mb, mc)
		if zip {
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			w.Write(data)
			w.Close()
			data = buf.Bytes()
		}
		p := writeFile(t, "f.csv", data)
		src, err := OpenCSV(p, CSVOptions{MaxRecordBytes: mb, MaxColumns: mc, BatchSize: 3})
		if err != nil {
			return
		}
		defer src.Close()
		for {
			b, err := src.Next(context.Background())
			if err != nil {
				return
			}
			if int(b.Record.NumCols()) != len(src.Header())+1 {
				t.Fatalf("%d columns, header has %d", b.Record.NumCols(), len(src.Header()))
			}
			b.Record.Release()
		}
	})
}
