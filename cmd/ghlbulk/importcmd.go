package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/jobs/agency"
	"github.com/ghlbulk/ghlbulk/jobs/importer"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
	"github.com/ghlbulk/ghlbulk/transform"
)

// importOptions are import's flags; validate uses a subset.
type importOptions struct {
	f         *factory
	jobName   string // the progress display's name for the run ("validate"); "" for import's
	files     []string
	mapping   string
	state     string
	rejects   string
	workers   int
	dryRun    bool
	report    string
	restart   bool
	delimiter string
	online    bool   // validate only
	planOut   string // validate only: --plan-out, or its default
	plan      planFlags
	stopGrace time.Duration
	kind      string // contacts (""), notes or tasks: see relatedcmd.go
	runTag    string
	conflict  string // --on-conflict
	// lookupExisting: --kind notes|tasks looks each one up on its contact
	// before sending it.
	lookupExisting bool
	// deleteMissing: --kind notes|tasks deletes the records an earlier run
	// of the state wrote whose rows are gone from the input (relatedcmd.go).
	deleteMissing bool
	limits        inputLimits // --max-record-bytes, --max-columns
	createFields  bool        // --create-fields

	// locationColumn is --location-column (importagency.go): route each
	// row to the location it names; agencyPart is the location one part
	// of such a run imports into, parallel --parallel-locations.
	locationColumn string
	tokens         string // --tokens FILE, with --location-column
	agencyPart     *agency.ImportPart
	parallel       int

	// notify is --notify: the summary to relays at the end (relayflags.go).
	notify *notifyFlags
}

func newImportCmd(f *factory) *cobra.Command {
	o := importOptions{f: f, notify: &notifyFlags{}}
	cmd := &cobra.Command{
		Use:   "import FILE... --mapping M.yaml",
		Short: "Import CSV or Parquet files into a location, paced, resumable, with nothing lost",
		Long: `Import contacts, with their tags, notes and tasks, from CSV (.csv, .csv.gz) or Parquet files into
the location, through a mapping file (see mappings/ for HubSpot, Salesforce and Mailchimp presets).

Each row is written with POST /contacts/upsert, so a contact that already exists (by the location's
duplicate rule: email, then phone) is updated, never duplicated. A blank value never overwrites a
filled field, and tags are added, never replaced. Rows that cannot be written go to the rejects file
with their row number and the reason; the run goes on.

Progress is checkpointed in --state: run the same command again to resume after an interruption, a
crash or a spent daily quota. Running it again over unchanged input sends no write request.

With --kind notes or --kind tasks, FILE is a CRM's notes or tasks export instead, whose rows name
their contact by the CRM's id: each row's note or task is written on the contact the ID map
(--id-map, read, as the contacts import wrote it) gives for that id. No quota plan is printed.

Exit codes: 0 done, 1 failed (resumable), 2 refused before any write, 3 stopped early (resumable).`,
		Example: `  ghlbulk import contacts.csv --mapping mappings/hubspot.yaml
  ghlbulk import a.csv b.parquet --mapping m.yaml --state run.state --report report.json --workers 8
  ghlbulk import contacts.csv --mapping m.yaml --dry-run      # everything but the writes
  ghlbulk import contacts.csv --mapping mappings/hubspot.yaml --id-map map.csv
  ghlbulk import --kind notes notes.csv --mapping mappings/hubspot-notes.yaml --id-map map.csv`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return o.notify.around(cmd.Context(), f, "import", func() error { return runImport(cmd.Context(), o) })
		},
	}
	fl := cmd.Flags()
	o.notify.add(fl)
	fl.StringVarP(&o.mapping, "mapping", "m", "", "mapping file (YAML); required")
	fl.StringVar(&o.state, "state", "", "checkpoint database (default <first FILE>.state)")
	fl.StringVar(&o.rejects, "rejects", "", "rejects file (default <first FILE>.rejects.csv)")
	fl.IntVarP(&o.workers, "workers", "w", pipeline.DefaultWorkers, "requests in flight (the pacer keeps them under the rate limit)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "read, map and judge every row; write nothing to HighLevel")
	fl.StringVar(&o.report, "report", "", "write the run's report as JSON to this file")
	fl.BoolVar(&o.restart, "restart", false, "discard the checkpoint in --state and start over")
	fl.StringVar(&o.delimiter, "delimiter", "", "CSV delimiter (default: detected from the header)")
	o.limits.register(fl)
	fl.DurationVar(&o.stopGrace, "stop-grace", pipeline.DefaultStopGrace,
		"on SIGINT/SIGTERM, how long to finish the rows in flight before leaving them to the next run")
	o.plan.register(fl)
	fl.StringVar(&o.runTag, "run-tag", defaultRunTag,
		`tag put on the contacts this run creates ({run} is the run's id; "" for none): ghlbulk undo deletes only contacts that carry it`)
	fl.StringVar(&o.conflict, "on-conflict", onConflictReject,
		"reject|drop-phone|update-first: a row whose email matches one contact and phone another, or whose email matches none and phone a contact (or an earlier row) with another email: reject it (naming both; the location's contacts are read once to find them), drop-phone (write it by its email without the phone), or update-first (send it as it is: the upsert updates the contact it matches first, keeping the email and dropping the phone, or taking the phone's contact over)")
	fl.BoolVar(&o.lookupExisting, "lookup-existing", false,
		"with --kind notes|tasks: look each one up on its contact before sending it (a request more each; for a file imported before under a state that is gone)")
	fl.BoolVar(&o.createFields, "create-fields", false,
		"create the mapping's custom fields the location lacks, typed by their type: (needs the locations/customFields.write scope)")
	fl.BoolVar(&o.deleteMissing, "delete-missing", false,
		"with --kind notes|tasks: once the whole input is read, delete the notes or tasks this --state's runs wrote whose rows (by source_key) are gone from it (the plan shows how many)")
	fl.StringVar(&o.locationColumn, "location-column", "",
		"agency mode, with a Company token: import each row into the location whose id this column holds (state: one file a location in --state DIR, default <first FILE>.states/)")
	fl.IntVar(&o.parallel, "parallel-locations", 1, "with --location-column: import this many locations at once")
	fl.StringVar(&o.tokens, "tokens", "",
		"with --location-column: a CSV of location_id,ENV_VAR rows, each location's private integration token read from its variable (no Company token needed; the rows name the locations reached)")
	fl.StringVar(&o.kind, "kind", transform.KindContacts,
		"what FILE holds: contacts, or notes or tasks to attach to the contacts of --id-map (then read, not written)")
	return cmd
}

func newValidateCmd(f *factory) *cobra.Command {
	o := validateOptions{importOptions: importOptions{f: f}}
	cmd := &cobra.Command{
		Use:   "validate FILE... --mapping M.yaml",
		Short: "Judge every row as import would, and write the rejects and the plan, without writing to HighLevel",
		Long: `Read the files through the mapping and judge every row as import would: the rejects file gets the
rows import would reject, with the reason, and the plan file (--plan-out) one line per row saying what
import would do with it; unasked, the plan goes to <first FILE>.plan.csv only for an input of up to
10,000 rows. Needs no network and no credentials unless --online.

Offline, the plan tells rejects and rows that repeat an earlier row's match key (duplicates) from
rows to write. With --online, validate also reads the location's custom fields, and lists its contacts
once (one request per 500 contacts, whatever the size of the file) to say of each row whether import
would create a contact, update one (which), or hit a conflict: an email matching one contact and a
phone another, where the upsert updates the first and silently drops the phone. It writes nothing.

Exits 0 once every row has been judged, whatever it found; 2 for a bad mapping, flag, file or credentials.`,
		Example: `  ghlbulk validate contacts.csv --mapping mappings/hubspot.yaml
  ghlbulk validate contacts.csv --mapping mappings/hubspot.yaml --online --plan-out plan.csv`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			o.dryRun = true
			o.workers = pipeline.DefaultWorkers
			return runValidate(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.mapping, "mapping", "m", "", "mapping file (YAML); required")
	fl.StringVar(&o.rejects, "rejects", "", "rejects file (default <first FILE>.rejects.csv)")
	fl.StringVar(&o.delimiter, "delimiter", "", "CSV delimiter (default: detected from the header)")
	o.limits.register(fl)
	fl.BoolVar(&o.online, "online", false, "also check against the location: its custom fields, and which contact each row would create or update")
	fl.StringVar(&o.report, "report", "", "write the report as JSON to this file")
	o.validateFlags.register(fl)
	return cmd
}

// validate checks what can be checked before anything is opened.
func (o *importOptions) validate() error {
	if o.mapping == "" {
		return errors.New("--mapping is required: a mapping file such as mappings/hubspot.yaml")
	}
	if o.workers < 1 || o.workers > 64 {
		return fmt.Errorf("--workers %d: must be between 1 and 64", o.workers)
	}
	if o.delimiter != "" && utf8.RuneCountInString(o.delimiter) != 1 {
		return fmt.Errorf("--delimiter %q: must be one character, such as , or ; or a tab", o.delimiter)
	}
	if err := o.limits.validate(); err != nil {
		return err
	}
	for _, file := range o.files {
		if kindOf(file) == "" {
			return fmt.Errorf("%s: not a .csv, .csv.gz, .tsv, .txt, .xlsx or .parquet file (save a spreadsheet as CSV UTF-8 or .xlsx)", file)
		}
		st, err := os.Stat(file)
		if err != nil {
			return fmt.Errorf("input file: %w", err)
		}
		if st.IsDir() {
			return fmt.Errorf("%s: is a directory, not a file", file)
		}
	}
	if o.state == "" {
		o.state = o.files[0] + ".state"
	}
	if o.rejects == "" {
		o.rejects = o.files[0] + ".rejects.csv"
	}
	return nil
}

func kindOf(file string) string {
	l := strings.ToLower(file)
	switch {
	case strings.HasSuffix(l, ".parquet"):
		return "parquet"
	case strings.HasSuffix(l, ".xlsx"):
		return "xlsx"
	case strings.HasSuffix(l, ".csv"), strings.HasSuffix(l, ".csv.gz"), strings.HasSuffix(l, ".tsv"), strings.HasSuffix(l, ".txt"):
		return "csv"
	}
	return ""
}

func (o *importOptions) open(path string) (record.Source, error) {
	return o.limits.open(path, o.delimiter)
}

// prepared is a run that has passed every check that needs no write.
type prepared struct {
	mappings    map[string]*transform.Mapping // by file
	transform   pipeline.TransformFunc        // each file's own mapping
	mappingHash string
	session     *session.Session          // nil when the run needs no network
	toCreate    []transform.FieldToCreate // --create-fields: created just before the run
}

// prepare lints the mapping, reads each file's header, opens the session
// when the run is online (so: the scope its preflight checks, and any
// hook of the command's own), fetches the custom field definitions when
// the mapping uses them, and compiles the mapping for each file.
// Everything here fails with exit 2.
func (o *importOptions) prepare(ctx context.Context, online bool, so session.Options) (*prepared, error) {
	f := o.f
	if err := o.validate(); err != nil {
		return nil, refused(err)
	}
	if err := o.checkPaths(f); err != nil {
		return nil, refused(err)
	}
	raw, err := os.ReadFile(o.mapping)
	if err != nil {
		return nil, refused(fmt.Errorf("--mapping: %w", err))
	}
	spec, err := transform.LoadMapping(o.mapping)
	if err != nil {
		return nil, refused(err)
	}
	sum := sha256.Sum256(raw)
	p := &prepared{mappings: map[string]*transform.Mapping{}, mappingHash: hex.EncodeToString(sum[:])}

	if online {
		// The location and read access are checked now; contacts.write just
		// before the first write (writePreflight).
		so.Need = auth.ScopeContactsRead
		if p.session, err = o.openSession(ctx, so); err != nil {
			return nil, err
		}
	}
	var fields []ghl.CustomField
	if spec.NeedsCustomFields() {
		if fields, err = importer.CustomFields(ctx, p.session, spec.CustomFieldKeys(), !o.dryRun, f.logger()); err != nil {
			return nil, err
		}
		if fields, err = o.fieldsToCreate(ctx, p, spec, fields); err != nil {
			return nil, err
		}
	}
	err = o.compileEach(func(file string, header []string) error {
		m, err := spec.Compile(header, fields)
		p.mappings[file] = m
		return err
	})
	if err != nil {
		return nil, err
	}
	p.transform = importer.ContactsTransform(p.mappings)
	return p, nil
}

// fieldsToCreate, with --create-fields, finds the custom fields to create
// and, for a run that writes, refuses a token that can't create them; it
// returns the definitions to compile against, those fields included.
func (o *importOptions) fieldsToCreate(ctx context.Context, p *prepared, spec *transform.Spec, fields []ghl.CustomField) ([]ghl.CustomField, error) {
	if !o.createFields {
		return fields, nil
	}
	missing, all, err := importer.FieldsToCreate(spec, fields)
	if err != nil {
		return nil, err
	}
	if p.session != nil && !o.dryRun {
		if err := importer.CheckFieldsWrite(ctx, p.session, missing); err != nil {
			return nil, err
		}
	}
	p.toCreate = missing
	o.plan.fieldsToCreate = len(missing)
	return all, nil
}

// duplicatesReport is the mapping's duplicates: report.
func (p *prepared) duplicatesReport() bool {
	return p.duplicates() == transform.DuplicatesReport
}

// duplicates is the mapping's duplicates: setting (one spec: the same for
// every file).
func (p *prepared) duplicates() transform.Duplicates {
	for _, m := range p.mappings {
		if m.Duplicates() == transform.DuplicatesReport {
			return transform.DuplicatesReport
		}
	}
	return transform.DuplicatesMerge
}

func runImport(ctx context.Context, o importOptions) error {
	if err := o.checkKind(); err != nil {
		return refused(err)
	}
	if o.locationColumn != "" {
		return runAgencyImport(ctx, o)
	}
	if o.tokens != "" {
		return refused(errors.New("--tokens needs --location-column: add --location-column COL to import each row into the location its column names"))
	}
	if o.related() {
		return runRelated(ctx, o)
	}
	rep, sess, runErr, err := importContacts(ctx, &o)
	if err != nil {
		return err
	}
	title := "import"
	if o.dryRun {
		title = "validate (nothing written)"
	}
	return o.finish(o.f, sess, title, rep, runErr)
}

// importContacts runs a contacts import up to its summary: err is a
// refusal or a fault before the run, runErr the run's own outcome.
func importContacts(ctx context.Context, o *importOptions) (rep pipeline.Report, sess *session.Session, runErr, err error) {
	f := o.f
	if err := o.checkContactsFlags(); err != nil {
		return rep, nil, nil, refused(err)
	}
	p, err := o.prepare(ctx, !o.dryRun || o.online, o.plan.sessionOptions())
	if err != nil {
		return rep, nil, nil, err
	}
	cfg := o.runConfig(f, p.transform, p.mappingHash)
	cfg.TransformWorkers = runtime.GOMAXPROCS(0) // used by --dry-run only: a contacts mapping keeps nothing between batches
	cfg.RunTag = o.runTag
	cfg.DuplicatesReport = p.duplicatesReport()
	if p.session != nil {
		ctx = p.session.Context(ctx)
		cfg.LocationID = p.session.Location
		if o.conflict != onConflictUpdateFirst {
			cs := importer.NewConflictScreen(p.session, filepath.Dir(o.state), f.logger(), o.conflict == onConflictDropPhone)
			defer cs.Close()
			cfg.Screen = cs.Screen
		}
	}
	closeStore, err := o.openStore(&cfg)
	if err != nil {
		return rep, p.session, nil, err
	}
	defer closeStore()
	if p.session != nil && cfg.Store != nil {
		sink := sinks.NewGHL(p.session.Client, sinks.GHLOptions{LocationID: p.session.Location, Journal: cfg.Store})
		cfg.Sink, cfg.Tags, cfg.BeforeFirstWrite = sink, sink, writePreflight(p.session)
		// businessId is not an upsert field: the run links it in bulk.
		cfg.Sink, cfg.Business = importer.WithBusiness(sink), importer.NewBusinessLinker(p.session.Client, p.session.Location)
	}
	if err := o.plan.printPlan(ctx, f, f.summaryOut(o.report), cfg, p.session); err != nil {
		return rep, p.session, nil, refused(err)
	}
	fields := pipeline.NewStats() // the fields' requests are the run's: the plan counts them
	if p.session != nil && !o.dryRun {
		if err := importer.CreateFields(ctx, p.session, fields, p.toCreate, f.logger()); err != nil {
			return rep, p.session, nil, err
		}
	}
	rep, runErr = o.plan.run(ctx, f, cfg)
	if len(p.toCreate) > 0 && !o.dryRun {
		rep = plan.MergeReports(fields.Snapshot(), rep)
	}
	o.plan.writeIDMap(ctx, f, cfg.Store)
	return rep, p.session, runErr, nil
}

// checkContactsFlags checks the flags of a contacts import that need
// nothing opened: --max-requests, --on-conflict.
func (o *importOptions) checkContactsFlags() error {
	if err := o.plan.validate(); err != nil {
		return err
	}
	switch o.conflict {
	case onConflictReject, onConflictDropPhone, onConflictUpdateFirst:
	default:
		if !o.dryRun {
			return fmt.Errorf("--on-conflict %q: must be %s, %s or %s", o.conflict, onConflictReject, onConflictDropPhone, onConflictUpdateFirst)
		}
	}
	return nil
}

// compileEach opens each input file for its header and compiles the
// mapping for it; every file that does not fit is reported, then refused.
func (o *importOptions) compileEach(compile func(file string, header []string) error) error {
	var problems []error
	for _, file := range o.files {
		src, err := o.open(file)
		if err != nil {
			problems = append(problems, err) // a source's errors name the file
			continue
		}
		header, desc := src.Header(), describeInput(src)
		for _, w := range inputWarnings(src) {
			o.f.logger().Warn(file + ": " + w)
		}
		src.Close()
		if err := compile(file, header); err != nil {
			problems = append(problems, fmt.Errorf("%s does not fit %s (%s):\n%w", o.mapping, file, desc, err))
		}
	}
	if len(problems) > 0 {
		return refused(errors.Join(problems...))
	}
	return nil
}

// job is what the progress display calls the run.
func (o *importOptions) job() string {
	switch {
	case o.jobName != "":
		return o.jobName
	case o.dryRun:
		return "import (dry run)"
	}
	return "import"
}

// runConfig is what every kind of import run shares.
func (o *importOptions) runConfig(f *factory, transform pipeline.TransformFunc, mappingHash string) pipeline.ImportConfig {
	log := f.logger()
	return pipeline.ImportConfig{
		Files:       o.files,
		Open:        o.open,
		Fingerprint: sources.Fingerprint,
		Transform:   transform,
		MappingHash: mappingHash,
		Workers:     o.workers,
		StopGrace:   o.stopGrace,
		RejectsPath: o.rejects,
		DryRun:      o.dryRun,
		Stats:       pipeline.NewStats(),
		Logger:      log,
		Progress:    pipeline.NewJobProgress(o.job(), f.stderr, f.progressAllowed(), -1, log, 0),
	}
}

// openStore opens --state for a run that writes (a dry run keeps none).
func (o *importOptions) openStore(cfg *pipeline.ImportConfig) (close func(), err error) {
	if o.dryRun {
		return func() {}, nil
	}
	store, err := pipeline.OpenStore(o.state, pipeline.StoreOptions{Restart: o.restart})
	if err != nil {
		return nil, refused(err)
	}
	cfg.Store = store
	return func() { store.Close() }, nil
}

// finish prints the summary and writes the report of a run, and maps its
// error to the exit code.
func (o *importOptions) finish(f *factory, s *session.Session, title string, rep pipeline.Report, runErr error, extra ...[2]string) error {
	extra = append(extra, [2]string{"rejects file", o.rejects})
	if !o.dryRun {
		extra = append(extra, [2]string{"state", o.state})
	}
	if rep.RunID != "" {
		run := rep.RunID
		if rep.RunTag != "" {
			run += " (tag " + rep.RunTag + ")"
		}
		extra = append(extra, [2]string{"run", run}, [2]string{"undo with", "ghlbulk undo --state " + o.state + " --run " + rep.RunID})
	}
	if left := s.DailyQuotaLeft(); left != "" {
		extra = append(extra, [2]string{"daily quota left", left})
	}
	if !f.opts.quiet {
		printSummary(f.summaryOut(o.report), title, rep, extra)
	}
	if err := f.writeReport(o.report, rep); err != nil {
		f.logger().Error("writing the report", "err", err)
	}
	o.notify.done(rep, o.rejects)
	return runErr // pipeline.ExitCode tells its exit code
}

// The --on-conflict values.
const (
	onConflictReject      = "reject"
	onConflictDropPhone   = "drop-phone"
	onConflictUpdateFirst = "update-first"
)

// defaultRunTag marks what a run creates, so that it can be found in
// HighLevel (a smart list on the tag) and undone safely.
const defaultRunTag = "ghlbulk-{run}"
