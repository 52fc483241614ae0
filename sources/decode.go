package sources

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	xtransform "golang.org/x/text/transform"
)

// The encodings a text input may be in (--encoding), by their usual names.
const (
	EncodingUTF8        = "utf-8"
	EncodingUTF16LE     = "utf-16le"
	EncodingUTF16BE     = "utf-16be"
	EncodingWindows1252 = "windows-1252"
	EncodingLatin1      = "iso-8859-1"
)

// sniffBytes is how much of a file decides its encoding when it has no BOM.
const sniffBytes = 64 << 10

// Encodings lists the names --encoding accepts.
var Encodings = []string{EncodingUTF8, EncodingUTF16LE, EncodingUTF16BE, EncodingWindows1252, EncodingLatin1}

// encodingAliases maps the spellings people use to one name.
var encodingAliases = map[string]string{
	"utf8": EncodingUTF8, "utf-8": EncodingUTF8,
	"utf16le": EncodingUTF16LE, "utf-16le": EncodingUTF16LE, "utf-16": EncodingUTF16LE, "unicode": EncodingUTF16LE,
	"utf16be": EncodingUTF16BE, "utf-16be": EncodingUTF16BE,
	"windows-1252": EncodingWindows1252, "cp1252": EncodingWindows1252, "windows1252": EncodingWindows1252, "ansi": EncodingWindows1252,
	"iso-8859-1": EncodingLatin1, "latin1": EncodingLatin1, "latin-1": EncodingLatin1, "iso8859-1": EncodingLatin1,
}

// ParseEncoding turns an --encoding value into its name ("" for auto).
func ParseEncoding(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || s == "auto" {
		return "", nil
	}
	if n, ok := encodingAliases[s]; ok {
		return n, nil
	}
	return "", fmt.Errorf("--encoding %q: must be one of %s (or auto: detected)", s, strings.Join(Encodings, ", "))
}

func encodingOf(name string) encoding.Encoding {
	switch name {
	case EncodingUTF16LE:
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	case EncodingUTF16BE:
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	case EncodingWindows1252:
		return charmap.Windows1252
	case EncodingLatin1:
		return charmap.ISO8859_1
	}
	return nil
}

// decodeInput picks the encoding of br (want, or detected: a BOM first,
// else the first 64 KiB: valid UTF-8 is UTF-8, anything else Windows-1252)
// and returns a reader of its text as UTF-8, with the encoding's name. A
// file that is not text in that encoding is refused here, before a row is
// read: a reject per row would hide that the whole file is misread.
func decodeInput(br *bufio.Reader, name, want string) (io.Reader, string, error) {
	head, _ := br.Peek(sniffBytes)
	bom := bomOf(head)
	enc := want
	if enc == "" {
		enc = bom
	}
	if enc == "" {
		enc = sniffEncoding(head)
	}
	if !strings.HasPrefix(enc, "utf-16") && bytes.IndexByte(head, 0) >= 0 {
		return nil, "", notText(name, head)
	}
	if enc == EncodingUTF8 {
		if bom == EncodingUTF8 {
			_, _ = br.Discard(3)
			head = head[3:]
		}
		if err := checkUTF8(name, head, want != ""); err != nil {
			return nil, "", err
		}
		return br, enc, nil
	}
	return xtransform.NewReader(br, encodingOf(enc).NewDecoder()), enc, nil
}

func bomOf(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		return EncodingUTF8
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return EncodingUTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return EncodingUTF16BE
	}
	return ""
}

// sniffEncoding reads a file without a BOM: UTF-16 when every other byte of
// its start is NUL (a BOM-less "Unicode Text"), UTF-8 when its start is
// valid UTF-8, else Windows-1252 (what Excel and most CRMs on Windows
// write; a superset of ISO-8859-1's printable characters).
func sniffEncoding(head []byte) string {
	if len(head) >= 4 && head[1] == 0 && head[3] == 0 && head[0] != 0 {
		return EncodingUTF16LE
	}
	if len(head) >= 4 && head[0] == 0 && head[2] == 0 && head[1] != 0 {
		return EncodingUTF16BE
	}
	if utf8.Valid(trimPartialRune(head)) {
		return EncodingUTF8
	}
	return EncodingWindows1252
}

// trimPartialRune drops a rune cut in two at the end of a peeked window.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= 3 && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// checkUTF8 refuses a file read as UTF-8 whose start is not, naming the
// line and the encoding to name instead. Past the first 64 KiB a bad byte
// is the row's reject ("not valid UTF-8").
func checkUTF8(name string, head []byte, named bool) error {
	b := trimPartialRune(head)
	if utf8.Valid(b) {
		return nil
	}
	off := 0
	for off < len(b) {
		r, size := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	how := "it looks like Windows-1252 (Excel, HubSpot on Windows): run again with --encoding windows-1252"
	if !named {
		how = "name its encoding with --encoding (" + strings.Join(Encodings, ", ") + ")"
	}
	return fmt.Errorf("%s: not valid UTF-8 (line %d, byte %d): %s", name, line, off+1, how)
}

// notText refuses a binary file, saying what it looks like.
func notText(name string, head []byte) error {
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return fmt.Errorf("%s: a zip file, not CSV text: if it is an Excel workbook, name it .xlsx (or save it as CSV UTF-8)", name)
	}
	return fmt.Errorf("%s: not a text file (it has NUL bytes): save it as CSV UTF-8, or name its encoding with --encoding utf-16le", name)
}
