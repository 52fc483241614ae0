package pipeline

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"iter"
	"slices"
	"strconv"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// Columns the rejects file adds after the source columns (CONTRACT.md).
var rejectColumns = []string{"_row", "_file", "_reason"}

// WriteRejects writes the rejects file at path: the source columns as read,
// then _row, _file and _reason. With several input files of different
// headers the columns are their union, in order of first appearance, and
// each row fills the columns its file has.
//
// The file is written aside and renamed into place, so a reader (or a kill)
// sees the old file or the new one, whole, never half a line; its mode is
// 0666 less the umask (internal/fsx's rule). It is always
// written, with just the header when nothing was rejected, so that a stale
// file from an earlier run never survives. n is the number of rejects.
func WriteRejects(path string, headers [][]string, rejects iter.Seq2[RejectRecord, error]) (n int, err error) {
	cols, index := unionColumns(headers)
	f, err := fsx.Create(path)
	if err != nil {
		return 0, fmt.Errorf("rejects %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Abort()
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	w := csv.NewWriter(bw)
	if err := w.Write(append(append([]string{}, cols...), rejectColumns...)); err != nil {
		return 0, fmt.Errorf("rejects %s: %w", path, err)
	}
	rec := make([]string, len(cols)+len(rejectColumns))
	for r, rerr := range rejects {
		if rerr != nil {
			return n, fmt.Errorf("rejects %s: %w", path, rerr)
		}
		clear(rec)
		fill(rec, r, index)
		base := len(cols)
		rec[base] = strconv.FormatInt(r.Row, 10)
		rec[base+1] = r.File
		rec[base+2] = r.Reason
		if err := w.Write(rec); err != nil {
			return n, fmt.Errorf("rejects %s: %w", path, err)
		}
		n++
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return n, fmt.Errorf("rejects %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("rejects %s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return n, fmt.Errorf("rejects %s: %w", path, err)
	}
	return n, nil
}

// unionColumns merges headers. index maps a column name to its position in
// the union; when there is a single header its positions are kept as they
// are (duplicate names included).
func unionColumns(headers [][]string) ([]string, map[string]int) {
	var distinct [][]string
	for _, h := range headers {
		dup := false
		for _, d := range distinct {
			if slices.Equal(d, h) {
				dup = true
				break
			}
		}
		if !dup {
			distinct = append(distinct, h)
		}
	}
	if len(distinct) <= 1 {
		if len(distinct) == 0 {
			return nil, nil
		}
		return distinct[0], nil
	}
	var cols []string
	index := make(map[string]int)
	for _, h := range distinct {
		for _, c := range h {
			if _, ok := index[c]; !ok {
				index[c] = len(cols)
				cols = append(cols, c)
			}
		}
	}
	return cols, index
}

// fill places a reject's raw values in rec (the union's columns).
func fill(rec []string, r RejectRecord, index map[string]int) {
	if index == nil {
		// one header: positions are the same
		n := min(len(r.Raw), len(rec)-len(rejectColumns))
		copy(rec, r.Raw[:n])
		return
	}
	for i, v := range r.Raw {
		if i >= len(r.Header) {
			break
		}
		if j, ok := index[r.Header[i]]; ok && rec[j] == "" {
			rec[j] = v
		}
	}
}

// WriteRejectsFile regenerates the rejects file from the state: every
// reject of the bound inputs, from this run and the runs it resumed.
func (s *Store) WriteRejectsFile(ctx context.Context, path string) (int, error) {
	headers, err := s.Headers(ctx)
	if err != nil {
		return 0, err
	}
	return WriteRejects(path, headers, s.Rejects(ctx))
}

// sliceRejects yields rejects held in memory.
func sliceRejects(rs []RejectRecord) iter.Seq2[RejectRecord, error] {
	return func(yield func(RejectRecord, error) bool) {
		for _, r := range rs {
			if !yield(r, nil) {
				return
			}
		}
	}
}
