package main

import (
	"context"
	"errors"
)

// Exit codes of CONTRACT.md; scripts and schedulers depend on them.
const (
	exitOK      = 0 // done: every row was written or is in the rejects file
	exitFailed  = 1 // a fault it could not get past; the state is kept
	exitRefused = 2 // refused before any write: flag, mapping, credentials, scope, input
	exitStopped = 3 // stopped early and resumable: interrupted, or the daily quota is spent
)

// refusedError marks an error found before any write (bad flag, mapping,
// credentials, scope or input file).
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// refused wraps err so that exitCode maps it to 2.
func refused(err error) error {
	if err == nil {
		return nil
	}
	return &refusedError{err}
}

// stoppedError marks a resumable early stop: interrupted or quota spent.
type stoppedError struct{ err error }

func (e *stoppedError) Error() string { return e.err.Error() }
func (e *stoppedError) Unwrap() error { return e.err }

func stopped(err error) error {
	if err == nil {
		return nil
	}
	return &stoppedError{err}
}

// exitCode is the one place an error becomes a process exit code.
func exitCode(err error) int {
	var r *refusedError
	var s *stoppedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &r):
		return exitRefused
	case errors.As(err, &s), errors.Is(err, context.Canceled):
		return exitStopped
	default:
		return exitFailed
	}
}
