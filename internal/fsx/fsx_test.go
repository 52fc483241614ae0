package fsx

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestCheckOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "people.csv")
	mapping := filepath.Join(dir, "m.yaml")
	for _, p := range []string{in, mapping} {
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.csv")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	dirLink := filepath.Join(dir, "dirlink")
	if err := os.Symlink(sub, dirLink); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	inputs := []Named{{"input file", in}, {"--mapping", mapping}}

	for _, tc := range []struct {
		name    string
		outputs []Named
		want    string // "" for no error, else a part of it
	}{
		{"distinct", []Named{{"--rejects", "r.csv"}, {"--report", "r.json"}}, ""},
		{"empty skipped", []Named{{"--rejects", ""}, {"--report", ""}}, ""},
		{"input itself", []Named{{"--rejects", in}}, "--rejects " + in + " is the same file as input file " + in},
		{"another spelling", []Named{{"--report", "./people.csv"}}, "input file"},
		{"dot dot", []Named{{"--report", "sub/../people.csv"}}, "input file"},
		{"symlink to input", []Named{{"--plan-out", link}}, "--plan-out"},
		{"hard link to input", []Named{{"--rejects", hard}}, "input file"},
		{"the mapping", []Named{{"--report", "m.yaml"}}, "--mapping"},
		{"two outputs", []Named{{"--rejects", "out.csv"}, {"--plan-out", "./out.csv"}}, "--rejects out.csv and --plan-out ./out.csv are the same file"},
		{"new file through a dir symlink", []Named{{"--rejects", "sub/x.csv"}, {"--report", "dirlink/x.csv"}}, "are the same file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOutputs(inputs, tc.outputs)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCreateCommitAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rejects.csv")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new\n")
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("before Commit the file reads %q", b)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Mode().IsRegular() {
		t.Errorf("mode %v, want a regular file", st.Mode())
	}
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("after Commit the file reads %q", b)
	}
	g, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	g.WriteString("aborted\n")
	g.Abort()
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("after Abort the file reads %q", b)
	}
	if left := temps(t, dir); len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) string {
	t.Helper()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no process to outlive:", err)
	}
	return strconv.Itoa(dead.Process.Pid)
}

// TestCreateRemovesStale: a killed run's temporary file goes at the next
// Create of the same path (the current name, and both older ones); a live
// run's, and other names, stay.
func TestCreateRemovesStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.csv")
	dead, live := deadPID(t), strconv.Itoa(os.Getppid())
	stale := []string{
		filepath.Join(dir, ".plan.csv.ghlbulk-"+dead+"-123456.tmp"),
		filepath.Join(dir, ".plan.csv."+dead+"-123456.tmp"), // fsx's older name
		filepath.Join(dir, ".plan.csv.ghlbulk-98765.tmp"),   // export's older, pid-less name
	}
	keep := []string{
		filepath.Join(dir, ".plan.csv.ghlbulk-"+live+"-77.tmp"),
		filepath.Join(dir, ".plan.csv."+live+"-77.tmp"),
		filepath.Join(dir, ".other.csv.ghlbulk-"+dead+"-1.tmp"), // another file's
		filepath.Join(dir, ".other.csv."+dead+"-1.tmp"),
		filepath.Join(dir, ".plan.csv.notes.tmp"), // not a name of ours
		filepath.Join(dir, ".plan.csv.12345.tmp"), // anybody's os.CreateTemp
		filepath.Join(dir, "plan.csv.tmp"),
	}
	for _, p := range append(slices.Clone(stale), keep...) {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(path, []byte("whole\n")); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("stale %s is still there (%v)", filepath.Base(p), err)
		}
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}

// TestTempNameFormat: Create's temporary file is ".NAME.ghlbulk-<pid>-<n>.tmp"
// with this process's pid, and IsTempName knows it.
func TestTempNameFormat(t *testing.T) {
	f, err := Create(filepath.Join(t.TempDir(), "contacts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	name := filepath.Base(f.Name())
	want := ".contacts.csv.ghlbulk-" + strconv.Itoa(os.Getpid()) + "-"
	if !strings.HasPrefix(name, want) || !strings.HasSuffix(name, ".tmp") {
		t.Errorf("temporary name %q, want %s<n>.tmp", name, want)
	}
	if !IsTempName(name, "contacts.csv") || IsTempName(name, "tasks.csv") {
		t.Errorf("IsTempName does not tell %q for contacts.csv only", name)
	}
}

func TestIsTempName(t *testing.T) {
	tests := []struct {
		name, of string
		want     bool
	}{
		{".contacts.csv.ghlbulk-4242-123456.tmp", "", true},
		{".contacts.csv.ghlbulk-4242-123456.tmp", "contacts.csv", true},
		{".contacts.csv.ghlbulk-4242-123456.tmp", "tasks.csv", false},
		{".contacts.csv.ghlbulk-123456.tmp", "", true}, // the older, pid-less name
		{".contacts.csv.ghlbulk-123456.tmp", "contacts.csv", true},
		{".contacts.csv.ghlbulk-123456.tmp", "tasks.csv", false},
		{".my.ghlbulk-notes.ghlbulk-9.tmp", "my.ghlbulk-notes", true},
		{".my.ghlbulk-notes.ghlbulk-1-9.tmp", "my.ghlbulk-notes", true},
		{".contacts.csv.123456.tmp", "", false},        // an older ghlbulk's, or anybody's
		{".contacts.csv.4242-123456.tmp", "", false},   // fsx's older name: only beside its file
		{"contacts.csv.ghlbulk-1.tmp", "", false},      // not hidden
		{".contacts.csv.ghlbulk-.tmp", "", false},      // no digits
		{".contacts.csv.ghlbulk-12a.tmp", "", false},   // not only digits
		{".contacts.csv.ghlbulk-0-12.tmp", "", false},  // no process 0
		{".contacts.csv.ghlbulk-1-2-3.tmp", "", false}, // not pid-random
		{".contacts.csv.ghlbulk--3.tmp", "", false},    // no pid
		{".ghlbulk-1.tmp", "", false},                  // no final name
		{".contacts.csv.ghlbulk-1.tmp.bak", "", false}, // not ending .tmp
		{"notes.txt", "", false},
	}
	for _, tc := range tests {
		if got := IsTempName(tc.name, tc.of); got != tc.want {
			t.Errorf("IsTempName(%q, %q) = %v, want %v", tc.name, tc.of, got, tc.want)
		}
	}
}

// TestRemoveTemps: a temporary file left by a killed write goes; what
// merely looks like one (a user's file, a directory), and one a live run
// is writing (another process's, or this one's), stays.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	killed, err := Create(filepath.Join(dir, "contacts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	killed.Close()
	forget(killed.Name()) // as if its process had ended: never committed nor aborted
	writing, err := Create(filepath.Join(dir, "tasks.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer writing.Abort()
	dead, live := deadPID(t), strconv.Itoa(os.Getppid())
	gone := []string{filepath.Base(killed.Name()), ".notes.csv.ghlbulk-" + dead + "-5.tmp", ".manifest.json.ghlbulk-17.tmp"}
	keep := []string{"contacts.csv", ".contacts.csv.123.tmp", "notes.txt", ".notes.csv." + dead + "-5.tmp",
		".notes.csv.ghlbulk-" + live + "-5.tmp", filepath.Base(writing.Name())}
	for _, n := range append(keep[:5:5], gone[1:]...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("user"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".x.ghlbulk-1.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".x.ghlbulk-1.tmp")
	removed, err := RemoveTemps(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	slices.Sort(gone)
	if !slices.Equal(removed, gone) {
		t.Errorf("removed %v, want %v", removed, gone)
	}
	slices.Sort(keep)
	if names := names(t, dir); !slices.Equal(names, keep) {
		t.Errorf("left %v, want %v", names, keep)
	}
	if err := writing.Commit(); err != nil {
		t.Errorf("the file being written was taken from under it: %v", err)
	}
}

// TestRemoveTempsOf: with a name, only that file's temporary files go.
func TestRemoveTempsOf(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".a.csv.ghlbulk-1.tmp", ".b.csv.ghlbulk-2.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveTemps(dir, "a.csv")
	if err != nil || !slices.Equal(removed, []string{".a.csv.ghlbulk-1.tmp"}) {
		t.Errorf("RemoveTemps(dir, a.csv) = %v, %v", removed, err)
	}
	if removed, err := RemoveTemps(filepath.Join(dir, "missing"), ""); err != nil || removed != nil {
		t.Errorf("a missing dir: %v, %v", removed, err)
	}
}

// TestSweepKeepsOwnInflight: a sweep running while this process writes
// (export's goroutines) never takes a file being written, while one left
// with our pid by an earlier process (pid 1 in every container run) goes.
func TestSweepKeepsOwnInflight(t *testing.T) {
	dir := t.TempDir()
	earlier := ".report.json.ghlbulk-" + strconv.Itoa(os.Getpid()) + "-1.tmp"
	if err := os.WriteFile(filepath.Join(dir, earlier), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), []byte("x"))
		}()
		go func() {
			defer wg.Done()
			RemoveTemps(dir, "")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a write lost its temporary file to a sweep: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, earlier)); !os.IsNotExist(err) {
		t.Errorf("%s, left by an earlier process with our pid, is still there (%v)", earlier, err)
	}
}

// TestCreateNoSweep leaves the directory's leftovers for RemoveTemps.
func TestCreateNoSweep(t *testing.T) {
	dir := t.TempDir()
	left := filepath.Join(dir, ".p.arrow.ghlbulk-"+deadPID(t)+"-1.tmp")
	if err := os.WriteFile(left, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := CreateNoSweep(filepath.Join(dir, "p.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); err != nil {
		t.Errorf("CreateNoSweep removed %s: %v", filepath.Base(left), err)
	}
	if st, err := os.Stat(f.Path()); err != nil || !st.Mode().IsRegular() {
		t.Errorf("committed file: %v %v", st, err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func temps(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}
