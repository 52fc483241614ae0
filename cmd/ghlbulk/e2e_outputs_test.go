package main

// End-to-end tests of the files a run writes beside the ones it reads: no
// output may replace an input (or another output), every file that holds
// every file follows the umask, validate's plan of a large input is written only
// when asked, and a rejects file keeps the source bytes.

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// fileSum is a file's content hash, to prove a refused run left it alone.
func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return sha256.Sum256(b)
}

// TestOutputNamingAnInputIsRefused: --rejects, --report, --plan-out,
// --state or --id-map naming an input (by its path, another spelling, a
// symlink or a hard link) or another output exits 2 naming both, before any
// write, and the input is byte-identical afterwards.
func TestOutputNamingAnInputIsRefused(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 3})
	dir := t.TempDir()
	in := genPeople(t, dir, 20, 5)
	mapping := filepath.Join(dir, "people.yaml")
	if err := os.WriteFile(mapping, mustRead(t, peopleMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.csv")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	// import --kind notes reads a notes file and the ID map.
	notes := filepath.Join(dir, "notes.csv")
	idMap := filepath.Join(dir, "map.csv")
	for p, text := range map[string]string{
		notes: "Associated Contact IDs,Note body\nID-1,hello\n",
		idMap: "source_key,key,contact_id\nID-1,email:person0001@example.com,abc\n",
	} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	notesMapping, err := filepath.Abs(filepath.Join(repoRoot, "mappings", "hubspot-notes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// sub/up is a symlink to dir: sub/up/people.csv is the input.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(sub, "up")); err != nil {
		t.Fatal(err)
	}
	inputs := []string{in, mapping, notes, idMap}

	// Relative spellings are run from dir.
	imp := func(extra ...string) []string {
		return append([]string{"import", "people.csv", "--mapping", mapping, "--state", filepath.Join(t.TempDir(), "s.state"),
			"--no-progress", "--no-plan"}, extra...)
	}
	val := func(extra ...string) []string {
		return append([]string{"validate", "people.csv", "--mapping", mapping, "--no-progress",
			"--rejects", filepath.Join(t.TempDir(), "r.csv")}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		says []string // each must be in stderr
	}{
		{"import --rejects the input", imp("--rejects", in), []string{"--rejects", "input file"}},
		{"import --report ./input", imp("--report", "./people.csv"), []string{"--report ./people.csv", "input file people.csv"}},
		{"import --rejects a symlink to the input", imp("--rejects", link), []string{"--rejects " + link, "input file"}},
		{"import --report a hard link to the input", imp("--report", hard), []string{"--report", "input file"}},
		{"import --report the mapping", imp("--report", mapping), []string{"--report", "--mapping"}},
		{"import --state the input", []string{"import", "people.csv", "--mapping", mapping, "--state", "sub/../people.csv", "--no-progress"},
			[]string{"--state", "input file"}},
		{"import --id-map the input", imp("--id-map", in), []string{"--id-map", "input file"}},
		{"import --rejects and --report one file", imp("--rejects", "out.csv", "--report", "./out.csv"), []string{"--rejects out.csv", "--report ./out.csv"}},
		{"import --rejects the state", []string{"import", "people.csv", "--mapping", mapping, "--state", "s.state", "--rejects", "s.state", "--no-progress"},
			[]string{"--rejects", "--state"}},
		{"validate --plan-out the input", val("--plan-out", in), []string{"--plan-out", "input file"}},
		{"validate --plan-out a symlink", val("--plan-out", "link.csv"), []string{"--plan-out link.csv", "input file"}},
		{"validate --rejects the input", []string{"validate", "people.csv", "--mapping", mapping, "--rejects", "./people.csv", "--no-progress"},
			[]string{"--rejects", "input file"}},
		{"validate --report the mapping", val("--report", "people.yaml"), []string{"--report", "--mapping"}},
		{"validate --plan-out is --rejects", []string{"validate", "people.csv", "--mapping", mapping, "--rejects", "x.csv", "--plan-out", "x.csv", "--no-progress"},
			[]string{"--rejects x.csv", "--plan-out x.csv"}},
		{"import --kind notes --rejects the ID map", []string{"import", "--kind", "notes", "notes.csv", "--mapping", notesMapping, "--id-map", idMap,
			"--state", filepath.Join(t.TempDir(), "n.state"), "--rejects", "map.csv", "--no-progress"}, []string{"--rejects", "--id-map"}},
		{"import --kind notes --report the notes file", []string{"import", "--kind", "notes", "notes.csv", "--mapping", notesMapping, "--id-map", idMap,
			"--state", filepath.Join(t.TempDir(), "n.state"), "--report", "./notes.csv", "--no-progress"}, []string{"--report ./notes.csv", "input file notes.csv"}},
		{"validate --report through a directory symlink", val("--report", "sub/up/people.csv"), []string{"--report sub/up/people.csv", "input file"}},
		{"export --report the state", []string{"export", "--out", t.TempDir(), "--state", "e.state", "--report", "./e.state"},
			[]string{"--state e.state", "--report ./e.state"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string][32]byte{}
			for _, p := range inputs {
				before[p] = fileSum(t, p)
			}
			sb.ResetCounts()
			r := runCLIIn(t, dir, sb.env(), tc.args...)
			if r.code != exitRefused {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, s := range tc.says {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, r.stderr)
				}
			}
			for _, p := range inputs {
				if fileSum(t, p) != before[p] {
					t.Errorf("%s changed", p)
				}
			}
			if n := sb.Counts().Total; n != 0 {
				t.Errorf("%d requests before the refusal", n)
			}
		})
	}
}

// runCLIIn is runCLI from the working directory dir.
func runCLIIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := exitOf(err)
	if code < 0 {
		t.Fatalf("running ghlbulk %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// staleTemp plants the temporary file a killed run of ours would leave
// beside path: named for a process that is gone.
func staleTemp(t *testing.T, path string) string {
	t.Helper()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".ghlbulk-"+strconv.Itoa(gone.Process.Pid)+"-42.tmp")
	if err := os.WriteFile(p, []byte("half a li"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateLargeInputWritesNoPlanUnasked: past defaultPlanRows rows,
// validate writes no <FILE>.plan.csv (nor leaves a temporary one) and says
// how to get it; with --plan-out it writes every row's line.
func TestValidateLargeInputWritesNoPlanUnasked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rows := defaultPlanRows + 1
	in := genPeople(t, dir, rows, 0)
	r := runCLI(t, nil, "validate", in, "--mapping", peopleMapping, "--no-progress")
	if r.code != 0 {
		t.Fatalf("validate: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(in + ".plan.csv"); !os.IsNotExist(err) {
		t.Errorf("validate of %d rows wrote %s unasked (%v)", rows, in+".plan.csv", err)
	}
	if !strings.Contains(r.stdout, "--plan-out") {
		t.Errorf("the summary does not say how to get the plan:\n%s", r.stdout)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}

	plan := filepath.Join(dir, "plan.csv")
	r = runCLI(t, nil, "validate", in, "--mapping", peopleMapping, "--plan-out", plan, "--no-progress", "-q")
	if r.code != 0 {
		t.Fatalf("validate --plan-out: exit %d\n%s", r.code, r.stderr)
	}
	if n := bytes.Count(mustRead(t, plan), []byte("\n")); n != rows+1 {
		t.Errorf("--plan-out has %d lines, want %d (header and one a row)", n, rows+1)
	}
}

// TestRejectsKeepSourceBytes: a row with a Latin-1 byte (0xE9, "é" saved
// in the wrong encoding) is rejected by import with the byte as read, as
// validate's rejects file has it, not U+FFFD.
func TestRejectsKeepSourceBytes(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	// Past the first 64 KiB, which decide the encoding (UTF-8 here): a
	// Latin-1 byte earlier would make the file read as Windows-1252.
	in := genPeople(t, dir, 1200, 0)
	b := mustRead(t, in)
	const name = "Ren\xe9e"
	if i := bytes.Index(b, []byte(",Name1100,")); i < 64<<10 {
		t.Fatalf("row 1100 at byte %d, not past the sniffed 64 KiB", i)
	}
	b = bytes.Replace(b, []byte(",Name1100,"), []byte(","+name+","), 1)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f := newImpFiles(t)
	rep := mustImport(t, sb, f, in, peopleMapping, "--no-plan")
	if rep.Rejected != 1 {
		t.Fatalf("rejected %d, want the one row with 0xE9", rep.Rejected)
	}
	got := mustRead(t, f.rejects)
	if !bytes.Contains(got, []byte(","+name+",")) || bytes.Contains(got, []byte("\uFFFD")) {
		t.Errorf("import's rejects file does not keep the byte 0xE9:\n%q", got)
	}
	vr := filepath.Join(dir, "v.rejects.csv")
	if r := runCLI(t, nil, "validate", in, "--mapping", peopleMapping, "--rejects", vr, "--no-progress", "-q"); r.code != 0 {
		t.Fatalf("validate: exit %d\n%s", r.code, r.stderr)
	}
	if want := mustRead(t, vr); !bytes.Equal(got, want) {
		t.Errorf("import's rejects file differs from validate's:\nimport:   %q\nvalidate: %q", got, want)
	}
}
