// Package sources reads input files (CSV, Parquet) and HighLevel listings as
// arrow.Record batches for the pipeline.
//
// File sources stream: a batch holds at most BatchSize rows, builders are
// reused, and nothing is read ahead, so memory stays flat whatever the size
// of the file. No source starts a goroutine.
//
// Floor 2 (docs/design.md): imports ghl, ghl/pace and record; never the engine or a job.
package sources

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/ghlbulk/ghlbulk/record"
)

// ErrorColumn is the extra, last column of every CSV record: null when the
// row was read cleanly, otherwise what was wrong with it (a field count that
// does not match the header, a quote error). The row is still yielded, with
// the fields that could be read, so the transform can reject it by name and
// the counts add up. transform.ErrorColumn has the same value.
const ErrorColumn = "_error"

// DefaultBatchSize is the number of rows per batch when none is given.
const DefaultBatchSize = 1024

// CSVOptions tunes OpenCSV. The zero value is ready to use.
type CSVOptions struct {
	// Delimiter separates fields. Zero means: detect it from the header
	// line (comma, semicolon, tab or pipe, counted outside quotes).
	Delimiter rune
	// BatchSize is the most rows in one batch (default DefaultBatchSize).
	BatchSize int
	// Allocator backs the records (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Name is the file as reported in batches and errors (default: path).
	Name string
	// MaxRecordBytes is the most bytes one record may take in the file
	// (default DefaultMaxRecordBytes); past it reading stops with a
	// *LimitError.
	MaxRecordBytes int64
	// MaxColumns is the most fields one record, the header included, may
	// have (default DefaultMaxColumns); past it reading stops with a
	// *LimitError.
	MaxColumns int
	// Encoding is the file's text encoding (one of Encodings); "" detects
	// it: a BOM, else UTF-8 when the first 64 KiB are valid UTF-8, else
	// Windows-1252.
	Encoding string
}

// CSV streams a CSV file (optionally gzip-compressed, with or without a
// UTF-8 BOM) as batches of string columns, one per header column, plus
// ErrorColumn. Every value is read as a string: validation is the
// transform's job, so no value is ever turned into a null silently.
type CSV struct {
	name      string
	f         *os.File
	gz        *gzip.Reader
	r         *csv.Reader
	lim       *limitReader
	header    []string
	schema    *arrow.Schema
	mem       memory.Allocator
	batchSize int
	delim     rune
	maxBytes  int64
	maxCols   int
	encoding  string   // the encoding read (given or detected)
	trailing  int      // blank-named columns cut off the header's end
	warnings  []string // what was made of the header (renamed columns)

	rows    int64 // data rows yielded so far
	prevEnd int   // file line where the previous record (or the header) ended
	pending int   // blank lines seen before the record held in held
	held    []string
	heldErr string
	hasHeld bool
	eof     bool
	err     error // a limit error: sticky, the reader is past repair
}

// OpenCSV opens path and reads its header. A header with a blank or a
// repeated column name is refused, naming the column's position.
func OpenCSV(path string, opt CSVOptions) (*CSV, error) {
	name := opt.Name
	if name == "" {
		name = path
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open csv: %w", err)
	}
	c := &CSV{name: name, f: f, mem: opt.Allocator, batchSize: opt.BatchSize, delim: opt.Delimiter,
		maxBytes: opt.MaxRecordBytes, maxCols: opt.MaxColumns, encoding: opt.Encoding}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxRecordBytes
	}
	if c.maxCols <= 0 {
		c.maxCols = DefaultMaxColumns
	}
	if c.mem == nil {
		c.mem = memory.DefaultAllocator
	}
	if c.batchSize <= 0 {
		c.batchSize = DefaultBatchSize
	}
	if err := c.init(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *CSV) init() error {
	br := bufio.NewReaderSize(c.f, 64<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: gzip: %w", c.name, err)
		}
		c.gz = gz
		br = bufio.NewReaderSize(gz, 64<<10)
		in = br
	}
	text, enc, err := decodeInput(br, c.name, c.encoding)
	if err != nil {
		return err
	}
	c.encoding = enc
	if text != io.Reader(br) {
		br = bufio.NewReaderSize(text, 64<<10)
		in = br
	}
	if c.delim == 0 {
		c.delim = sniffDelimiter(br)
	}
	if c.delim == '"' || c.delim == '\r' || c.delim == '\n' {
		return fmt.Errorf("%s: delimiter %q: must not be a quote or a line break", c.name, c.delim)
	}

	// Bounded underneath encoding/csv, which has no limit of its own.
	c.lim = newLimitReader(in, c.delim, c.maxBytes, c.maxCols)
	c.r = csv.NewReader(c.lim)
	c.r.Comma = c.delim
	c.r.FieldsPerRecord = -1
	c.r.ReuseRecord = true
	c.r.LazyQuotes = false

	hdr, err := c.r.Read()
	err = c.lim.explain(err)
	if err == io.EOF {
		return fmt.Errorf("%s: empty file: no header row", c.name)
	}
	if le := c.asLimitError(err, 0); le != nil {
		return le
	}
	if err != nil {
		return fmt.Errorf("%s: header: %w", c.name, err)
	}
	c.prevEnd = c.endLine(hdr)
	h, err := fixHeader(hdr)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	c.header, c.trailing, c.warnings = h.names, h.trailing, h.warnings
	c.schema = stringSchema(c.header)
	return nil
}

// stringSchema is a schema of string columns, one per name, then ErrorColumn.
func stringSchema(header []string) *arrow.Schema {
	fields := make([]arrow.Field, 0, len(header)+1)
	for _, h := range header {
		fields = append(fields, arrow.Field{Name: h, Type: arrow.BinaryTypes.String, Nullable: true})
	}
	fields = append(fields, arrow.Field{Name: ErrorColumn, Type: arrow.BinaryTypes.String, Nullable: true})
	return arrow.NewSchema(fields, nil)
}

// sniffDelimiter looks at the first line (outside quotes) and picks the most
// frequent of comma, semicolon, tab and pipe; comma when none occurs.
func sniffDelimiter(br *bufio.Reader) rune {
	buf, _ := br.Peek(64 << 10)
	candidates := []byte{',', ';', '\t', '|'}
	counts := make([]int, len(candidates))
	inQuote := false
scan:
	for _, b := range buf {
		switch {
		case b == '"':
			inQuote = !inQuote
		case inQuote:
		case b == '\n' || b == '\r':
			break scan
		default:
			for i, c := range candidates {
				if b == c {
					counts[i]++
				}
			}
		}
	}
	best := 0
	for i := range counts {
		if counts[i] > counts[best] {
			best = i
		}
	}
	return rune(candidates[best])
}

// endLine is the file line on which the record just read ends.
func (c *CSV) endLine(rec []string) int {
	if len(rec) == 0 {
		return 0
	}
	last := len(rec) - 1
	line, _ := c.r.FieldPos(last)
	return line + strings.Count(rec[last], "\n")
}

// Header is the file's column names, in order (ErrorColumn not included).
func (c *CSV) Header() []string { return c.header }

// Encoding is the text encoding read (given or detected).
func (c *CSV) Encoding() string { return c.encoding }

// Warnings says what was made of the header: repeated names renamed,
// unnamed columns at its end ignored.
func (c *CSV) Warnings() []string { return c.warnings }

// Describe is the header as read, for a message about a header that does
// not fit a mapping.
func (c *CSV) Describe() string {
	return fmt.Sprintf("read as %s, delimiter %s, %d columns: %s", c.encoding, delimName(c.delim), len(c.header), quoteNames(c.header))
}

// Delimiter is the field delimiter in use (given or detected).
func (c *CSV) Delimiter() rune { return c.delim }

// Schema is the schema of every record: the header columns, then ErrorColumn.
func (c *CSV) Schema() *arrow.Schema { return c.schema }

// Next reads up to BatchSize rows. It returns io.EOF (and no record) when
// the file is done. Rows are counted as records, not lines: FirstRow is the
// 1-based data row of the first row in the batch. A blank line between
// records is yielded as an empty row, so that it shows up in the rejects
// rather than vanishing.
func (c *CSV) Next(ctx context.Context) (record.Batch, error) {
	if err := c.ready(ctx); err != nil {
		return record.Batch{}, err
	}
	b := array.NewRecordBuilder(c.mem, c.schema)
	defer b.Release()
	// No Reserve(batchSize): its offsets buffer is 9 KB a column whether
	// the batch fills or not (900 MB for a header of 100,000 columns and a
	// few rows); the builders grow by doubling instead.
	cols := make([]*array.StringBuilder, len(c.schema.Fields()))
	for i := range cols {
		cols[i] = b.Field(i).(*array.StringBuilder)
	}
	n, err := c.fill(ctx, cols)
	if err != nil {
		return record.Batch{}, err
	}
	if n == 0 {
		return record.Batch{}, io.EOF
	}
	first := c.rows + 1
	c.rows += int64(n)
	return record.Batch{Record: b.NewRecord(), File: c.name, FirstRow: first}, nil
}

// ready refuses a read on a cancelled ctx, a closed source, or one a limit
// error has stopped for good.
func (c *CSV) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.r == nil {
		return fmt.Errorf("%s: read after close", c.name)
	}
	return c.err
}

// fill appends rows to cols until the batch is full (BatchSize rows or
// maxBatchBytes of fields) or the file ends, and returns how many. Blank
// lines and the record held behind them go first, in file order.
func (c *CSV) fill(ctx context.Context, cols []*array.StringBuilder) (int, error) {
	n := 0
	size := 0 // bytes of the fields in the batch
	for n < c.batchSize && size < maxBatchBytes {
		switch {
		case c.pending > 0:
			c.appendBlank(cols)
			c.pending--
			n++
		case c.hasHeld:
			size += c.appendRow(cols, c.held, c.heldErr)
			c.hasHeld = false
			n++
		case c.eof:
			return n, nil
		default:
			if n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return n, err
				}
			}
			rec, marker, now, err := c.read(n)
			if err != nil {
				return n, err
			}
			if now {
				size += c.appendRow(cols, rec, marker)
				n++
			}
		}
	}
	return n, nil
}

// appendBlank appends a blank line's row: every field empty, no error.
func (c *CSV) appendBlank(cols []*array.StringBuilder) {
	ncol := len(c.header)
	for i := 0; i < ncol; i++ {
		cols[i].Append("")
	}
	cols[ncol].AppendNull()
}

// read reads the next record, n rows into the batch. now says it is to be
// appended at once; it is not at the end of the file (c.eof is set), nor
// when blank lines came before it: those are queued in c.pending and the
// record is held until they are out. A limit error stops the source for
// good.
func (c *CSV) read(n int) (rec []string, marker string, now bool, err error) {
	rec, err = c.r.Read()
	err = c.lim.explain(err)
	if err == io.EOF {
		c.eof = true
		return nil, "", false, nil
	}
	if err != nil {
		if le := c.asLimitError(err, c.rows+int64(n)+1+c.blankBefore(err)); le != nil {
			c.err = le
			return nil, "", false, le
		}
	}
	marker, start, end, err := c.place(rec, err, n)
	if err != nil {
		return nil, "", false, err
	}
	blank := start - c.prevEnd - 1
	c.prevEnd = end
	if blank > 0 {
		c.pending = blank
		c.held = append(c.held[:0], rec...)
		c.heldErr = marker
		c.hasHeld = true
		return nil, "", false, nil
	}
	return rec, marker, true, nil
}

// place finds the file lines a record starts and ends on and what, if
// anything, is wrong with it (readErr is the reader's error for it): a
// quote error or a field count unlike the header's marks the row, which is
// still yielded. Any other read error ends the read.
func (c *CSV) place(rec []string, readErr error, n int) (marker string, start, end int, err error) {
	if readErr != nil {
		var pe *csv.ParseError
		if !errors.As(readErr, &pe) {
			return "", 0, 0, fmt.Errorf("%s: after data row %d: %w", c.name, c.rows+int64(n), readErr)
		}
		return fmt.Sprintf("unreadable: line %d, column %d: %v", pe.Line, pe.Column, pe.Err), pe.StartLine, pe.Line, nil
	}
	start, _ = c.r.FieldPos(0)
	end = c.endLine(rec)
	marker = fieldCountMarker(rec, len(c.header), c.trailing)
	return marker, start, end, nil
}

// appendRow appends one row and returns the bytes its fields take.
func (c *CSV) appendRow(cols []*array.StringBuilder, rec []string, marker string) int {
	ncol := len(c.header)
	size := 0
	for i := 0; i < ncol; i++ {
		if i < len(rec) {
			cols[i].Append(rec[i])
			size += len(rec[i])
		} else {
			cols[i].AppendNull()
		}
	}
	if marker == "" {
		cols[ncol].AppendNull()
	} else {
		cols[ncol].Append(marker)
	}
	return size
}

// Close releases the file. It is safe to call more than once.
func (c *CSV) Close() error {
	var errs []error
	if c.gz != nil {
		errs = append(errs, c.gz.Close())
		c.gz = nil
	}
	if c.f != nil {
		errs = append(errs, c.f.Close())
		c.f = nil
	}
	c.r = nil
	return errors.Join(errs...)
}

var _ record.Source = (*CSV)(nil)
