package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// TestReportDashIsStdout: --report - writes the JSON to stdout (alone: the
// summary moves to stderr), never a file named "-", on every command that
// has --report.
func TestReportDashIsStdout(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	contacts, mapping := abs(filepath.Join(repoRoot, "samples", "hubspot-contacts.csv")), abs(filepath.Join(repoRoot, "mappings", "hubspot.yaml"))
	state := filepath.Join(dir, "import.state")
	var imp struct {
		RunID   string `json:"run_id"`
		Created int    `json:"created"`
	}
	steps := []struct {
		name string
		args []string
		into any
	}{
		{"validate", []string{"validate", contacts, "--mapping", mapping, "--online", "--report", "-",
			"--plan-out", filepath.Join(dir, "plan.csv"), "--rejects", filepath.Join(dir, "v.rejects.csv")}, &map[string]any{}},
		{"import", []string{"import", contacts, "--mapping", mapping, "--state", state, "--rejects", filepath.Join(dir, "rejects.csv"), "--report", "-", "--no-progress"}, &imp},
		{"export", []string{"export", "--out", filepath.Join(dir, "out"), "--state", filepath.Join(dir, "export.state"), "--report", "-", "--no-progress"}, &map[string]any{}},
		{"undo", nil, &map[string]any{}},
	}
	for _, s := range steps {
		if s.name == "undo" {
			s.args = []string{"undo", "--state", state, "--run", imp.RunID, "--dry-run", "--report", "-"}
		}
		r := runCLIIn(t, dir, sb.env(), s.args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", s.name, r.code, r.stdout, r.stderr)
		}
		if err := json.Unmarshal([]byte(r.stdout), s.into); err != nil {
			t.Errorf("%s --report -: stdout is not the JSON report alone: %v\n%s", s.name, err, r.stdout)
		}
		if _, err := os.Stat(filepath.Join(dir, "-")); err == nil {
			t.Fatalf("%s --report - wrote a file named -", s.name)
		}
	}
	if imp.Created == 0 || imp.RunID == "" {
		t.Errorf("import report on stdout: %+v", imp)
	}
}
