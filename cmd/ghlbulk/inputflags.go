package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/ghlbulk/ghlbulk/sources"
)

// inputLimits bound what one row of an input file may take, so that a
// damaged or hostile file (a gzip bomb, a row of endless commas) is refused
// with exit 2 instead of running the machine out of memory. Every command
// that reads input files registers them, next to --delimiter.
type inputLimits struct {
	maxRecordBytes int64
	maxColumns     int
}

func (l *inputLimits) register(fl *pflag.FlagSet) {
	fl.Int64Var(&l.maxRecordBytes, "max-record-bytes", sources.DefaultMaxRecordBytes,
		"the most bytes one CSV row (or the header) may take; a longer one stops the run (exit 2 before any write)")
	fl.IntVar(&l.maxColumns, "max-columns", sources.DefaultMaxColumns,
		"the most columns one input row (or the header) may have; more stops the run (exit 2 before any write)")
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
	return nil
}

func (l inputLimits) csv(delim rune) sources.CSVOptions {
	return sources.CSVOptions{Delimiter: delim, MaxRecordBytes: l.maxRecordBytes, MaxColumns: l.maxColumns}
}

func (l inputLimits) parquet() sources.ParquetOptions {
	return sources.ParquetOptions{MaxColumns: l.maxColumns}
}
