// Package record holds what flows between the floors: the record batches a
// source yields and the interface sources satisfy, and the contract between
// the import engine (pipeline) and the sinks it writes through: the Row a
// sink is handed, the Outcome it hands back, the row statuses, the journal
// of notes and tasks, the Meter that counts a sink's requests and the
// FaultError that stops a run. It sits just above the API client so that
// sources, transform and sinks can share it without importing the engine
// above them. It imports nothing of ghlbulk's but ghl (for its types).
//
// Floor 1 (docs/design.md): imports only ghl.
package record

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
