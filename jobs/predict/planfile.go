package predict

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// PlanColumns are the plan file's columns.
var PlanColumns = []string{"_file", "_row", "action", "contact_id", "other_contact_id", "key", "reason"}

// PlanWriter writes the plan file: one line per input row, in input order.
// It writes aside and renames on Commit, so a reader sees the old plan or
// the new one, whole, 0666 less the umask (internal/fsx's rule); Abort (or a Commit that fails) leaves no file behind.
type PlanWriter struct {
	path string
	tmp  *fsx.File
	bw   *bufio.Writer
	line []byte // the line being written, kept between rows
	n    int64
}

// CreatePlan starts the plan file at path.
func CreatePlan(path string) (*PlanWriter, error) {
	tmp, err := fsx.Create(path)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<16)
	pw := &PlanWriter{path: path, tmp: tmp, bw: bw}
	for i, c := range PlanColumns {
		if i > 0 {
			pw.line = append(pw.line, ',')
		}
		pw.line = appendField(pw.line, c)
	}
	if _, err := bw.Write(append(pw.line, '\n')); err != nil {
		pw.Abort()
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	return pw, nil
}

// Write adds one row's line. The line is built in a buffer kept between
// rows (a plan has a line per input row: encoding/csv's Writer cost a
// sizeable share of validate), quoted as encoding/csv quotes.
func (pw *PlanWriter) Write(d Decision) error {
	l := appendField(pw.line[:0], d.File)
	l = strconv.AppendInt(append(l, ','), d.Row, 10)
	for _, f := range [...]string{string(d.Action), d.ContactID, d.OtherContactID, d.Key, d.Reason} {
		l = appendField(append(l, ','), f)
	}
	pw.line = append(l, '\n')
	if _, err := pw.bw.Write(pw.line); err != nil {
		return fmt.Errorf("plan %s: %w", pw.path, err)
	}
	pw.n++
	return nil
}

// appendField appends f as encoding/csv's Writer writes a field (comma
// separated, \n line ends): in quotes, with quotes doubled, when it holds a
// comma, a quote, \r or \n, begins with a space, or is \. alone.
func appendField(dst []byte, f string) []byte {
	if !needsQuotes(f) {
		return append(dst, f...)
	}
	dst = append(dst, '"')
	for {
		i := strings.IndexByte(f, '"')
		if i < 0 {
			break
		}
		dst = append(append(dst, f[:i+1]...), '"')
		f = f[i+1:]
	}
	return append(append(dst, f...), '"')
}

func needsQuotes(f string) bool {
	if f == "" {
		return false
	}
	if f == `\.` {
		return true
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; c == ',' || c == '"' || c == '\r' || c == '\n' {
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(f)
	return unicode.IsSpace(r)
}

// Lines is the number of rows written.
func (pw *PlanWriter) Lines() int64 { return pw.n }

// Commit flushes the file and renames it into place.
func (pw *PlanWriter) Commit() (err error) {
	if pw.tmp == nil {
		return fmt.Errorf("plan %s: already closed", pw.path)
	}
	defer func() {
		if err != nil {
			pw.Abort()
			err = fmt.Errorf("plan %s: %w", pw.path, err)
		}
	}()
	if err := pw.bw.Flush(); err != nil {
		return err
	}
	tmp := pw.tmp
	pw.tmp = nil
	return tmp.Commit()
}

// Abort removes the unfinished file; after Commit it does nothing.
func (pw *PlanWriter) Abort() {
	if pw.tmp == nil {
		return
	}
	pw.tmp.Abort()
	pw.tmp = nil
}
