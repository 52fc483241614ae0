package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// ExitCode is the one map from an error to CONTRACT.md's exit code: the
// command line's markers decide first, wherever they sit in the chain,
// then the engine's own errors.
func TestExitCode(t *testing.T) {
	stop := fmt.Errorf("listing contacts: %w", Stopped(errors.New("daily quota spent")))
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"plain error", errors.New("disk on fire"), ExitFailed},
		{"refused flag", Refused(errors.New("--workers 0")), ExitRefused},
		{"refused, wrapped", fmt.Errorf("demo import: %w", Refused(errors.New("bad mapping"))), ExitRefused},
		{"stopped", Stopped(errors.New("quota")), ExitStopped},
		{"interrupted", fmt.Errorf("run: %w", ErrInterrupted), ExitStopped},
		{"cancelled", context.Canceled, ExitStopped},
		{"engine quota", &QuotaError{}, ExitStopped},
		{"damaged state", &StateError{Path: "s.state", Problem: "cannot open"}, ExitRefused},
		{"scope before any write", &record.FaultError{Kind: record.FaultScope, BeforeWrite: true, Err: errors.New("403")}, ExitRefused},
		{"api before any write", &record.FaultError{Kind: record.FaultAPI, BeforeWrite: true, Err: errors.New("503")}, ExitFailed},
		{"scope after writes", &record.FaultError{Kind: record.FaultScope, Err: errors.New("403")}, ExitFailed},
		// The conflict screen's listing met a spent quota: the run's fault
		// wraps a stop, which stays a stop.
		{"fault wrapping a stop", &record.FaultError{Kind: record.FaultAPI, Err: stop}, ExitStopped},
		{"refused wins over a stop inside", Refused(fmt.Errorf("x: %w", context.Canceled)), ExitRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
