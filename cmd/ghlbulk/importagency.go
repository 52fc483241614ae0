package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/internal/fanout"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/transform"
)

// An agency import (import --location-column COL, issue 17) reads the
// input once and splits it by the column's value into one CSV a location
// and input file, in a private folder inside --state that is removed at
// the end. Each location's part is then an ordinary contacts import with
// its own session (its Location token, so its own pacer and daily quota),
// conflict screen and state (DIR/<id>.state). The parts are byte for byte
// the same on a re-run, so each location's state sees the same input and
// a finished run sends nothing. Rows naming a location the login cannot
// reach are rejected; every part remembers its rows' original file and
// number, so the one rejects file names them as the user knows them.

// splitPart is the rows of one input file bound for one location.
type splitPart struct {
	file int     // index of the input file
	path string  // the part's CSV
	rows []int64 // original row number of each of its data rows
	w    *csv.Writer
	bw   *bufio.Writer
	fh   *os.File
}

// splitInput is the input split by location.
type splitInput struct {
	dir     string
	parts   map[string][]*splitPart // by location, in input-file order
	order   []string                // locations in order of first appearance
	rejects []pipeline.RejectRecord // rows naming no reachable location
	headers [][]string              // each input file's
	files   []string                // the input files, as named
	started time.Time
}

func runAgencyImport(ctx context.Context, o importOptions) error {
	if err := o.checkAgencyImport(); err != nil {
		return refused(err)
	}
	a, err := auth.OpenAgency(ctx, o.f.authOptions())
	if err != nil {
		return refused(err)
	}
	installed, err := a.Installed(ctx)
	if err != nil {
		return session.Refusal(err)
	}
	reach := map[string]bool{}
	for _, l := range installed {
		reach[l.ID] = true
	}
	if err := os.MkdirAll(o.state, 0o755); err != nil {
		return refused(fmt.Errorf("--state %s: with --location-column it is a folder (one state file a location): %w", o.state, err))
	}
	dir, err := os.MkdirTemp(o.state, ".split-")
	if err != nil {
		return refused(fmt.Errorf("--state %s: %w", o.state, err))
	}
	defer os.RemoveAll(dir)
	sp := &splitInput{dir: dir, parts: map[string][]*splitPart{}, files: o.files, started: time.Now()}
	if err := sp.split(ctx, &o, reach); err != nil {
		return err
	}
	results := make([]agencyLocation, len(sp.order))
	workers := max(1, o.workers/max(1, min(o.parallel, len(sp.order))))
	_ = fanout.Each(ctx, o.parallel, indexes(len(sp.order)), func(ctx context.Context, i int) error {
		results[i] = sp.importLocation(ctx, o, sp.order[i], workers)
		return nil
	})
	return sp.finish(ctx, o, results)
}

// checkAgencyImport checks the flags and files before anything is read.
func (o *importOptions) checkAgencyImport() error {
	if o.related() {
		return errors.New("--location-column imports contacts: it does not go with --kind notes|tasks")
	}
	if o.plan.idMap != "" {
		return errors.New("--location-column and --id-map: use one (each location would write its own map)")
	}
	if o.parallel < 1 || o.parallel > 64 {
		return fmt.Errorf("--parallel-locations %d: must be between 1 and 64", o.parallel)
	}
	if o.state == "" && len(o.files) > 0 {
		o.state = o.files[0] + ".states"
	}
	if err := o.validate(); err != nil {
		return err
	}
	if err := o.checkPaths(o.f); err != nil {
		return err
	}
	if err := o.checkContactsFlags(); err != nil {
		return err
	}
	_, err := transform.LoadMapping(o.mapping)
	return err
}

// split reads every input file once, writing each row to its location's
// part or to the rejects.
func (sp *splitInput) split(ctx context.Context, o *importOptions, reach map[string]bool) error {
	for i, file := range o.files {
		if err := sp.splitFile(ctx, o, i, file, reach); err != nil {
			return err
		}
	}
	for _, loc := range sp.order {
		for _, p := range sp.parts[loc] {
			p.w.Flush()
			err := errors.Join(p.w.Error(), p.bw.Flush(), p.fh.Close())
			if err != nil {
				return fmt.Errorf("splitting the input by location: %w", err)
			}
		}
	}
	return nil
}

func (sp *splitInput) splitFile(ctx context.Context, o *importOptions, i int, file string, reach map[string]bool) error {
	src, err := o.open(file)
	if err != nil {
		return refused(err)
	}
	defer src.Close()
	header := src.Header()
	sp.headers = append(sp.headers, header)
	col := slices.Index(header, o.locationColumn)
	if col < 0 {
		return refused(fmt.Errorf("--location-column %q: %s has no such column (its columns: %s)", o.locationColumn, file, strings.Join(header, ", ")))
	}
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return refused(err)
		}
		err = sp.splitBatch(o, i, header, col, b.Record, b.FirstRow, reach)
		b.Record.Release()
		if err != nil {
			return err
		}
	}
}

func (sp *splitInput) splitBatch(o *importOptions, i int, header []string, col int, rec arrow.Record, first int64, reach map[string]bool) error {
	for r := 0; r < int(rec.NumRows()); r++ {
		vals := make([]string, len(header))
		for c := range vals {
			vals[c] = cellText(rec.Column(c), r)
		}
		row := first + int64(r)
		loc := strings.TrimSpace(vals[col])
		if reason := unreachable(o.locationColumn, loc, reach); reason != "" {
			sp.rejects = append(sp.rejects, pipeline.RejectRecord{File: o.files[i], Row: row, Raw: vals, Header: header, Reason: reason})
			continue
		}
		p, err := sp.part(loc, i, header)
		if err != nil {
			return err
		}
		if err := p.w.Write(vals); err != nil {
			return fmt.Errorf("splitting the input by location: %w", err)
		}
		p.rows = append(p.rows, row)
	}
	return nil
}

// unreachable is why a row naming loc cannot be imported; "" when it can.
func unreachable(column, loc string, reach map[string]bool) string {
	switch {
	case loc == "":
		return fmt.Sprintf("column %s is blank: it must hold the id of the location to import the row into", column)
	case !reach[loc] || strings.ContainsAny(loc, `/\. =`):
		return fmt.Sprintf("location %q (column %s) is not one this login reaches: the app is not installed there or the id is wrong (ghlbulk locations lists them)", loc, column)
	}
	return ""
}

// part is the part of input file i for loc, created on its first row.
func (sp *splitInput) part(loc string, i int, header []string) (*splitPart, error) {
	ps := sp.parts[loc]
	if n := len(ps); n > 0 && ps[n-1].file == i {
		return ps[n-1], nil
	}
	if len(ps) == 0 {
		sp.order = append(sp.order, loc)
	}
	path := filepath.Join(sp.dir, fmt.Sprintf("%s-%d.csv", loc, i))
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("splitting the input by location: %w", err)
	}
	bw := bufio.NewWriterSize(fh, 1<<16)
	p := &splitPart{file: i, path: path, fh: fh, bw: bw, w: csv.NewWriter(bw)}
	sp.parts[loc] = append(ps, p)
	if err := p.w.Write(header); err != nil {
		return nil, fmt.Errorf("splitting the input by location: %w", err)
	}
	return p, nil
}

func cellText(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return ""
	}
	if s, ok := a.(*array.String); ok {
		return s.Value(i)
	}
	return a.ValueStr(i)
}

// importLocation is the contacts import of loc's parts, with its own
// session, state and rejects (merged by finish).
func (sp *splitInput) importLocation(ctx context.Context, o importOptions, loc string, workers int) agencyLocation {
	lo := o
	lo.files = nil
	for _, p := range sp.parts[loc] {
		lo.files = append(lo.files, p.path)
	}
	lo.state = filepath.Join(o.state, loc+".state")
	lo.rejects = filepath.Join(sp.dir, loc+".rejects.csv")
	lo.report, lo.locationColumn, lo.agencyLocation, lo.workers = "", "", loc, workers
	lo.plan.noPlan = true // parallel plans would interleave on stdout
	rep, _, runErr, err := importContacts(ctx, &lo)
	if err == nil {
		err = runErr
	}
	res := agencyLocation{LocationID: loc, Report: rep, Requests: rep.Requests, ExitCode: pipeline.ExitCode(err)}
	res.Status = map[int]string{0: locDone, 1: locFailed, 2: locRefused, 3: locStopped}[res.ExitCode]
	if err != nil {
		res.Error = err.Error()
		o.f.logger().Error("location not finished", "location", loc, "status", res.Status, "err", err)
	}
	return res
}

// openSession opens the run's session: for one location of an agency
// import, with that location's token minted from the Company one.
func (o *importOptions) openSession(ctx context.Context, so session.Options) (*session.Session, error) {
	if o.agencyLocation == "" {
		return o.f.session(ctx, so)
	}
	id := o.agencyLocation
	so.Auth = o.f.authOptions()
	so.Auth.AgencyLocation, so.Location, so.Logger = id, id, o.f.logger().With("location", id)
	return session.Open(ctx, so)
}

// finish writes the one rejects file, the summary and the report, and
// turns the locations' outcomes into the run's exit code.
func (sp *splitInput) finish(ctx context.Context, o importOptions, results []agencyLocation) error {
	f := o.f
	rejects := slices.Clone(sp.rejects)
	for _, loc := range sp.order {
		rs, err := sp.locationRejects(loc)
		if err != nil {
			return err
		}
		rejects = append(rejects, rs...)
	}
	index := map[string]int{}
	for i, file := range o.files {
		index[file] = i
	}
	slices.SortStableFunc(rejects, func(a, b pipeline.RejectRecord) int {
		return cmp.Or(cmp.Compare(index[a.File], index[b.File]), cmp.Compare(a.Row, b.Row))
	})
	if _, err := pipeline.WriteRejects(o.rejects, sp.headers, rejectsOf(rejects)); err != nil {
		return err
	}
	reps := make([]pipeline.Report, 0, len(results))
	for _, l := range results {
		reps = append(reps, l.Report)
	}
	// The locations' rows are disjoint: their counts add up; the time is
	// the whole run's, the locations having run side by side.
	rep := pipeline.SumReports(reps...)
	rep.RowsRead += int64(len(sp.rejects))
	rep.Rejected += int64(len(sp.rejects))
	rep.ElapsedS, rep.RejectsFile = time.Since(sp.started).Seconds(), o.rejects
	if !f.opts.quiet {
		sp.printSummary(f.summaryOut(o.report), o, results)
	}
	if err := f.writeReport(o.report, rep); err != nil {
		f.logger().Error("writing the report", "err", err)
	}
	o.notify.done(rep, o.rejects)
	if len(results) == 0 {
		return nil // every row is in the rejects file
	}
	worst, refusedAll := worstOutcome(results)
	return agencyOutcome(ctx, agencyManifest{Locations: results}, worst, refusedAll)
}

// locationRejects reads loc's rejects file back, naming each row by its
// original file and number.
func (sp *splitInput) locationRejects(loc string) ([]pipeline.RejectRecord, error) {
	path := filepath.Join(sp.dir, loc+".rejects.csv")
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // refused before its run
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	recs, err := csv.NewReader(bufio.NewReader(fh)).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("reading back %s's rejects: %w", loc, err)
	}
	n := len(recs[0]) - 3 // _row, _file, _reason
	byPath := map[string]*splitPart{}
	for _, p := range sp.parts[loc] {
		byPath[filepath.Base(p.path)] = p // a resumed state names an earlier run's folder
	}
	var out []pipeline.RejectRecord
	for _, rec := range recs[1:] {
		row, _ := strconv.ParseInt(rec[n], 10, 64)
		p := byPath[filepath.Base(rec[n+1])]
		if p == nil || row < 1 || int(row) > len(p.rows) {
			return nil, fmt.Errorf("reading back %s's rejects: row %s of %s is none of its parts'", loc, rec[n], rec[n+1])
		}
		out = append(out, pipeline.RejectRecord{File: sp.fileOf(p), Row: p.rows[row-1], Raw: rec[:n], Header: recs[0][:n], Reason: rec[n+2]})
	}
	return out, nil
}

func rejectsOf(rs []pipeline.RejectRecord) iter.Seq2[pipeline.RejectRecord, error] {
	return func(yield func(pipeline.RejectRecord, error) bool) {
		for _, r := range rs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (sp *splitInput) fileOf(p *splitPart) string { return sp.files[p.file] }

func (sp *splitInput) printSummary(w io.Writer, o importOptions, results []agencyLocation) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "import into %d locations by column %s\n", len(results), o.locationColumn)
	fmt.Fprintf(tw, "  location\tstatus\tcreated\tupdated\tunchanged\trejected\trequests\terror\n")
	for _, l := range results {
		e := l.Error
		if len(e) > 120 {
			e = e[:120] + "…"
		}
		r := l.Report
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", l.LocationID, l.Status, r.Created, r.Updated, r.Unchanged, r.Rejected, l.Requests, e)
	}
	fmt.Fprintf(tw, "  (no reachable location)\trejected\t\t\t\t%d\t\t\n", len(sp.rejects))
	fmt.Fprintf(tw, "rejects file\t%s\n", o.rejects)
	if !o.dryRun {
		fmt.Fprintf(tw, "state\t%s\n", o.state)
	}
	tw.Flush()
}
