package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/ghlbulk/ghlbulk/record"
)

// ErrDamaged marks a Parquet file whose bytes the reader could not make
// sense of: a footer that points outside the file, pages that do not
// decode, columns of different lengths.
var ErrDamaged = errors.New("damaged or not a Parquet file")

// maxParquetAlloc is the largest single buffer a Parquet file may make the
// reader allocate. Sizes in a damaged file's page headers are taken at
// their word by Arrow's decoders; a real file's pages and batches stay far
// below this (writers cut pages at about 1 MiB).
const maxParquetAlloc = 1 << 30

// ParquetOptions tunes OpenParquet. The zero value is ready to use.
type ParquetOptions struct {
	// BatchSize is the most rows in one batch (default DefaultBatchSize).
	BatchSize int
	// Allocator backs the records (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Name is the file as reported in batches and errors (default: path).
	Name string
	// MaxColumns is the most columns the file may have (default
	// DefaultMaxColumns); more is refused with a *LimitError.
	MaxColumns int
}

// Parquet streams a Parquet file one batch at a time (never the whole
// table). Columns keep their Parquet types (strings, integers, floats,
// booleans, timestamps, dates, lists); the transform turns them into
// text. A struct column becomes one column per leaf, "address.city" (see
// flatFields), in the header and in the batches.
//
// A damaged file must end in an error, never a crash: every call into
// Arrow that reads the file's bytes runs on the caller's goroutine under a
// recover (guard), which is why the columns are read one by one here
// rather than through pqarrow's RecordReader, whose field readers are
// built in goroutines of its own. The one place Arrow still starts
// goroutines is a struct column's children; their pages are decoded once
// on our goroutine first (checkLeaves), so they can't panic there.
type Parquet struct {
	name   string
	f      *os.File
	size   int64
	mem    memory.Allocator
	bs     int64
	pf     *file.Reader
	fr     *pqarrow.FileReader
	cols   []*pqarrow.ColumnReader
	schema *arrow.Schema
	header []string // flattened: a struct's leaves as parent.child
	roots  []string // the file's own columns, one per reader in cols
	total  int64    // rows, as the footer says
	rows   int64    // data rows yielded so far
	err    error    // sticky: a damaged file is not read on
}

// OpenParquet opens path, checks its footer and reads its schema.
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
	maxCols := opt.MaxColumns
	if maxCols <= 0 {
		maxCols = DefaultMaxColumns
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open parquet: %w", err)
	}
	p := &Parquet{name: name, f: f, mem: boundedAlloc{mem}, bs: int64(bs)}
	if err := p.guard(func() error { return p.open(maxCols) }); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Parquet) open(maxCols int) error {
	st, err := p.f.Stat()
	if err != nil {
		return fmt.Errorf("open parquet: %w", err)
	}
	p.size = st.Size()
	p.pf, err = file.NewParquetReader(p.f, file.WithReadProps(parquet.NewReaderProperties(p.mem)))
	if err != nil {
		return fmt.Errorf("%s: not a readable parquet file: %w", p.name, err)
	}
	md := p.pf.MetaData()
	if n := md.Schema.Root().NumFields(); n > maxCols {
		return &LimitError{File: p.name, Limit: int64(maxCols), Flag: FlagMaxColumns}
	}
	if err := checkFooter(md, p.size); err != nil {
		return fmt.Errorf("%s: %w: %w", p.name, ErrDamaged, err)
	}
	p.total = md.NumRows
	props := pqarrow.ArrowReadProperties{BatchSize: p.bs, Parallel: false}
	p.fr, err = pqarrow.NewFileReader(p.pf, props, p.mem)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	var flat []arrow.Field
	for _, sf := range p.fr.Manifest.Fields {
		p.roots = append(p.roots, sf.Field.Name)
		flat = flatFields(flat, *sf.Field, "")
	}
	if len(flat) > maxCols {
		return &LimitError{File: p.name, Limit: int64(maxCols), Flag: FlagMaxColumns}
	}
	for _, f := range flat {
		p.header = append(p.header, f.Name)
	}
	if err := checkHeader(p.header); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	if err := p.checkLeaves(props); err != nil {
		return err
	}
	ctx := context.Background()
	fields := make([]arrow.Field, 0, len(flat))
	for i := range p.fr.Manifest.Fields {
		cr, err := p.fr.GetColumn(ctx, i)
		if err != nil {
			return fmt.Errorf("%s: column %q: %w: %w", p.name, p.roots[i], ErrDamaged, err)
		}
		p.cols = append(p.cols, cr)
		fields = flatFields(fields, *cr.Field(), "")
	}
	if len(fields) != len(p.header) {
		return fmt.Errorf("%s: %w: the schema has %d leaf columns, the column readers %d", p.name, ErrDamaged, len(p.header), len(fields))
	}
	p.schema = arrow.NewSchema(fields, p.fr.Manifest.SchemaMeta)
	return nil
}

// checkFooter checks what the footer says against the file before any
// page is read: Arrow checks a column chunk's place in the file only for
// files from old writers, and allocates whatever length it is told.
func checkFooter(md *metadata.FileMetaData, size int64) error {
	if md.NumRows < 0 {
		return fmt.Errorf("footer: %d rows", md.NumRows)
	}
	leaves := md.Schema.NumColumns()
	var rows int64
	for g := 0; g < len(md.RowGroups); g++ {
		rg := md.RowGroup(g)
		if rg.NumRows() < 0 || rg.NumColumns() != leaves {
			return fmt.Errorf("row group %d: %d rows, %d columns (the schema has %d)", g, rg.NumRows(), rg.NumColumns(), leaves)
		}
		rows += rg.NumRows()
		for c := 0; c < leaves; c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				return fmt.Errorf("row group %d, column %d: %w", g, c, err)
			}
			start, n := cc.DataPageOffset(), cc.TotalCompressedSize()
			if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
				start = cc.DictionaryPageOffset()
			}
			if start < 0 || n < 0 || start > size || n > size-start || cc.NumValues() < 0 {
				return fmt.Errorf("row group %d, column %d: %d bytes at offset %d, %d values, in a file of %d bytes",
					g, c, n, start, cc.NumValues(), size)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("footer: %d rows, its row groups hold %d", md.NumRows, rows)
	}
	return nil
}

// checkLeaves decodes, on this goroutine, every page of the columns that
// Arrow reads in goroutines of its own (the children of a struct column),
// so that a damaged page fails here, where guard can catch it. Each leaf
// is read alone by a second reader over the same file, through the same
// leaf reader Arrow uses under the struct.
func (p *Parquet) checkLeaves(props pqarrow.ArrowReadProperties) error {
	var leaves []pqarrow.SchemaField
	for _, sf := range p.fr.Manifest.Fields {
		if hasStruct(sf.Field.Type) {
			leaves = appendLeaves(leaves, sf)
		}
	}
	if len(leaves) == 0 {
		return nil
	}
	vr, err := pqarrow.NewFileReader(p.pf, props, p.mem)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	base := len(vr.Manifest.Fields)
	vr.Manifest.Fields = append(vr.Manifest.Fields, leaves...)
	for i, leaf := range leaves {
		if err := drainColumn(vr, base+i); err != nil {
			return fmt.Errorf("%s: column %q: %w: %w", p.name, leaf.Field.Name, ErrDamaged, err)
		}
	}
	return nil
}

func drainColumn(fr *pqarrow.FileReader, i int) error {
	cr, err := fr.GetColumn(context.Background(), i)
	if err != nil {
		return err
	}
	defer cr.Release()
	for {
		ch, err := cr.NextBatch(fr.Props.BatchSize)
		if err != nil {
			return err
		}
		n := ch.Len()
		ch.Release()
		if n == 0 {
			return nil
		}
	}
}

func hasStruct(t arrow.DataType) bool {
	switch t := t.(type) {
	case *arrow.StructType:
		return true
	case arrow.ListLikeType:
		return hasStruct(t.Elem())
	}
	return false
}

func appendLeaves(out []pqarrow.SchemaField, sf pqarrow.SchemaField) []pqarrow.SchemaField {
	if len(sf.Children) == 0 {
		return append(out, sf)
	}
	for _, c := range sf.Children {
		out = appendLeaves(out, c)
	}
	return out
}

// guard runs fn, turning a panic inside Arrow (a damaged file) into an
// error naming the file.
func (p *Parquet) guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w: the reader failed after data row %d: %v", p.name, ErrDamaged, p.rows, r)
		}
	}()
	return fn()
}

// Header is the file's column names, in order.
func (p *Parquet) Header() []string { return p.header }

// Next returns the next batch, or io.EOF when the file is done. The caller
// releases the batch's record.
func (p *Parquet) Next(ctx context.Context) (record.Batch, error) {
	if err := ctx.Err(); err != nil {
		return record.Batch{}, err
	}
	if p.fr == nil {
		return record.Batch{}, fmt.Errorf("%s: read after close", p.name)
	}
	if p.err != nil {
		return record.Batch{}, p.err
	}
	var b record.Batch
	err := p.guard(func() (err error) {
		b, err = p.next()
		return err
	})
	if err != nil && !errors.Is(err, io.EOF) {
		p.err = err
	}
	return b, err
}

// next reads one batch from each column and puts them side by side.
func (p *Parquet) next() (record.Batch, error) {
	if p.rows >= p.total {
		return record.Batch{}, io.EOF
	}
	arrs := make([]arrow.Array, len(p.cols))
	defer func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}()
	n := -1
	for i, cr := range p.cols {
		ch, err := cr.NextBatch(p.bs)
		if err != nil {
			return record.Batch{}, fmt.Errorf("%s: column %q after data row %d: %w: %w", p.name, p.roots[i], p.rows, ErrDamaged, err)
		}
		arrs[i], err = p.single(ch)
		ch.Release()
		if err != nil {
			return record.Batch{}, fmt.Errorf("%s: column %q after data row %d: %w", p.name, p.roots[i], p.rows, err)
		}
		if n >= 0 && arrs[i].Len() != n {
			return record.Batch{}, fmt.Errorf("%s: %w: after data row %d, column %q has %d rows, column %q %d",
				p.name, ErrDamaged, p.rows, p.roots[0], n, p.roots[i], arrs[i].Len())
		}
		n = arrs[i].Len()
	}
	if n <= 0 {
		return record.Batch{}, fmt.Errorf("%s: %w: the footer says %d rows, the columns end after %d", p.name, ErrDamaged, p.total, p.rows)
	}
	if p.rows+int64(n) > p.total {
		return record.Batch{}, fmt.Errorf("%s: %w: the footer says %d rows, the columns hold more", p.name, ErrDamaged, p.total)
	}
	flat := make([]arrow.Array, 0, len(p.header))
	defer func() {
		for _, a := range flat {
			a.Release()
		}
	}()
	for _, a := range arrs {
		flat = flatArrays(flat, a, p.mem)
	}
	rec := array.NewRecord(p.schema, flat, int64(n))
	first := p.rows + 1
	p.rows += int64(n)
	return record.Batch{Record: rec, File: p.name, FirstRow: first}, nil
}

// single is a column's batch as one array (a batch that crosses a row
// group comes in two chunks).
func (p *Parquet) single(ch *arrow.Chunked) (arrow.Array, error) {
	switch chunks := ch.Chunks(); len(chunks) {
	case 0:
		return array.MakeArrayOfNull(p.mem, ch.DataType(), 0), nil
	case 1:
		chunks[0].Retain()
		return chunks[0], nil
	default:
		return array.Concatenate(chunks, p.mem)
	}
}

// Schema is the Arrow schema of the file's records.
func (p *Parquet) Schema() (*arrow.Schema, error) { return p.schema, nil }

// Close releases the readers and the file. It is safe to call more than
// once.
func (p *Parquet) Close() error {
	_ = p.guard(func() error {
		for _, cr := range p.cols {
			cr.Release()
		}
		return nil
	})
	p.cols = nil
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

// boundedAlloc refuses, by a panic that guard turns into an error, any
// single buffer past maxParquetAlloc: a damaged page header's sizes would
// otherwise be allocated as told, and a failed allocation of many GiB is
// a fatal error, not a panic.
type boundedAlloc struct{ memory.Allocator }

func (a boundedAlloc) Allocate(n int) []byte {
	checkAlloc(n)
	return a.Allocator.Allocate(n)
}

func (a boundedAlloc) Reallocate(n int, b []byte) []byte {
	checkAlloc(n)
	return a.Allocator.Reallocate(n, b)
}

func checkAlloc(n int) {
	if n < 0 || n > maxParquetAlloc {
		panic(fmt.Sprintf("a buffer of %d bytes asked for (more than %d)", n, maxParquetAlloc))
	}
}

var _ record.Source = (*Parquet)(nil)
