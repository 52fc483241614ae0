// Package session owns the HTTP stack every job that talks to HighLevel
// goes through, and the checks made before a run: Open builds
// auth -> pacer -> (the caller's hook) -> request logger -> net/http, runs
// the preflight for the scope the job needs, and hands back the client,
// the pacer (its observed X-RateLimit-* state feeds the summaries), the
// location and what is known of the token. Calls made before a run (the
// preflight, custom field definitions, listings) go through BeforeRun:
// retried as the run's own requests are, a spent daily quota waited out
// (Options.WaitForQuota) or turned into a stop.
//
// It sits at the jobs floor and imports auth, ghl, ghl/pace, and pipeline
// for the outcome markers (pipeline.Refused, pipeline.Stopped) that the
// one exit-code map (pipeline.ExitCode) reads. Nothing in it knows flags.
//
// Floor 4 (docs/design.md): imports auth, ghl, ghl/pace and the engine's outcome markers, never the command line.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// Options say where a session goes and what it needs.
type Options struct {
	Auth     auth.Options // APIURL, token file, Getenv: where the token comes from and goes to
	Location string       // the location (sub-account) every request is paced under
	Need     auth.Scope   // the scope the preflight checks now (contacts.write is checked by WriteCheck)
	Logger   *slog.Logger // requests are logged at debug level; nil: discarded
	// Wrap, when set, goes under the pacer, so that it sees every attempt
	// the API sees (import's --max-requests, validate's request count).
	Wrap func(http.RoundTripper) http.RoundTripper
	// WaitForQuota makes calls before the run wait out a spent daily quota
	// (import --wait) instead of stopping with exit 3.
	WaitForQuota bool
}

// Session is an open, preflighted connection to one location.
type Session struct {
	Client   *ghl.Client
	HTTP     *http.Client
	Pacer    *pace.Transport
	Location string
	Info     auth.Info

	apiURL string
	log    *slog.Logger
	wait   bool
}

// Open builds the HTTP stack and runs the preflight for o.Need. Every
// failure here happens before any write: the API's or the credentials'
// refusals are marked refused (exit 2), a spent quota a stop (exit 3), and
// a fault that outlived its retries is left a failure (exit 1).
func Open(ctx context.Context, o Options) (*Session, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	src, info, err := auth.Source(ctx, o.Auth)
	if err != nil {
		return nil, pipeline.Refused(err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 64
	var under http.RoundTripper = logTransport{base, o.Logger}
	if o.Wrap != nil {
		under = o.Wrap(under)
	}
	pacer := pace.NewTransport(under, pace.DefaultLimits())
	apiURL := o.Auth.APIURL
	// auth outside the pacer: a request re-sent after a 401 refresh pays
	// for its own rate-limit token too. NewClient follows no redirect to
	// another host: the token and contact data stay with the API.
	hc := auth.NewClient(apiURL, pacer, src, 60*time.Second)
	s := &Session{
		Client: ghl.New(apiURL, hc), HTTP: hc, Pacer: pacer, Location: o.Location, Info: info,
		apiURL: apiURL, log: o.Logger, wait: o.WaitForQuota,
	}
	ctx = s.Context(ctx)
	err = s.BeforeRun(ctx, func(ctx context.Context) error {
		return auth.PreflightWithInfo(ctx, hc, apiURL, o.Location, o.Need, info)
	})
	if err != nil {
		return nil, Refusal(err)
	}
	return s, nil
}

// Context is ctx paced under the session's location.
func (s *Session) Context(ctx context.Context) context.Context {
	return pace.WithLocation(ctx, s.Location)
}

// WriteCheck is the preflight for contacts.write, made just before the
// first write (not at start: a re-run with nothing left to write must send
// no write-like request).
func (s *Session) WriteCheck(ctx context.Context) error {
	ctx = s.Context(ctx)
	return s.BeforeRun(ctx, func(ctx context.Context) error {
		return auth.PreflightWithInfo(ctx, s.HTTP, s.apiURL, s.Location, auth.ScopeContactsWrite, s.Info)
	})
}

// BeforeRun makes a call that precedes the run (preflight, custom field
// definitions) with the same retries as the run's own requests: a dropped
// connection or a 5xx there is no reason to refuse the run.
func (s *Session) BeforeRun(ctx context.Context, call func(ctx context.Context) error) error {
	policy := pace.DefaultPolicy()
	told := false
	// The first failure to connect is said at once: the retries that
	// follow may take a minute, which must not pass in silence.
	tell := func(ctx context.Context) error {
		err := call(ctx)
		if err != nil && !told && pace.IsUnreachable(err) && !pace.IsUnresolvable(err) {
			told = true
			s.log.Warn(fmt.Sprintf("cannot reach %s: %v; retrying up to %d times over at most %s", s.apiURL, err, policy.MaxAttempts, policy.Total))
		}
		return err
	}
	return s.QuotaAware(ctx, func() error { return pace.Retry(ctx, policy, nil, tell) })
}

// QuotaAware runs a call made before the run (preflight, custom field
// definitions, a listing). A spent daily quota is never a refusal: with
// WaitForQuota it is waited out and the call made again (a listing goes on
// from the page it stopped at); without, it is marked a stop (exit 3), and
// the same command goes on once the quota resets. Other errors are
// returned as they are.
func (s *Session) QuotaAware(ctx context.Context, call func() error) error {
	for {
		err := call()
		var q *pace.QuotaError
		if !errors.As(err, &q) {
			return err
		}
		if !s.wait {
			return pipeline.Stopped(err)
		}
		s.log.Warn("daily quota spent; waiting for it to reset", "until", q.ResetAt.UTC().Format(time.RFC3339))
		if err := pace.Sleep(ctx, time.Until(q.ResetAt)+time.Second); err != nil {
			return pipeline.Stopped(err)
		}
	}
}

// DailyQuotaLeft is "N of M" from the pacer's last X-RateLimit-* answer,
// or "" when there is nothing worth saying: none seen, or a limit past a
// billion (a sandbox with limits off).
func (s *Session) DailyQuotaLeft() string {
	if s == nil {
		return ""
	}
	if st := s.Pacer.Observed(); st.DailyRemaining >= 0 && st.DailyLimit < 1e9 {
		return fmt.Sprintf("%d of %d", st.DailyRemaining, st.DailyLimit)
	}
	return ""
}

// Refusal marks err as a refusal (exit 2) when the API or the credentials
// said no: a preflight or credentials error, a redirect to another host
// (auth.ErrOtherHost: nothing was sent there), or a 4xx answer. A stop
// stays a stop (exit 3), and a fault that outlived its retries (the
// network, 5xx) is a failure (exit 1): the same command may well work later.
func Refusal(err error) error {
	var st *pipeline.StoppedError
	var pe *auth.PreflightError
	var ce *auth.CredentialsError
	var ae *ghl.APIError
	switch {
	case errors.As(err, &st):
		return err
	case errors.As(err, &pe), errors.As(err, &ce), errors.Is(err, auth.ErrOtherHost):
		return pipeline.Refused(err)
	case pace.IsUnresolvable(err):
		return pipeline.Refused(fmt.Errorf("cannot reach the API: its host does not resolve (check --api-url or GHL_API_URL): %w", err))
	case errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500:
		return pipeline.Refused(err)
	}
	return err
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
