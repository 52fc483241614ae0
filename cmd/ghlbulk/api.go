package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
)

// apiSession is what a command that talks to HighLevel needs: the client,
// the pacer (its observed X-RateLimit-* state feeds the summary), and the
// location every request is paced under.
type apiSession struct {
	client   *ghl.Client
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
	var under http.RoundTripper = base
	if f.wrapHTTP != nil {
		under = f.wrapHTTP(base)
	}
	pacer := pace.NewTransport(under, pace.DefaultLimits())
	// auth outside the pacer: a request re-sent after a 401 refresh pays
	// for its own rate-limit token too.
	hc := &http.Client{Transport: auth.NewTransport(pacer, src), Timeout: 60 * time.Second}
	ctx = pace.WithLocation(ctx, loc)
	for {
		err := auth.PreflightWithInfo(ctx, hc, f.apiURL(), loc, need, info)
		var q *pace.QuotaError
		switch {
		case err == nil:
		case errors.As(err, &q) && f.waitForQuota:
			f.logger().Warn("daily quota spent; waiting for it to reset", "until", q.ResetAt.UTC().Format(time.RFC3339))
			if err := sleepCtx(ctx, time.Until(q.ResetAt)+time.Second); err != nil {
				return nil, stopped(err)
			}
			continue
		case errors.As(err, &q):
			// Not a refusal: the same command goes on once the quota resets.
			return nil, stopped(err)
		default:
			return nil, refused(err)
		}
		break
	}
	return &apiSession{client: ghl.New(f.apiURL(), hc), pacer: pacer, location: loc, info: info, ctx: ctx}, nil
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
