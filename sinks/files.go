package sinks

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// RecordWriter writes records of one schema into one export file. Nothing
// is visible at the file's path until Close returns nil; Abort (safe to
// defer after Close) leaves no trace.
type RecordWriter interface {
	Write(rec arrow.Record) error
	Close() error
	Abort() error
	Rows() int64
	Path() string
}

// Format names.
const (
	FormatParquet = "parquet"
	FormatCSV     = "csv"
)

// Options tune the file writers. The zero value is fine.
type Options struct {
	// RowGroupRows is the Parquet row group length (default 65536).
	RowGroupRows int64
	// Compression is "zstd" (default), "snappy" or "none", Parquet only.
	Compression string
	Mem         memory.Allocator
}

// FileName is the export file's name for an entity in a format.
func FileName(entity, format string) string { return entity + "." + format }

// Create opens the writer for entity in format under dir.
func Create(format, dir, entity string, schema *arrow.Schema, opt Options) (RecordWriter, error) {
	path := filepath.Join(dir, FileName(entity, format))
	switch format {
	case FormatParquet:
		return NewParquet(path, schema, opt)
	case FormatCSV:
		return NewCSV(path, schema)
	default:
		return nil, fmt.Errorf("format %q: must be parquet or csv", format)
	}
}

// ManifestName is the manifest's file name in an export directory.
const ManifestName = "manifest.json"

// Manifest is manifest.json: what an export wrote and where the next
// incremental run starts. Readers should ignore fields they don't know;
// fields are only ever added.
type Manifest struct {
	SchemaVersion int       `json:"schema_version"`
	Format        string    `json:"format"`
	Mode          string    `json:"mode"` // full, incremental or since
	LocationID    string    `json:"location_id"`
	BusinessID    string    `json:"business_id,omitempty"`
	Include       []string  `json:"include"`
	CreatedAt     time.Time `json:"created_at"` // when the run started (a resumed run keeps it)
	// Since is the lower bound on dateUpdated this run exported from
	// (--since, or the previous run's cursor); absent for a full export.
	Since *time.Time `json:"since,omitempty"`
	// Cursor is where the next incremental run starts.
	Cursor *ExportCursor `json:"cursor,omitempty"`
	// Total is the number of contacts the API announced for the listing;
	// Listed how many the run read (all pages). They agree in a complete run.
	Total  int64 `json:"total"`
	Listed int64 `json:"listed"`
	// RowCounts is the rows in each file, by entity.
	RowCounts map[string]int64 `json:"row_counts"`
	// Files maps entity to the file name, relative to the manifest.
	Files map[string]string `json:"files"`
	// Deleted is the ids of contacts found deleted since the previous run
	// (incremental runs only; also in the deleted file).
	Deleted []string `json:"deleted,omitempty"`
	// CustomFields maps each typed custom field column to its fieldKey and
	// dataType.
	CustomFields []ManifestCustomField `json:"custom_fields,omitempty"`
	// Layout is the export's --layout: "replace" (the files straight in
	// --out) or "run" (each run in --out/run=<start>/).
	Layout string `json:"layout,omitempty"`
	// RunDir is, with layout "run", this run's directory relative to --out
	// ("run=20260102T150405Z"), the one the manifest sits in.
	RunDir string `json:"run_dir,omitempty"`
	// Snapshot: with --snapshot, Files are the complete current tables
	// (the earlier snapshot merged with this run's changes), and Changes
	// names this run's own files (entity -> "changes/<file>", deleted
	// included), ChangeCounts their rows.
	Snapshot     bool              `json:"snapshot,omitempty"`
	Changes      map[string]string `json:"changes,omitempty"`
	ChangeCounts map[string]int64  `json:"change_counts,omitempty"`
}

// ExportCursor is the incremental cursor: the largest dateUpdated exported,
// and the ids that carry exactly that value (a next run that starts at
// Value inclusive skips them, as dlt does).
type ExportCursor struct {
	Field string    `json:"field"` // dateUpdated
	Value time.Time `json:"value"`
	IDs   []string  `json:"ids,omitempty"`
}

// ManifestCustomField describes one typed custom field column.
type ManifestCustomField struct {
	Column   string `json:"column"`
	ID       string `json:"id"`
	FieldKey string `json:"field_key"`
	DataType string `json:"data_type"`
	Type     string `json:"type"`
}

// CustomFieldsManifest lists cs's typed columns for the manifest.
func CustomFieldsManifest(cs *ContactSchema) []ManifestCustomField {
	out := make([]ManifestCustomField, 0, len(cs.Custom))
	for _, c := range cs.Custom {
		out = append(out, ManifestCustomField{Column: c.Column, ID: c.ID, FieldKey: c.FieldKey, DataType: c.DataType, Type: c.Type.String()})
	}
	return out
}

// WriteManifest writes dir/manifest.json atomically.
func WriteManifest(dir string, m Manifest) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	path := filepath.Join(dir, ManifestName)
	if err := fsx.WriteFile(path, append(raw, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ReadManifest reads a manifest.json.
func ReadManifest(path string) (Manifest, error) {
	var m Manifest
	f, err := os.Open(path)
	if err != nil {
		return m, fmt.Errorf("reading manifest: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 256<<20))
	if err != nil {
		return m, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("reading %s: %w", path, err)
	}
	return m, nil
}

// Validate checks the options before any file is created.
func (o Options) Validate() error {
	_, err := codecOf(o.Compression)
	return err
}
