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

// RefusedError marks an error found before any write: a bad flag, mapping,
// input file or credentials, or an API that said no to the preflight.
// ExitCode maps it to 2.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// Refused wraps err so that ExitCode maps it to 2; nil stays nil.
func Refused(err error) error {
	if err == nil {
		return nil
	}
	return &RefusedError{err}
}

// StoppedError marks a resumable early stop outside the run loop: a daily
// quota spent before the run, or a wait for it interrupted. ExitCode maps
// it to 3.
type StoppedError struct{ Err error }

func (e *StoppedError) Error() string { return e.Err.Error() }
func (e *StoppedError) Unwrap() error { return e.Err }

// Stopped wraps err so that ExitCode maps it to 3; nil stays nil.
func Stopped(err error) error {
	if err == nil {
		return nil
	}
	return &StoppedError{err}
}

// Exit codes of CONTRACT.md; scripts and schedulers depend on them.
const (
	ExitOK      = 0 // done: every row was written or is in the rejects file
	ExitFailed  = 1 // a fault it could not get past; the state is kept
	ExitRefused = 2 // refused before any write: flag, mapping, credentials, scope, input
	ExitStopped = 3 // stopped early and resumable: interrupted, or the daily quota is spent
)

// ExitCode is the one place an error becomes a process exit code, the
// command line's errors and the engine's alike: 0 done, 1 failed
// (resumable), 2 refused before any write, 3 stopped early and resumable.
// The markers (Refused, Stopped) decide first, wherever they sit in the
// chain: a fault whose cause was marked a stop (a quota spent while the
// conflict screen listed contacts) is a stop.
func ExitCode(err error) int {
	var re *RefusedError
	var st *StoppedError
	var se *StateError
	var qe *QuotaError
	var fe *record.FaultError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &re):
		return ExitRefused
	case errors.As(err, &st):
		return ExitStopped
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled), errors.As(err, &qe):
		return ExitStopped
	case errors.As(err, &se):
		return ExitRefused
	case errors.As(err, &fe):
		if fe.BeforeWrite && fe.Kind != record.FaultAPI && fe.Kind != record.FaultState {
			return ExitRefused
		}
		return ExitFailed
	default:
		return ExitFailed
	}
}
