package sources

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

func utf16le(t *testing.T, s string, bom bool) []byte {
	t.Helper()
	pol := unicode.IgnoreBOM
	if bom {
		pol = unicode.UseBOM
	}
	b, err := unicode.UTF16(unicode.LittleEndian, pol).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func win1252(t *testing.T, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstRow opens data and returns its header, encoding and first row.
func firstRow(t *testing.T, data []byte, opt CSVOptions) ([]string, string, []string) {
	t.Helper()
	c, err := OpenCSV(writeFile(t, "e.csv", data), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Record.Release()
	var row []string
	for i := 0; i < int(b.Record.NumCols()); i++ {
		col := b.Record.Column(i).(*array.String)
		if col.IsNull(0) {
			row = append(row, "<null>")
		} else {
			row = append(row, col.Value(0))
		}
	}
	return c.Header(), c.Encoding(), row
}

func TestCSVEncodings(t *testing.T) {
	const text = "Email Address\tFirst Name\tCity\r\nzoë@example.fr\tZoë\tKöln – Süd\r\n"
	tests := []struct {
		name, enc, want string
		data            func(t *testing.T) []byte
	}{
		{"utf-8", "", EncodingUTF8, func(*testing.T) []byte { return []byte(text) }},
		{"utf-8 bom", "", EncodingUTF8, func(*testing.T) []byte { return append([]byte{0xEF, 0xBB, 0xBF}, text...) }},
		{"utf-16le bom (Excel Unicode Text)", "", EncodingUTF16LE, func(t *testing.T) []byte { return utf16le(t, text, true) }},
		{"utf-16le no bom", "", EncodingUTF16LE, func(t *testing.T) []byte { return utf16le(t, text, false) }},
		{"utf-16le named", "utf-16le", EncodingUTF16LE, func(t *testing.T) []byte { return utf16le(t, text, true) }},
		{"windows-1252 detected", "", EncodingWindows1252, func(t *testing.T) []byte { return win1252(t, text) }},
		{"windows-1252 named", "cp1252", EncodingWindows1252, func(t *testing.T) []byte { return win1252(t, text) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := ParseEncoding(tt.enc)
			if err != nil {
				t.Fatal(err)
			}
			h, got, row := firstRow(t, tt.data(t), CSVOptions{Encoding: enc})
			if got != tt.want {
				t.Errorf("encoding = %s, want %s", got, tt.want)
			}
			if strings.Join(h, "|") != "Email Address|First Name|City" {
				t.Errorf("header = %q", h)
			}
			if strings.Join(row, "|") != "zoë@example.fr|Zoë|Köln – Süd|<null>" {
				t.Errorf("row = %q", row)
			}
		})
	}
}

func TestCSVEncodingRefusals(t *testing.T) {
	tests := []struct {
		name, enc, want string
		data            []byte
	}{
		{"named utf-8, windows-1252 bytes", "utf-8", "not valid UTF-8 (line 2, byte 21): it looks like Windows-1252", []byte("Email,Name\na@b.co,Zo\xeb\n")},
		{"binary", "", "not a text file (it has NUL bytes)", []byte("\x00\x01\x02\x03abc\x00\xff\n")},
		{"xlsx named .csv", "", "if it is an Excel workbook, name it .xlsx", []byte("PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")},
		{"unknown name", "ebcdic", "--encoding \"ebcdic\": must be one of", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := ParseEncoding(tt.enc)
			if err == nil {
				_, err = OpenCSV(writeFile(t, "e.csv", tt.data), CSVOptions{Encoding: enc})
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCSVHeaderFixes(t *testing.T) {
	data := "Email,Phone Number,Phone Number,Name,,,\na@b.co,1,2,Ann,,,\nc@d.co,3,4,Bo,,,x\n"
	c, err := OpenCSV(writeFile(t, "h.csv", []byte(data)), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := strings.Join(c.Header(), "|"); got != "Email|Phone Number|Phone Number (2)|Name" {
		t.Errorf("header = %q", got)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, `"Phone Number" repeats an earlier column: read as "Phone Number (2)"`) ||
		!strings.Contains(w, "3 unnamed column(s) at the end of the header (columns 5-7) ignored") {
		t.Errorf("warnings = %q", w)
	}
	rows, _ := readAll(t, c)
	if rows[0][4] != "<null>" {
		t.Errorf("row 1 marked %q: blank trailing fields are not a fault", rows[0][4])
	}
	if !strings.Contains(rows[1][4], `a value under unnamed column 7 ("x")`) {
		t.Errorf("row 2 marker = %q", rows[1][4])
	}
}
