package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ghlbulk/ghlbulk/record"
)

// ErrInterrupted is a soft stop (SIGINT/SIGTERM): reading stopped, the
// requests in flight were finished and checkpointed. Running the same
// command again resumes. Exit code 3.
var ErrInterrupted = errors.New("interrupted: progress is saved; run the same command again to resume")

// ErrLoop marks a source or retry loop that went round without progress
// (a batch that repeats rows already read).
var ErrLoop = errors.New("no progress: the same rows came back")

// QuotaError stops a run because the location's daily request quota is
// spent. The checkpoint is saved; running again after ResetAt resumes.
// Exit code 3.
type QuotaError struct {
	ResetAt time.Time // zero if the API did not say
	Err     error
}

func (e *QuotaError) Error() string {
	if e.ResetAt.IsZero() {
		return "daily quota spent; run the same command again tomorrow to resume"
	}
	return fmt.Sprintf("daily quota spent; resumes after %s: run the same command again", e.ResetAt.UTC().Format(time.RFC3339))
}

func (e *QuotaError) Unwrap() error { return e.Err }

// ExitCode maps an import or export error to CONTRACT.md's exit codes:
// 0 done, 1 failed (resumable), 2 refused before any write, 3 stopped early
// and resumable. The CLI may use it or its own mapping.
func ExitCode(err error) int {
	var se *StateError
	var qe *QuotaError
	var fe *record.FaultError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled), errors.As(err, &qe):
		return 3
	case errors.As(err, &se):
		return 2
	case errors.As(err, &fe):
		if fe.BeforeWrite && fe.Kind != record.FaultAPI && fe.Kind != record.FaultState {
			return 2
		}
		return 1
	default:
		return 1
	}
}
