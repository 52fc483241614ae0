package export

// A full snapshot at incremental cost (--snapshot, issue 13). With it the
// top-level tables of --out are the complete current ones after every run,
// and the run's own changes (new or changed contacts and related records,
// and the deleted file) go in OUT/changes/. The snapshot is made locally:
// the previous snapshot's rows, less those whose id the run deleted or
// wrote again, then the run's rows; streamed a record batch at a time, so
// memory holds only the set of ids changed or deleted, never a table. No
// request is spent on an unchanged record.
//
// The first --snapshot run, or one whose folder holds no usable snapshot
// (another format or include list, a cursor the state does not share, a
// custom field whose type changed), is a full export: decided when the run
// starts and kept with it (a bound of 0 and no related diff), so a resumed
// run makes the same choice. A run killed in the middle of finish and
// resumed merges again onto what is there: merging the same changes twice
// gives the same rows in the same order, so it ends with the same files.

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// changesDirName is the folder in --out that holds a --snapshot run's
// changes.
const changesDirName = "changes"

// snapshotBatchRows is the rows read from the previous snapshot at a time.
const snapshotBatchRows = 8192

// entityDir is where the run's change files go: --out itself, or with
// --snapshot its changes folder.
func (e *exporter) entityDir(r *exportRun) string {
	if e.cfg.Snapshot {
		return filepath.Join(r.FinalDir, changesDirName)
	}
	return r.FinalDir
}

// snapshotBase makes a new --snapshot run a full export unless --out holds
// a snapshot this run can build on.
func (e *exporter) snapshotBase(r *exportRun) {
	if !e.cfg.Snapshot {
		return
	}
	if r.BoundMs != 0 {
		why := e.unusableSnapshot(r)
		if why == "" {
			return
		}
		e.log.Info("--snapshot: exporting everything this time", "why", why)
	}
	r.BoundMs, r.BoundIDs, r.Rel.Diff = 0, nil, false
}

// unusableSnapshot says why --out holds no snapshot run r can merge its
// changes into ("" when it does).
func (e *exporter) unusableSnapshot(r *exportRun) string {
	m, err := sinks.ReadManifest(filepath.Join(r.FinalDir, sinks.ManifestName))
	switch {
	case err != nil || !isOurManifest(m) || !m.Snapshot:
		return "no earlier --snapshot export in --out"
	case m.Format != e.cfg.Format:
		return "the earlier snapshot is " + m.Format
	case !slices.Equal(m.Include, e.inc.Names()):
		return "the earlier snapshot has another --include"
	case m.Cursor == nil || m.Cursor.Value.UnixMilli() != r.BoundMs:
		return "the earlier snapshot is not the one --state last finished"
	}
	old := map[string]string{}
	for _, c := range m.CustomFields {
		old[c.Column] = c.Type
	}
	for _, c := range sinks.CustomFieldsManifest(sinks.NewContactSchema(r.Fields)) {
		if t, ok := old[c.Column]; ok && t != c.Type {
			return "custom field column " + c.Column + " changed type"
		}
	}
	for _, name := range m.Files {
		if _, err := os.Stat(filepath.Join(r.FinalDir, name)); err != nil {
			return "the earlier snapshot's " + name + " is gone"
		}
	}
	return ""
}

// snapshotFiles is what writeSnapshot wrote: the top-level tables, with
// the change files beside them for the manifest.
type snapshotFiles struct {
	files, changes        map[string]string
	counts, changesCounts map[string]int64
}

// writeSnapshot writes each entity's complete table into --out from the
// previous snapshot (when the run merges) and the run's staged rows. The
// run's change files are already in OUT/changes/ (changes, counts).
func (e *exporter) writeSnapshot(ctx context.Context, r *exportRun, changes map[string]string, counts map[string]int64) (*snapshotFiles, error) {
	out := &snapshotFiles{files: map[string]string{}, counts: map[string]int64{},
		changes: map[string]string{}, changesCounts: counts}
	for ent, name := range changes {
		out.changes[ent] = changesDirName + "/" + name
	}
	pages, err := e.stagedPages(ctx, r)
	if err != nil {
		return nil, err
	}
	merge := r.BoundMs != 0
	if merge {
		defer softMemoryLimit()()
	}
	var gone map[string]map[string]bool
	if merge {
		if gone, err = e.goneIDs(ctx, r); err != nil {
			return nil, err
		}
	}
	for _, ent := range append([]string{sinks.EntityContacts}, e.inc.Names()...) {
		var drop map[string]bool
		if merge {
			if drop, err = e.stagedIDs(ctx, r, ent, pages, gone[ent]); err != nil {
				return nil, err
			}
		}
		n, err := e.mergeEntity(ctx, r, ent, pages, drop, merge)
		if err != nil {
			return nil, err
		}
		out.files[ent] = sinks.FileName(ent, e.cfg.Format)
		out.counts[ent] = n
	}
	return out, nil
}

// goneIDs are the ids, by entity, that the state found deleted since the
// previous run.
func (e *exporter) goneIDs(ctx context.Context, r *exportRun) (map[string]map[string]bool, error) {
	gone := map[string]map[string]bool{sinks.EntityContacts: {}}
	ids, err := e.store.ExportDeleted(ctx, r.Scope, r.RunID)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		gone[sinks.EntityContacts][id] = true
	}
	recs, err := e.store.ExportRelatedDeleted(ctx, r.Scope, r.RunID, e.inc.Names())
	if err != nil {
		return nil, err
	}
	for _, x := range recs {
		if gone[x.Kind] == nil {
			gone[x.Kind] = map[string]bool{}
		}
		gone[x.Kind][x.ID] = true
	}
	return gone, nil
}

// stagedIDs adds to gone the ids of the rows of ent the run staged: the
// rows of the previous snapshot to drop.
func (e *exporter) stagedIDs(ctx context.Context, r *exportRun, ent string, pages []stagedPage, gone map[string]bool) (map[string]bool, error) {
	drop := map[string]bool{}
	for id := range gone {
		drop[id] = true
	}
	err := e.eachStaged(ctx, r, ent, pages, func(rec arrow.Record) error {
		ids, err := idColumn(rec)
		if err != nil {
			return err
		}
		for i := range ids.Len() {
			drop[ids.Value(i)] = true
		}
		return nil
	})
	return drop, err
}

// eachStaged calls fn with each staged record of ent, in page order.
func (e *exporter) eachStaged(ctx context.Context, r *exportRun, ent string, pages []stagedPage, fn func(arrow.Record) error) error {
	for _, p := range pages {
		if p.counts[ent] == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := readStage(stagePath(r, p.page, ent), e.mem, fn); err != nil {
			return err
		}
	}
	return nil
}

func idColumn(rec arrow.Record) (*array.String, error) {
	idx := rec.Schema().FieldIndices("id")
	if len(idx) != 1 {
		return nil, errors.New("snapshot: a table without an id column")
	}
	ids, ok := rec.Column(idx[0]).(*array.String)
	if !ok {
		return nil, fmt.Errorf("snapshot: the id column is %s, not a string", rec.Column(idx[0]).DataType())
	}
	return ids, nil
}

// mergeEntity writes ent's complete table: the previous snapshot's rows
// whose id is not in drop (when merge), then the run's staged rows.
func (e *exporter) mergeEntity(ctx context.Context, r *exportRun, ent string, pages []stagedPage, drop map[string]bool, merge bool) (int64, error) {
	schema := e.entitySchema(ent)
	path := filepath.Join(r.FinalDir, sinks.FileName(ent, e.cfg.Format))
	if e.cfg.Format == sinks.FormatCSV {
		return e.mergeCSV(ctx, r, ent, pages, drop, merge, path, schema)
	}
	w, err := sinks.Create(e.cfg.Format, r.FinalDir, ent, schema, e.fileOptions())
	if err != nil {
		return 0, err
	}
	defer w.Abort()
	if merge {
		if err := e.keptParquet(ctx, path, schema, drop, w.Write); err != nil {
			return 0, err
		}
	}
	if err := e.eachStaged(ctx, r, ent, pages, w.Write); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return w.Rows(), nil
}

// keptParquet streams the rows of the Parquet file at path whose id is not
// in drop to write, as records of schema: a column the file lacks (a
// custom field added since) is null.
func (e *exporter) keptParquet(ctx context.Context, path string, schema *arrow.Schema, drop map[string]bool, write func(arrow.Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the earlier snapshot: %w (remove --out's manifest.json to start the snapshot afresh)", err)
	}
	defer f.Close()
	pr, err := file.NewParquetReader(f)
	if err != nil {
		return fmt.Errorf("reading the earlier snapshot %s: %w", path, err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: snapshotBatchRows}, e.mem)
	if err != nil {
		return fmt.Errorf("reading the earlier snapshot %s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("reading the earlier snapshot %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := project(rr.Record(), schema, e.mem)
		err := writeKept(rec, drop, write)
		rec.Release()
		if err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the earlier snapshot %s: %w", path, err)
	}
	return nil
}

// project gives rec the columns of schema, by name: a column rec lacks, or
// holds with another type, is all null.
func project(rec arrow.Record, schema *arrow.Schema, mem memory.Allocator) arrow.Record {
	n := rec.NumRows()
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		idx := rec.Schema().FieldIndices(f.Name)
		if len(idx) == 1 && arrow.TypeEqual(rec.Column(idx[0]).DataType(), f.Type) {
			cols[i] = rec.Column(idx[0])
			cols[i].Retain()
			continue
		}
		cols[i] = array.MakeArrayOfNull(mem, f.Type, int(n))
	}
	out := array.NewRecord(schema, cols, n)
	for _, c := range cols {
		c.Release()
	}
	return out
}

// writeKept writes the runs of rec's rows whose id is not in drop.
func writeKept(rec arrow.Record, drop map[string]bool, write func(arrow.Record) error) error {
	ids, err := idColumn(rec)
	if err != nil {
		return err
	}
	n := int(rec.NumRows())
	for start := 0; start < n; {
		if drop[ids.Value(start)] {
			start++
			continue
		}
		end := start + 1
		for end < n && !drop[ids.Value(end)] {
			end++
		}
		part := rec.NewSlice(int64(start), int64(end))
		err := write(part)
		part.Release()
		if err != nil {
			return err
		}
		start = end
	}
	return nil
}

// mergeCSV is mergeEntity for CSV: the previous snapshot's lines are
// copied field for field (by column name; a column it lacks is empty),
// the run's rows rendered as sinks.CSV renders them.
func (e *exporter) mergeCSV(ctx context.Context, r *exportRun, ent string, pages []stagedPage, drop map[string]bool, merge bool, path string, schema *arrow.Schema) (int64, error) {
	w, err := newCSVTable(path, schema)
	if err != nil {
		return 0, err
	}
	defer w.f.Abort()
	if merge {
		if err := keptCSV(path, w, drop); err != nil {
			return 0, err
		}
	}
	if err := e.eachStaged(ctx, r, ent, pages, w.writeRecord); err != nil {
		return 0, err
	}
	return w.rows, w.close()
}

// csvTable writes one CSV table as sinks.CSV does (header, CRLF, RFC 4180).
type csvTable struct {
	f    *fsx.File
	buf  *bufio.Writer
	w    *csv.Writer
	row  []string
	rows int64
}

func newCSVTable(path string, schema *arrow.Schema) (*csvTable, error) {
	f, err := fsx.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	t := &csvTable{f: f, buf: bufio.NewWriterSize(f, 1<<20), row: make([]string, schema.NumFields())}
	t.w = csv.NewWriter(t.buf)
	t.w.UseCRLF = true
	for i, fd := range schema.Fields() {
		t.row[i] = fd.Name
	}
	if err := t.w.Write(t.row); err != nil {
		f.Abort()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return t, nil
}

func (t *csvTable) writeRecord(rec arrow.Record) error {
	cols := rec.Columns()
	for i := range int(rec.NumRows()) {
		for j, col := range cols {
			t.row[j] = sinks.CSVValue(col, i)
		}
		if err := t.writeRow(t.row); err != nil {
			return err
		}
	}
	return nil
}

func (t *csvTable) writeRow(row []string) error {
	if err := t.w.Write(row); err != nil {
		return fmt.Errorf("writing %s: %w", t.f.Path(), err)
	}
	t.rows++
	return nil
}

func (t *csvTable) close() error {
	t.w.Flush()
	if err := t.w.Error(); err != nil {
		return fmt.Errorf("writing %s: %w", t.f.Path(), err)
	}
	if err := t.buf.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", t.f.Path(), err)
	}
	return t.f.Commit()
}

// keptCSV copies the lines of the CSV table at path whose id is not in
// drop into w, column by column name.
func keptCSV(path string, w *csvTable, drop map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the earlier snapshot: %w (remove --out's manifest.json to start the snapshot afresh)", err)
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("reading the earlier snapshot %s: %w", path, err)
	}
	from, idCol := csvColumns(header, w.row)
	if idCol < 0 {
		return fmt.Errorf("reading the earlier snapshot %s: no id column", path)
	}
	row := make([]string, len(w.row))
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the earlier snapshot %s: %w", path, err)
		}
		if drop[rec[idCol]] {
			continue
		}
		for i, j := range from {
			row[i] = ""
			if j >= 0 {
				row[i] = rec[j]
			}
		}
		if err := w.writeRow(row); err != nil {
			return err
		}
	}
}

// csvColumns maps each column of want to its index in header (-1: absent),
// and gives header's id column.
func csvColumns(header, want []string) (from []int, idCol int) {
	from = make([]int, len(want))
	for i, name := range want {
		from[i] = slices.Index(header, name)
	}
	return from, slices.Index(header, "id")
}

// prepareChanges makes OUT/changes and removes the temporary files a
// killed run left there.
func prepareChanges(dir string) error {
	ch := filepath.Join(dir, changesDirName)
	if err := os.MkdirAll(ch, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", ch, err)
	}
	return removeLeftovers(ch)
}

// written is every file the run wrote into --out (files, and with
// --snapshot the change files): the ones removeStale keeps.
func (s *snapshotFiles) written(files map[string]string) map[string]string {
	if s == nil {
		return files
	}
	all := maps.Clone(files)
	for ent, name := range s.changes {
		all[changesDirName+"."+ent] = name
	}
	return all
}

// manifest adds the snapshot's change files to m.
func (s *snapshotFiles) manifest(m sinks.Manifest) sinks.Manifest {
	if s == nil {
		return m
	}
	m.Snapshot = true
	m.Changes = s.changes
	m.ChangeCounts = s.changesCounts
	return m
}

// mergeMemoryLimit is the Go heap's soft limit while a snapshot is merged.
// The merge streams: what it holds live is a row group read and one being
// written (~120 MiB at 64k rows of every column), but with the default GC
// pacing the heap doubles that before collecting, which put the merge's
// peak RSS past 300 MB. Under the limit the GC collects sooner instead.
const mergeMemoryLimit = 200 << 20

// softMemoryLimit sets mergeMemoryLimit unless the user set GOMEMLIMIT,
// and returns what puts the limit back.
func softMemoryLimit() (restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	old := debug.SetMemoryLimit(mergeMemoryLimit)
	return func() { debug.SetMemoryLimit(old) }
}
