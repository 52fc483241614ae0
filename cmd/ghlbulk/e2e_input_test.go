package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// peopleHeader is genPeople's header, which peopleMapping reads.
const peopleHeader = "id,first,last,email,phone,city,company,stage,note,task\n"

const peopleRow = "1,Ada,Lovelace,ada@example.com,+16175550100,Boston,Co 1,lead,,\n"

// hostileInputs are files past the input limits, built here: a gzip bomb
// (one 64 MiB field in a few hundred KB), a header of 100,000 columns, a
// 2 MiB line, a data row of 20,000 fields.
func hostileInputs(t *testing.T, dir string) []struct {
	name, file string
	extra      []string
	want       []string // in stderr
} {
	t.Helper()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	io.WriteString(zw, peopleHeader+peopleRow+"2,Grace,Hopper,grace@example.com,,,,,")
	chunk := bytes.Repeat([]byte{'x'}, 1<<20)
	for i := 0; i < 64; i++ {
		zw.Write(chunk)
	}
	io.WriteString(zw, ",\n")
	zw.Close()

	var wide strings.Builder
	wide.WriteString(strings.TrimSuffix(peopleHeader, "\n"))
	for i := 0; i < 100_000; i++ {
		fmt.Fprintf(&wide, ",extra%d", i)
	}
	wide.WriteString("\n")

	long := peopleHeader + peopleRow + peopleRow + "3,Long,Line,long@example.com,,,,," + strings.Repeat("y", 2<<20) + ",\n"
	wideRow := peopleHeader + peopleRow + strings.Repeat(",", 20_000) + "\n"

	return []struct {
		name, file string
		extra      []string
		want       []string
	}{
		{"gzip bomb", write("bomb.csv.gz", bomb.Bytes()), nil,
			[]string{"bomb.csv.gz: data row 2 (line 3): longer than 16777216 bytes", "--max-record-bytes"}},
		{"100k columns", write("wide.csv", []byte(wide.String())), nil,
			[]string{"wide.csv: header (line 1): more than 10000 columns", "--max-columns"}},
		{"long line", write("long.csv", []byte(long)), []string{"--max-record-bytes", "1000000"},
			[]string{"long.csv: data row 3 (line 4): longer than 1000000 bytes", "--max-record-bytes"}},
		{"wide row", write("widerow.csv", []byte(wideRow)), nil,
			[]string{"widerow.csv: data row 2 (line 3): more than 10000 columns", "--max-columns"}},
	}
}

// checkNoCrash fails on a Go panic or fatal error in stderr (a crash also
// exits 2, like a refusal) and on a temporary file left in dir.
func checkNoCrash(t *testing.T, what string, r result, dir string) {
	t.Helper()
	for _, s := range []string{"panic:", "fatal error:", "goroutine "} {
		if strings.Contains(r.stderr, s) {
			t.Fatalf("%s: crashed (exit %d):\n%s", what, r.code, r.stderr)
		}
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			t.Errorf("%s: left %s behind", what, p)
		}
		return nil
	})
}

// TestInputLimits: each file past a limit is refused with exit 2, naming
// the file, the row and the flag that raises the limit, by validate (with
// and without the plan's read-ahead) and by import (whose plan reads the
// file first, and with --no-plan, where the run itself hits it), before
// any write.
func TestInputLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	for _, in := range hostileInputs(t, dir) {
		t.Run(in.name, func(t *testing.T) {
			f := newImpFiles(t)
			runs := map[string][]string{
				"validate":         append([]string{"validate", in.file, "--mapping", peopleMapping, "--rejects", f.rejects, "--plan-out", filepath.Join(f.dir, "plan.csv"), "--no-progress"}, in.extra...),
				"validate -q":      append([]string{"validate", in.file, "--mapping", peopleMapping, "--rejects", f.rejects, "--plan-out", filepath.Join(f.dir, "plan.csv"), "-q"}, in.extra...),
				"import":           f.args(in.file, peopleMapping, in.extra...),
				"import --no-plan": f.args(in.file, peopleMapping, append([]string{"--no-plan"}, in.extra...)...),
			}
			for name, args := range runs {
				r := runCLI(t, sb.env(), args...)
				checkNoCrash(t, name, r, f.dir)
				if r.code != exitRefused {
					t.Errorf("%s: exit %d, want 2\n%s", name, r.code, r.stderr)
				}
				for _, s := range in.want {
					if !strings.Contains(r.stderr, s) {
						t.Errorf("%s: stderr does not say %q:\n%s", name, s, r.stderr)
					}
				}
			}
			if w := dataWrites(sb.Counts()); w != 0 {
				t.Errorf("%d write requests", w)
			}
		})
	}
}

// TestInputLimitFlags: a bad limit is refused as a flag; a raised one
// lets the file through.
func TestInputLimitFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(peopleHeader+peopleRow+strings.Repeat(",", 20_000)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"validate", in, "--mapping", peopleMapping, "--plan-out", filepath.Join(dir, "plan.csv"), "--no-progress"}
	r := runCLI(t, nil, append(base, "--max-columns", "-1")...)
	if r.code != exitRefused || !strings.Contains(r.stderr, "--max-columns -1: must be 1 or more") {
		t.Errorf("--max-columns -1: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, nil, append(base, "--max-columns", "20001")...)
	if r.code != 0 {
		t.Errorf("--max-columns 20001: exit %d, want 0 (the wide row rejected)\n%s", r.code, r.stderr)
	}
}

// damageFile changes three bytes of data, chosen by seed.
func damageFile(data []byte, seed uint64) []byte {
	out := bytes.Clone(data)
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for i := 0; i < 3; i++ {
		out[r.IntN(len(out))] = byte(r.IntN(256))
	}
	return out
}

// TestDamagedParquet: 40 Parquet files with three bytes changed (seeds
// 1-40) never crash validate or import and leave no temporary file: each
// reads, is refused (exit 2, naming the file), or, for import after some
// writes, fails resumably (exit 1).
func TestDamagedParquet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, err := os.ReadFile(toParquet(t, genPeople(t, dir, 100, 0)))
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	refused := 0
	for seed := uint64(1); seed <= 40; seed++ {
		f := newImpFiles(t)
		in := filepath.Join(f.dir, fmt.Sprintf("damaged-%d.parquet", seed))
		if err := os.WriteFile(in, damageFile(good, seed), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, nil, "validate", in, "--mapping", peopleMapping, "--rejects", f.rejects, "--no-progress", "-q")
		checkNoCrash(t, "validate "+in, r, f.dir)
		switch r.code {
		case 0:
		case exitRefused:
			refused++
			if !strings.Contains(r.stderr, in) {
				t.Errorf("validate %s: exit 2 without naming the file:\n%s", in, r.stderr)
			}
		default:
			t.Errorf("validate %s: exit %d\n%s", in, r.code, r.stderr)
		}
		extra := []string{}
		if seed%2 == 0 {
			extra = append(extra, "--no-plan") // the run, not the plan, meets the damage
		}
		r = runCLI(t, sb.env(), f.args(in, peopleMapping, extra...)...)
		checkNoCrash(t, "import "+in, r, f.dir)
		if r.code == exitRefused && !strings.Contains(r.stderr, in) || r.code > exitRefused {
			t.Errorf("import %s: exit %d\n%s", in, r.code, r.stderr)
		}
	}
	t.Logf("validate refused %d of 40 damaged files", refused)
}
