package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/xuri/excelize/v2"

	"github.com/ghlbulk/ghlbulk/record"
)

// XLSXOptions tunes OpenXLSX. The zero value is ready to use.
type XLSXOptions struct {
	// Sheet is the sheet to read (default: the workbook's first).
	Sheet string
	// BatchSize is the most rows in one batch (default DefaultBatchSize).
	BatchSize int
	// Allocator backs the records (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Name is the file as reported in batches and errors (default: path).
	Name string
	// MaxColumns is the most columns the header may have (default
	// DefaultMaxColumns).
	MaxColumns int
}

// XLSX streams one sheet of an Excel workbook through excelize's row
// iterator (the sheet's XML is read as it goes, never held whole), as
// batches of string columns like CSV's: every cell is the text Excel shows
// for it (a date is its formatted text, "03/02/1990" or "2 March 1990",
// so a mapping's date_order applies as to a CSV), then ErrorColumn.
// Blank rows at the sheet's end (formatting leftovers) are not rows.
type XLSX struct {
	name      string
	sheet     string
	f         *excelize.File
	it        *excelize.Rows
	header    []string
	trailing  int
	warnings  []string
	schema    *arrow.Schema
	mem       memory.Allocator
	batchSize int
	rows      int64 // data rows yielded so far
	blanks    int   // blank rows seen, yielded only if a row follows
	eof       bool
}

// OpenXLSX opens path, picks its sheet and reads the header row.
func OpenXLSX(path string, opt XLSXOptions) (*XLSX, error) {
	x := &XLSX{name: opt.Name, mem: opt.Allocator, batchSize: opt.BatchSize}
	if x.name == "" {
		x.name = path
	}
	if x.mem == nil {
		x.mem = memory.DefaultAllocator
	}
	if x.batchSize <= 0 {
		x.batchSize = DefaultBatchSize
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable .xlsx workbook (%v): save it again from Excel, or as CSV UTF-8", x.name, err)
	}
	x.f = f
	if err := x.init(opt); err != nil {
		x.Close()
		return nil, err
	}
	return x, nil
}

func (x *XLSX) init(opt XLSXOptions) error {
	sheets := x.f.GetSheetList()
	x.sheet = opt.Sheet
	if x.sheet == "" && len(sheets) > 0 {
		x.sheet = sheets[0]
	}
	if idx, _ := x.f.GetSheetIndex(x.sheet); idx < 0 || x.sheet == "" {
		return fmt.Errorf("%s: no sheet %q (--sheet): the workbook has %s", x.name, x.sheet, quoteNames(sheets))
	}
	it, err := x.f.Rows(x.sheet)
	if err != nil {
		return fmt.Errorf("%s: sheet %q: %w", x.name, x.sheet, err)
	}
	x.it = it
	var raw []string
	for len(raw) == 0 { // a sheet may start with blank rows
		if !it.Next() {
			return fmt.Errorf("%s: sheet %q is empty: no header row", x.name, x.sheet)
		}
		if raw, err = it.Columns(); err != nil {
			return fmt.Errorf("%s: sheet %q: header: %w", x.name, x.sheet, err)
		}
	}
	maxCols := opt.MaxColumns
	if maxCols <= 0 {
		maxCols = DefaultMaxColumns
	}
	if len(raw) > maxCols {
		return fmt.Errorf("%s: sheet %q: header has %d columns, more than %s %d", x.name, x.sheet, len(raw), FlagMaxColumns, maxCols)
	}
	h, err := fixHeader(raw)
	if err != nil {
		return fmt.Errorf("%s: sheet %q: %w", x.name, x.sheet, err)
	}
	x.header, x.trailing, x.warnings = h.names, h.trailing, h.warnings
	x.schema = stringSchema(x.header)
	return nil
}

// Header is the sheet's column names, in order (ErrorColumn not included).
func (x *XLSX) Header() []string { return x.header }

// Warnings says what was made of the header.
func (x *XLSX) Warnings() []string { return x.warnings }

// Describe is the header as read.
func (x *XLSX) Describe() string {
	return fmt.Sprintf("sheet %q, %d columns: %s", x.sheet, len(x.header), quoteNames(x.header))
}

// Next reads up to BatchSize rows; io.EOF when the sheet is done.
func (x *XLSX) Next(ctx context.Context) (record.Batch, error) {
	if err := ctx.Err(); err != nil {
		return record.Batch{}, err
	}
	if x.it == nil {
		return record.Batch{}, fmt.Errorf("%s: read after close", x.name)
	}
	b := array.NewRecordBuilder(x.mem, x.schema)
	defer b.Release()
	cols := make([]*array.StringBuilder, len(x.schema.Fields()))
	for i := range cols {
		cols[i] = b.Field(i).(*array.StringBuilder)
	}
	n, err := x.fill(cols)
	if err != nil {
		return record.Batch{}, err
	}
	if n == 0 {
		return record.Batch{}, io.EOF
	}
	first := x.rows + 1
	x.rows += int64(n)
	return record.Batch{Record: b.NewRecord(), File: x.name, FirstRow: first}, nil
}

// fill appends rows until the batch is full or the sheet ends. Blank rows
// wait in x.blanks until a row with a value follows them, so that a
// sheet's formatted but empty tail is not read as rows.
func (x *XLSX) fill(cols []*array.StringBuilder) (int, error) {
	n := 0
	for n < x.batchSize && !x.eof {
		if !x.it.Next() {
			x.eof = true
			if err := x.it.Error(); err != nil {
				return n, fmt.Errorf("%s: sheet %q: after data row %d: %w", x.name, x.sheet, x.rows+int64(n), err)
			}
			break
		}
		rec, err := x.it.Columns()
		if err != nil {
			return n, fmt.Errorf("%s: sheet %q: after data row %d: %w", x.name, x.sheet, x.rows+int64(n), err)
		}
		if blankRow(rec) {
			x.blanks++
			continue
		}
		for ; x.blanks > 0; x.blanks-- {
			x.appendRow(cols, nil)
			n++
		}
		x.appendRow(cols, rec)
		n++
	}
	return n, nil
}

func blankRow(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// appendRow appends one row: Excel leaves a row's empty cells at its end
// out, so a short row is padded with blanks, not marked.
func (x *XLSX) appendRow(cols []*array.StringBuilder, rec []string) {
	ncol := len(x.header)
	for i := 0; i < ncol; i++ {
		if i < len(rec) {
			cols[i].Append(rec[i])
		} else {
			cols[i].Append("")
		}
	}
	marker := ""
	if len(rec) > ncol {
		marker = fieldCountMarker(rec, ncol, len(rec)-ncol)
	}
	if marker == "" {
		cols[ncol].AppendNull()
	} else {
		cols[ncol].Append(marker)
	}
}

// Close releases the workbook. It is safe to call more than once.
func (x *XLSX) Close() error {
	var errs []error
	if x.it != nil {
		errs = append(errs, x.it.Close())
		x.it = nil
	}
	if x.f != nil {
		errs = append(errs, x.f.Close())
		x.f = nil
	}
	return errors.Join(errs...)
}

var _ record.Source = (*XLSX)(nil)
