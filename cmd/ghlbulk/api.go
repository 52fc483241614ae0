package main

import (
	"context"
	"errors"
	"sync"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/record"
)

// writePreflight is the run's BeforeFirstWrite: the preflight for
// contacts.write, made just before the first write, not at start:
// HighLevel can't be asked for a token's scopes, so the check may need a
// probe request, and a re-run with nothing left to write must send no
// write-like request at all. It is made once for the command (the rounds
// of a --wait run share its answer), and its error is a fault of the run.
func writePreflight(s *session.Session) func(ctx context.Context) error {
	var once sync.Once
	var err error
	return func(ctx context.Context) error {
		once.Do(func() { err = preflightFault(s.WriteCheck(ctx)) })
		return err
	}
}

// preflightFault is a failed write preflight as the run's fault: a
// refusal before any write for a missing scope or a redirect elsewhere, a
// failure (resumable) for the API failing.
func preflightFault(err error) error {
	var pe *auth.PreflightError
	switch {
	case errors.As(err, &pe):
		return &record.FaultError{Kind: record.FaultScope, BeforeWrite: true, Err: err}
	case errors.Is(err, auth.ErrOtherHost):
		// The API URL redirects elsewhere: nothing was sent there,
		// and no write was made (this check precedes the first).
		return &record.FaultError{Kind: record.FaultLocation, BeforeWrite: true, Err: err}
	case err != nil:
		return &record.FaultError{Kind: record.FaultAPI, Err: err}
	}
	return nil
}
