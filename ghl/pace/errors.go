package pace

import (
	"errors"
	"fmt"
	"time"
)

// ErrDailyQuota means the location's daily request quota
// (X-RateLimit-Daily-Remaining) is spent. It is never retried: the run stops
// and can be resumed once the quota resets (exit code 3).
var ErrDailyQuota = errors.New("daily API quota spent")

// QuotaError is the daily quota being spent, with the time it is expected
// to reset. errors.Is(err, ErrDailyQuota) is true for it.
type QuotaError struct {
	Location string    // the location whose quota is spent ("" when unknown)
	ResetAt  time.Time // when requests are expected to be accepted again (estimate)
	Err      error     // the answer that said so, if any
}

func (e *QuotaError) Error() string {
	msg := "daily API quota spent"
	if e.Location != "" {
		msg += " for location " + e.Location
	}
	if !e.ResetAt.IsZero() {
		msg += fmt.Sprintf("; it resets about %s", e.ResetAt.UTC().Format(time.RFC3339))
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrDailyQuota) hold.
func (e *QuotaError) Is(target error) bool { return target == ErrDailyQuota }

// Unwrap gives the answer that reported the quota spent.
func (e *QuotaError) Unwrap() error { return e.Err }

// ExhaustedError is Retry giving up: the attempts or the total time ran out.
// It wraps the last error, so errors.Is/As and IsUnknownOutcome still see it.
type ExhaustedError struct {
	Attempts int
	Elapsed  time.Duration
	Err      error // the last attempt's error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("gave up after %d attempts in %s: %v", e.Attempts, e.Elapsed.Round(time.Millisecond), e.Err)
}

func (e *ExhaustedError) Unwrap() error { return e.Err }

// permanentError marks an error the caller does not want retried.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that Retry returns it at once without retrying
// (for instance after an unknown outcome the caller wants to reconcile
// first). Retry returns err itself, not the wrapper.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}
