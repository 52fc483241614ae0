package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/record"
)

// Defaults of ImportConfig.
const (
	DefaultWorkers = 8 // the API allows 10 req/s; at 200-400 ms a request, 8 in flight keep it busy
	// DefaultGroupSize bounds a lane group (one task, checkpointed when
	// done). Larger groups share bulk tag calls better; smaller ones stop
	// sooner on SIGINT and fit a nearly spent daily quota. 128 is what a
	// 1024-row batch gives each of the default 8 lanes.
	DefaultGroupSize = 128
	// DefaultStopGrace fits well inside a scheduler's grace period
	// (Kubernetes gives 30 s between SIGTERM and SIGKILL).
	DefaultStopGrace = 10 * time.Second
	defaultCommitN   = 1000 // rows per checkpoint transaction
	defaultCommitDur = time.Second
)

// ImportConfig is everything RunImport needs; the CLI fills it from flags.
type ImportConfig struct {
	Files []string
	// Open opens one input file (sources.OpenCSV / OpenParquet).
	Open func(path string) (record.Source, error)
	// Fingerprint identifies a file's content (sources.Fingerprint); nil
	// uses FileFingerprint.
	Fingerprint func(path string) (string, error)
	// Transform applies the mapping (a compiled mapping's Apply).
	Transform TransformFunc
	// TransformWorkers is how many batches a dry run maps at once (0 or
	// 1: one at a time). Above 1, Transform must keep nothing from one
	// call to the next: a contacts mapping's Apply keeps nothing; a notes
	// or tasks mapping counts occurrences in input order and must get 1.
	// Whatever the number, the rows reach Inspect and the judge in input
	// order. A run that writes maps one batch at a time.
	TransformWorkers int
	// Inspect, when set, sees every batch's rows in input order, after
	// the mapping and before the judge (validate's plan).
	Inspect func(file string, recs []record.Row)
	// MappingHash identifies the mapping (e.g. sha256 of the file); a state
	// made with another mapping is refused.
	MappingHash string
	// Sink writes rows (sinks.NewGHL, sinks.NewRelated); not called in a
	// dry run.
	Sink Sink
	// Tags adds the rows' tags in bulk (sinks.GHL); nil for a run whose
	// sink adds no tags (notes or tasks). Not called in a dry run.
	Tags TagWriter
	// BeforeFirstWrite, when set, runs once, just before the run's first
	// write (a sink's row or a tag request), never in a dry run: the write
	// preflight. A re-run with nothing left to write never calls it. Its
	// error stops the run as a fault.
	BeforeFirstWrite func(ctx context.Context) error
	LocationID       string
	// Workers is the number of requests in flight (lanes); 0 means
	// DefaultWorkers.
	Workers int
	// GroupSize is the number of rows per task; 0 means DefaultGroupSize.
	GroupSize int
	// Store is the checkpoint; it may be nil only in a dry run.
	Store       *Store
	RejectsPath string
	// DryRun reads, transforms and classifies every row, writes the
	// rejects file, and sends nothing and checkpoints nothing.
	DryRun   bool
	Stats    *Stats
	Progress Progress
	Logger   *slog.Logger

	// StopGrace is how long a soft stop (ctx cancelled: SIGINT, SIGTERM,
	// --max-requests) may drain the groups in flight before their requests
	// are cancelled too and what is unfinished is left to the next run
	// (as after a kill: upserts are idempotent, notes and tasks journaled).
	// 0 means DefaultStopGrace; negative means no limit.
	StopGrace time.Duration

	// DuplicatesReport rejects a row whose match key repeats an earlier
	// row's of the input ("repeats row N": the mapping's duplicates:
	// report) instead of merging it (written after the earlier one, its
	// non-blank values winning). A row that repeats an earlier one in
	// content too costs no request either way.
	DuplicatesReport bool
	// Screen, when set, judges each row about to be written (not one done
	// or unchanged), in input order; a reason rejects the row before any
	// request is sent for it (online conflict detection), an error stops
	// the run. Its requests are counted in st.
	Screen func(ctx context.Context, st *Stats, rec *record.Row) (reason string, err error)

	// RunTag is put on every contact the run creates ("{run}" stands for
	// the run's id; "" for none): how the run's contacts are found in
	// HighLevel, and what ghlbulk undo checks before it deletes one.
	RunTag string

	// Business links the rows' contacts to their business in bulk
	// (importer.BusinessLinker); nil for a run whose sink leaves none (no
	// businessId mapped). Not called in a dry run.
	Business BusinessWriter
	// BulkBusinessMax is the most contacts per business link request (0:
	// DefaultBulkBusinessMax).
	BulkBusinessMax int

	// BulkTagMax is the most contacts per bulk tag request (0:
	// DefaultBulkTagMax); MaxPendingTags bounds the (tag, contact) pairs
	// waiting for a full request (0: DefaultMaxPendingTags).
	BulkTagMax, MaxPendingTags int

	// CommitRows and CommitEvery bound a checkpoint transaction (defaults
	// 1000 rows, 1 s: rows spread over the ID map's pages, and a larger
	// transaction writes each page once for more of them).
	CommitRows  int
	CommitEvery time.Duration
}

// RunImport reads every file, transforms its rows, and writes them through
// the sink, checkpointing each row's outcome in the store. It returns the
// run's report, and an error that says why it stopped early:
// ErrInterrupted (ctx cancelled; progress saved), *QuotaError, *record.FaultError
// (auth, scope, mapping, API, state), *StateError (the state belongs to
// other input), or a wrapped input error.
//
// Cancelling ctx is a soft stop: reading stops, the rows in hand are
// finished and checkpointed. At the end (whatever the outcome) rows_read
// equals created + updated + unchanged + rejected.
func RunImport(ctx context.Context, cfg ImportConfig) (Report, error) {
	r, err := newImportRun(cfg)
	if err != nil {
		return Report{}, err
	}
	err = r.run(ctx)
	rep := r.stats.Snapshot()
	rep.DryRun = cfg.DryRun
	rep.RunID, rep.RunTag = r.bound.ID, r.bound.Tag
	rep.RejectsFile = cfg.RejectsPath
	switch {
	case err == nil:
		rep.Outcome = "done"
	case errors.Is(err, ErrInterrupted):
		rep.Outcome = "interrupted"
	case errors.As(err, new(*QuotaError)):
		rep.Outcome = "quota"
	default:
		rep.Outcome = "failed"
	}
	if err != nil {
		rep.Error = err.Error()
	}
	r.progress.Finish(rep)
	return rep, err
}

// errStopGrace cancels the requests in flight once a soft stop's grace
// period is over.
var errStopGrace = errors.New("stop grace period over")

// importRun is one import: the config, and the state shared by the
// submitter (the goroutine that calls run), the pool's tasks and the
// committer.
type importRun struct {
	cfg      ImportConfig
	stats    *Stats
	progress Progress
	log      *slog.Logger
	sink     Sink
	lanes    int

	// work is the context requests run under: not cancelled by the soft
	// stop (in-flight rows finish), cancelled by a run-level fault.
	work       context.Context
	cancelWork context.CancelCauseFunc

	// stopping is the soft stop, checked between rows.
	stopping func() bool

	// ready runs cfg.BeforeFirstWrite once (readyErr keeps its answer).
	ready    sync.Once
	readyErr error

	faultMu sync.Mutex
	fault   error // the first run-level fault; guarded by faultMu

	results chan []*outcome // to the committer

	// tags adds the rows' tags (nil: the run adds none, or a dry run);
	// batcher gathers them, and tagCalls carries full requests from
	// the committer to the tag sender.
	tags     TagWriter
	links    BusinessWriter // links the rows' businesses (nil: none, or a dry run)
	batcher  *TagBatcher
	tagCalls chan []TagCall
	settled  []*TagIntent // finished intents not yet settled in the state (settleTags)
	bound    Run          // the run the state is bound to (not in a dry run)
	// resumedSince is bound.Started when an earlier process (or an
	// earlier --wait round) worked on the run; zero for a new run.
	resumedSince time.Time
	began        time.Time // when this RunImport started

	// laneTail is, per lane, the done channel of the last group submitted:
	// the next group of that lane waits for it. Submitter only.
	laneTail []chan struct{}

	// headers are the inputs' headers by file; submitter only.
	headers map[string][]string

	// dryRejects collects rejects in a dry run (no state), on disk;
	// committer only.
	dryRejects rejectSpill

	// recent are the items read lately by digest of key and content, to
	// spot a row repeating one still on its way (item.dupOf), oldest
	// first in recentOrder; firstRow is, with DuplicatesReport, where each
	// match key first appeared. Submitter only.
	recent      map[uint64]*item
	recentOrder []uint64
	firstRow    *KeyPlaces
	classes     TagClassifier
}

// outcome is one row's result on its way to the checkpoint.
type outcome struct {
	fp     string
	rec    *record.Row
	status string
	id     string
	reason string
	tags   []string // tags still to add (record.Outcome.Tags)
	biz    string   // the business to link the contact to (record.Outcome.Business)
	common map[string]bool
	replay bool // already checkpointed (a resumed run): count only
}

func newImportRun(cfg ImportConfig) (*importRun, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.GroupSize <= 0 {
		cfg.GroupSize = DefaultGroupSize
	}
	if cfg.CommitRows <= 0 {
		cfg.CommitRows = defaultCommitN
	}
	if cfg.CommitEvery <= 0 {
		cfg.CommitEvery = defaultCommitDur
	}
	if cfg.Fingerprint == nil {
		cfg.Fingerprint = FileFingerprint
	}
	if cfg.Open == nil || cfg.Transform == nil {
		return nil, errors.New("import: Open and Transform are required")
	}
	if cfg.Store == nil && !cfg.DryRun {
		return nil, errors.New("import: a state store is required (only a dry run may go without)")
	}
	if cfg.Sink == nil && !cfg.DryRun {
		return nil, errors.New("import: a sink is required")
	}
	r := &importRun{cfg: cfg, stats: cfg.Stats, progress: cfg.Progress, log: cfg.Logger, lanes: cfg.Workers,
		headers: make(map[string][]string), began: time.Now(), recent: make(map[uint64]*item)}
	if cfg.DuplicatesReport {
		r.firstRow = NewKeyPlaces(cfg.Files)
	}
	if r.stats == nil {
		r.stats = NewStats()
	}
	if r.progress == nil {
		r.progress = nopProgress{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.sink = cfg.Sink
	if cfg.DryRun {
		r.sink = dryRunSink{log: r.log}
	} else if cfg.Tags != nil || cfg.Business != nil {
		r.tags, r.links = cfg.Tags, cfg.Business
		r.batcher = NewTagBatcher(cfg.BulkTagMax, cfg.MaxPendingTags).SetBusinessMax(cfg.BulkBusinessMax)
	}
	return r, nil
}

// run is the submitter: it owns the pool (Go and Wait) and the committer.
func (r *importRun) run(ctx context.Context) error {
	fps, err := r.bind(ctx)
	if err != nil {
		return err
	}
	r.work, r.cancelWork = context.WithCancelCause(context.WithoutCancel(ctx))
	defer r.cancelWork(nil)
	r.stopping = func() bool { return ctx.Err() != nil }
	defer r.armStopGrace(ctx)()
	r.results = make(chan []*outcome, r.lanes*2)
	r.laneTail = make([]chan struct{}, r.lanes)

	if err := r.resumeTags(); err != nil {
		return r.classify(err)
	}
	readErr, commitErr := r.pump(ctx, fps)
	r.finishTags(ctx, readErr == nil && commitErr == nil)
	err = r.stopCause(ctx, commitErr, readErr)
	if rejErr := r.writeRejects(); err == nil && rejErr != nil {
		err = rejErr
	}
	if err == nil && r.cfg.Store != nil && !r.cfg.DryRun {
		err = r.cfg.Store.Finish(context.WithoutCancel(ctx))
	}
	return r.classify(err)
}

// bind fingerprints the inputs and binds the state to them and the
// mapping (a dry run only checks that it could). It returns the
// fingerprints, in the order of Files.
func (r *importRun) bind(ctx context.Context) ([]string, error) {
	fps := make([]string, len(r.cfg.Files))
	inputs := make([]Input, len(r.cfg.Files))
	for i, f := range r.cfg.Files {
		fp, err := r.cfg.Fingerprint(f)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", f, err)
		}
		fps[i] = fp
		inputs[i] = Input{File: f, Fingerprint: fp}
	}
	if r.cfg.Store == nil {
		return fps, nil
	}
	b := Binding{Location: r.cfg.LocationID, MappingHash: r.cfg.MappingHash, Inputs: inputs, RunTag: r.cfg.RunTag}
	if r.cfg.DryRun {
		_, err := r.cfg.Store.CheckBinding(ctx, b)
		return fps, err
	}
	if err := r.cfg.Store.Bind(ctx, b); err != nil {
		return nil, err
	}
	var err error
	r.bound, err = r.cfg.Store.CurrentRun(ctx)
	if r.bound.Started.Before(r.began) {
		r.resumedSince = r.bound.Started
	}
	return fps, err
}

// armStopGrace starts the soft stop's grace period when ctx is cancelled:
// the groups in flight may drain for StopGrace, then their requests are
// cancelled too. It returns the function that disarms it.
func (r *importRun) armStopGrace(ctx context.Context) (disarm func()) {
	grace := r.cfg.StopGrace
	if grace < 0 {
		return func() {}
	}
	if grace == 0 {
		grace = DefaultStopGrace
	}
	var timer *time.Timer
	stopAfter := context.AfterFunc(ctx, func() {
		timer = time.AfterFunc(grace, func() { r.cancelWork(errStopGrace) })
	})
	return func() {
		if !stopAfter() && timer != nil {
			timer.Stop()
		}
	}
}

// pump starts the tag sender and the committer, reads every file into the
// pool, and returns once all three are done: the first input error, and
// the committer's.
func (r *importRun) pump(ctx context.Context, fps []string) (readErr, commitErr error) {
	r.tagCalls = make(chan []TagCall, 16)
	tagsSent := make(chan struct{})
	go func() {
		defer close(tagsSent)
		r.tagLoop()
	}()

	committed := make(chan error, 1)
	go func() { committed <- r.commitLoop() }()

	p := pool.New().WithMaxGoroutines(r.lanes).WithContext(r.work)
	for i, f := range r.cfg.Files {
		if readErr = r.readFile(ctx, p, f, fps[i]); readErr != nil {
			break
		}
	}
	_ = p.Wait() // task errors are recorded as the run's fault
	close(r.results)
	commitErr = <-committed
	close(r.tagCalls)
	<-tagsSent
	return readErr, commitErr
}

// stopCause is what stopped the run, in order of weight: a fault, the
// committer's error, the input's, a soft stop (ErrInterrupted); nil when
// it ran to the end.
func (r *importRun) stopCause(ctx context.Context, commitErr, readErr error) error {
	err := r.firstFault()
	if errors.Is(context.Cause(r.work), errStopGrace) {
		r.log.Warn("stopped before the rows in flight were finished; the next run does them", "grace", r.cfg.StopGrace)
		if errors.Is(err, context.Canceled) {
			err = nil // cut short by the stop's grace period, not a fault
		}
	}
	switch {
	case err != nil:
	case commitErr != nil:
		err = commitErr
	case readErr != nil:
		err = readErr
	case ctx.Err() != nil:
		err = ErrInterrupted
	}
	return err
}

// readFile streams one file: batches, transform, classify, dispatch.
func (r *importRun) readFile(ctx context.Context, p *pool.ContextPool, file, fp string) (err error) {
	src, err := r.cfg.Open(file)
	if err != nil {
		return inputFault(file, err)
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("input %s: %w", file, cerr)
		}
	}()
	if r.cfg.Store != nil && !r.cfg.DryRun {
		if err := r.cfg.Store.SetHeader(r.work, fp, src.Header()); err != nil {
			return r.stateFault(err)
		}
	}
	r.headers[file] = src.Header()
	var pending []*item
	rows := 0
	err = r.eachBatch(ctx, src, file, func(m mapped) error {
		if m.err != nil {
			return m.err
		}
		rows += len(m.recs)
		if r.cfg.Inspect != nil {
			r.cfg.Inspect(file, m.recs)
		}
		items, err := r.classifyRows(fp, file, m.recs, m.digests)
		if err != nil {
			return err
		}
		pending = append(pending, items...)
		if len(pending) >= r.lanes*r.cfg.GroupSize {
			r.dispatch(ctx, p, fp, pending)
			pending = nil
		}
		return nil
	})
	if err != nil || r.stopReading(ctx) {
		return err
	}
	if rows == 0 { // a header and nothing else: say so, or exit 0 reads as success
		r.log.Warn("no data rows in "+file+" (only a header): nothing to import from it", "file", file)
	}
	r.dispatch(ctx, p, fp, pending)
	return nil
}

// setFault records the first run-level fault and aborts the requests in
// flight. A context error caused by that abort is not a fault of its own.
func (r *importRun) setFault(err error) {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	if r.fault != nil {
		return
	}
	if errors.Is(err, context.Canceled) && r.work.Err() != nil {
		return
	}
	r.fault = err
	r.cancelWork(err)
}

func (r *importRun) firstFault() error {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	return r.fault
}

func (r *importRun) stateFault(err error) error {
	fe := &record.FaultError{Kind: record.FaultState, Err: err}
	if errors.Is(err, ErrDiskFull) {
		fe.Hint = "free some disk space, then run the same command again"
	}
	r.setFault(fe)
	return fe
}

// inputFault is a file that can't be read on: refused (exit 2) if no
// write was made yet, the run's failure (exit 1, resumable) otherwise.
func inputFault(file string, err error) error {
	return &record.FaultError{Kind: record.FaultInput, Err: fmt.Errorf("input %s: %w", file, err)}
}

// classify turns what stopped the run into the typed errors of errors.go.
func (r *importRun) classify(err error) error {
	if err == nil {
		return nil
	}
	var qe *pace.QuotaError
	if errors.As(err, &qe) {
		return &QuotaError{ResetAt: qe.ResetAt, Err: err}
	}
	if errors.Is(err, pace.ErrDailyQuota) {
		return &QuotaError{Err: err}
	}
	var fe *record.FaultError
	if errors.As(err, &fe) {
		s := r.stats.Snapshot()
		fe.BeforeWrite = s.Created+s.Updated+s.NotesCreated+s.TasksCreated+s.TagCalls == 0 ||
			(fe.Kind == record.FaultInput && r.cfg.DryRun) // a dry run's writes are only counted
		return fe
	}
	return err
}
