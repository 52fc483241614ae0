package main

import (
	"fmt"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sources"
)

// inputLimits bound what one row of an input file may take, so that a
// damaged or hostile file (a gzip bomb, a row of endless commas) is refused
// with exit 2 instead of running the machine out of memory. Every command
// that reads input files registers them, next to --delimiter.
type inputLimits struct {
	maxRecordBytes int64
	maxColumns     int
	encoding       string // --encoding: "" or auto detects
	sheet          string // --sheet: an .xlsx file's sheet (default the first)
}

func (l *inputLimits) register(fl *pflag.FlagSet) {
	fl.Int64Var(&l.maxRecordBytes, "max-record-bytes", sources.DefaultMaxRecordBytes,
		"the most bytes one CSV row (or the header) may take; a longer one stops the run (exit 2 before any write)")
	fl.IntVar(&l.maxColumns, "max-columns", sources.DefaultMaxColumns,
		"the most columns one input row (or the header) may have; more stops the run (exit 2 before any write)")
	fl.StringVar(&l.encoding, "encoding", "auto",
		"the text encoding of CSV input: utf-8, utf-16le, utf-16be, windows-1252, iso-8859-1, or auto (a BOM, else UTF-8 when valid, else windows-1252)")
	fl.StringVar(&l.sheet, "sheet", "", "the sheet of an .xlsx input to read (default: the first)")
}

// validate refuses a negative limit. Zero is the default, as in
// sources, so that options built in code (the demo) need not set them.
func (l inputLimits) validate() error {
	if l.maxRecordBytes < 0 {
		return fmt.Errorf("%s %d: must be 1 or more", sources.FlagMaxRecordBytes, l.maxRecordBytes)
	}
	if l.maxColumns < 0 {
		return fmt.Errorf("%s %d: must be 1 or more", sources.FlagMaxColumns, l.maxColumns)
	}
	_, err := sources.ParseEncoding(l.encoding)
	return err
}

func (l inputLimits) csv(delim rune) sources.CSVOptions {
	enc, _ := sources.ParseEncoding(l.encoding) // checked by validate
	return sources.CSVOptions{Delimiter: delim, MaxRecordBytes: l.maxRecordBytes, MaxColumns: l.maxColumns, Encoding: enc}
}

// open opens one input file by its kind (kindOf): .parquet, .xlsx, or
// CSV text; delimiter is --delimiter ("" detects it).
func (l inputLimits) open(path, delimiter string) (record.Source, error) {
	switch kindOf(path) {
	case "parquet":
		return sources.OpenParquet(path, l.parquet())
	case "xlsx":
		return sources.OpenXLSX(path, sources.XLSXOptions{Sheet: l.sheet, MaxColumns: l.maxColumns})
	}
	var delim rune
	if delimiter != "" {
		delim, _ = utf8.DecodeRuneInString(delimiter)
	}
	return sources.OpenCSV(path, l.csv(delim))
}

// describeInput is what a refusal shows of a file whose header does not
// fit the mapping: the header as read (encoding, delimiter, columns), so a
// wrong delimiter or encoding is plain to see.
func describeInput(src record.Source) string {
	if d, ok := src.(interface{ Describe() string }); ok {
		return d.Describe()
	}
	return ""
}

// inputWarnings is what the source made of its header and encoding, for
// the run's output (nil when the file was read as written, UTF-8).
func inputWarnings(src record.Source) []string {
	var out []string
	if e, ok := src.(interface{ Encoding() string }); ok && e.Encoding() != sources.EncodingUTF8 && e.Encoding() != "" {
		out = append(out, "read as "+e.Encoding()+" (not UTF-8); name another with --encoding if the text looks wrong")
	}
	if w, ok := src.(interface{ Warnings() []string }); ok {
		out = append(out, w.Warnings()...)
	}
	return out
}

func (l inputLimits) parquet() sources.ParquetOptions {
	return sources.ParquetOptions{MaxColumns: l.maxColumns}
}
