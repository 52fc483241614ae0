package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

type sandboxOptions struct {
	f        *factory
	addr     string
	rate     string
	daily    int
	faults   string
	contacts int
	// locations is --locations: the agency's locations (issue 17).
	locations int
	data      string
	seed      int64
	related   string // --seed-related
	webhook   webhookFlags
}

func newSandboxCmd(f *factory) *cobra.Command {
	o := sandboxOptions{f: f}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a local HighLevel API (contacts, tasks, notes, tags, OAuth) for tests and demos",
		Long: `Serve a local HighLevel API v2 that behaves as the real one does for every endpoint it serves:
the same paths, validation, error bodies, rate limits and X-RateLimit-* headers, duplicate rule and
OAuth token endpoint. Point ghlbulk, or HighLevel's own SDK, at it.

The first line on stdout is
  GHL_API_URL=http://HOST:PORT GHL_LOCATION_ID=ID GHL_TOKEN=TOKEN
(a sandbox token for that location), the second
  GHL_CLIENT_ID=ghlbulk-sandbox GHL_CLIENT_SECRET=SECRET
(the OAuth client, for 'ghlbulk auth login'); it then serves until SIGINT or SIGTERM.

On loopback (the default) the secret is always sandbox-secret. An --addr beyond loopback
(:8089, 0.0.0.0:8089, a LAN address) lets others reach the API: the sandbox warns on stderr
and uses a random secret instead, so that only who reads stdout can get tokens through OAuth.
Slow clients are cut off: 10 s to send the headers, 60 s for a whole request.`,
		Example: `  ghlbulk sandbox --addr 127.0.0.1:8089 --contacts 1000 > sb.env &   # serves until killed; stdout stays open
  until [ -s sb.env ]; do sleep 0.2; done; eval "$(head -1 sb.env)"      # then: ghlbulk import ... ; kill %1
  ghlbulk sandbox --addr 127.0.0.1:0 --rate 100/10s --faults 5xx=0.05,drop-after=0.01,seed=7
  ghlbulk sandbox --data sandbox.db          # keep data across restarts`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSandbox(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.addr, "addr", "127.0.0.1:8089", "address to listen on (127.0.0.1:0 picks a free port; beyond loopback: a warning and a random client secret)")
	fl.StringVar(&o.rate, "rate", "100/10s", "burst limit per token and location as N/DURATION, or off")
	fl.IntVar(&o.daily, "daily", 200000, "daily request limit per location (0: off)")
	fl.StringVar(&o.faults, "faults", "", "inject faults, e.g. 5xx=0.05,drop-before=0.02,drop-after=0.02,latency=20ms,seed=7; one location: location=ID:5xx=1, location=ID:daily=spent")
	fl.IntVar(&o.contacts, "contacts", 0, "seed N realistic contacts with tasks, notes, appointments and businesses")
	fl.IntVar(&o.locations, "locations", 1, "serve an agency of N locations, each seeded with --contacts (prints a Company token as GHL_COMPANY_TOKEN)")
	fl.StringVar(&o.related, "seed-related", "", "with --contacts: tasks, notes and appointments per contact on average, e.g. tasks=1,notes=1,appointments=0.5 (default: about 0.45, 0.7, 0.15)")
	fl.StringVar(&o.data, "data", "", "keep data in this SQLite file, mode 0600 as it holds tokens (default: in memory)")
	fl.Int64Var(&o.seed, "seed", 1, "seed for generated data and faults")
	o.webhook.register(fl)
	return cmd
}

// runSandbox serves until ctx is done (SIGINT/SIGTERM).
func runSandbox(ctx context.Context, o sandboxOptions) error {
	f := o.f
	opt, err := o.sandboxOptions()
	if err != nil {
		return refused(err)
	}
	srv, err := sandbox.New(opt)
	if err != nil {
		return refused(err)
	}
	defer srv.Close()
	if err := o.webhook.writeKeys(srv); err != nil {
		return refused(err)
	}
	url, err := srv.Start()
	if err != nil {
		return err
	}
	token, err := srv.IssueToken(srv.LocationID(), sandbox.AllScopes, 0)
	if err != nil {
		return err
	}
	if srv.Exposed() {
		// The secret itself goes to stdout only, never to the log.
		f.logger().Warn("sandbox listening beyond loopback: anyone who reaches this address can call the API "+
			"and get tokens through its OAuth endpoints; the OAuth client secret is random for this run "+
			"(stdout's second line), not the default; use --addr 127.0.0.1:PORT to keep it local",
			"addr", o.addr)
	}
	fmt.Fprintf(f.stdout, "GHL_API_URL=%s GHL_LOCATION_ID=%s GHL_TOKEN=%s\n", url, srv.LocationID(), token)
	fmt.Fprintf(f.stdout, "GHL_CLIENT_ID=%s GHL_CLIENT_SECRET=%s\n", sandbox.DefaultClientID, srv.ClientSecret())
	if o.locations > 1 {
		fmt.Fprintf(f.stdout, "GHL_COMPANY_TOKEN=%s GHL_LOCATIONS=%s\n", srv.IssueCompanyToken(nil, 0), strings.Join(srv.Locations(), ","))
	}
	f.logger().Info("sandbox serving", "url", url, "location", srv.LocationID(), "rate", o.rate, "daily", o.daily, "contacts", o.contacts)
	<-ctx.Done()
	f.logger().Info("sandbox stopping")
	return nil
}

func (o sandboxOptions) sandboxOptions() (sandbox.Options, error) {
	opt := sandbox.Options{Addr: o.addr, Contacts: o.contacts, DataPath: o.data, Seed: o.seed, Daily: o.daily,
		Webhooks: sandbox.WebhookOptions{URL: o.webhook.url}}
	if o.daily == 0 {
		opt.Daily = -1
	}
	if o.contacts < 0 {
		return opt, fmt.Errorf("--contacts %d: must be 0 or more", o.contacts)
	}
	if o.locations < 1 || o.locations > 1000 {
		return opt, fmt.Errorf("--locations %d: must be between 1 and 1000", o.locations)
	}
	opt.Locations = o.locations
	n, every, err := parseRate(o.rate)
	if err != nil {
		return opt, err
	}
	opt.Rate, opt.Interval = n, every
	if o.faults != "" {
		fs, err := sandbox.ParseFaults(o.faults)
		if err != nil {
			return opt, fmt.Errorf("--faults %q: %w", o.faults, err)
		}
		opt.Faults = fs
	}
	if o.related != "" {
		m, err := sandbox.ParseRelatedMix(o.related)
		if err != nil {
			return opt, fmt.Errorf("--seed-related: %w", err)
		}
		opt.Related = m
	}
	return opt, nil
}

// parseRate reads "100/10s"; "off" (or "0") turns the burst limit off,
// which the sandbox takes as a negative rate.
func parseRate(s string) (int, time.Duration, error) {
	if s == "off" || s == "0" {
		return -1, 0, nil
	}
	num, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("--rate %q: must be N/DURATION such as 100/10s, or off", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return 0, 0, fmt.Errorf("--rate %q: %q is not a duration such as 10s", s, per)
	}
	return n, d, nil
}
