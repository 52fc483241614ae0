package main

import (
	"context"
	"errors"
	"sync"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// checkedSink runs the write preflight just before the first write, not at
// start: HighLevel can't be asked for a token's scopes, so the check for
// contacts.write may need a probe request, and a re-run with nothing left to
// write must send no write-like request at all.
type checkedSink struct {
	onceCheck
	sink interface {
		pipeline.Sink
		pipeline.TagWriter
	}
}

// onceCheck runs check once, before the first write, and keeps its answer.
type onceCheck struct {
	once  sync.Once
	err   error
	check func(ctx context.Context) error
}

func (w *onceCheck) checked(ctx context.Context) error {
	w.once.Do(func() {
		err := w.check(ctx)
		var pe *auth.PreflightError
		switch {
		case errors.As(err, &pe):
			w.err = &pipeline.FaultError{Kind: pipeline.FaultScope, BeforeWrite: true, Err: err}
		case errors.Is(err, auth.ErrOtherHost):
			// The API URL redirects elsewhere: nothing was sent there,
			// and no write was made (this check precedes the first).
			w.err = &pipeline.FaultError{Kind: pipeline.FaultLocation, BeforeWrite: true, Err: err}
		case err != nil:
			w.err = &pipeline.FaultError{Kind: pipeline.FaultAPI, Err: err}
		}
	})
	return w.err
}

func (s *checkedSink) Write(ctx context.Context, g *pipeline.Group) error {
	if err := s.checked(ctx); err != nil {
		return err
	}
	return s.sink.Write(ctx, g)
}

// AddTags is checked too: a resumed run's first write may be the tags
// the run before it left.
func (s *checkedSink) AddTags(ctx context.Context, st *pipeline.Stats, tags, ids []string) (map[string]string, error) {
	if err := s.checked(ctx); err != nil {
		return nil, err
	}
	return s.sink.AddTags(ctx, st, tags, ids)
}
