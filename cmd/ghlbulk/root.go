package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ghlbulk/ghlbulk/ghl"
)

// version is set by the Makefile through -ldflags.
var version = "dev"

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

// factory holds what commands share, built lazily so that a command that
// needs no network (validate, sandbox) never touches credentials.
type factory struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	opts           globalOptions
	getenv         func(string) string
	// wrapHTTP, when set, goes under the pacer (import's --max-requests
	// counts every attempt there).
	wrapHTTP func(http.RoundTripper) http.RoundTripper
	// waitForQuota makes the preflight wait out a spent daily quota
	// (import --wait) instead of stopping with exit 3.
	waitForQuota bool
}

func (f *factory) logger() *slog.Logger {
	level := slog.LevelInfo
	switch {
	case f.opts.quiet:
		level = slog.LevelWarn
	case f.opts.verbose >= 1:
		level = slog.LevelDebug
	}
	ho := &slog.HandlerOptions{Level: level}
	if f.opts.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(f.stderr, ho))
	}
	return slog.New(slog.NewTextHandler(f.stderr, ho))
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
		Version:       version,
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
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return refused(fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath()))
	})

	root.AddCommand(
		newVersionCmd(f),
		newSandboxCmd(f),
	)
	for _, add := range extraCommands {
		root.AddCommand(add(f))
	}
	return root
}

// usageArgs makes cobra's argument checks usage errors (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return refused(fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath()))
		}
		return nil
	}
}

// extraCommands lets each command file register itself.
var extraCommands []func(*factory) *cobra.Command

func newVersionCmd(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(f.stdout, "ghlbulk %s\n", version)
			return nil
		},
	}
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := interruptContext()
	defer stop()
	f := &factory{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
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
	return exitCode(err)
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
