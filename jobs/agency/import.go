package agency

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/internal/fanout"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// An agency import (import --location-column COL, issue 17) reads the
// input once and splits it by the column's value into one CSV a location
// and input file (importsplit.go), in a private folder inside the state
// folder that is removed at the end. Each location's part is then an
// ordinary contacts import (the caller's ImportFunc, the plain import's
// own) with its own session (its Location token, so its own pacer and
// daily quota), conflict screen and state (STATEDIR/<id>.state). The
// parts are byte for byte the same on a re-run, so each location's state
// sees the same input and a finished run sends nothing. Rows naming a
// location the login cannot reach are rejected; the one rejects file
// names every rejected row by its original file and number.

// ImportPart is one location's import, as ImportConfig.Import receives it.
type ImportPart struct {
	ID      string
	Files   []string     // the location's parts of the input: one CSV an input file with rows for it, in input order
	State   string       // its state file, STATEDIR/<id>.state
	Rejects string       // its own rejects file, read back into the run's one
	Workers int          // its share of the worker budget
	Auth    auth.Options // the Company login's, with the location to mint its token for
	Logger  *slog.Logger // the run's logger, with location=<id>
}

// ImportFunc runs one location's contacts import of p.Files with its own
// session and state. Its error is the location's outcome
// (pipeline.ExitCode).
type ImportFunc func(ctx context.Context, p ImportPart) (pipeline.Report, error)

// ImportConfig is one agency import.
type ImportConfig struct {
	Files    []string                                 // the input files, as named
	Open     func(path string) (record.Source, error) // opens an input file (--delimiter, the input limits)
	Column   string                                   // --location-column: the column naming each row's location
	StateDir string                                   // --state: a folder, one state file a location
	Rejects  string                                   // the run's one rejects file
	Parallel int                                      // locations at once
	Workers  int                                      // the worker budget all running locations share
	Tokens   string                                   // --tokens FILE: location_id,ENV_VAR rows; "" = a Company login mints the tokens
	Auth     auth.Options                             // the Company login (or the base of each --tokens location's)
	Logger   *slog.Logger
	Import   ImportFunc
}

// ImportResult is what an agency import leaves for the summary and the
// report.
type ImportResult struct {
	Locations   []Location      // one a location the input names and the login reaches, in order of first appearance
	Unreachable int             // rows naming no reachable location (in the rejects file)
	Report      pipeline.Report // the locations' reports added up, the unreachable rows counted as read and rejected
}

// Import splits cfg's input by location and imports each location's part;
// it returns the result and the outcome: failed (1) over stopped (3)
// over done (0); refused (2) when every location was refused. With no
// location to import (every row rejected) the outcome is done.
func Import(ctx context.Context, cfg ImportConfig) (*ImportResult, error) {
	if cfg.Parallel < 1 || cfg.Parallel > 64 {
		return nil, pipeline.Refused(fmt.Errorf("--parallel-locations %d: must be between 1 and 64", cfg.Parallel))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	targets, err := reachable(ctx, cfg)
	if err != nil {
		return nil, err
	}
	reach := map[string]bool{}
	for id := range targets {
		reach[id] = true
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, pipeline.Refused(fmt.Errorf("--state %s: with --location-column it is a folder (one state file a location): %w", cfg.StateDir, err))
	}
	dir, err := os.MkdirTemp(cfg.StateDir, ".split-")
	if err != nil {
		return nil, pipeline.Refused(fmt.Errorf("--state %s: %w", cfg.StateDir, err))
	}
	defer os.RemoveAll(dir)
	started := time.Now()
	sp := newSplit(dir, cfg.Column, cfg.Files, reach)
	if err := sp.read(ctx, cfg.Open); err != nil {
		return nil, err
	}
	results := make([]Location, len(sp.order))
	workers := workersEach(cfg.Workers, cfg.Parallel, len(sp.order))
	_ = fanout.Each(ctx, cfg.Parallel, indexes(len(sp.order)), func(ctx context.Context, i int) error {
		results[i] = sp.importLocation(ctx, cfg, targets[sp.order[i]], workers)
		return nil
	})
	return sp.finish(ctx, cfg, results, started)
}

// reachable is the locations the login reaches, by id: the app's
// installed ones, or with --tokens the file's.
func reachable(ctx context.Context, cfg ImportConfig) (map[string]Target, error) {
	var ts []Target
	if cfg.Tokens != "" {
		rows, err := auth.ReadTokenFile(cfg.Tokens)
		if err != nil {
			return nil, pipeline.Refused(err)
		}
		if ts, err = tokenTargets("all", rows); err != nil {
			return nil, err
		}
	} else {
		ag, err := auth.OpenAgency(ctx, cfg.Auth)
		if err != nil {
			return nil, pipeline.Refused(err)
		}
		installed, err := ag.Installed(ctx)
		if err != nil {
			return nil, session.Refusal(err)
		}
		for _, l := range installed {
			ts = append(ts, Target{ID: l.ID, Name: l.Name})
		}
	}
	reach := make(map[string]Target, len(ts))
	for _, t := range ts {
		reach[t.ID] = t
	}
	return reach, nil
}

// importLocation is the contacts import of loc's parts, with its own
// session, state and rejects (merged by finish).
func (sp *split) importLocation(ctx context.Context, cfg ImportConfig, t Target, workers int) Location {
	loc := t.ID
	p := ImportPart{ID: loc, Files: sp.paths(loc), State: filepath.Join(cfg.StateDir, loc+".state"),
		Rejects: sp.rejectsPath(loc), Workers: workers, Logger: cfg.Logger.With("location", loc)}
	var rep pipeline.Report
	a, err := t.auth(cfg.Auth)
	if err != nil {
		err = pipeline.Refused(err) // this location alone: its token's variable is not set
	} else {
		p.Auth = a
		rep, err = cfg.Import(ctx, p)
	}
	res := Location{LocationID: loc, Report: rep, Requests: rep.Requests, ExitCode: pipeline.ExitCode(err)}
	res.Status = StatusOf(res.ExitCode)
	if err != nil {
		res.Error = err.Error()
		cfg.Logger.Error("location not finished", "location", loc, "status", res.Status, "err", err)
	}
	return res
}

// finish writes the one rejects file and adds the locations' reports up.
func (sp *split) finish(ctx context.Context, cfg ImportConfig, results []Location, started time.Time) (*ImportResult, error) {
	rejects, err := sp.allRejects()
	if err != nil {
		return nil, err
	}
	if _, err := pipeline.WriteRejects(cfg.Rejects, sp.headers, seqOf(rejects)); err != nil {
		return nil, err
	}
	res := &ImportResult{Locations: results, Unreachable: len(sp.rejects)}
	reps := make([]pipeline.Report, 0, len(results))
	for _, l := range results {
		reps = append(reps, l.Report)
	}
	// The locations' rows are disjoint: their counts add up; the time is
	// the whole run's, the locations having run side by side.
	res.Report = pipeline.SumReports(reps...)
	res.Report.RowsRead += int64(len(sp.rejects))
	res.Report.Rejected += int64(len(sp.rejects))
	res.Report.ElapsedS, res.Report.RejectsFile = time.Since(started).Seconds(), cfg.Rejects
	if len(results) == 0 {
		return res, nil // every row is in the rejects file
	}
	worst, refusedAll := WorstOutcome(results)
	return res, Outcome(ctx, Manifest{Locations: results}, worst, refusedAll)
}
