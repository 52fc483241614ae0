package sources

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/ghlbulk/ghlbulk/record"
)

// readAll reads every batch of a CSV source and returns the rows as text,
// with "<null>" for a null and the error marker as the last element.
func readRows(t *testing.T, src record.Source) [][]string {
	t.Helper()
	rows, _ := readAll(t, src)
	return rows
}

func readAll(t *testing.T, src record.Source) (rows [][]string, firsts []int64) {
	t.Helper()
	for {
		b, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return rows, firsts
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		firsts = append(firsts, b.FirstRow)
		rec := b.Record
		for r := 0; r < int(rec.NumRows()); r++ {
			var row []string
			for c := 0; c < int(rec.NumCols()); c++ {
				col := rec.Column(c).(*array.String)
				if col.IsNull(r) {
					row = append(row, "<null>")
				} else {
					row = append(row, col.Value(r))
				}
			}
			rows = append(rows, row)
		}
		rec.Release()
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(s string) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte(s))
	w.Close()
	return buf.Bytes()
}

const N = "<null>"

func TestCSVTricky(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		data   []byte
		delim  rune
		header []string
		rows   [][]string
	}{
		{"plain", "a.csv", []byte("a,b\n1,2\n"), 0, []string{"a", "b"}, [][]string{{"1", "2", N}}},
		{"bom", "a.csv", []byte("\xEF\xBB\xBFEmail,Name\nx@example.com,X\n"), 0, []string{"Email", "Name"}, [][]string{{"x@example.com", "X", N}}},
		{"crlf", "a.csv", []byte("a,b\r\n1,2\r\n3,4\r\n"), 0, []string{"a", "b"}, [][]string{{"1", "2", N}, {"3", "4", N}}},
		{"embedded newline", "a.csv", []byte("a,b\n\"line1\nline2\",x\n\"l1\r\nl2\",y\n"), 0, []string{"a", "b"}, [][]string{{"line1\nline2", "x", N}, {"l1\nl2", "y", N}}},
		{"quoted delimiter and quotes", "a.csv", []byte("a,b\n\"Smith, Jo\",\"say \"\"hi\"\"\"\n"), 0, []string{"a", "b"}, [][]string{{"Smith, Jo", `say "hi"`, N}}},
		{"emoji", "a.csv", []byte("name,email\n😀 Zoë,z@example.com\n"), 0, []string{"name", "email"}, [][]string{{"😀 Zoë", "z@example.com", N}}},
		{"ragged short and long", "a.csv", []byte("a,b,c\n1,2\n1,2,3,4\n1,2,3\n"), 0, []string{"a", "b", "c"}, [][]string{
			{"1", "2", N, "2 fields, header has 3"},
			{"1", "2", "3", "4 fields, header has 3"},
			{"1", "2", "3", N},
		}},
		{"gzip", "a.csv.gz", gz("a;b\n1;2\n"), 0, []string{"a", "b"}, [][]string{{"1", "2", N}}},
		{"semicolon detected", "a.csv", []byte("Name;Notes\nJo;\"a,b,c\"\n"), 0, []string{"Name", "Notes"}, [][]string{{"Jo", "a,b,c", N}}},
		{"semicolon with commas in quoted header", "a.csv", []byte("\"x,y,z\";b\n1;2\n"), 0, []string{"x,y,z", "b"}, [][]string{{"1", "2", N}}},
		{"tab detected", "a.tsv", []byte("a\tb\n1\t2\n"), 0, []string{"a", "b"}, [][]string{{"1", "2", N}}},
		{"pipe detected", "a.csv", []byte("a|b\n1|2\n"), 0, []string{"a", "b"}, [][]string{{"1", "2", N}}},
		{"explicit delimiter", "a.csv", []byte("a;b,c\n1;2,3\n"), ',', []string{"a;b", "c"}, [][]string{{"1;2", "3", N}}},
		{"empty rows kept", "a.csv", []byte("a,b\n1,2\n,\n\n3,4\n"), 0, []string{"a", "b"}, [][]string{{"1", "2", N}, {"", "", N}, {"", "", N}, {"3", "4", N}}},
		{"blank line after multi-line field", "a.csv", []byte("a,b\n1,\"x\ny\"\n\n3,4\n"), 0, []string{"a", "b"}, [][]string{{"1", "x\ny", N}, {"", "", N}, {"3", "4", N}}},
		{"invalid utf-8 read as windows-1252", "a.csv", []byte("a,b\n\xff\xfe,2\n"), 0, []string{"a", "b"}, [][]string{{"ÿþ", "2", N}}},
		{"bare quote kept as a marked row", "a.csv", []byte("a,b\n1,x\"y\n3,4\n"), 0, []string{"a", "b"}, [][]string{
			{"1", N, "unreadable: line 2, column 4: bare \" in non-quoted-field"}, {"3", "4", N},
		}},
		{"header only", "a.csv", []byte("a,b\n"), 0, []string{"a", "b"}, nil},
		{"no trailing newline", "a.csv", []byte("a,b\n1,2"), 0, []string{"a", "b"}, [][]string{{"1", "2", N}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file, tt.data)
			src, err := OpenCSV(p, CSVOptions{Delimiter: tt.delim})
			if err != nil {
				t.Fatalf("OpenCSV: %v", err)
			}
			defer src.Close()
			if got := src.Header(); !reflect.DeepEqual(got, tt.header) {
				t.Errorf("header = %q, want %q", got, tt.header)
			}
			rows, _ := readAll(t, src)
			if !reflect.DeepEqual(rows, tt.rows) {
				t.Errorf("rows =\n%q\nwant\n%q", rows, tt.rows)
			}
		})
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"blank", "a,,c\n", "header column 2: blank name"},
		{"spaces", "a, ,c\n", "header column 2: blank name"},
		{"blank only", ",,\n", "no column names"},
		{"reserved", "a,_error\n", `header column 2: name "_error" is reserved`},
		{"empty file", "", "empty file: no header row"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "h.csv", []byte(tt.data))
			_, err := OpenCSV(p, CSVOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCSVRowNumbersAcrossBatches(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("n,text\n")
	for i := 1; i <= 10; i++ {
		if i == 4 {
			sb.WriteString("4,\"multi\nline\nvalue\"\n") // one record, three lines
			continue
		}
		sb.WriteString(itoa(i) + ",v\n")
	}
	p := writeFile(t, "n.csv", []byte(sb.String()))
	src, err := OpenCSV(p, CSVOptions{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rows, firsts := readAll(t, src)
	if want := []int64{1, 4, 7, 10}; !reflect.DeepEqual(firsts, want) {
		t.Errorf("FirstRow = %v, want %v", firsts, want)
	}
	for i, r := range rows {
		if r[0] != itoa(i+1) {
			t.Errorf("row %d has n=%s", i+1, r[0])
		}
	}
	// After EOF, Next keeps answering io.EOF.
	if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("Next after EOF = %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCSVMemory(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var sb strings.Builder
	sb.WriteString("a,b,c\n")
	for i := 0; i < 5000; i++ {
		sb.WriteString("alpha,beta,\"gamma, delta\"\n")
	}
	p := writeFile(t, "m.csv", []byte(sb.String()))
	src, err := OpenCSV(p, CSVOptions{Allocator: mem, BatchSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rows, _ := readAll(t, src)
	if len(rows) != 5000 {
		t.Fatalf("got %d rows", len(rows))
	}
}

func TestCSVContextCancelled(t *testing.T) {
	p := writeFile(t, "c.csv", []byte("a\n1\n"))
	src, err := OpenCSV(p, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
