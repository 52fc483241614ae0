package fsx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	if st.Mode().Perm() != Mode {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), Mode)
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

// TestCreateRemovesStale: a killed run's temporary file goes at the next
// Create of the same path; a live run's, and other names, stay.
func TestCreateRemovesStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.csv")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no process to outlive:", err)
	}
	deadPID := strconv.Itoa(dead.Process.Pid)
	stale := filepath.Join(dir, ".plan.csv."+deadPID+"-123456.tmp")
	live := filepath.Join(dir, ".plan.csv."+strconv.Itoa(os.Getppid())+"-77.tmp")
	keep := []string{
		live,
		filepath.Join(dir, ".other.csv."+deadPID+"-1.tmp"), // another file's
		filepath.Join(dir, ".plan.csv.notes.tmp"),          // not a name Create makes
		filepath.Join(dir, "plan.csv.tmp"),
	}
	for _, p := range append([]string{stale}, keep...) {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(path, []byte("whole\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale %s is still there (%v)", stale, err)
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
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
