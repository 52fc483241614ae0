package sinks

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// DefaultRowGroupRows is the Parquet row group length: large enough for
// good compression and few footer entries, small enough that one buffered
// row group stays in the tens of megabytes.
const DefaultRowGroupRows = 1 << 16

// Parquet writes records into one Parquet file with the Arrow module's
// pqarrow writer, streaming: records are buffered into the current row
// group, which is flushed every RowGroupRows rows. The Arrow schema is
// stored in the file, so readers get timestamp[ms, UTC] and list<string>
// back as such.
type Parquet struct {
	f    *fsx.File
	buf  *bufio.Writer
	fw   *pqarrow.FileWriter
	rows int64
}

// NewParquet starts the file at path (written aside until Close).
func NewParquet(path string, schema *arrow.Schema, opt Options) (*Parquet, error) {
	codec, err := codecOf(opt.Compression)
	if err != nil {
		return nil, err
	}
	rg := opt.RowGroupRows
	if rg <= 0 {
		rg = DefaultRowGroupRows
	}
	mem := opt.Mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	f, err := fsx.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(mem),
		parquet.WithCompression(codec),
		parquet.WithDictionaryDefault(true),
		parquet.WithMaxRowGroupLength(rg),
		parquet.WithCreatedBy("ghlbulk"),
	)
	buf := bufio.NewWriterSize(f, 1<<20)
	// The writer closes its sink if it can; the fsx.File must stay open until
	// Commit, so it gets a plain io.Writer.
	fw, err := pqarrow.NewFileWriter(schema, struct{ io.Writer }{buf}, props, pqarrow.NewArrowWriterProperties(
		pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema()))
	if err != nil {
		f.Abort()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &Parquet{f: f, buf: buf, fw: fw}, nil
}

func codecOf(name string) (compress.Compression, error) {
	switch strings.ToLower(name) {
	case "", "zstd":
		return compress.Codecs.Zstd, nil
	case "snappy":
		return compress.Codecs.Snappy, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	default:
		return 0, fmt.Errorf("compression %q: must be zstd, snappy or none", name)
	}
}

// Write appends rec's rows.
func (p *Parquet) Write(rec arrow.Record) error {
	if rec.NumRows() == 0 {
		return nil
	}
	if err := p.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("writing %s: %w", p.f.Path(), err)
	}
	p.rows += rec.NumRows()
	return nil
}

// Close finishes the file and renames it into place.
func (p *Parquet) Close() error {
	if err := p.fw.Close(); err != nil {
		p.f.Abort()
		return fmt.Errorf("writing %s: %w", p.f.Path(), err)
	}
	if err := p.buf.Flush(); err != nil {
		p.f.Abort()
		return fmt.Errorf("writing %s: %w", p.f.Path(), err)
	}
	if err := p.f.Commit(); err != nil {
		return fmt.Errorf("writing %s: %w", p.f.Path(), err)
	}
	return nil
}

// Abort drops the partial file.
func (p *Parquet) Abort() error { return p.f.Abort() }

// Rows is the number of rows written.
func (p *Parquet) Rows() int64 { return p.rows }

// Path is the file's final path.
func (p *Parquet) Path() string { return p.f.Path() }
