// Package agency is the agency export (export --locations): the
// one-location export run once per location, each with its own session
// (its Location token, its own pacer and so its own rate limit and daily
// quota), its own state and its own folder OUT/location_id=<id>/, so that
// read_parquet('OUT/*/contacts.parquet', hive_partitioning=true) reads
// them as one table. OUT/manifest.json, written last, lists every
// location's status, counts and cursor. One location's failure never
// stops the others. With a Shard, the run takes only its share of the
// locations (shard.go) and several runs share one OUT.
//
// The one-location export itself is the caller's (Config.Export): the
// command line builds it from its flags, so the agency job and a plain
// export run the very same code for a location.
//
// The agency import (import --location-column, import.go) is the same
// idea the other way: the input split by location (importsplit.go), and
// the caller's one-location contacts import (ImportConfig.Import) run for
// each location's part.
//
// Floor 4 (docs/design.md): imports auth, pipeline and the floors below, never the command line.
package agency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/internal/fanout"
	"github.com/ghlbulk/ghlbulk/objstore"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// One is one location's export, as Config.Export receives it.
type One struct {
	ID      string
	Dir     string       // the location's folder, OUT/location_id=<id> (with URL, its local working copy)
	URL     string       // with an object storage OUT: URL/location_id=<id>, where the export publishes
	State   string       // its state file
	Workers int          // its share of the worker budget
	Auth    auth.Options // its credentials: its Location token minted from the Company one, or its own (--tokens)
	Logger  *slog.Logger // the run's logger, with location=<id>
}

// ExportFunc runs one location's export into o.Dir with its own session
// and state. Its error is the location's outcome (pipeline.ExitCode).
type ExportFunc func(ctx context.Context, o One) (pipeline.Report, error)

// Config is one agency export.
type Config struct {
	Out       string // OUT: the locations' folders and the manifests (with URL: the local working folder)
	URL       string // an object storage OUT (s3://, gs://, azblob://, file://): the manifests and, published by each location's export, its files
	StateDir  string // --state: a folder, one state file a location; "" = each beside its output
	Locations string // --locations: all, ID,ID or @FILE
	Tokens    string // --tokens FILE: location_id,ENV_VAR rows; "" = a Company login mints the tokens
	Parallel  int    // locations at once
	Workers   int    // the worker budget all running locations share
	Shard     Shard  // zero: every location
	Auth      auth.Options
	Logger    *slog.Logger
	Export    ExportFunc
}

// Result is what a run leaves for the summary and the report.
type Result struct {
	Manifest Manifest        // this run's (a shard's own, when sharded)
	Report   pipeline.Report // the locations' reports added up, over the run's wall time
}

// Run exports every location of cfg and returns the manifest and the
// outcome: failed (1) over stopped (3) over done (0); refused (2) when
// nothing was written or every location was refused.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Parallel < 1 || cfg.Parallel > 64 {
		return nil, pipeline.Refused(fmt.Errorf("--parallel-locations %d: must be between 1 and 64", cfg.Parallel))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	out, closeOut, err := openFolder(ctx, cfg)
	if err != nil {
		return nil, pipeline.Refused(err)
	}
	defer closeOut()
	prev, err := checkOut(ctx, out, cfg.Shard)
	if err != nil {
		return nil, pipeline.Refused(err)
	}
	targets, err := resolve(ctx, cfg)
	if err != nil {
		return nil, err
	}
	targets = cfg.Shard.filter(targets)
	r := run{cfg: cfg, out: out, started: time.Now().UTC(), done: prev.doneSet()}
	r.results = make([]Location, len(targets))
	r.workers = workersEach(cfg.Workers, cfg.Parallel, len(targets))
	_ = fanout.Each(ctx, cfg.Parallel, indexes(len(targets)), func(ctx context.Context, i int) error {
		res := r.location(ctx, targets[i])
		r.mu.Lock()
		defer r.mu.Unlock()
		r.results[i] = res
		r.saveProgress(ctx)
		return nil
	})
	return r.finish(ctx)
}

// saveProgress rewrites the run's manifest, marked incomplete, after each
// location: a run killed midway (SIGKILL, a pod evicted) leaves the
// locations it finished listed as done, so the re-run redoes only the
// rest instead of exporting every location again. The earlier run's done
// locations not reached yet stay listed for the same reason. A failed
// write only costs that saving, so it is logged, not fatal; the caller
// holds r.mu.
func (r *run) saveProgress(ctx context.Context) {
	m := Manifest{SchemaVersion: 1, Kind: Kind, Status: Incomplete, StartedAt: r.started, FinishedAt: time.Now().UTC()}
	for _, l := range r.results {
		if l.LocationID != "" {
			m.Locations = append(m.Locations, l)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(r.done)) {
		if !slices.ContainsFunc(m.Locations, func(x Location) bool { return x.LocationID == id }) {
			m.Locations = append(m.Locations, r.done[id])
		}
	}
	name := r.manifestName(&m)
	if err := writeManifest(context.WithoutCancel(ctx), r.out, name, m); err != nil {
		r.cfg.Logger.Warn("saving the run's progress", "file", name, "err", err)
	}
}

// manifestName is the run's own manifest: the shard's when sharded.
func (r *run) manifestName(m *Manifest) string {
	if !r.cfg.Shard.On() {
		return ManifestName
	}
	m.Shard = r.cfg.Shard.String()
	return r.cfg.Shard.manifestName()
}

// workersEach is a location's share of the worker budget: --workers split
// among the locations running at once, but two at least: the pacer holds
// one token, so one request in flight loses the pace at every stall
// (docs/benchmarks.md, section 10: 94.8 -> 96.4 % of the summed limits).
func workersEach(budget, parallel, locations int) int {
	return max(2, budget/max(1, min(parallel, locations)))
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// run is one agency export.
type run struct {
	cfg     Config
	out     folder
	started time.Time
	workers int
	done    map[string]Location // finished by the previous, unfinished run: not redone
	mu      sync.Mutex          // guards results and the progress manifest
	results []Location
}

// location exports one location, or keeps its earlier result when the
// previous run (left incomplete) had finished it.
func (r *run) location(ctx context.Context, t Target) Location {
	if d, ok := r.done[t.ID]; ok {
		return d
	}
	res := Location{LocationID: t.ID, Name: t.Name, Path: LocationDir(t.ID)}
	rep, err := r.export(ctx, t)
	res.Report, res.RowsWritten, res.Requests = rep, rep.RowsWritten, rep.Requests
	res.ExitCode = pipeline.ExitCode(err)
	res.Status = StatusOf(res.ExitCode)
	if err != nil {
		res.Error = err.Error()
		r.cfg.Logger.Error("location not finished", "location", t.ID, "status", res.Status, "err", err)
	}
	res.Cursor = readCursor(context.WithoutCancel(ctx), r.out, res.Path+"/manifest.json")
	res.FinishedAt = time.Now().UTC()
	return res
}

// StatusOf is a location's status for its exit code.
func StatusOf(code int) string {
	switch code {
	case pipeline.ExitOK:
		return Done
	case pipeline.ExitRefused:
		return Refused
	case pipeline.ExitStopped:
		return Stopped
	}
	return Failed
}

// export is the one-location export of t into its folder, with its own
// credentials, state and counters.
func (r *run) export(ctx context.Context, t Target) (pipeline.Report, error) {
	o := One{ID: t.ID, Dir: filepath.Join(r.cfg.Out, LocationDir(t.ID)), Workers: r.workers,
		Logger: r.cfg.Logger.With("location", t.ID)}
	if r.cfg.URL != "" {
		u, err := objstore.JoinURL(r.cfg.URL, LocationDir(t.ID))
		if err != nil {
			return pipeline.Report{}, pipeline.Refused(err)
		}
		o.URL = u
	}
	o.State = filepath.Join(o.Dir, ".ghlbulk.state")
	if r.cfg.StateDir != "" { // --state names a folder: one state file a location
		o.State = filepath.Join(r.cfg.StateDir, t.ID+".state")
	}
	if err := os.MkdirAll(filepath.Dir(o.State), 0o755); err != nil {
		return pipeline.Report{}, pipeline.Refused(fmt.Errorf("--state: %w", err))
	}
	a, err := t.auth(r.cfg.Auth)
	if err != nil {
		return pipeline.Report{}, pipeline.Refused(err)
	}
	o.Auth = a
	return r.cfg.Export(ctx, o)
}

// finish writes this run's manifest (and, sharded, the combined one once
// every shard is done) and turns the locations' outcomes into the run's.
func (r *run) finish(ctx context.Context) (*Result, error) {
	m := Manifest{SchemaVersion: 1, Kind: Kind, Status: Complete, StartedAt: r.started, Locations: r.results}
	reps := make([]pipeline.Report, 0, len(r.results))
	for _, l := range r.results {
		if l.Status != Done {
			m.Status = Incomplete
		}
		reps = append(reps, l.Report)
	}
	m.FinishedAt = time.Now().UTC()
	// The locations' rows are disjoint: their counts add up; the time is
	// the whole run's, the locations having run side by side.
	res := &Result{Report: pipeline.SumReports(reps...)}
	res.Report.ElapsedS = m.FinishedAt.Sub(r.started).Seconds()
	name := r.manifestName(&m)
	res.Manifest = m
	// Written even when interrupted: the manifest is what the re-run
	// resumes from.
	ctx = context.WithoutCancel(ctx)
	if err := writeManifest(ctx, r.out, name, m); err != nil {
		return res, err
	}
	if r.cfg.Shard.On() && m.Status == Complete {
		if err := combine(ctx, r.out, r.cfg.Shard.Count); err != nil {
			return res, err
		}
	}
	worst, refusedAll := WorstOutcome(r.results)
	return res, Outcome(ctx, m, worst, refusedAll)
}

// WorstOutcome is the locations' worst exit code: failed (a refused
// location counts as failed) over stopped over done; refusedAll tells
// that there were locations and every one was refused.
func WorstOutcome(results []Location) (worst int, refusedAll bool) {
	refusedAll = len(results) > 0
	for _, l := range results {
		refusedAll = refusedAll && l.Status == Refused
		switch {
		case l.ExitCode == pipeline.ExitFailed || l.ExitCode == pipeline.ExitRefused:
			worst = pipeline.ExitFailed
		case l.ExitCode == pipeline.ExitStopped && worst == 0:
			worst = pipeline.ExitStopped
		}
	}
	return worst, refusedAll
}

// Outcome is the run's error for its manifest and WorstOutcome's verdict.
func Outcome(ctx context.Context, m Manifest, worst int, refusedAll bool) error {
	var bad []string
	for _, l := range m.Locations {
		if l.Status != Done {
			bad = append(bad, l.LocationID+" "+l.Status)
		}
	}
	err := fmt.Errorf("%d of %d locations not done (%s): run the same command again to finish them", len(bad), len(m.Locations), strings.Join(bad, ", "))
	switch {
	case refusedAll:
		return pipeline.Refused(fmt.Errorf("every location was refused: %s", m.Locations[0].Error))
	case worst == pipeline.ExitFailed:
		return err
	case worst == pipeline.ExitStopped:
		if ctx.Err() != nil {
			return pipeline.Stopped(ctx.Err())
		}
		return pipeline.Stopped(err)
	}
	return nil
}

// errNoLocation refuses a --locations that names nothing.
var errNoLocation = errors.New("names no location: use all, ID,ID or @FILE")

// openFolder is OUT as the run keeps its manifests: the bucket prefix with
// an object storage URL, else the folder.
func openFolder(ctx context.Context, cfg Config) (folder, func(), error) {
	if cfg.URL == "" {
		return localFolder(cfg.Out), func() {}, nil
	}
	b, err := objstore.Open(ctx, cfg.URL)
	if err != nil {
		return nil, nil, err
	}
	return bucketFolder{b}, func() { b.Close() }, nil
}
