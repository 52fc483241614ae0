package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/internal/fanout"
	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/jobs/export"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// An agency export (export --locations) runs the one-location export once
// per location, each with its own session (its Location token, its own
// pacer and so its own rate limit and daily quota), its own state and its
// own folder OUT/location_id=<id>/, so that
// read_parquet('OUT/*/contacts.parquet', hive_partitioning=true) reads
// them as one table. OUT/manifest.json, written last, lists every
// location's status, counts and cursor. One location's failure never stops
// the others.

// Statuses of a location in the agency manifest.
const (
	locDone    = "done"
	locFailed  = "failed"
	locRefused = "refused"
	locStopped = "stopped"
)

// agencyManifest is OUT/manifest.json of an agency export.
type agencyManifest struct {
	SchemaVersion int              `json:"schema_version"`
	Kind          string           `json:"kind"`   // "agency"
	Status        string           `json:"status"` // complete: every location done; else incomplete
	StartedAt     time.Time        `json:"started_at"`
	FinishedAt    time.Time        `json:"finished_at"`
	Locations     []agencyLocation `json:"locations"`
}

type agencyLocation struct {
	LocationID  string           `json:"location_id"`
	Name        string           `json:"name,omitempty"`
	Path        string           `json:"path"`   // the location's folder, relative to OUT
	Status      string           `json:"status"` // done, failed, refused, stopped
	ExitCode    int              `json:"exit_code"`
	Error       string           `json:"error,omitempty"`
	RowsWritten map[string]int64 `json:"rows_written,omitempty"`
	Requests    int64            `json:"requests"`
	Cursor      json.RawMessage  `json:"cursor,omitempty"` // the location's manifest's cursor
	FinishedAt  time.Time        `json:"finished_at"`

	report pipeline.Report
}

const agencyKind = "agency"

func locationDir(id string) string { return "location_id=" + id }

func runAgencyExport(ctx context.Context, o exportOptions, since time.Time) error {
	f := o.f
	if o.parallel < 1 || o.parallel > 64 {
		return refused(fmt.Errorf("--parallel-locations %d: must be between 1 and 64", o.parallel))
	}
	if o.layout == export.LayoutRun {
		return refused(errors.New("--locations and --layout run: use one (each location's folder keeps its own files)"))
	}
	prev, err := checkAgencyOut(o.out)
	if err != nil {
		return refused(err)
	}
	ao := f.authOptions()
	a, err := auth.OpenAgency(ctx, ao)
	if err != nil {
		return refused(err)
	}
	targets, err := resolveLocations(ctx, a, o.locations)
	if err != nil {
		return session.Refusal(err)
	}
	run := agencyRun{o: o, since: since, started: time.Now().UTC(), done: prev.doneSet()}
	run.results = make([]agencyLocation, len(targets))
	// Every location shares one worker budget: --workers split among the
	// locations running at once, but two at least: the pacer holds one
	// token, so one request in flight loses the pace at every stall.
	run.workers = max(2, o.workers/min(o.parallel, len(targets)))
	_ = fanout.Each(ctx, o.parallel, indexes(len(targets)), func(ctx context.Context, i int) error {
		run.results[i] = run.location(ctx, targets[i])
		return nil
	})
	return run.finish(ctx)
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// agencyRun is one agency export.
type agencyRun struct {
	o       exportOptions
	since   time.Time
	started time.Time
	workers int
	done    map[string]agencyLocation // finished by the previous, unfinished run: not redone
	results []agencyLocation
	mu      sync.Mutex // serialises what the locations log
}

// location exports one location, or keeps its earlier result when the
// previous run (left incomplete) had finished it.
func (r *agencyRun) location(ctx context.Context, t agencyTarget) agencyLocation {
	if d, ok := r.done[t.ID]; ok {
		return d
	}
	res := agencyLocation{LocationID: t.ID, Name: t.Name, Path: locationDir(t.ID)}
	rep, err := r.exportLocation(ctx, t.ID)
	res.report, res.RowsWritten, res.Requests = rep, rep.RowsWritten, rep.Requests
	res.ExitCode = pipeline.ExitCode(err)
	res.Status = map[int]string{0: locDone, 1: locFailed, 2: locRefused, 3: locStopped}[res.ExitCode]
	if err != nil {
		res.Error = err.Error()
		r.mu.Lock()
		r.o.f.logger().Error("location not finished", "location", t.ID, "status", res.Status, "err", err)
		r.mu.Unlock()
	}
	res.Cursor = readCursor(filepath.Join(r.o.out, res.Path, "manifest.json"))
	res.FinishedAt = time.Now().UTC()
	return res
}

// exportLocation is the one-location export of id into its folder, with
// its own session, state and counters.
func (r *agencyRun) exportLocation(ctx context.Context, id string) (pipeline.Report, error) {
	lo := r.o
	lo.out = filepath.Join(r.o.out, locationDir(id))
	lo.state = filepath.Join(lo.out, ".ghlbulk.state")
	if r.o.state != "" { // --state names a folder: one state file a location
		lo.state = filepath.Join(r.o.state, id+".state")
	}
	lo.workers, lo.report, lo.locations = r.workers, "", ""
	lo.plan.noPlan = true // parallel plans would interleave on stdout
	if err := os.MkdirAll(filepath.Dir(lo.state), 0o755); err != nil {
		return pipeline.Report{}, refused(fmt.Errorf("--state: %w", err))
	}
	if err := export.CheckOutDir(lo.config(r.since), lo.state); err != nil {
		return pipeline.Report{}, refused(err)
	}
	so := lo.plan.sessionOptions(auth.ScopeContactsRead)
	so.Auth = r.o.f.authOptions()
	so.Auth.AgencyLocation, so.Location, so.Logger = id, id, r.o.f.logger().With("location", id)
	sess, err := session.Open(ctx, so)
	if err != nil {
		return pipeline.Report{}, err
	}
	rep, runErr, err := lo.exportWith(ctx, sess, r.since, false)
	if err != nil {
		return rep, err
	}
	var oe *export.OutDirError
	if errors.As(runErr, &oe) {
		return rep, refused(runErr)
	}
	return rep, runErr
}

// finish writes OUT/manifest.json, the summary and the report, and turns
// the locations' outcomes into the run's: failed (1) over stopped (3) over
// done (0); refused (2) only when every location was refused.
func (r *agencyRun) finish(ctx context.Context) error {
	f := r.o.f
	m := agencyManifest{SchemaVersion: 1, Kind: agencyKind, Status: "complete", StartedAt: r.started, Locations: r.results}
	worst, refusedAll := worstOutcome(r.results)
	var reps []pipeline.Report
	for _, l := range r.results {
		if l.Status != locDone {
			m.Status = "incomplete"
		}
		reps = append(reps, l.report)
	}
	m.FinishedAt = time.Now().UTC()
	if err := writeAgencyManifest(r.o.out, m); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(r.o.out, "manifest.json"), err)
	}
	rep := plan.MergeReports(reps...)
	if !f.opts.quiet {
		printAgencySummary(f.summaryOut(r.o.report), r.o.out, m)
	}
	if err := f.writeReport(r.o.report, rep); err != nil {
		f.logger().Error("writing the report", "err", err)
	}
	r.o.notify.done(rep, "")
	return agencyOutcome(ctx, m, worst, refusedAll)
}

// worstOutcome is the locations' worst exit code: failed (a refused
// location counts as failed) over stopped over done; refusedAll tells
// that every location was refused.
func worstOutcome(results []agencyLocation) (worst int, refusedAll bool) {
	refusedAll = true
	for _, l := range results {
		refusedAll = refusedAll && l.Status == locRefused
		switch {
		case l.ExitCode == exitFailed || l.ExitCode == exitRefused:
			worst = exitFailed
		case l.ExitCode == exitStopped && worst == 0:
			worst = exitStopped
		}
	}
	return worst, refusedAll
}

func agencyOutcome(ctx context.Context, m agencyManifest, worst int, refusedAll bool) error {
	var bad []string
	for _, l := range m.Locations {
		if l.Status != locDone {
			bad = append(bad, l.LocationID+" "+l.Status)
		}
	}
	err := fmt.Errorf("%d of %d locations not done (%s): run the same command again to finish them", len(bad), len(m.Locations), strings.Join(bad, ", "))
	switch {
	case refusedAll:
		return refused(fmt.Errorf("every location was refused: %s", m.Locations[0].Error))
	case worst == exitFailed:
		return err
	case worst == exitStopped:
		if ctx.Err() != nil {
			return pipeline.Stopped(ctx.Err())
		}
		return pipeline.Stopped(err)
	}
	return nil
}

func printAgencySummary(w io.Writer, out string, m agencyManifest) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "export of %d locations into %s (%s)\n", len(m.Locations), out, m.Status)
	fmt.Fprintf(tw, "  location\tstatus\tcontacts\trequests\terror\n")
	for _, l := range m.Locations {
		e := l.Error
		if len(e) > 120 {
			e = e[:120] + "…"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", l.LocationID, l.Status, l.RowsWritten["contacts"], l.Requests, e)
	}
	tw.Flush()
}

// readCursor is the cursor of a location's manifest, if it has one.
func readCursor(path string) json.RawMessage {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var m struct {
		Cursor json.RawMessage `json:"cursor"`
	}
	if json.Unmarshal(b, &m) != nil || len(m.Cursor) == 0 || string(m.Cursor) == "null" {
		return nil
	}
	return m.Cursor
}

func writeAgencyManifest(out string, m agencyManifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return fsx.WriteFile(filepath.Join(out, "manifest.json"), append(b, '\n'))
}

// checkAgencyOut refuses an OUT that holds anything but an agency
// export's (its manifest and location_id=<id> folders), and returns the
// earlier agency manifest, if any.
func checkAgencyOut(out string) (*agencyManifest, error) {
	ents, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil, os.MkdirAll(out, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	var prev *agencyManifest
	for _, e := range ents {
		switch name := e.Name(); {
		case e.IsDir() && strings.HasPrefix(name, "location_id="), strings.HasPrefix(name, "."):
		case name == "manifest.json":
			b, err := os.ReadFile(filepath.Join(out, name))
			var m agencyManifest
			if err != nil || json.Unmarshal(b, &m) != nil || m.Kind != agencyKind {
				return nil, fmt.Errorf("--out %s: its manifest.json is not an agency export's (a one-location export is there?); nothing was written: choose an empty or new folder for --locations", out)
			}
			prev = &m
		default:
			return nil, fmt.Errorf("--out %s: the folder holds %s, which no agency export wrote; nothing was written: choose an empty or new folder, or the folder of an earlier export --locations", out, name)
		}
	}
	return prev, nil
}

// doneSet is the locations an unfinished earlier run finished: a re-run
// redoes only the rest. After a complete run, a new run redoes them all.
func (m *agencyManifest) doneSet() map[string]agencyLocation {
	done := map[string]agencyLocation{}
	if m == nil || m.Status == "complete" {
		return done
	}
	for _, l := range m.Locations {
		if l.Status == locDone {
			done[l.LocationID] = l
		}
	}
	return done
}
