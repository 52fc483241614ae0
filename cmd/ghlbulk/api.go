package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/record"
)

// apiSession is what a command that talks to HighLevel needs: the client,
// the pacer (its observed X-RateLimit-* state feeds the summary), and the
// location every request is paced under.
type apiSession struct {
	client   *ghl.Client
	hc       *http.Client
	pacer    *pace.Transport
	location string
	info     auth.Info
	ctx      context.Context // carries pace.WithLocation
}

func (f *factory) authOptions() auth.Options {
	return auth.Options{APIURL: f.apiURL(), TokenFile: f.opts.tokenFile, Getenv: f.getenv}
}

// session builds the HTTP stack (auth -> pacer -> net/http) and runs the
// preflight for the scope the command needs. Every failure here happens
// before any write, so it is a refusal (exit 2).
func (f *factory) session(ctx context.Context, need auth.Scope) (*apiSession, error) {
	loc, err := f.locationID()
	if err != nil {
		return nil, err
	}
	src, info, err := auth.Source(ctx, f.authOptions())
	if err != nil {
		return nil, refused(err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 64
	var under http.RoundTripper = logTransport{base, f.logger()}
	if f.wrapHTTP != nil {
		under = f.wrapHTTP(under)
	}
	pacer := pace.NewTransport(under, pace.DefaultLimits())
	// auth outside the pacer: a request re-sent after a 401 refresh pays
	// for its own rate-limit token too. NewClient follows no redirect to
	// another host: the token and contact data stay with the API.
	hc := auth.NewClient(f.apiURL(), pacer, src, 60*time.Second)
	ctx = pace.WithLocation(ctx, loc)
	err = f.beforeRun(ctx, func(ctx context.Context) error {
		return auth.PreflightWithInfo(ctx, hc, f.apiURL(), loc, need, info)
	})
	if err != nil {
		return nil, refusedIfAPIRefusal(err)
	}
	return &apiSession{client: ghl.New(f.apiURL(), hc), hc: hc, pacer: pacer, location: loc, info: info, ctx: ctx}, nil
}

// beforeRun makes a call that precedes the run (preflight, custom field
// definitions) with the same retries as the run's own requests: a dropped
// connection or a 5xx there is no reason to refuse the run.
func (f *factory) beforeRun(ctx context.Context, call func(ctx context.Context) error) error {
	return f.quotaAware(ctx, func() error { return pace.Retry(ctx, pace.DefaultPolicy(), nil, call) })
}

// refusedIfAPIRefusal marks err as a refusal (exit 2) when the API or the
// credentials said no: a preflight or credentials error, a redirect to
// another host (auth.ErrOtherHost: nothing was sent there), or a 4xx answer.
// A stop stays a stop (exit 3), and a fault that outlived its retries (the
// network, 5xx) is a failure (exit 1): the same command may well work later.
func refusedIfAPIRefusal(err error) error {
	var st *stoppedError
	var pe *auth.PreflightError
	var ce *auth.CredentialsError
	var ae *ghl.APIError
	switch {
	case errors.As(err, &st):
		return err
	case errors.As(err, &pe), errors.As(err, &ce), errors.Is(err, auth.ErrOtherHost):
		return refused(err)
	case errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500:
		return refused(err)
	}
	return err
}

// quotaAware runs a call made before the run (preflight, custom field
// definitions). A spent daily quota is never a refusal: with --wait it is
// waited out and the call made again; without, it stops with exit 3, and
// the same command goes on once the quota resets. Other errors are
// returned as they are.
func (f *factory) quotaAware(ctx context.Context, call func() error) error {
	for {
		err := call()
		var q *pace.QuotaError
		if !errors.As(err, &q) {
			return err
		}
		if !f.waitForQuota {
			return stopped(err)
		}
		f.logger().Warn("daily quota spent; waiting for it to reset", "until", q.ResetAt.UTC().Format(time.RFC3339))
		if err := sleepCtx(ctx, time.Until(q.ResetAt)+time.Second); err != nil {
			return stopped(err)
		}
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writePreflight is the run's BeforeFirstWrite: the preflight for
// contacts.write, made just before the first write, not at start:
// HighLevel can't be asked for a token's scopes, so the check may need a
// probe request, and a re-run with nothing left to write must send no
// write-like request at all. It is made once for the command (the rounds
// of a --wait run share its answer), and its error is a fault of the run.
func (s *apiSession) writePreflight(f *factory) func(ctx context.Context) error {
	var once sync.Once
	var err error
	check := s.writeCheck(f)
	return func(ctx context.Context) error {
		once.Do(func() { err = preflightFault(check(ctx)) })
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

// writeCheck is the preflight for contacts.write on this session.
func (s *apiSession) writeCheck(f *factory) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx = pace.WithLocation(ctx, s.location)
		return f.beforeRun(ctx, func(ctx context.Context) error {
			return auth.PreflightWithInfo(ctx, s.hc, f.apiURL(), s.location, auth.ScopeContactsWrite, s.info)
		})
	}
}

// logTransport logs each request at debug level: method, path, status and
// time. Never headers or bodies, which carry the token and customer data.
type logTransport struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (t logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	attrs := []any{"method", req.Method, "path", req.URL.Path, "ms", time.Since(start).Milliseconds()}
	if err != nil {
		t.log.Debug("request failed", append(attrs, "err", err)...)
		return resp, err
	}
	t.log.Debug("request", append(attrs, "status", resp.StatusCode)...)
	return resp, nil
}
