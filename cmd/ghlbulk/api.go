package main

import (
	"context"
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
	pacer := pace.NewTransport(base, pace.DefaultLimits())
	// auth outside the pacer: a request re-sent after a 401 refresh pays
	// for its own rate-limit token too.
	hc := &http.Client{Transport: auth.NewTransport(pacer, src), Timeout: 60 * time.Second}
	ctx = pace.WithLocation(ctx, loc)
	if err := auth.PreflightWithInfo(ctx, hc, f.apiURL(), loc, need, info); err != nil {
		return nil, refused(err)
	}
	return &apiSession{client: ghl.New(f.apiURL(), hc), pacer: pacer, location: loc, info: info, ctx: ctx}, nil
}
