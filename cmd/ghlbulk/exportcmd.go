package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/agency"
	"github.com/ghlbulk/ghlbulk/jobs/export"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/objstore"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

type exportOptions struct {
	f           *factory
	out         string
	business    string
	include     []string
	format      string
	incremental bool
	snapshot    bool
	since       string
	state       string
	report      string
	layout      string
	workers     int
	restart     bool
	plan        exportPlanFlags
	// locations and parallel are --locations and --parallel-locations
	// (agency mode, exportagency.go).
	locations string
	parallel  int
	// shard and tokens are --shard I/N and --tokens FILE (a fleet; one
	// private integration token a location).
	shard  string
	tokens string

	// notify is --notify: the summary to relays at the end (relayflags.go).
	notify *notifyFlags

	// url is an object storage --out (out is then the work folder,
	// --work-dir); remote its bucket once open (jobs/export/remote.go).
	url        string
	workDir    string
	stateEvery time.Duration
	remote     *export.Remote
}

var includable = []string{"tasks", "notes", "appointments"}

func newExportCmd(f *factory) *cobra.Command {
	o := exportOptions{f: f, notify: &notifyFlags{}}
	cmd := &cobra.Command{
		Use:   "export --out DIR",
		Short: "Export a location's (or a business's) contacts, with tasks, notes and appointments, to Parquet or CSV",
		Long: `Export every contact of the location (or of one business with --business), and with --include
their tasks, notes and appointments, into DIR: one file per entity (contacts, tasks, notes,
appointments) plus manifest.json with row counts, the schema version and the cursor for the next
incremental run. Files appear whole or not at all.

DIR must be new or empty, or the folder of an earlier export (it holds that export's manifest.json):
the export replaces or removes only the files that manifest lists, and leaves any other file there
alone. A folder that holds other files and no manifest is refused (exit 2) before anything is done.

Parquet files use logical types that DuckDB, Spark, BigQuery and Snowflake load as they are: times
are UTC timestamps, tags a list of strings, custom fields typed columns named by their fieldKey (and
all raw values in the customFields JSON column).

Tasks are read with the location-wide search (scope locations/tasks.readonly) and appointments by
calendar and 31-day window (calendars.readonly, calendars/events.readonly), from the oldest contact's
dateAdded to two years ahead; notes per contact. Without those scopes a kind is read per contact.

--incremental keeps a cursor on dateUpdated in --state and writes the contacts changed since the last
run and every task, note and appointment created, changed or deleted since (the state keeps a hash
of each); what was deleted is listed in the deleted file (entity, id, contactId, detectedAt), the
contacts also in the manifest. Run the same command again with the same --state to
resume an interrupted export. With --changes JOURNAL (the journal of a running ghlbulk listen),
--incremental reads notes only for the contacts whose notes changed since the last run; it sweeps all
notes, and its plan says why, on its first run or when the journal shows the listener was down.

Before its first costly request, export prints its plan: requests by kind, the daily quota left and the
ETA (--no-plan skips it). --max-requests N stops cleanly at N requests (exit 3, resumable); --wait waits
out a spent daily quota and goes on. --layout run keeps every run in DIR/run=<UTC start>/ instead of
replacing the files in DIR.

--snapshot (incremental) keeps the complete current tables in DIR after every run: the earlier
snapshot merged locally with the run's changes, so no request is spent on an unchanged record. The
run's own changes and the deleted file go in DIR/changes/. The first run is a full export.

--out may be object storage: s3://BUCKET/PREFIX (?region=, ?endpoint=, ?use_path_style=true),
gs://BUCKET/PREFIX, azblob://CONTAINER/PREFIX or file:///DIR. The export runs in a local --work-dir and
publishes the data files, then manifest.json; its state lives beside them under PREFIX/.ghlbulk/, so a run
resumes on another machine. Credentials come from each cloud's own environment and config (AWS_PROFILE or
AWS_ACCESS_KEY_ID..., GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT...), never from flags.

Exit codes: 0 done, 1 failed (resumable), 2 refused before exporting (bad flag, credentials or scope),
3 stopped early (interrupted or daily quota spent; resumable).`,
		Example: `  ghlbulk export --out warehouse/ --include tasks,notes,appointments
  ghlbulk export --out nightly/ --incremental --layout run --state nightly.state --report report.json
  ghlbulk export --out biz/ --business 641c094001436dbc2081e642 --format csv`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.notify.around(cmd.Context(), f, "export", func() error { return runExport(cmd.Context(), o) })
		},
	}
	fl := cmd.Flags()
	o.notify.add(fl)
	fl.StringVarP(&o.out, "out", "o", "", "output directory, or object storage: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, azblob://CONTAINER/PREFIX, file:///DIR; required")
	fl.StringVar(&o.workDir, "work-dir", "", "with an object storage --out: the local working folder (default: one per URL in the user's cache folder)")
	fl.DurationVar(&o.stateEvery, "state-upload-every", export.DefaultStateEvery, "with an object storage --out: upload the state at most this often while listing")
	_ = fl.MarkHidden("state-upload-every") // a tuning knob for tests
	fl.StringVar(&o.business, "business", "", "export only the contacts of this business id")
	fl.StringSliceVar(&o.include, "include", nil, "also export these: tasks,notes,appointments")
	fl.StringVar(&o.format, "format", "parquet", "file format: parquet or csv")
	fl.BoolVar(&o.incremental, "incremental", false, "export only what changed since the last run with this --state")
	fl.BoolVar(&o.snapshot, "snapshot", false, "keep the complete current tables in DIR after every incremental run (the run's changes in DIR/changes/)")
	fl.StringVar(&o.since, "since", "", "export only contacts updated at or after this time (RFC 3339)")
	fl.StringVar(&o.state, "state", "", "state database for resume and incremental cursors (default DIR/.ghlbulk.state)")
	fl.StringVar(&o.report, "report", "", "write the run's report as JSON to this file")
	fl.StringVar(&o.layout, "layout", "replace", "replace: files in DIR, replacing the last run's; run: each run in DIR/run=<time>/")
	fl.IntVarP(&o.workers, "workers", "w", 8, "requests in flight for tasks, notes and appointments")
	fl.BoolVar(&o.restart, "restart", false, "discard the state in --state (cursor and unfinished run) and start over")
	o.plan.register(fl)
	fl.StringVar(&o.locations, "locations", "", "agency mode, with a Company token: all (every location the app is installed on), ID,ID or @FILE; writes DIR/location_id=<id>/ each")
	fl.IntVar(&o.parallel, "parallel-locations", 4, "with --locations: export this many locations at once")
	fl.StringVar(&o.shard, "shard", "", "with --locations: export only shard I of N (0-based; FNV-1a of the location id mod N); default from JOB_COMPLETION_INDEX and JOB_COMPLETIONS")
	fl.StringVar(&o.tokens, "tokens", "", "with --locations: a CSV of location_id,ENV_VAR rows, each location's private integration token read from ENV_VAR (no Company token needed)")
	return cmd
}

// validate checks the flags before anything is opened and returns
// --since's time; each check's own function keeps its messages.
func (o *exportOptions) validate() (time.Time, error) {
	if err := o.validateOutput(); err != nil {
		return time.Time{}, err
	}
	since, err := o.validateMode()
	if err != nil {
		return since, err
	}
	if err := o.plan.validate(o.incremental); err != nil {
		return since, err
	}
	if o.workers < 1 || o.workers > 64 {
		return since, fmt.Errorf("--workers %d: must be between 1 and 64", o.workers)
	}
	if err := o.validateAgency(); err != nil {
		return since, err
	}
	if o.state == "" && o.locations == "" {
		o.state = filepath.Join(o.out, ".ghlbulk.state")
	}
	return since, nil
}

// validateOutput checks what the export writes: --out, --format,
// --layout and --include (normalised in place).
func (o *exportOptions) validateOutput() error {
	if o.out == "" {
		return errors.New("--out is required: the directory to write the files into")
	}
	if o.format != "parquet" && o.format != "csv" {
		return fmt.Errorf("--format %q: must be parquet or csv", o.format)
	}
	if o.layout != export.LayoutReplace && o.layout != export.LayoutRun {
		return fmt.Errorf("--layout %q: must be replace or run", o.layout)
	}
	for i, inc := range o.include {
		inc = strings.ToLower(strings.TrimSpace(inc))
		if !slices.Contains(includable, inc) {
			return fmt.Errorf("--include %q: must be a list of %s", inc, strings.Join(includable, ", "))
		}
		o.include[i] = inc
	}
	return nil
}

// validateMode checks that --incremental, --snapshot, --since and
// --layout go together, and returns --since's time (zero without it).
func (o *exportOptions) validateMode() (time.Time, error) {
	var since time.Time
	if o.incremental && o.since != "" {
		return since, errors.New("--incremental and --since: use one (--incremental keeps its own cursor in --state)")
	}
	if o.snapshot && o.since != "" {
		return since, errors.New("--snapshot and --since: use one (a snapshot holds every contact; --snapshot keeps its own cursor in --state)")
	}
	if o.snapshot && o.layout == export.LayoutRun {
		return since, errors.New("--snapshot and --layout run: use one (a snapshot is kept in DIR itself)")
	}
	if o.since != "" {
		t, err := time.Parse(time.RFC3339, o.since)
		if err != nil {
			return since, fmt.Errorf("--since %q: must be an RFC 3339 time such as 2026-01-02T15:04:05Z", o.since)
		}
		since = t
	}
	return since, nil
}

// validateAgency refuses the agency flags without --locations, and an
// Indexed Job's shard for a one-location export: its N pods would all
// write the same location into the same --out.
func (o *exportOptions) validateAgency() error {
	if o.locations != "" {
		return nil
	}
	switch {
	case o.shard != "":
		return errors.New("--shard needs --locations: a shard is a share of many locations; add --locations all (or ID,ID or @FILE)")
	case o.tokens != "":
		return errors.New("--tokens needs --locations: add --locations all to export every location of the file")
	case o.f.getenv(agency.EnvCompletionIndex) != "" && o.f.getenv(agency.EnvCompletions) != "":
		return fmt.Errorf("%s and %s are set (a Kubernetes Indexed Job) but --locations is not: every pod would export the same location into the same --out; add --locations, or run a plain Job", agency.EnvCompletionIndex, agency.EnvCompletions)
	}
	return nil
}

func runExport(ctx context.Context, o exportOptions) error {
	f := o.f
	if err := o.splitURL(); err != nil { // before validate: the state's default is in the work folder
		return refused(err)
	}
	since, err := o.validate()
	if err != nil {
		return refused(err)
	}
	if o.locations != "" {
		return runAgencyExport(ctx, o, since)
	}
	if err := checkStateReport(f, o.state, o.report); err != nil {
		return refused(err)
	}
	if o.url != "" {
		if err := o.openRemote(ctx, since); err != nil {
			return err
		}
		defer o.remote.Close()
	}
	// The folder is judged before any request or write: a user's files in
	// it must not be replaced by the export's.
	if err := export.CheckOutDir(o.config(since), o.state); err != nil {
		return refused(err)
	}
	sess, err := f.session(ctx, o.plan.sessionOptions(auth.ScopeContactsRead))
	if err != nil {
		return err
	}
	rep, runErr, err := o.exportWith(ctx, sess, since, f.progressAllowed())
	if err != nil {
		return err
	}
	log := f.logger()
	if !f.opts.quiet {
		printSummary(f.summaryOut(o.report), "export", rep, [][2]string{{"files in", o.shownOut()}, {"state", o.state}})
	}
	if err := f.writeReport(o.report, rep); err != nil {
		log.Error("writing the report", "err", err)
	}
	o.notify.done(rep, "")
	var oe *export.OutDirError
	if errors.As(runErr, &oe) {
		return refused(runErr)
	}
	return runErr // pipeline.ExitCode tells its exit code
}

// exportWith runs the export over an open session. err is a refusal
// before the run (the folder, the state); runErr the run's own outcome.
func (o *exportOptions) exportWith(ctx context.Context, sess *session.Session, since time.Time, progressOn bool) (rep pipeline.Report, runErr, err error) {
	f := o.f
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return rep, nil, refused(fmt.Errorf("--out: %w", err))
	}
	store, err := pipeline.OpenStore(o.state, pipeline.StoreOptions{Restart: o.restart})
	if err != nil {
		return rep, nil, refused(err)
	}
	defer store.Close()
	log := f.logger()
	progress := pipeline.NewExportProgress(f.stderr, progressOn, log, 0)
	cfg := o.config(since)
	cfg.Client, cfg.LocationID, cfg.Store = sess.Client, sess.Location, store
	cfg.Stats, cfg.Progress, cfg.Logger = pipeline.NewStats(), progress.Update, log
	cfg.Remote = o.remote
	o.plan.configure(f, f.summaryOut(o.report), &cfg, sess)
	rep, runErr = o.plan.run(sess.Context(ctx), f, cfg)
	progress.Finish(rep)
	return rep, runErr, nil
}

// config is the export's configuration from the flags alone (no client,
// store or counters yet).
func (o *exportOptions) config(since time.Time) export.Config {
	return export.Config{
		BusinessID:  o.business,
		Include:     o.include,
		Format:      o.format,
		OutDir:      o.out,
		Incremental: o.incremental || o.snapshot,
		Snapshot:    o.snapshot,
		Since:       since,
		Layout:      o.layout,
		Workers:     o.workers,
	}
}

// splitURL takes an object storage --out apart: the URL to publish to, and
// the local working folder the export runs in (out).
func (o *exportOptions) splitURL() error {
	if !objstore.IsURL(o.out) {
		if o.workDir != "" {
			return errors.New("--work-dir is for an object storage --out (s3://, gs://, azblob://, file://): with a folder the export works in the folder itself")
		}
		return nil
	}
	o.url, o.out = o.out, o.workDir
	if o.out == "" {
		wd, err := export.DefaultWorkDir(o.url)
		if err != nil {
			return err
		}
		o.out = wd
	}
	return nil
}

// openRemote opens the bucket, refuses a prefix of somebody else's (exit
// 2, before any request to HighLevel) and brings into the work folder what
// the run needs from it.
func (o *exportOptions) openRemote(ctx context.Context, since time.Time) error {
	rm, err := export.OpenRemote(ctx, o.url, o.config(since))
	if err != nil {
		return refused(err)
	}
	rm.SetStateEvery(o.stateEvery)
	rm.SetLogger(o.f.logger())
	state := o.state
	if o.restart {
		state = "" // --restart starts over: the bucket's state is not read back
	}
	if err := rm.Pull(ctx, o.config(since), state); err != nil {
		rm.Close()
		if errors.Is(err, fs.ErrPermission) {
			return refused(err)
		}
		return err
	}
	o.remote = rm
	return nil
}

// shownOut is --out as the summary shows it: the URL without its query.
func (o *exportOptions) shownOut() string {
	if o.remote != nil {
		return o.remote.URL()
	}
	return o.out
}
