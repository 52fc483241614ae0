package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/ghlbulk/ghlbulk/pipeline"
)

// ParquetOptions tunes OpenParquet. The zero value is ready to use.
type ParquetOptions struct {
	// BatchSize is the most rows in one batch (default DefaultBatchSize).
	BatchSize int
	// Allocator backs the records (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Name is the file as reported in batches and errors (default: path).
	Name string
}

// Parquet streams a Parquet file through pqarrow's record reader, one batch
// at a time (never the whole table). Columns keep their Parquet types
// (strings, integers, floats, booleans, timestamps, dates, lists of
// strings); the transform turns them into text.
type Parquet struct {
	name   string
	f      *os.File
	pf     *file.Reader
	fr     *pqarrow.FileReader
	rr     pqarrow.RecordReader
	header []string
	rows   int64
}

// OpenParquet opens path and reads its schema.
func OpenParquet(path string, opt ParquetOptions) (*Parquet, error) {
	name := opt.Name
	if name == "" {
		name = path
	}
	mem := opt.Allocator
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	bs := opt.BatchSize
	if bs <= 0 {
		bs = DefaultBatchSize
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open parquet: %w", err)
	}
	p := &Parquet{name: name, f: f}
	p.pf, err = file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: not a readable parquet file: %w", name, err)
	}
	p.fr, err = pqarrow.NewFileReader(p.pf, pqarrow.ArrowReadProperties{BatchSize: int64(bs), Parallel: false}, mem)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sc, err := p.fr.Schema()
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: schema: %w", name, err)
	}
	for _, fld := range sc.Fields() {
		p.header = append(p.header, fld.Name)
	}
	if err := checkHeader(p.header); err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// Header is the file's column names, in order.
func (p *Parquet) Header() []string { return p.header }

// Next returns the next batch, or io.EOF when the file is done. The caller
// releases the batch's record.
func (p *Parquet) Next(ctx context.Context) (pipeline.Batch, error) {
	if err := ctx.Err(); err != nil {
		return pipeline.Batch{}, err
	}
	if p.fr == nil {
		return pipeline.Batch{}, fmt.Errorf("%s: read after close", p.name)
	}
	if p.rr == nil {
		if p.pf.NumRows() == 0 {
			return pipeline.Batch{}, io.EOF
		}
		rr, err := p.fr.GetRecordReader(ctx, nil, nil)
		if err != nil {
			return pipeline.Batch{}, fmt.Errorf("%s: %w", p.name, err)
		}
		p.rr = rr
	}
	for p.rr.Next() {
		rec := p.rr.Record()
		if rec.NumRows() == 0 {
			continue
		}
		rec.Retain() // the reader releases its copy on the next call
		first := p.rows + 1
		p.rows += rec.NumRows()
		return pipeline.Batch{Record: rec, File: p.name, FirstRow: first}, nil
	}
	if err := p.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return pipeline.Batch{}, fmt.Errorf("%s: after data row %d: %w", p.name, p.rows, err)
	}
	return pipeline.Batch{}, io.EOF
}

// Schema is the Arrow schema of the file's records.
func (p *Parquet) Schema() (*arrow.Schema, error) { return p.fr.Schema() }

// Close releases the reader and the file. It is safe to call more than once.
func (p *Parquet) Close() error {
	if p.rr != nil {
		p.rr.Release()
		p.rr = nil
	}
	p.fr = nil
	var err error
	if p.pf != nil {
		err = p.pf.Close() // closes the underlying file too
		p.pf = nil
		p.f = nil
	}
	if p.f != nil {
		err = errors.Join(err, p.f.Close())
		p.f = nil
	}
	return err
}

var _ pipeline.Source = (*Parquet)(nil)
