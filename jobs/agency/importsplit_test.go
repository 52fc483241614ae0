package agency

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sources"
)

func TestUnreachable(t *testing.T) {
	reach := map[string]bool{"loc1": true, "a/b": true, "a.b": true, "a b": true, "a=b": true, `a\b`: true}
	for _, c := range []struct {
		name, loc string
		want      string // a part of the reason; "" = reachable
	}{
		{"reachable", "loc1", ""},
		{"blank", "", "column Location is blank"},
		{"not installed", "nope", `location "nope" (column Location) is not one this login reaches`},
		{"case matters", "LOC1", "is not one this login reaches"},
		// A location id names the part's and the state's files: one that
		// could leave the folder is never taken, even if listed.
		{"slash", "a/b", "is not one this login reaches"},
		{"backslash", `a\b`, "is not one this login reaches"},
		{"dot", "a.b", "is not one this login reaches"},
		{"space", "a b", "is not one this login reaches"},
		{"equals", "a=b", "is not one this login reaches"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := unreachable("Location", c.loc, reach)
			if (got == "") != (c.want == "") || !strings.Contains(got, c.want) {
				t.Errorf("unreachable(%q) = %q, want %q", c.loc, got, c.want)
			}
		})
	}
}

// splitRow is a row as the split left it: in a location's part, or
// rejected.
type splitRow struct {
	file int
	row  int64
	name string // the row's Name column, to tell rows apart
}

func TestSplitRoutesRows(t *testing.T) {
	reach := map[string]bool{"L1": true, "L2": true, "L3": true}
	for _, c := range []struct {
		name     string
		files    []string // CSV texts, each with a Loc column
		order    []string
		parts    map[string][]splitRow
		rejected []splitRow
	}{
		{
			name:  "one file",
			files: []string{"Loc,Name\nL1,a\nL2,b\nL1,c\n"},
			order: []string{"L1", "L2"},
			parts: map[string][]splitRow{"L1": {{0, 1, "a"}, {0, 3, "c"}}, "L2": {{0, 2, "b"}}},
		},
		{
			name:     "blank and unreachable rows rejected, their numbers kept",
			files:    []string{"Loc,Name\n,a\nL2,b\nnope,c\n  ,d\nL2,e\nL9,f\n"},
			order:    []string{"L2"},
			parts:    map[string][]splitRow{"L2": {{0, 2, "b"}, {0, 5, "e"}}},
			rejected: []splitRow{{0, 1, "a"}, {0, 3, "c"}, {0, 4, "d"}, {0, 6, "f"}},
		},
		{
			name:  "the column's value trimmed",
			files: []string{"Loc,Name\n L3 ,a\nL3\t,b\n"},
			order: []string{"L3"},
			parts: map[string][]splitRow{"L3": {{0, 1, "a"}, {0, 2, "b"}}},
		},
		{
			name: "two files: one part a location and file, numbered by their own file",
			files: []string{"Loc,Name\nL2,a\nL1,b\n",
				"Name,Loc\nc,L1\nd,nope\ne,L3\nf,L1\n"},
			order:    []string{"L2", "L1", "L3"},
			parts:    map[string][]splitRow{"L1": {{0, 2, "b"}, {1, 1, "c"}, {1, 4, "f"}}, "L2": {{0, 1, "a"}}, "L3": {{1, 3, "e"}}},
			rejected: []splitRow{{1, 2, "d"}},
		},
		{
			name:     "every row rejected: no location",
			files:    []string{"Loc,Name\nx,a\n,b\n"},
			rejected: []splitRow{{0, 1, "a"}, {0, 2, "b"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp, files := splitOf(t, reach, c.files...)
			if !slices.Equal(sp.order, c.order) {
				t.Errorf("order %v, want %v", sp.order, c.order)
			}
			for _, loc := range sp.order {
				if got := partRows(t, sp, loc); !slices.Equal(got, c.parts[loc]) {
					t.Errorf("location %s: rows %v, want %v", loc, got, c.parts[loc])
				}
			}
			var got []splitRow
			for _, r := range sp.rejects {
				i := slices.Index(files, r.File)
				got = append(got, splitRow{i, r.Row, r.Raw[slices.Index(r.Header, "Name")]})
				if !strings.Contains(r.Reason, "column Loc") {
					t.Errorf("reject %v: reason %q does not name the column", r, r.Reason)
				}
			}
			if !slices.Equal(got, c.rejected) {
				t.Errorf("rejected %v, want %v", got, c.rejected)
			}
		})
	}
}

func TestSplitRefusesAFileWithoutTheColumn(t *testing.T) {
	dir := t.TempDir()
	in := writeCSV(t, dir, "a.csv", "Location,Name\nL1,a\n")
	sp := newSplit(t.TempDir(), "Loc", []string{in}, map[string]bool{"L1": true})
	err := sp.read(context.Background(), openCSV)
	if pipeline.ExitCode(err) != pipeline.ExitRefused || !strings.Contains(err.Error(), `--location-column "Loc": `+in+" has no such column (its columns: Location, Name)") {
		t.Errorf("err = %v, want a refusal naming the file and its columns", err)
	}
}

// TestLocationRejectsOriginalRows: a location's import names its rejects
// by its part's file and row; the run's rejects file names them by the
// input file and row the user knows, in input order, with the split's.
func TestLocationRejectsOriginalRows(t *testing.T) {
	reach := map[string]bool{"L1": true, "L2": true}
	sp, files := splitOf(t, reach, "Loc,Name\nL1,a\nnope,b\nL2,c\nL1,d\n", "Loc,Name\nL2,e\nL1,f\n")
	// L1's parts: file 0 rows 1 and 4 (part rows 1, 2), file 1 row 2 (part row 1).
	writeLocationRejects(t, sp, "L1", [][2]any{{sp.parts["L1"][1].path, 1}, {sp.parts["L1"][0].path, 2}})
	// L2's: file 0 row 3 (part row 1); its state names an earlier run's folder.
	writeLocationRejects(t, sp, "L2", [][2]any{{filepath.Join("/old/.split-1", filepath.Base(sp.parts["L2"][0].path)), 1}})
	got, err := sp.allRejects()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{files[0] + ":2:b", files[0] + ":3:c", files[0] + ":4:d", files[1] + ":2:f"}
	var names []string
	for _, r := range got {
		names = append(names, fmt.Sprintf("%s:%d:%s", r.File, r.Row, r.Raw[1]))
	}
	if !slices.Equal(names, want) {
		t.Errorf("rejects %v, want %v", names, want)
	}

	writeLocationRejects(t, sp, "L2", [][2]any{{sp.parts["L2"][0].path, 2}})
	if _, err := sp.allRejects(); err == nil || !strings.Contains(err.Error(), "none of its parts'") {
		t.Errorf("a reject past its part's rows: err = %v", err)
	}
}

func openCSV(path string) (record.Source, error) {
	return sources.OpenCSV(path, sources.CSVOptions{BatchSize: 2}) // batches of 2: rows numbered across batches
}

func writeCSV(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// splitOf splits the CSV texts, as input files, by their Loc column.
func splitOf(t *testing.T, reach map[string]bool, texts ...string) (*split, []string) {
	t.Helper()
	in := t.TempDir()
	var files []string
	for i, text := range texts {
		files = append(files, writeCSV(t, in, fmt.Sprintf("in%d.csv", i), text))
	}
	sp := newSplit(t.TempDir(), "Loc", files, reach)
	if err := sp.read(context.Background(), openCSV); err != nil {
		t.Fatal(err)
	}
	return sp, files
}

// partRows reads loc's parts back: each row with its original file and
// number, checking that the part has its input file's header.
func partRows(t *testing.T, sp *split, loc string) []splitRow {
	t.Helper()
	var out []splitRow
	for _, p := range sp.parts[loc] {
		recs := readCSV(t, p.path)
		if !slices.Equal(recs[0], sp.headers[p.file]) {
			t.Errorf("part %s: header %v, want %v", p.path, recs[0], sp.headers[p.file])
		}
		if len(recs)-1 != len(p.rows) {
			t.Fatalf("part %s: %d rows, %d row numbers", p.path, len(recs)-1, len(p.rows))
		}
		name := slices.Index(recs[0], "Name")
		for i, rec := range recs[1:] {
			out = append(out, splitRow{p.file, p.rows[i], rec[name]})
		}
	}
	return out
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// writeLocationRejects writes loc's rejects file as its import would: the
// part's row, by part file and row number.
func writeLocationRejects(t *testing.T, sp *split, loc string, rows [][2]any) {
	t.Helper()
	var rs []pipeline.RejectRecord
	for _, r := range rows {
		path, n := r[0].(string), r[1].(int)
		var p *splitPart
		for _, q := range sp.parts[loc] {
			if filepath.Base(q.path) == filepath.Base(path) {
				p = q
			}
		}
		raw := []string{loc, "?"}
		if n <= len(p.rows) {
			raw = readCSV(t, p.path)[n]
		}
		rs = append(rs, pipeline.RejectRecord{File: path, Row: int64(n), Raw: raw, Header: []string{"Loc", "Name"}, Reason: "bad email"})
	}
	if _, err := pipeline.WriteRejects(sp.rejectsPath(loc), [][]string{{"Loc", "Name"}}, seqOf(rs)); err != nil {
		t.Fatal(err)
	}
}
