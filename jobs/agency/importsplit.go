package agency

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

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// The split of an agency import's input: every input file is read once
// and each row written, as read, to its location's part (one CSV a
// location and input file) in a private folder, or to the rejects when
// its location is blank or not one the login reaches. Every part
// remembers its rows' original numbers, so a location's rejects read
// back name each row as the user knows it (file and row).

// splitPart is the rows of one input file bound for one location.
type splitPart struct {
	file int     // index of the input file
	path string  // the part's CSV
	rows []int64 // original row number of each of its data rows
	w    *csv.Writer
	bw   *bufio.Writer
	fh   *os.File
}

// split is the input split by location.
type split struct {
	dir     string                  // the private folder of the parts
	column  string                  // --location-column
	reach   map[string]bool         // the locations the login reaches
	files   []string                // the input files, as named
	parts   map[string][]*splitPart // by location, in input-file order
	order   []string                // locations in order of first appearance
	rejects []pipeline.RejectRecord // rows naming no reachable location
	headers [][]string              // each input file's
}

func newSplit(dir, column string, files []string, reach map[string]bool) *split {
	return &split{dir: dir, column: column, reach: reach, files: files, parts: map[string][]*splitPart{}}
}

// read splits every input file, opened with open, and closes the parts,
// also when a file fails midway: an open part would keep its folder from
// being removed where open files cannot be (Windows).
func (sp *split) read(ctx context.Context, open func(path string) (record.Source, error)) (err error) {
	defer func() {
		if cerr := sp.close(); err == nil {
			err = cerr
		}
	}()
	for i, file := range sp.files {
		src, err := open(file)
		if err != nil {
			return pipeline.Refused(err)
		}
		err = sp.readFile(ctx, i, src)
		src.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// close flushes and closes every part.
func (sp *split) close() error {
	var errs []error
	for _, loc := range sp.order {
		for _, p := range sp.parts[loc] {
			p.w.Flush()
			errs = append(errs, p.w.Error(), p.bw.Flush(), p.fh.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("splitting the input by location: %w", err)
	}
	return nil
}

// readFile splits input file i, read from src.
func (sp *split) readFile(ctx context.Context, i int, src record.Source) error {
	header := src.Header()
	sp.headers = append(sp.headers, header)
	col := slices.Index(header, sp.column)
	if col < 0 {
		return pipeline.Refused(fmt.Errorf("--location-column %q: %s has no such column (its columns: %s)", sp.column, sp.files[i], strings.Join(header, ", ")))
	}
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return pipeline.Refused(err)
		}
		err = sp.batch(i, header, col, b.Record, b.FirstRow)
		b.Record.Release()
		if err != nil {
			return err
		}
	}
}

func (sp *split) batch(i int, header []string, col int, rec arrow.Record, first int64) error {
	for r := 0; r < int(rec.NumRows()); r++ {
		vals := make([]string, len(header))
		for c := range vals {
			vals[c] = cellText(rec.Column(c), r)
		}
		if err := sp.add(i, header, vals, strings.TrimSpace(vals[col]), first+int64(r)); err != nil {
			return err
		}
	}
	return nil
}

// add sends row (its values vals, its location loc) of input file i to
// loc's part, or to the rejects.
func (sp *split) add(i int, header, vals []string, loc string, row int64) error {
	if reason := unreachable(sp.column, loc, sp.reach); reason != "" {
		sp.rejects = append(sp.rejects, pipeline.RejectRecord{File: sp.files[i], Row: row, Raw: vals, Header: header, Reason: reason})
		return nil
	}
	p, err := sp.part(loc, i, header)
	if err != nil {
		return err
	}
	if err := p.w.Write(vals); err != nil {
		return fmt.Errorf("splitting the input by location: %w", err)
	}
	p.rows = append(p.rows, row)
	return nil
}

// unreachable is why a row naming loc cannot be imported; "" when it can.
// An id that could leave the folder as a file name is never one.
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
func (sp *split) part(loc string, i int, header []string) (*splitPart, error) {
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

// paths is loc's parts, the files of its import, in input order.
func (sp *split) paths(loc string) []string {
	var out []string
	for _, p := range sp.parts[loc] {
		out = append(out, p.path)
	}
	return out
}

// rejectsPath is the rejects file of loc's own import.
func (sp *split) rejectsPath(loc string) string {
	return filepath.Join(sp.dir, loc+".rejects.csv")
}

// allRejects is the run's rejects: the split's and every location's,
// each named by its original file and row, in input order.
func (sp *split) allRejects() ([]pipeline.RejectRecord, error) {
	rejects := slices.Clone(sp.rejects)
	for _, loc := range sp.order {
		rs, err := sp.locationRejects(loc)
		if err != nil {
			return nil, err
		}
		rejects = append(rejects, rs...)
	}
	index := map[string]int{}
	for i, file := range sp.files {
		index[file] = i
	}
	slices.SortStableFunc(rejects, func(a, b pipeline.RejectRecord) int {
		return cmp.Or(cmp.Compare(index[a.File], index[b.File]), cmp.Compare(a.Row, b.Row))
	})
	return rejects, nil
}

// locationRejects reads loc's rejects file back, naming each row by its
// original file and number.
func (sp *split) locationRejects(loc string) ([]pipeline.RejectRecord, error) {
	fh, err := os.Open(sp.rejectsPath(loc))
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
		out = append(out, pipeline.RejectRecord{File: sp.files[p.file], Row: p.rows[row-1], Raw: rec[:n], Header: recs[0][:n], Reason: rec[n+2]})
	}
	return out, nil
}

func seqOf(rs []pipeline.RejectRecord) iter.Seq2[pipeline.RejectRecord, error] {
	return func(yield func(pipeline.RejectRecord, error) bool) {
		for _, r := range rs {
			if !yield(r, nil) {
				return
			}
		}
	}
}
