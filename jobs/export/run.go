// Package export is the export runner: HighLevel contacts (and their
// tasks, notes and appointments) to Parquet or CSV files with a manifest,
// resumable and incremental. It lives apart from package export because
// it uses both sources and sinks, which themselves import pipeline.
//
// Floor 4 (docs/design.md): imports the engine and the floors below it, never the command line.
package export

// The export runner. How it keeps its promises:
//
//   - Files appear whole or not at all. Each page of the listing (contacts
//     and, with --include, their tasks, notes and appointments) is staged as
//     Arrow IPC files under OUT/.ghlbulk-staging/<run>/, keyed by page
//     number, and checkpointed in the state DB in one transaction with the
//     ids it listed and the cursor after it. The final files are written at
//     the end by streaming the staged pages in order (memory stays flat
//     whatever the number of contacts), each written aside and renamed;
//     manifest.json is written last.
//   - Resume: a run killed at any moment and started again with the same
//     state, scope and options picks up its unfinished run, continues the
//     listing from the last checkpointed page (a page staged but not
//     checkpointed is simply redone, overwriting its files) and ends with
//     the same files: no row twice (ids already listed in this run are
//     skipped) and none missing.
//   - Listing safety: a repeated cursor or a listing that ends before the
//     API's total stops the run with an error (ghl.ErrRepeatedCursor,
//     ghl.ErrShortPage); at the end the distinct contacts listed are
//     checked against the total.
//   - Incremental: every run lists the whole scope (the cheapest listing,
//     500 contacts a request), which both finds the changed contacts
//     (dateUpdated at or after the cursor, boundary ids dropped as dlt does)
//     and, compared with the ids of the previous run, the deleted ones. Only
//     changed contacts have their tasks, notes and appointments fetched,
//     which is where the requests go. The cursor (largest dateUpdated seen,
//     and the ids at it) is kept in the state DB and written to the
//     manifest.
//   - Ownership of --out (outdir.go): a run writes only into a new or empty
//     folder, or one an earlier export made (it holds a ghlbulk
//     manifest.json), and replaces or removes there only the files that
//     manifest lists, or that the ledger in the staging directory names
//     (written before the first file, for a run killed in mid-finish).
//     Anything else is refused before any request (*OutDirError) and left
//     as it is. Temporary files are .NAME.ghlbulk-DIGITS.tmp, and every run
//     removes those a killed run left.
//   - A spent daily quota or a cancelled ctx stops the run after the last
//     whole page is checkpointed; the error is *pipeline.QuotaError or wraps
//     pipeline.ErrInterrupted (exit 3).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
)

// Export layouts.
const (
	// LayoutReplace writes the files straight into OutDir, replacing the
	// previous run's.
	LayoutReplace = "replace"
	// LayoutRun writes each run into OutDir/run=<start, RFC 3339 compact>/.
	LayoutRun = "run"
)

// Export modes, as the manifest names them.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
	ModeSince       = "since"
)

// Config is what Run needs. Client, LocationID and OutDir are required.
type Config struct {
	Client     *ghl.Client
	LocationID string
	BusinessID string   // "" = the whole location
	Include    []string // any of tasks, notes, appointments
	Format     string   // parquet (default) or csv
	OutDir     string
	// Incremental exports only what changed since the previous run's cursor
	// (kept in Store; the first run is full) and reports deleted contacts.
	Incremental bool
	// Snapshot (implies Incremental) keeps the complete current tables in
	// OutDir after every run, merged locally from the previous snapshot and
	// the run's changes, which go in OutDir/changes/ (snapshot.go).
	Snapshot bool
	// Since exports contacts updated at or after it. With Incremental it is
	// the starting point when Store holds no cursor yet.
	Since  time.Time
	Layout string // replace (default) or run
	// Store is the state DB (--state). nil keeps the state in a temporary
	// file that is removed at the end (no resume, no incremental).
	Store   *pipeline.Store
	Workers int // concurrent related-record requests (default 8)
	// PageLimit overrides the listing page size (0: the largest allowed).
	PageLimit int
	// Retry is the per-request retry policy (zero: pace.DefaultPolicy).
	Retry pace.Policy
	Stats *pipeline.Stats // nil: a fresh one
	// Progress, if set, is called after each page with the counters.
	Progress func(pipeline.Report)
	Logger   *slog.Logger
	// Compression ("zstd", "snappy", "none") and RowGroupRows tune Parquet.
	Compression  string
	RowGroupRows int64
	// Mem allocates Arrow buffers (tests check for leaks); nil: default.
	Mem memory.Allocator
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// Plan, if set, is told the requests the run will make, before the
	// first that costs much (plan.go); nil: no plan and no probes.
	Plan func(plan.ExportPlan)
	// Changes is the listener's journal (--changes, with Incremental):
	// notes are read only for the contacts it names (changes.go).
	Changes string
	// Remote, if set, is the bucket prefix the export publishes to
	// (remote.go); OutDir is then the local working folder.
	Remote *Remote
}

// exportParams are the options a resumed run must share with the run it
// resumes; a mismatch starts a new run.
type exportParams struct {
	Format      string   `json:"format"`
	Include     []string `json:"include"`
	Layout      string   `json:"layout"`
	Mode        string   `json:"mode"`
	Since       int64    `json:"since_ms,omitempty"`
	PageLimit   int      `json:"page_limit,omitempty"`
	Compression string   `json:"compression,omitempty"`
	Snapshot    bool     `json:"snapshot,omitempty"`
}

// exportRun is the state of the unfinished run, one per scope, as the
// store keeps it (pipeline.ExportRun) with its custom fields and listing
// cursor decoded.
type exportRun struct {
	Scope      string
	Params     string
	RunID      string
	StartedAt  time.Time
	FinalDir   string
	StageDir   string
	Fields     []ghl.CustomField
	Cursor     sources.Cursor
	Total      int64
	Listed     int64
	MaxUpdated int64 // ms; 0 = none seen
	MaxIDs     []string
	BoundMs    int64 // lower bound on dateUpdated (0 = none)
	BoundIDs   []string
	Rel        relState // how related records are read (wide.go)
}

// stageDirName is the hidden directory in OutDir that holds staged pages.
const stageDirName = ".ghlbulk-staging"

// entities in file order.
var exportEntities = []string{sinks.EntityContacts, sinks.EntityTasks, sinks.EntityNotes, sinks.EntityAppointments}

// Run exports the location's (or business's) contacts, and with
// Include their tasks, notes and appointments, into OutDir. It returns the
// run's counters (RowsWritten per entity) also on error.
func Run(ctx context.Context, cfg Config) (rep pipeline.Report, err error) {
	e, err := newExporter(cfg)
	if err != nil {
		return snapshotOr(cfg.Stats), err
	}
	defer func() {
		rep = e.stats.Snapshot()
		switch {
		case err == nil:
			rep.Outcome = "done"
		case errors.Is(err, pace.ErrDailyQuota):
			rep.Outcome = "quota"
		case errors.Is(err, pipeline.ErrInterrupted):
			rep.Outcome = "interrupted"
		default:
			rep.Outcome = "failed"
		}
		if err != nil {
			rep.Error = err.Error()
		}
	}()
	defer e.cleanup()
	return pipeline.Report{}, e.run(ctx)
}

// snapshotOr is Snapshot on a Stats that may be nil.
func snapshotOr(s *pipeline.Stats) pipeline.Report {
	if s == nil {
		return pipeline.Report{Outcome: "failed"}
	}
	r := s.Snapshot()
	r.Outcome = "failed"
	return r
}

type exporter struct {
	cfg     Config
	inc     sources.Include
	src     *sources.GHLContacts
	store   *pipeline.Store
	tmpDir  string // private state dir when cfg.Store is nil
	stats   *pipeline.Stats
	log     *slog.Logger
	mem     memory.Allocator
	now     func() time.Time
	scope   string
	params  exportParams
	mode    string
	schema  *sinks.ContactSchema
	written map[string]int64
	changed map[string]bool // the contacts whose notes a --changes run reads
}

func newExporter(cfg Config) (*exporter, error) {
	if cfg.Client == nil {
		return nil, errors.New("export: no API client")
	}
	if cfg.LocationID == "" {
		return nil, errors.New("export: no location: pass --location or set GHL_LOCATION_ID")
	}
	if cfg.OutDir == "" {
		return nil, errors.New("export: no output directory: pass --out DIR")
	}
	if cfg.Format == "" {
		cfg.Format = sinks.FormatParquet
	}
	if cfg.Format != sinks.FormatParquet && cfg.Format != sinks.FormatCSV {
		return nil, fmt.Errorf("--format %q: must be parquet or csv", cfg.Format)
	}
	if cfg.Layout == "" {
		cfg.Layout = LayoutReplace
	}
	if cfg.Layout != LayoutReplace && cfg.Layout != LayoutRun {
		return nil, fmt.Errorf("layout %q: must be replace or run", cfg.Layout)
	}
	inc, err := sources.ParseInclude(cfg.Include)
	if err != nil {
		return nil, err
	}
	if err := (sinks.Options{Compression: cfg.Compression}).Validate(); err != nil {
		return nil, err
	}
	e := &exporter{cfg: cfg, inc: inc, stats: cfg.Stats, log: cfg.Logger, mem: cfg.Mem, now: cfg.Now}
	if e.stats == nil {
		e.stats = pipeline.NewStats()
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.mem == nil {
		e.mem = memory.DefaultAllocator
	}
	if e.now == nil {
		e.now = time.Now
	}
	switch {
	case cfg.Incremental, cfg.Snapshot:
		e.mode = ModeIncremental
	case !cfg.Since.IsZero():
		e.mode = ModeSince
	default:
		e.mode = ModeFull
	}
	abs, err := filepath.Abs(cfg.OutDir)
	if err != nil {
		return nil, fmt.Errorf("--out %q: %w", cfg.OutDir, err)
	}
	e.cfg.OutDir = abs
	e.scope = strings.Join([]string{cfg.LocationID, cfg.BusinessID, e.scopeOut(abs)}, "\x00")
	e.params = exportParams{Format: cfg.Format, Include: inc.Names(), Layout: cfg.Layout, Mode: e.mode, PageLimit: cfg.PageLimit, Compression: cfg.Compression, Snapshot: cfg.Snapshot}
	if !cfg.Since.IsZero() {
		e.params.Since = cfg.Since.UnixMilli()
	}
	e.src = sources.NewGHLContacts(cfg.Client, sources.GHLOptions{
		LocationID: cfg.LocationID, BusinessID: cfg.BusinessID, PageLimit: cfg.PageLimit,
		Retry: cfg.Retry, Stats: e.stats,
	})
	return e, nil
}

func (e *exporter) cleanup() {
	if e.tmpDir != "" {
		if e.store != nil {
			e.store.Close()
		}
		os.RemoveAll(e.tmpDir)
	}
}

// stopErr turns a ctx or quota stop into the runner's typed errors.
func stopErr(ctx context.Context, err error) error {
	var q *pace.QuotaError
	if errors.As(err, &q) {
		return &pipeline.QuotaError{ResetAt: q.ResetAt, Err: err}
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err())) {
		return fmt.Errorf("export: %w: %w", pipeline.ErrInterrupted, err)
	}
	return err
}

func (e *exporter) run(ctx context.Context) error {
	statePath := ""
	if e.cfg.Store != nil {
		statePath = e.cfg.Store.Path()
	}
	if err := CheckOutDir(e.cfg, statePath); err != nil {
		return err
	}
	if err := os.MkdirAll(e.cfg.OutDir, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", e.cfg.OutDir, err)
	}
	if err := removeLeftovers(e.cfg.OutDir); err != nil {
		return err
	}
	e.store = e.cfg.Store
	if e.store == nil {
		dir, err := os.MkdirTemp(filepath.Join(e.cfg.OutDir), ".ghlbulk-state-")
		if err != nil {
			return fmt.Errorf("creating a temporary state: %w", err)
		}
		e.tmpDir = dir
		if e.store, err = pipeline.OpenStore(filepath.Join(dir, "state.db"), pipeline.StoreOptions{}); err != nil {
			return err
		}
	}
	if err := e.store.InitExport(ctx); err != nil {
		return err
	}
	r, err := e.openRun(ctx)
	if err != nil {
		return stopErr(ctx, err)
	}
	e.schema = sinks.NewContactSchema(r.Fields)
	// The ledger names the files this run will write into --out before it
	// writes any, so that a run resumed after a kill in the middle of
	// finish knows them for its own.
	var targets []string
	if e.cfg.Layout == LayoutReplace {
		if targets, err = targetFiles(e.cfg); err != nil {
			return err
		}
	}
	if err := addToLedger(e.cfg.OutDir, targets); err != nil {
		return err
	}
	if err := e.remoteLedger(ctx); err != nil {
		return stopErr(ctx, err)
	}
	if err := os.MkdirAll(r.StageDir, 0o755); err != nil {
		return fmt.Errorf("creating staging directory: %w", err)
	}
	if _, err := fsx.RemoveTemps(r.StageDir, ""); err != nil {
		return err
	}
	if err := e.plan(ctx, r); err != nil {
		return stopErr(ctx, err)
	}
	if err := e.stages(ctx, r); err != nil {
		e.remoteStop(ctx, r)
		return stopErr(ctx, err)
	}
	return stopErr(ctx, e.finish(ctx, r))
}

// stages lists the contacts and then the related records location-wide,
// each to its end, saving the state in the bucket (if any) after each.
func (e *exporter) stages(ctx context.Context, r *exportRun) error {
	if !r.Cursor.Done {
		if err := e.list(ctx, r); err != nil {
			return err
		}
		if err := e.remoteBoundary(ctx, r); err != nil {
			return err
		}
	}
	if err := e.listWide(ctx, r); err != nil {
		return err
	}
	return e.remoteBoundary(ctx, r)
}

// openRun resumes the scope's unfinished run if its options match, or
// starts a new one.
func (e *exporter) openRun(ctx context.Context) (*exportRun, error) {
	rawParams, err := json.Marshal(e.params)
	if err != nil {
		return nil, fmt.Errorf("encoding export options: %w", err)
	}
	r, err := e.loadRun(ctx)
	if err != nil {
		return nil, err
	}
	if r != nil && r.Params == string(rawParams) {
		e.log.Info("resuming export", "run", r.RunID, "pages_done", r.Cursor.Page, "contacts_listed", r.Listed)
		e.stats.Read(int(r.Listed))
		return r, nil
	}
	if r != nil {
		e.log.Warn("discarding an unfinished export run made with other options", "run", r.RunID)
		if err := e.dropRun(ctx, r); err != nil {
			return nil, err
		}
	}
	fields, err := e.src.CustomFields(ctx)
	if ghl.StatusCode(err) == http.StatusForbidden {
		// The token may read contacts (the preflight said so) but not the
		// custom field definitions (locations/customFields.readonly):
		// export without the typed columns rather than not at all.
		e.log.Warn("exporting without typed custom field columns: the token may not read the location's custom field definitions (scope locations/customFields.readonly); the raw customFields column is still exported")
		fields, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	start := e.now().UTC().Truncate(time.Millisecond)
	sum := sha256.Sum256([]byte(e.scope + start.String()))
	r = &exportRun{
		Scope: e.scope, Params: string(rawParams), StartedAt: start, Fields: fields,
		RunID: start.Format("20060102T150405.000Z") + "-" + hex.EncodeToString(sum[:4]),
	}
	r.FinalDir = e.cfg.OutDir
	if e.cfg.Layout == LayoutRun {
		r.FinalDir = freeRunDir(e.cfg.OutDir, start, e.cfg.Remote.runDirTaken)
	}
	r.StageDir = filepath.Join(e.cfg.OutDir, stageDirName, r.RunID)
	r.Cursor.Style = e.src.Style()
	if r.Rel, err = e.planRelated(ctx, r); err != nil {
		return nil, err
	}
	switch e.mode {
	case ModeSince:
		r.BoundMs = e.cfg.Since.UnixMilli()
	case ModeIncremental:
		cur, ok, err := e.store.ExportCursor(ctx, e.scope)
		switch {
		case err != nil:
			return nil, err
		case ok:
			r.BoundMs, r.BoundIDs = cur.ValueMs, cur.IDs
		case !e.cfg.Since.IsZero():
			r.BoundMs = e.cfg.Since.UnixMilli()
		}
	}
	e.snapshotBase(r)
	if err := e.saveRun(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// freeRunDir is the new run's directory with layout run: OutDir/run=<start
// to the second>, or, when an earlier run started in the same second,
// run=<start>-2, -3, ... (which sort after it), so that two runs never
// share a directory. taken says whether the bucket an export publishes to
// holds a run folder of that name.
func freeRunDir(out string, start time.Time, taken func(name string) bool) string {
	base := filepath.Join(out, "run="+start.Format("20060102T150405Z"))
	p := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) && !taken(filepath.Base(p)) {
			return p
		}
		p = fmt.Sprintf("%s-%d", base, i)
	}
}

func (e *exporter) loadRun(ctx context.Context) (*exportRun, error) {
	rec, err := e.store.LoadExportRun(ctx, e.scope)
	if err != nil || rec == nil {
		return nil, err
	}
	r := &exportRun{
		Scope: rec.Scope, Params: rec.Params, RunID: rec.RunID, StartedAt: rec.StartedAt,
		FinalDir: rec.FinalDir, StageDir: rec.StageDir, Total: rec.Total, Listed: rec.Listed,
		MaxUpdated: rec.MaxUpdated, MaxIDs: rec.MaxIDs, BoundMs: rec.BoundMs, BoundIDs: rec.BoundIDs,
	}
	e.rebase(r)
	bad := func(what string, err error) error {
		return &pipeline.StateError{Path: e.store.Path(), Problem: "unfinished export: bad " + what, Err: err}
	}
	if err := json.Unmarshal([]byte(rec.Fields), &r.Fields); err != nil {
		return nil, bad("custom fields", err)
	}
	if r.Cursor, err = sources.DecodeCursor([]byte(rec.Cursor)); err != nil {
		return nil, bad("cursor", err)
	}
	if rec.Related == "" {
		r.Rel = legacyRel(e.inc)
	} else if err := json.Unmarshal([]byte(rec.Related), &r.Rel); err != nil {
		return nil, bad("related-record listing", err)
	}
	return r, nil
}

// record is r as the store keeps it.
func (r *exportRun) record() *pipeline.ExportRun {
	return &pipeline.ExportRun{
		Scope: r.Scope, Params: r.Params, RunID: r.RunID, StartedAt: r.StartedAt,
		FinalDir: r.FinalDir, StageDir: r.StageDir, Fields: jsonText(r.Fields), Cursor: jsonText(r.Cursor),
		Total: r.Total, Listed: r.Listed, MaxUpdated: r.MaxUpdated, MaxIDs: r.MaxIDs,
		BoundMs: r.BoundMs, BoundIDs: r.BoundIDs, Related: jsonText(r.Rel),
	}
}

func jsonText(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(raw)
}

func (e *exporter) saveRun(ctx context.Context, r *exportRun) error {
	return e.store.SaveExportRun(ctx, r.record())
}

// dropRun forgets an unfinished run and its staged pages.
func (e *exporter) dropRun(ctx context.Context, r *exportRun) error {
	if err := e.store.DropExportRun(ctx, r.Scope, r.RunID); err != nil {
		return err
	}
	e.removeStage(r)
	return e.remoteDropStage(ctx, r)
}

// removeStage removes the run's staging directory, and the staging root
// if nothing else is left in it. The directory comes from the state, so it
// is removed only where this export stages: OUT/.ghlbulk-staging/<run>.
func (e *exporter) removeStage(r *exportRun) {
	root := filepath.Join(e.cfg.OutDir, stageDirName)
	if r.StageDir == "" || filepath.Dir(r.StageDir) != root {
		e.log.Warn("not removing a staging directory outside --out", "dir", r.StageDir)
		return
	}
	os.RemoveAll(r.StageDir)
	os.Remove(root) // only if empty
}

// keep reports whether contact c, of this run, belongs in the files.
func keep(r *exportRun, updMs int64, ok bool, id string) bool {
	if r.BoundMs == 0 || !ok {
		return true
	}
	if updMs > r.BoundMs {
		return true
	}
	return updMs == r.BoundMs && !slices.Contains(r.BoundIDs, id)
}

// list reads the listing from the run's cursor to its end, staging and
// checkpointing each page.
func (e *exporter) list(ctx context.Context, r *exportRun) error {
	for page, err := range e.src.Pages(ctx, r.Cursor) {
		if err != nil {
			return err
		}
		if err := e.stagePage(ctx, r, page); err != nil {
			return err
		}
		if e.cfg.Progress != nil {
			e.cfg.Progress(e.stats.Snapshot())
		}
		if err := ctx.Err(); err != nil && !page.Next.Done {
			return err
		}
	}
	if !r.Cursor.Done {
		// Pages ended without an error and without a last page: only a
		// listing that yields nothing at all, which Pages never does.
		return fmt.Errorf("listing contacts: %w", ghl.ErrShortPage)
	}
	return nil
}

// stagePage filters one page, fetches the related records of its kept
// contacts, stages them and checkpoints the page.
func (e *exporter) stagePage(ctx context.Context, r *exportRun, page *sources.ContactPage) error {
	scan, err := e.scanPage(ctx, r, page)
	if err != nil {
		return err
	}
	kept := scan.kept
	// A diffing run reads the per-contact kinds of every contact: a note
	// added or edited does not move its contact's dateUpdated.
	readFor := kept
	if r.Rel.Diff {
		readFor = scan.all
	}
	rel, err := e.fetchPageRelated(ctx, r, readFor)
	if err != nil {
		return err
	}
	rel, seenRecs, err := e.diffRelated(ctx, r, rel)
	if err != nil {
		return err
	}
	recs := e.relatedRecords(rel)
	recs[sinks.EntityContacts] = func() arrow.Record { return sinks.ContactsRecord(e.mem, e.schema, kept) }
	lens := rel.lens()
	lens[sinks.EntityContacts] = len(kept)
	counts, err := e.stageEntities(r, page.Index, recs, lens)
	if err != nil {
		return err
	}
	next := *r
	if scan.minAdded != 0 && (next.Rel.MinAdded == 0 || scan.minAdded < next.Rel.MinAdded) {
		next.Rel.MinAdded = scan.minAdded
	}
	next.Cursor = page.Next
	next.Listed += int64(len(scan.fresh))
	if page.Total > 0 {
		next.Total = int64(page.Total)
	}
	next.MaxUpdated, next.MaxIDs = scan.maxUpd, scan.maxIDs
	staged := pipeline.ExportPage{Page: page.Index, Contacts: counts[sinks.EntityContacts], Tasks: counts[sinks.EntityTasks],
		Notes: counts[sinks.EntityNotes], Appointments: counts[sinks.EntityAppointments], Records: seenRecs}
	if err := e.store.CommitExportPage(ctx, staged, scan.fresh, next.record()); err != nil {
		return fmt.Errorf("checkpointing page %d: %w", page.Index+1, err)
	}
	*r = next
	if err := e.remotePage(ctx, r, page.Index, counts); err != nil {
		return err
	}
	e.stats.Read(len(scan.fresh))
	e.log.Debug("export page", "page", page.Index+1, "listed", len(page.Contacts), "kept", len(kept),
		"tasks", counts[sinks.EntityTasks], "notes", counts[sinks.EntityNotes], "appointments", counts[sinks.EntityAppointments])
	return nil
}

// pageScan is what one page of the listing brings to its run.
type pageScan struct {
	kept     []ghl.Contact // the contacts that go in the files
	all      []ghl.Contact // the contacts the run lists for the first time
	minAdded int64         // their oldest dateAdded (ms; 0 = none)
	fresh    []string      // ids the run lists for the first time
	maxUpd   int64         // the largest dateUpdated listed so far (ms)
	maxIDs   []string      // the ids at maxUpd
}

// scanPage drops the contacts of page that the run listed already, and
// keeps those that belong in the files.
func (e *exporter) scanPage(ctx context.Context, r *exportRun, page *sources.ContactPage) (pageScan, error) {
	ids := make([]string, len(page.Contacts))
	for i, c := range page.Contacts {
		ids[i] = c.ID
	}
	seen, err := e.store.ExportSeen(ctx, r.RunID, ids)
	if err != nil {
		return pageScan{}, err
	}
	s := pageScan{maxUpd: r.MaxUpdated, maxIDs: slices.Clone(r.MaxIDs)}
	for _, c := range page.Contacts {
		if c.ID == "" || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		s.fresh = append(s.fresh, c.ID)
		s.all = append(s.all, c)
		if a, ok := sinks.ParseTime(c.DateAdded); ok && (s.minAdded == 0 || a.UnixMilli() < s.minAdded) {
			s.minAdded = a.UnixMilli()
		}
		t, ok := sinks.ParseTime(c.DateUpdated)
		ms := t.UnixMilli()
		if ok {
			switch {
			case ms > s.maxUpd:
				s.maxUpd, s.maxIDs = ms, []string{c.ID}
			case ms == s.maxUpd:
				s.maxIDs = append(s.maxIDs, c.ID)
			}
		}
		if keep(r, ms, ok, c.ID) {
			s.kept = append(s.kept, c)
		}
	}
	return s, nil
}

// stageEntities writes the staged file of each entity of a page that has
// rows (lens), and returns the rows of each.
func (e *exporter) stageEntities(r *exportRun, page int, recs map[string]func() arrow.Record, lens map[string]int) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, ent := range exportEntities {
		if lens[ent] == 0 {
			continue
		}
		rec := recs[ent]()
		err := writeStage(stagePath(r, page, ent), rec, e.mem)
		counts[ent] = rec.NumRows()
		rec.Release()
		if err != nil {
			return nil, err
		}
	}
	return counts, nil
}

// finish checks the listing against the API's total, writes the final
// files from the staged pages, the deleted list and the manifest, and then
// moves the cursor and known ids and forgets the run.
func (e *exporter) finish(ctx context.Context, r *exportRun) error {
	if r.Total > 0 && r.Listed < r.Total {
		return fmt.Errorf("listing contacts: %w: %d distinct contacts listed of %d announced", ghl.ErrShortPage, r.Listed, r.Total)
	}
	cur, counts, err := e.writeFinal(ctx, r)
	if err != nil {
		return err
	}
	return e.commitFinish(ctx, r, cur, counts)
}

// writeFinal writes the run's files into its final folder, the manifest
// last, and returns the next cursor and the rows written per entity.
func (e *exporter) writeFinal(ctx context.Context, r *exportRun) (*sinks.ExportCursor, map[string]int64, error) {
	if err := os.MkdirAll(r.FinalDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", r.FinalDir, err)
	}
	if err := removeLeftovers(r.FinalDir); err != nil {
		return nil, nil, err
	}
	// What this run may replace or remove: the files the folder's manifest
	// lists (read before this run's manifest replaces it) and the ledger's.
	owned := e.ownedFiles(r.FinalDir)
	if e.cfg.Snapshot {
		if err := prepareChanges(r.FinalDir); err != nil {
			return nil, nil, err
		}
	}
	files, counts, err := e.writeEntities(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	var deleted []string
	if e.mode == ModeIncremental {
		if deleted, counts[sinks.EntityDeleted], err = e.writeDeleted(ctx, r); err != nil {
			return nil, nil, err
		}
		files[sinks.EntityDeleted] = sinks.FileName(sinks.EntityDeleted, e.cfg.Format)
	}
	var snap *snapshotFiles
	if e.cfg.Snapshot {
		if snap, err = e.writeSnapshot(ctx, r, files, counts); err != nil {
			return nil, nil, err
		}
		files, counts = snap.files, snap.counts
	}
	if e.cfg.Layout == LayoutReplace {
		if err := removeStale(r.FinalDir, owned, snap.written(files)); err != nil {
			return nil, nil, err
		}
	}
	cur := e.nextCursor(ctx, r)
	if err := sinks.WriteManifest(r.FinalDir, snap.manifest(e.manifest(r, files, counts, cur, deleted))); err != nil {
		return nil, nil, err
	}
	return cur, counts, nil
}

// commitFinish publishes the written run (object storage), then moves the
// cursor and the known ids and forgets the run.
func (e *exporter) commitFinish(ctx context.Context, r *exportRun, cur *sinks.ExportCursor, counts map[string]int64) error {
	if err := e.publish(ctx, r); err != nil {
		return err
	}
	// The manifest now lists what is ours; a ledger left behind would make
	// the next run take a user's file of a listed name for its own.
	if err := os.Remove(ledgerPath(e.cfg.OutDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the staging ledger: %w", err)
	}
	for ent, n := range counts {
		e.stats.Written(ent, n)
	}
	// The files are in place: move the cursor and the known ids, forget
	// the run. A crash before this commit redoes the (identical) files.
	var next *pipeline.ExportCursor
	if cur != nil {
		next = &pipeline.ExportCursor{ValueMs: cur.Value.UnixMilli(), IDs: cur.IDs}
	}
	if err := e.store.FinishExport(ctx, e.finishRecord(r, next)); err != nil {
		return fmt.Errorf("recording the finished export: %w", err)
	}
	e.removeStage(r)
	return e.remoteFinished(ctx, r)
}

// writeEntities writes the final file of contacts and of each included
// entity from the staged pages, and returns their names and row counts.
func (e *exporter) writeEntities(ctx context.Context, r *exportRun) (files map[string]string, counts map[string]int64, err error) {
	pages, err := e.stagedPages(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	files = map[string]string{}
	counts = map[string]int64{}
	ents := append([]string{sinks.EntityContacts}, e.inc.Names()...)
	for _, ent := range ents {
		n, err := e.assemble(ctx, r, ent, pages)
		if err != nil {
			return nil, nil, err
		}
		files[ent] = sinks.FileName(ent, e.cfg.Format)
		counts[ent] = n
	}
	return files, counts, nil
}

// finishRecord is what the finished run r leaves for the next one.
func (e *exporter) finishRecord(r *exportRun, cur *pipeline.ExportCursor) pipeline.ExportFinish {
	f := pipeline.ExportFinish{Scope: r.Scope, RunID: r.RunID, Cursor: cur}
	if r.Rel.Complete {
		f.Kinds = e.inc.Names()
	}
	f.Values = r.Rel.scopeValues()
	return f
}

// writeDeleted writes the file of the contacts, and in a complete run the
// tasks, notes and appointments, deleted since the previous run, and
// returns the contacts' ids and the rows written.
func (e *exporter) writeDeleted(ctx context.Context, r *exportRun) ([]string, int64, error) {
	deleted, err := e.store.ExportDeleted(ctx, r.Scope, r.RunID)
	if err != nil {
		return nil, 0, err
	}
	rows := make([]sinks.Deleted, 0, len(deleted))
	for _, id := range deleted {
		rows = append(rows, sinks.Deleted{Entity: sinks.EntityContacts, ID: id})
	}
	if r.Rel.Complete {
		recs, err := e.store.ExportRelatedDeleted(ctx, r.Scope, r.RunID, e.inc.Names())
		if err != nil {
			return nil, 0, err
		}
		for _, x := range recs {
			rows = append(rows, sinks.Deleted{Entity: x.Kind, ID: x.ID, ContactID: x.ContactID})
		}
	}
	return deleted, int64(len(rows)), e.writeDeletedFile(r, rows)
}

func (e *exporter) writeDeletedFile(r *exportRun, deleted []sinks.Deleted) error {
	w, err := sinks.Create(e.cfg.Format, e.entityDir(r), sinks.EntityDeleted, sinks.DeletedSchema, e.fileOptions())
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(deleted, 10000) {
		rec := sinks.DeletedRecord(e.mem, chunk, r.StartedAt)
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

// manifest describes the run's files.
func (e *exporter) manifest(r *exportRun, files map[string]string, counts map[string]int64, cur *sinks.ExportCursor, deleted []string) sinks.Manifest {
	m := sinks.Manifest{
		SchemaVersion: sinks.SchemaVersion, Format: e.cfg.Format, Mode: e.mode,
		LocationID: e.cfg.LocationID, BusinessID: e.cfg.BusinessID, Include: e.inc.Names(),
		CreatedAt: r.StartedAt, Total: r.Total, Listed: r.Listed, RowCounts: counts, Files: files,
		CustomFields: sinks.CustomFieldsManifest(e.schema), Layout: e.cfg.Layout,
	}
	if e.cfg.Layout == LayoutRun {
		m.RunDir = filepath.Base(r.FinalDir)
	}
	if r.BoundMs != 0 {
		t := time.UnixMilli(r.BoundMs).UTC()
		m.Since = &t
	}
	if cur != nil {
		m.Cursor = cur
	}
	if len(deleted) <= 10000 {
		m.Deleted = deleted
	}
	return m
}

// nextCursor is the cursor for the next incremental run: the largest
// dateUpdated listed, or the previous bound if nothing newer was seen.
func (e *exporter) nextCursor(ctx context.Context, r *exportRun) *sinks.ExportCursor {
	switch {
	case r.MaxUpdated > r.BoundMs:
		ids := slices.Clone(r.MaxIDs)
		slices.Sort(ids)
		return &sinks.ExportCursor{Field: "dateUpdated", Value: time.UnixMilli(r.MaxUpdated).UTC(), IDs: ids}
	case r.BoundMs != 0:
		ids := slices.Clone(r.BoundIDs)
		for _, id := range r.MaxIDs {
			if r.MaxUpdated == r.BoundMs && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return &sinks.ExportCursor{Field: "dateUpdated", Value: time.UnixMilli(r.BoundMs).UTC(), IDs: ids}
	}
	return nil
}

func (e *exporter) fileOptions() sinks.Options {
	return sinks.Options{Compression: e.cfg.Compression, RowGroupRows: e.cfg.RowGroupRows, Mem: e.mem}
}

// ownedFiles are the export files in dir this run may replace or remove:
// those its manifest (if a ghlbulk one) lists, and the ledger's.
func (e *exporter) ownedFiles(dir string) map[string]bool {
	owned := map[string]bool{}
	if m, err := sinks.ReadManifest(filepath.Join(dir, sinks.ManifestName)); err == nil && isOurManifest(m) {
		for _, name := range manifestFiles(m) {
			owned[name] = true
		}
	}
	if dir == e.cfg.OutDir {
		for _, name := range readLedger(dir) {
			owned[name] = true
		}
	}
	return owned
}

// removeStale deletes the files of an earlier export in dir that this run
// did not write (an entity no longer included, the other format, a deleted
// file from an earlier incremental run), so the directory matches its
// manifest. It removes only owned files: a file no manifest or ledger
// lists is somebody else's.
func removeStale(dir string, owned map[string]bool, written map[string]string) error {
	keep := map[string]bool{}
	for _, name := range written {
		keep[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(owned)) {
		if keep[name] || name == sinks.ManifestName {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s of the earlier export: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}

type stagedPage struct {
	page   int
	counts map[string]int64
}

func (e *exporter) stagedPages(ctx context.Context, r *exportRun) ([]stagedPage, error) {
	recs, err := e.store.ExportPages(ctx, r.RunID)
	if err != nil {
		return nil, err
	}
	var out []stagedPage
	for _, p := range recs {
		out = append(out, stagedPage{page: p.Page, counts: map[string]int64{sinks.EntityContacts: p.Contacts,
			sinks.EntityTasks: p.Tasks, sinks.EntityNotes: p.Notes, sinks.EntityAppointments: p.Appointments}})
	}
	return out, nil
}

func (e *exporter) entitySchema(ent string) *arrow.Schema {
	switch ent {
	case sinks.EntityTasks:
		return sinks.TaskSchema
	case sinks.EntityNotes:
		return sinks.NoteSchema
	case sinks.EntityAppointments:
		return sinks.AppointmentSchema
	}
	return e.schema.Schema
}

// assemble writes one entity's final file from the staged pages.
func (e *exporter) assemble(ctx context.Context, r *exportRun, ent string, pages []stagedPage) (int64, error) {
	w, err := sinks.Create(e.cfg.Format, e.entityDir(r), ent, e.entitySchema(ent), e.fileOptions())
	if err != nil {
		return 0, err
	}
	defer w.Abort()
	for _, p := range pages {
		if p.counts[ent] == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := readStage(stagePath(r, p.page, ent), e.mem, w.Write)
		if err != nil {
			return 0, err
		}
		if n != p.counts[ent] {
			return 0, fmt.Errorf("staged %s of page %d: %d rows, checkpoint says %d", ent, p.page+1, n, p.counts[ent])
		}
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return w.Rows(), nil
}
