package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/jobs/listen"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// relayFlags are --relay NAME=URL (repeatable) and --rules FILE: listen's
// alerts, and import/export's --notify.
type relayFlags struct {
	relays []string
	rules  string
}

func (r *relayFlags) add(fl *pflag.FlagSet, rulesUse string) {
	fl.StringArrayVar(&r.relays, "relay", nil, "a relay NAME=URL (repeatable): https://hooks.slack.com/..., a Teams webhook.office.com URL, any http(s) URL (signed JSON), or smtp://HOST:PORT?from=A&to=B")
	fl.StringVar(&r.rules, "rules", "", rulesUse)
}

func (r relayFlags) load(f *factory) (*listen.Config, error) {
	if len(r.relays) == 0 && r.rules == "" {
		return nil, nil
	}
	return listen.LoadConfig(listen.ConfigInput{RulesPath: r.rules, Relays: r.relays, Getenv: f.getenv})
}

// listenTasks opens the paced session a create_task rule writes through:
// only when a rule acts, so a listener that only relays needs no
// credentials.
func listenTasks(ctx context.Context, f *factory, cfg *listen.Config) (listen.Tasks, error) {
	if !cfg.HasActions() {
		return nil, nil
	}
	sess, err := f.session(ctx, session.Options{Need: auth.ScopeContactsWrite})
	if err != nil {
		return nil, fmt.Errorf("a rule creates tasks, so listen needs HighLevel credentials: %w", err)
	}
	return sessionTasks{sess}, nil
}

// sessionTasks paces each call under the session's location.
type sessionTasks struct{ s *session.Session }

func (t sessionTasks) CreateTask(ctx context.Context, contactID string, in ghl.TaskInput) (*ghl.Task, error) {
	return t.s.Client.CreateTask(t.s.Context(ctx), contactID, in)
}

func (t sessionTasks) ListTasks(ctx context.Context, contactID string) ([]ghl.Task, error) {
	return t.s.Client.ListTasks(t.s.Context(ctx), contactID)
}

// notifyFlags are import's and export's --notify NAME: the run's summary
// posted to relays when it ends, best effort. It is a pointer in the
// command's options, so that the copy runXxx works on fills it in.
type notifyFlags struct {
	relayFlags
	names   []string
	targets []*listen.Relay
	report  *pipeline.Report
	rejects string
}

func (n *notifyFlags) add(fl *pflag.FlagSet) {
	fl.StringArrayVar(&n.names, "notify", nil, "post the run's summary (counts, rejects file, exit code) to this relay when it ends (repeatable; the relay from --relay or --rules); a failure is a warning")
	n.relayFlags.add(fl, "a rules file whose relays: --notify may name (see README, Relays and rules)")
}

// check resolves --notify's relays before the run: a bad one is exit 2.
func (n *notifyFlags) check(f *factory) error {
	if len(n.names) == 0 {
		if len(n.relayFlags.relays) > 0 || n.rules != "" {
			return errors.New("--relay and --rules name relays for --notify: give --notify NAME too")
		}
		return nil
	}
	cfg, err := n.load(f)
	if err != nil {
		return err
	}
	for _, name := range n.names {
		var r *listen.Relay
		if cfg != nil {
			r = cfg.Relays[name]
		}
		if r == nil {
			return fmt.Errorf("--notify %s: no such relay: give --relay %s=URL", name, name)
		}
		n.targets = append(n.targets, r)
	}
	return nil
}

// done keeps what the summary says; the run calls it where it prints its
// own summary.
func (n *notifyFlags) done(rep pipeline.Report, rejects string) {
	if n != nil {
		n.report, n.rejects = &rep, rejects
	}
}

// post sends the summary; a failure is a warning, never the exit code.
func (n *notifyFlags) post(ctx context.Context, f *factory, command string, runErr error) {
	if n == nil || len(n.targets) == 0 {
		return
	}
	s := listen.Summary{Command: command, ExitCode: pipeline.ExitCode(runErr), Rejects: n.rejects, Counts: map[string]int64{}}
	if runErr != nil {
		s.Error = runErr.Error()
	}
	if r := n.report; r != nil {
		s.Run = r.RunID
		for k, v := range map[string]int64{"rows_read": r.RowsRead, "created": r.Created, "updated": r.Updated,
			"unchanged": r.Unchanged, "rejected": r.Rejected, "requests": r.Requests} {
			s.Counts[k] = v
		}
	}
	ctx = context.WithoutCancel(ctx) // an interrupted run still says so
	for _, r := range n.targets {
		if err := listen.Notify(ctx, r, s); err != nil {
			f.logger().Warn("--notify: the summary was not delivered", "relay", r.Name, "err", strings.TrimSpace(err.Error()))
		}
	}
}

// around checks --notify (exit 2 before the run), runs, and posts.
func (n *notifyFlags) around(ctx context.Context, f *factory, command string, run func() error) error {
	if err := n.check(f); err != nil {
		return refused(err)
	}
	err := run()
	n.post(ctx, f, command, err)
	return err
}
