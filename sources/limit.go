package sources

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Input limits. encoding/csv holds a whole record in memory (the raw line,
// the unquoted fields, one string of them, and 40 bytes of bookkeeping a
// field), with no bound of its own, so one endless field or a row of
// endless commas, both a few MB once gzipped, used to end the process with
// "fatal error: out of memory". A real export never comes near these: a
// CRM's text fields stop at a few thousand characters (HubSpot's 65,536 is
// the longest we know), and Salesforce allows 800 custom fields an object,
// HubSpot about 1,000. Spreadsheets stop at 16,384 (Excel) columns; 10,000
// still opens any real export and bounds a row's bookkeeping to about
// 1 MB and a batch's builders to about 60 MB (see docs/benchmarks.md).
const (
	// DefaultMaxRecordBytes is the most bytes one record (a row, or the
	// header) may take in the file, quotes and line breaks included.
	DefaultMaxRecordBytes = 16 << 20
	// DefaultMaxColumns is the most columns (fields) one row may have.
	DefaultMaxColumns = 10_000

	// FlagMaxRecordBytes and FlagMaxColumns are the CLI flags that raise
	// the limits, named in LimitError so the user knows what to do.
	FlagMaxRecordBytes = "--max-record-bytes"
	FlagMaxColumns     = "--max-columns"
)

// maxBatchBytes ends a batch early once its fields hold this many bytes,
// so a file of rows each just under MaxRecordBytes can't fill a batch of
// DefaultBatchSize of them (16 GiB).
// (A variable so that a test can make it small.)
var maxBatchBytes = 64 << 20

// LimitError is an input past one of the limits above. The run stops
// there: the row can't be read whole, so it can't go to the rejects file.
type LimitError struct {
	File  string
	Row   int64 // 1-based data row; 0 for the header
	Line  int   // file line the record starts on (0: unknown)
	Limit int64
	Flag  string // FlagMaxRecordBytes or FlagMaxColumns: which limit
}

func (e *LimitError) Error() string {
	where := "header"
	if e.Row > 0 {
		where = fmt.Sprintf("data row %d", e.Row)
	}
	if e.Line > 0 {
		where += fmt.Sprintf(" (line %d)", e.Line)
	}
	what := fmt.Sprintf("more than %d columns", e.Limit)
	if e.Flag == FlagMaxRecordBytes {
		what = fmt.Sprintf("longer than %d bytes", e.Limit)
	}
	return fmt.Sprintf("%s: %s: %s; if the file is right, raise the limit with %s", e.File, where, what, e.Flag)
}

// errLimit is what limitReader returns to encoding/csv; the source turns
// it into a *LimitError with the row number.
type errLimit struct {
	line    int // file line the record starts on
	columns bool
}

func (e *errLimit) Error() string { return "input limit" }

// limitReader sits between the file and encoding/csv and follows the
// records as encoding/csv will split them (a line break ends a record
// unless inside a quoted field; a quote opens one only as a field's first
// byte), counting each record's bytes and fields. Past either limit it
// hands over the bytes before the record's offending byte, then an error,
// so no more of the record is ever read into memory.
//
// For a malformed record (a bare quote, text after a closing quote)
// encoding/csv ends the record at the end of the line, as this reader
// does, so the two stay in step.
type limitReader struct {
	r        io.Reader
	maxBytes int64
	maxCols  int
	delim    []byte

	line      int   // current file line, 1-based
	recLine   int   // line the current record starts on
	recBytes  int64 // bytes of the current record so far
	fields    int   // fields of the current record so far (from 1)
	state     int
	delimSeen int // bytes of a multi-byte delimiter matched so far
	err       error
}

// Parser states.
const (
	stFieldStart = iota // at the first byte of a field
	stUnquoted          // inside a field that did not start with a quote
	stQuoted            // inside a quoted field
	stQuoteSeen         // a quote inside a quoted field: "" or the end
)

func newLimitReader(r io.Reader, delim rune, maxBytes int64, maxCols int) *limitReader {
	d := make([]byte, utf8.RuneLen(delim))
	utf8.EncodeRune(d, delim)
	return &limitReader{r: r, maxBytes: maxBytes, maxCols: maxCols, delim: d, line: 1, recLine: 1, fields: 1}
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if i := l.scan(p[:n]); i < n {
		// Hand over what is good; the next call returns the error.
		if i == 0 {
			return 0, l.err
		}
		return i, nil
	}
	return n, err
}

// explain returns the limit error in place of err when err is
// encoding/csv's complaint about the record the limit cut short: given
// the record's first bytes and the error, encoding/csv reports a quote
// error it finds in them before the read error.
func (l *limitReader) explain(err error) error {
	var el *errLimit
	var pe *csv.ParseError
	if errors.As(l.err, &el) && errors.As(err, &pe) && pe.StartLine == el.line {
		return l.err
	}
	return err
}

// scan follows p and returns len(p), or the index of the first byte past
// a limit (setting l.err).
func (l *limitReader) scan(p []byte) int {
	for i, b := range p {
		l.recBytes++
		if l.recBytes > l.maxBytes {
			l.err = &errLimit{line: l.recLine}
			return i
		}
		if b == '\n' {
			l.line++
		}
		switch l.state {
		case stQuoted:
			if b == '"' {
				l.state = stQuoteSeen
			}
			continue
		case stQuoteSeen:
			if b == '"' {
				l.state = stQuoted
				continue
			}
			// The field is closed: a delimiter or a line break follows, or
			// encoding/csv gives up on the rest of the line (ErrQuote).
			l.state = stUnquoted
		case stFieldStart:
			l.state = stUnquoted
			if b == '"' {
				l.state = stQuoted
				continue
			}
		}
		// Unquoted: a line break ends the record, a delimiter the field.
		if b == '\n' {
			l.newRecord()
			continue
		}
		if l.isDelim(b) {
			l.fields++
			if l.fields > l.maxCols {
				l.err = &errLimit{line: l.recLine, columns: true}
				return i
			}
			l.state = stFieldStart
		}
	}
	return len(p)
}

// isDelim matches the delimiter byte by byte: UTF-8 never starts a
// character inside another one, so a mismatch can simply start over.
func (l *limitReader) isDelim(b byte) bool {
	if b == l.delim[l.delimSeen] {
		l.delimSeen++
		if l.delimSeen == len(l.delim) {
			l.delimSeen = 0
			return true
		}
		return false
	}
	l.delimSeen = 0
	if b == l.delim[0] {
		l.delimSeen = 1
		return len(l.delim) == 1
	}
	return false
}

func (l *limitReader) newRecord() {
	l.recLine = l.line
	l.recBytes = 0
	l.fields = 1
	l.state = stFieldStart
	l.delimSeen = 0
}

// asLimitError turns the reader's error into a *LimitError for row (0:
// the header), or returns nil for any other error.
func (c *CSV) asLimitError(err error, row int64) *LimitError {
	var el *errLimit
	if !errors.As(err, &el) {
		return nil
	}
	e := &LimitError{File: c.name, Row: row, Line: el.line, Limit: c.maxBytes, Flag: FlagMaxRecordBytes}
	if el.columns {
		e.Limit, e.Flag = int64(c.maxCols), FlagMaxColumns
	}
	return e
}

// blankBefore is the number of blank lines between the previous record
// and the one that went past a limit: each counts as a data row.
func (c *CSV) blankBefore(err error) int64 {
	var el *errLimit
	if errors.As(err, &el) && el.line-c.prevEnd-1 > 0 {
		return int64(el.line - c.prevEnd - 1)
	}
	return 0
}
