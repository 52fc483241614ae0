package main

// End-to-end tests of export's plan and request cap (issue 13) and its
// change feed (issue 16, --changes).

import (
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

var xpPlanRE = regexp.MustCompile(`(?m)^  requests\s+(\d+) \(`)

// xpPlanRequests is the requests total a printed plan announces.
func xpPlanRequests(t *testing.T, stdout string) int64 {
	t.Helper()
	m := xpPlanRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no plan with a requests line in the output:\n%s", stdout)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestE2EExportPlanMatchesRun: the plan printed before a full export of
// 1,000 contacts with tasks, notes and appointments announces the run's
// requests exactly (the sandbox answers every request first time).
func TestE2EExportPlanMatchesRun(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 1000, Seed: 17})
	dir := t.TempDir()
	rep := filepath.Join(dir, "rep.json")
	r := xpMustRun(t, s.env(), "export", "--out", filepath.Join(dir, "out"), "--include", xpAll, "--no-progress", "--report", rep)
	planned, made := xpPlanRequests(t, r.stdout), xpReport(t, rep).Requests
	t.Logf("plan:\n%s", r.stdout)
	if planned != made {
		t.Errorf("the plan announced %d requests, the run made %d", planned, made)
	}
	r = xpMustRun(t, s.env(), "export", "--out", filepath.Join(dir, "out2"), "--include", xpAll, "--no-progress", "--no-plan")
	if xpPlanRE.MatchString(r.stdout) {
		t.Errorf("--no-plan printed a plan:\n%s", r.stdout)
	}
}

// TestE2EExportMaxRequests: --max-requests stops the export with exit 3
// and the same command without it finishes with every record.
func TestE2EExportMaxRequests(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 600, Seed: 19})
	served := xpServedData(t, s)
	dir := t.TempDir()
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "x.state")
	r := runCLI(t, s.env(), "export", "--out", out, "--state", state, "--include", xpAll, "--no-progress", "--max-requests", "200")
	if r.code != 3 {
		t.Fatalf("export --max-requests 200: exit %d, want 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	xpMustRun(t, s.env(), "export", "--out", out, "--state", state, "--include", xpAll, "--no-progress")
	xpCheckContent(t, xpReadExport(t, out), served)
}
