package export

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// stagePath is the staged file of one entity of one page. The name depends
// only on the page number, so a page redone after a crash replaces its
// earlier, uncheckpointed, files.
func stagePath(r *exportRun, page int, entity string) string {
	return filepath.Join(r.StageDir, fmt.Sprintf("p%08d.%s.arrow", page, entity))
}

// writeStage writes rec as an Arrow IPC file (zstd-compressed buffers),
// atomically. The staging directory's leftovers were cleared once when the
// run began (fsx.RemoveTemps), so no file looks for them again.
func writeStage(path string, rec arrow.Record, mem memory.Allocator) error {
	f, err := fsx.CreateNoSweep(path)
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	defer f.Abort()
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem), ipc.WithZstd())
	if err != nil {
		return fmt.Errorf("staging %s: %w", path, err)
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return fmt.Errorf("staging %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("staging %s: %w", path, err)
	}
	return f.Commit()
}

// readStage calls fn with each record of a staged file, releasing each
// after fn returns, and returns the rows read.
func readStage(path string, mem memory.Allocator, fn func(arrow.Record) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading staged page: %w (the staging directory was changed; run with a fresh --state)", err)
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(mem))
	if err != nil {
		return 0, fmt.Errorf("reading staged page %s: %w", path, err)
	}
	defer r.Close()
	var n int64
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("reading staged page %s: %w", path, err)
		}
		n += rec.NumRows()
		if err := fn(rec); err != nil {
			return n, err
		}
	}
}
