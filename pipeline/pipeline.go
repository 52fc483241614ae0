// Package pipeline runs imports and exports: it owns the worker pool, the
// checkpoint store, the counters and the rejects file. Sources and sinks are
// concrete types in their own packages; the interfaces they satisfy are
// declared here, where they are used.
package pipeline

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"
)

// Batch is a run of consecutive rows of one input file.
type Batch struct {
	Record   arrow.Record
	File     string // the file as the user named it
	FirstRow int64  // 1-based data row number of Record's first row (header not counted)
}

// Source yields record batches until io.EOF. The caller releases each
// Record. A Source starts no goroutines.
type Source interface {
	Header() []string
	Next(ctx context.Context) (Batch, error)
	Close() error
}
