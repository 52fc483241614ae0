package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/jobs/listen"
)

type listenOptions struct {
	f           *factory
	addr        string
	journal     string
	publicKeys  []string
	clientID    string
	window      time.Duration
	maxInFlight int
	maxBody     int64
	tlsCert     string
	tlsKey      string
	relay       relayFlags
}

func newListenCmd(f *factory) *cobra.Command {
	o := listenOptions{f: f}
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Receive HighLevel webhooks, verify them and journal each one durably",
		Long: `Serve POST /webhooks/highlevel (and GET /healthz). Each delivery is verified (x-ghl-signature,
Ed25519, or the legacy x-wh-signature, RSA-SHA256, over the raw body), checked (its timestamp within
--window, its webhookId not seen before) and journaled in the SQLite file --journal, committed to
disk before the answer:
  200  journaled (or journaled before: a replay changes nothing; or another app's, with --client-id)
  401  no valid signature          400  stale timestamp or not JSON          413  body too large
  429  the journal cannot take it now (Retry-After): HighLevel sends it again
The first line on stdout is LISTEN_URL=http://HOST:PORT/webhooks/highlevel; it then serves until
SIGINT or SIGTERM. Read the journal with 'ghlbulk events'.

With --relay NAME=URL and --rules FILE, each event a rule matches is owed a delivery to the rule's
relays (Slack, Teams, signed JSON over HTTP, email) or a task on its contact (action: create_task,
which needs HighLevel credentials). Deliveries are journaled with the event, sent by a sender of
their own (a relay that is down never delays an answer), at least once with an idempotency key
(webhookId/relay), retried with backoff, and listed by 'ghlbulk events --failed' once given up on.
A bad rules file or relay URL stops listen before it binds (exit 2).

HighLevel's RSA key (docs: Webhook Authentication) is built in. HighLevel publishes its Ed25519 key
per app in the marketplace, not in its docs or SDK: give it with --public-key to check x-ghl-signature.
--public-key replaces the built-in key.`,
		Example: `  ghlbulk listen --journal events.db --public-key ghl-ed25519.pem
  ghlbulk listen --addr 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --journal events.db
  ghlbulk sandbox --webhook-url http://127.0.0.1:8090/webhooks/highlevel --webhook-key-out sandbox.pem &
  ghlbulk listen --journal events.db --public-key sandbox.pem
  ghlbulk listen --journal events.db --relay ops=https://hooks.slack.com/services/T/B/X --rules rules.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runListen(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.addr, "addr", listen.DefaultAddr, "address to listen on (loopback by default; 0.0.0.0:PORT or an interface's address to take HighLevel's deliveries)")
	fl.StringVar(&o.journal, "journal", "", "the journal: a SQLite file (created if missing; its mode follows the umask)")
	fl.StringArrayVar(&o.publicKeys, "public-key", nil, "PEM file of a public key to verify with (repeatable; Ed25519 checks x-ghl-signature, RSA x-wh-signature); replaces HighLevel's built-in key")
	fl.StringVar(&o.clientID, "client-id", "", "keep only events of this OAuth app (their appId is the client id up to its first '-', as HighLevel's SDK checks) (env GHL_CLIENT_ID)")
	fl.DurationVar(&o.window, "window", listen.DefaultWindow, "refuse an event whose timestamp is further than this from now")
	fl.IntVar(&o.maxInFlight, "max-in-flight", listen.DefaultMaxInFlight, "deliveries handled at once; more are answered 429")
	fl.Int64Var(&o.maxBody, "max-body", listen.DefaultMaxBody, "largest body taken, in bytes; larger is answered 413")
	fl.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	fl.StringVar(&o.tlsKey, "tls-key", "", "the key of --tls-cert (PEM)")
	o.relay.add(fl, "rules file (YAML): which events go to which relays, a when: condition, message templates, create_task actions (see README, Relays and rules)")
	return cmd
}

// runListen serves until ctx is done (SIGINT/SIGTERM).
func runListen(ctx context.Context, o listenOptions) error {
	opt, err := o.listenerOptions()
	if err != nil {
		return refused(err)
	}
	if opt.Relays, err = o.relay.load(o.f); err != nil {
		return refused(err)
	}
	if opt.Tasks, err = listenTasks(ctx, o.f, opt.Relays); err != nil {
		return err
	}
	j, err := listen.OpenJournal(o.journal)
	if err != nil {
		return refused(fmt.Errorf("--journal: %w", err))
	}
	defer j.Close()
	opt.Journal = j
	log := o.f.logger()
	if !listen.IsLoopback(o.addr) && o.tlsCert == "" {
		log.Warn("listening beyond loopback without TLS: webhooks are signed, but their contents travel in the clear; give --tls-cert/--tls-key, or put a TLS proxy in front", "addr", o.addr)
	}
	so := listen.ServeOptions{Addr: o.addr, TLSCert: o.tlsCert, TLSKey: o.tlsKey, Ready: func(url string) {
		fmt.Fprintf(o.f.stdout, "LISTEN_URL=%s%s\n", url, listen.Path)
		log.Info("listening", "url", url+listen.Path, "journal", o.journal)
	}}
	st, err := listen.Serve(ctx, so, opt)
	log.Info("listener stopped", "journaled", st.Journaled, "repeats", st.Repeats, "bad_signature", st.BadSignature,
		"stale", st.Stale, "malformed", st.Malformed, "other_app", st.OtherApp, "busy", st.Busy, "too_large", st.TooLarge)
	if err != nil && ctx.Err() == nil {
		return refused(err)
	}
	return err
}

func (o listenOptions) listenerOptions() (listen.Options, error) {
	opt := listen.Options{Window: o.window, MaxInFlight: o.maxInFlight, MaxBody: o.maxBody, Logger: o.f.logger()}
	if o.journal == "" {
		return opt, fmt.Errorf("--journal is required: the SQLite file events are kept in")
	}
	if o.window <= 0 || o.maxInFlight <= 0 || o.maxBody <= 0 {
		return opt, fmt.Errorf("--window, --max-in-flight and --max-body must be more than 0")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return opt, fmt.Errorf("--tls-cert and --tls-key go together: give both, or neither")
	}
	id := o.clientID
	if id == "" {
		id = o.f.getenv("GHL_CLIENT_ID")
	}
	opt.AppID = listen.AppIDOf(id)
	if len(o.publicKeys) == 0 {
		k, err := listen.HighLevelKeys()
		opt.Keys = k
		return opt, err
	}
	for _, p := range o.publicKeys {
		data, err := os.ReadFile(p)
		if err != nil {
			return opt, fmt.Errorf("--public-key: %w", err)
		}
		if err := opt.Keys.Add(data); err != nil {
			return opt, fmt.Errorf("--public-key %s: %w", p, err)
		}
	}
	return opt, nil
}
