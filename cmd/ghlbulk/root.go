package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// globalOptions are the flags every command takes (CONTRACT.md).
type globalOptions struct {
	verbose    int
	quiet      bool
	logFormat  string
	noProgress bool
	apiURL     string
	location   string
	tokenFile  string
}

// factory holds what commands share. It is made once, before the flags
// are parsed, and never changed by a command: what it gives is computed on
// first use (the logger, from the global flags), so a command that needs
// no network (validate, sandbox) never touches credentials, and what a
// command needs of its own (a scope, a transport hook) goes in the options
// it opens its session with.
type factory struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	opts           globalOptions // the root's persistent flags fill it
	getenv         func(string) string

	logOnce sync.Once
	log     *slog.Logger
}

func newFactory(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *factory {
	return &factory{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
}

// logger is the logger of the global flags (-v, -q, --log-format), built
// on first use, once they are parsed.
func (f *factory) logger() *slog.Logger {
	f.logOnce.Do(func() { f.log = newLogger(f.stderr, f.opts) })
	return f.log
}

func newLogger(w io.Writer, opts globalOptions) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case opts.quiet:
		level = slog.LevelWarn
	case opts.verbose >= 1:
		level = slog.LevelDebug
	}
	ho := &slog.HandlerOptions{Level: level}
	if opts.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

func (f *factory) authOptions() auth.Options {
	return auth.Options{APIURL: f.apiURL(), TokenFile: f.opts.tokenFile, Getenv: f.getenv}
}

// session opens the HTTP stack for the location of --location or
// GHL_LOCATION_ID (jobs/session): the command's options say the scope the
// preflight checks, and any transport hook or quota wait of its own.
func (f *factory) session(ctx context.Context, o session.Options) (*session.Session, error) {
	loc, err := f.locationID()
	if err != nil {
		return nil, err
	}
	o.Auth, o.Location, o.Logger = f.authOptions(), loc, f.logger()
	// An agency (Company) token is refused on every location endpoint:
	// the location's own token is minted from it (issue 17).
	if info, err := auth.Status(o.Auth); err == nil && info.UserType == auth.UserTypeCompany {
		o.Auth.AgencyLocation = loc
	}
	return session.Open(ctx, o)
}

// stderrIsTerminal reports whether a progress bar may be drawn.
func (f *factory) progressAllowed() bool {
	if f.opts.noProgress || f.opts.quiet {
		return false
	}
	file, ok := f.stderr.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// apiURL is --api-url, then GHL_API_URL, then production.
func (f *factory) apiURL() string {
	if f.opts.apiURL != "" {
		return strings.TrimRight(f.opts.apiURL, "/")
	}
	if v := f.getenv("GHL_API_URL"); v != "" {
		return strings.TrimRight(v, "/")
	}
	return ghl.DefaultBaseURL
}

// locationID is --location, then GHL_LOCATION_ID.
func (f *factory) locationID() (string, error) {
	if f.opts.location != "" {
		return f.opts.location, nil
	}
	if v := f.getenv("GHL_LOCATION_ID"); v != "" {
		return v, nil
	}
	return "", refused(errors.New("no location: set --location or GHL_LOCATION_ID to the sub-account's id"))
}

func newRootCmd(f *factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "ghlbulk",
		Short: "Move contacts, tasks, notes, appointments and tags in and out of HighLevel in bulk",
		Long: `ghlbulk imports CSV and Parquet exports (HubSpot, Salesforce, Mailchimp, spreadsheets) into a
HighLevel location, paced to the API's rate limits and resumable after any stop, and exports a
location's contacts with their tasks, notes and appointments to Parquet or CSV for a warehouse.

Credentials never go on the command line: the token comes from GHL_TOKEN or the token file
written by 'ghlbulk auth login'; the location from --location or GHL_LOCATION_ID.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       currentVersion(),
	}
	root.SetVersionTemplate("ghlbulk {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.CountVarP(&f.opts.verbose, "verbose", "v", "more log detail (repeatable)")
	pf.BoolVarP(&f.opts.quiet, "quiet", "q", false, "only warnings and errors")
	pf.StringVar(&f.opts.logFormat, "log-format", "text", "log format on stderr: text or json")
	pf.BoolVar(&f.opts.noProgress, "no-progress", false, "never draw a progress bar (one is drawn only when stderr is a terminal)")
	pf.StringVar(&f.opts.apiURL, "api-url", "", "API base URL (env GHL_API_URL; default "+ghl.DefaultBaseURL+")")
	pf.StringVar(&f.opts.location, "location", "", "location (sub-account) id (env GHL_LOCATION_ID)")
	pf.StringVar(&f.opts.tokenFile, "token-file", "", "OAuth token store (env GHL_TOKEN_FILE; default $XDG_CONFIG_HOME/ghlbulk/token.json)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		switch f.opts.logFormat {
		case "text", "json":
		default:
			return refused(fmt.Errorf("--log-format %q: must be text or json", f.opts.logFormat))
		}
		return nil
	}
	root.SetFlagErrorFunc(flagError)
	root.SuggestionsMinimumDistance = 2

	root.AddCommand(
		newImportCmd(f),
		newValidateCmd(f),
		newExportCmd(f),
		newVerifyCmd(f),
		newUndoCmd(f),
		newAuthCmd(f),
		newLocationsCmd(f),
		newSandboxCmd(f),
		newListenCmd(f),
		newEventsCmd(f),
		newDemoCmd(f),
		newVersionCmd(f),
	)
	for _, c := range extraCommands {
		root.AddCommand(c(f))
	}
	return root
}

// extraCommands are commands only some builds have: gen-man, with -tags
// genman (genman.go), so that the shipped binary stays small.
var extraCommands []func(*factory) *cobra.Command

// usageArgs makes cobra's argument checks usage errors (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return refused(fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath()))
		}
		return nil
	}
}

type versionOptions struct{ f *factory }

func newVersionCmd(f *factory) *cobra.Command {
	o := versionOptions{f: f}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(o)
		},
	}
}

func runVersion(o versionOptions) error {
	fmt.Fprintf(o.f.stdout, "ghlbulk %s\n", currentVersion())
	return nil
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := interruptContext()
	defer stop()
	f := newFactory(stdin, stdout, stderr, os.Getenv)
	return run(ctx, f, args)
}

func run(ctx context.Context, f *factory, args []string) int {
	root := newRootCmd(f)
	root.SetArgs(args)
	root.SetIn(f.stdin)
	root.SetOut(f.stdout)
	root.SetErr(f.stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		// cobra reports an unknown command as plain text; it is a usage error.
		if strings.HasPrefix(err.Error(), "unknown command") {
			err = refused(err)
		}
		fmt.Fprintf(f.stderr, "ghlbulk: %v\n", err)
	}
	return pipeline.ExitCode(err)
}

// interruptContext turns the first SIGINT/SIGTERM into a soft stop (the
// context is cancelled: stop reading, drain, checkpoint, exit 3) and the
// second into a hard one.
func interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sig:
			fmt.Fprintln(os.Stderr, "ghlbulk: second interrupt: stopping now; run the same command again to resume")
			os.Exit(exitStopped)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		close(done)
		cancel()
	}
}
