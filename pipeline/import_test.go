package pipeline

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/ghlbulk/ghlbulk/record"
)

// memSource serves string rows as arrow batches of size n.
type memSource struct {
	file   string
	rows   []string
	n      int
	pos    int
	repeat bool // serve the first batch for ever (a looping source)
}

func (s *memSource) Header() []string { return []string{"email"} }
func (s *memSource) Close() error     { return nil }
func (s *memSource) Next(ctx context.Context) (record.Batch, error) {
	if err := ctx.Err(); err != nil {
		return record.Batch{}, err
	}
	if s.pos >= len(s.rows) {
		return record.Batch{}, io.EOF
	}
	end := min(s.pos+s.n, len(s.rows))
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(s.rows[s.pos:end], nil)
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "email", Type: arrow.BinaryTypes.String}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{col}, int64(end-s.pos))
	first := int64(s.pos + 1)
	if !s.repeat {
		s.pos = end
	}
	return record.Batch{Record: rec, File: s.file, FirstRow: first}, nil
}

// memTransform: "bad..." rows are rejected by the mapping; the hash is the
// value, so a changed value is a changed row.
func memTransform(rec arrow.Record, file string, first int64) []record.Row {
	col := rec.Column(0).(*array.String)
	out := make([]record.Row, rec.NumRows())
	for i := range out {
		v := col.Value(i)
		out[i] = record.Row{File: file, Row: first + int64(i), Raw: []string{v}, Hash: "h:" + v}
		key, _, _ := strings.Cut(v, "#")
		if strings.HasPrefix(v, "bad") {
			out[i].Err = fmt.Errorf("row %d: email %q: not an email", first+int64(i), v)
			continue
		}
		out[i].Key = "email:" + key
	}
	return out
}

// fakeSink records what it was asked to write and checks that one key is
// never written by two groups at once, and always in row order.
type fakeSink struct {
	mu       sync.Mutex
	ids      map[string]string
	writes   map[string]int
	inflight map[string]bool
	lastRow  map[string]int64
	total    int
	failAt   int   // fault on the failAt-th write (1-based); 0 = never
	fault    error // what to return
	onWrite  func(n int)
	t        *testing.T
}

func newFakeSink(t *testing.T) *fakeSink {
	return &fakeSink{ids: map[string]string{}, writes: map[string]int{}, inflight: map[string]bool{}, lastRow: map[string]int64{}, t: t}
}

func (s *fakeSink) Write(ctx context.Context, m record.Meter, it record.Item) (record.Outcome, error) {
	s.mu.Lock()
	s.total++
	n := s.total
	if s.failAt > 0 && n >= s.failAt {
		s.mu.Unlock()
		return record.Outcome{}, s.fault
	}
	k := it.Row.Key
	if s.inflight[k] {
		s.t.Errorf("key %s written by two groups at once", k)
	}
	if it.Row.Row <= s.lastRow[k] && it.Row.File == "a.csv" {
		s.t.Errorf("key %s: row %d after row %d", k, it.Row.Row, s.lastRow[k])
	}
	s.lastRow[k] = it.Row.Row
	s.inflight[k] = true
	s.writes[k]++
	id, ok := s.ids[k]
	if !ok {
		id = fmt.Sprintf("c%d", len(s.ids)+1)
		s.ids[k] = id
	}
	s.mu.Unlock()
	if s.onWrite != nil {
		s.onWrite(n)
	}
	m.Request()
	out := record.Outcome{ContactID: id}
	switch {
	case strings.HasSuffix(k, "@reject.io"):
		out.Status, out.Reason = record.StatusRejected, "422 Unprocessable Entity: no (POST /contacts/upsert)"
	case ok:
		out.Status = record.StatusUpdated
	default:
		out.Status = record.StatusCreated
	}
	s.mu.Lock()
	s.inflight[k] = false
	s.mu.Unlock()
	return out, nil
}

func genRows(n int) []string {
	rows := make([]string, n)
	for i := range rows {
		switch {
		case i%97 == 5:
			rows[i] = fmt.Sprintf("bad%d", i)
		case i%101 == 7:
			rows[i] = fmt.Sprintf("r%d@reject.io", i)
		case i%10 == 3:
			rows[i] = fmt.Sprintf("u%d@x.io#%d", i%20, i) // repeated keys, distinct content
		default:
			rows[i] = fmt.Sprintf("u%d@x.io", i)
		}
	}
	return rows
}

type importEnv struct {
	dir   string
	state string
	rows  []string
	file  string
}

func newImportEnv(t *testing.T, n int) *importEnv {
	dir := t.TempDir()
	e := &importEnv{dir: dir, state: filepath.Join(dir, "state.db"), rows: genRows(n), file: filepath.Join(dir, "a.csv")}
	os.WriteFile(e.file, []byte(strings.Join(e.rows, "\n")), 0o644)
	return e
}

func (e *importEnv) config(t *testing.T, sink Sink) (ImportConfig, *Store) {
	st, err := OpenStore(e.state, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ImportConfig{
		Files:       []string{e.file},
		Open:        func(string) (record.Source, error) { return &memSource{file: "a.csv", rows: e.rows, n: 64}, nil },
		Transform:   memTransform,
		MappingHash: "m1",
		Sink:        sink,
		LocationID:  "loc",
		Workers:     4,
		GroupSize:   10,
		Store:       st,
		RejectsPath: filepath.Join(e.dir, "a.rejects.csv"),
		Stats:       NewStats(),
	}, st
}

func checkInvariant(t *testing.T, r Report) {
	t.Helper()
	if r.RowsRead != r.Done() {
		t.Errorf("rows_read %d != created %d + updated %d + unchanged %d + rejected %d", r.RowsRead, r.Created, r.Updated, r.Unchanged, r.Rejected)
	}
}

func countRejects(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return len(recs) - 1
}

func TestRunImportAndRerun(t *testing.T) {
	e := newImportEnv(t, 1000)
	sink := newFakeSink(t)
	cfg, st := e.config(t, sink)
	r, err := RunImport(context.Background(), cfg)
	st.Close()
	if err != nil {
		t.Fatalf("RunImport: %v", err)
	}
	checkInvariant(t, r)
	if r.RowsRead != 1000 || r.Rejected == 0 || r.Created == 0 || r.Updated == 0 {
		t.Errorf("report %+v", r)
	}
	if got := countRejects(t, cfg.RejectsPath); int64(got) != r.Rejected {
		t.Errorf("rejects file has %d rows, report says %d", got, r.Rejected)
	}

	// Again over the same input: nothing is written.
	before := sink.total
	cfg, st = e.config(t, sink)
	r2, err := RunImport(context.Background(), cfg)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, r2)
	if sink.total != before {
		t.Errorf("re-run wrote %d rows", sink.total-before)
	}
	if r2.RowsRead != 1000 || r2.Rejected != r.Rejected || r2.Unchanged != 1000-r.Rejected {
		t.Errorf("re-run report %+v", r2)
	}
	if got := countRejects(t, cfg.RejectsPath); int64(got) != r.Rejected {
		t.Errorf("rejects file after re-run has %d rows, want %d", got, r.Rejected)
	}
}

func TestRunImportStops(t *testing.T) {
	faultErr := &record.FaultError{Kind: record.FaultAuth, Err: errors.New("POST /contacts/upsert: 401 Unauthorized")}
	tests := []struct {
		name    string
		arrange func(s *fakeSink, cancel context.CancelFunc)
		want    func(error) bool
	}{
		{"interrupt", func(s *fakeSink, cancel context.CancelFunc) {
			s.onWrite = func(n int) {
				if n == 300 {
					cancel()
				}
			}
		}, func(err error) bool { return errors.Is(err, ErrInterrupted) && ExitCode(err) == 3 }},
		{"fault", func(s *fakeSink, cancel context.CancelFunc) {
			s.failAt, s.fault = 300, faultErr
		}, func(err error) bool { return errors.As(err, new(*record.FaultError)) && ExitCode(err) == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newImportEnv(t, 2000)
			sink := newFakeSink(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tc.arrange(sink, cancel)
			cfg, st := e.config(t, sink)
			r, err := RunImport(ctx, cfg)
			st.Close()
			if !tc.want(err) {
				t.Fatalf("RunImport = %v", err)
			}
			checkInvariant(t, r)
			if r.RowsRead >= 2000 {
				t.Errorf("stopped run read all rows: %+v", r)
			}
			// Resume: finishes, and writes no row twice that was checkpointed.
			sink.failAt, sink.onWrite = 0, nil
			cfg, st = e.config(t, sink)
			r2, err := RunImport(context.Background(), cfg)
			st.Close()
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			checkInvariant(t, r2)
			if r2.RowsRead != 2000 {
				t.Errorf("resume read %d", r2.RowsRead)
			}
			if r2.Created+r2.Updated+r.Created+r.Updated > int64(sink.total) {
				t.Errorf("counts exceed writes")
			}
			// Every key was written; none more than its rows plus the
			// rows in flight at the stop (at most one group per lane).
			perKey := map[string]int{}
			for _, rec := range memTransform(mustRecord(e.rows), "a.csv", 1) {
				perKey[rec.Key]++
			}
			for k, n := range sink.writes {
				if n > perKey[k]+cfg.Workers*cfg.GroupSize {
					t.Errorf("key %s written %d times", k, n)
				}
			}
			if int64(sink.total) > 2000+int64(cfg.Workers*cfg.GroupSize) {
				t.Errorf("%d writes for 2000 rows", sink.total)
			}
		})
	}
}

func TestRunImportDryRun(t *testing.T) {
	e := newImportEnv(t, 500)
	cfg, st := e.config(t, nil)
	cfg.DryRun = true
	r, err := RunImport(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, r)
	if r.Requests != 0 || r.Created == 0 || r.Rejected == 0 || !r.DryRun {
		t.Errorf("dry run report %+v", r)
	}
	rows, _ := st.Rows(context.Background(), "x", 0, 1<<40)
	var n int
	st.DB().QueryRow("SELECT count(*) FROM rows").Scan(&n)
	if n != 0 || len(rows) != 0 {
		t.Errorf("dry run checkpointed %d rows", n)
	}
	st.Close()
	if got := countRejects(t, cfg.RejectsPath); int64(got) != r.Rejected {
		t.Errorf("dry-run rejects file: %d rows, want %d", got, r.Rejected)
	}
}

func mustRecord(rows []string) arrow.Record {
	src := &memSource{rows: rows, n: len(rows)}
	b, err := src.Next(context.Background())
	if err != nil {
		panic(err)
	}
	return b.Record
}

func TestRunImportLoopingSource(t *testing.T) {
	e := newImportEnv(t, 300)
	cfg, st := e.config(t, newFakeSink(t))
	defer st.Close()
	cfg.Open = func(string) (record.Source, error) {
		return &memSource{file: "a.csv", rows: e.rows, n: 64, repeat: true}, nil
	}
	r, err := RunImport(context.Background(), cfg)
	if !errors.Is(err, ErrLoop) {
		t.Fatalf("RunImport = %v, want ErrLoop", err)
	}
	checkInvariant(t, r)
}

// TestRunImportDuplicates: a row repeating an earlier one (key and
// content) costs no write; one repeating only the key is written after it
// (merge), or, with DuplicatesReport, rejected naming the earlier row.
func TestRunImportDuplicates(t *testing.T) {
	rows := []string{"a@x.io", "a@x.io", "b@x.io", "a@x.io#2", "b@x.io", "c@x.io"}
	for _, tc := range []struct {
		name                       string
		report                     bool
		writes, unchanged, rejects int
	}{
		{"merge", false, 4, 2, 0},
		{"report", true, 3, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newImportEnv(t, 0)
			e.rows = rows
			sink := newFakeSink(t)
			cfg, st := e.config(t, sink)
			cfg.DuplicatesReport = tc.report
			r, err := RunImport(context.Background(), cfg)
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			checkInvariant(t, r)
			if sink.total != tc.writes || r.Unchanged != int64(tc.unchanged) || r.Rejected != int64(tc.rejects) {
				t.Errorf("%d writes, report %+v; want %d writes, %d unchanged, %d rejected", sink.total, r, tc.writes, tc.unchanged, tc.rejects)
			}
			if tc.report {
				b, _ := os.ReadFile(cfg.RejectsPath)
				if !strings.Contains(string(b), "repeats the match key of row 1 of") {
					t.Errorf("rejects file:\n%s", b)
				}
			}
		})
	}
}
