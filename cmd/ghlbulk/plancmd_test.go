package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

func readPlanReport(t *testing.T, path string) pipeline.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r pipeline.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

var planRequests = regexp.MustCompile(`(?m)^  requests\s+(\d+) \(`)

// The plan printed before the run says how many requests the run makes.
func TestImportPrintsPlan(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir, in, mapping := writePlanInput(t, 150)
	report := filepath.Join(dir, "r.json")
	r := runCLI(t, sb.env(), "import", in, "--mapping", mapping, "--report", report, "--no-progress")
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	m := planRequests.FindStringSubmatch(r.stdout)
	if m == nil || !strings.HasPrefix(r.stdout, "plan\n") || !strings.Contains(r.stdout, "daily quota left") {
		t.Fatalf("no plan before the run:\n%s", r.stdout)
	}
	planned, _ := strconv.ParseInt(m[1], 10, 64)
	rep := readPlanReport(t, report)
	if rep.Requests-rep.Retries != planned {
		t.Errorf("planned %d requests, the run made %d (%d retries)\n%s", planned, rep.Requests, rep.Retries, r.stdout)
	}
	importOut := r.stdout
	// validate prints the plan too, offline: without the page that reads
	// the location's contacts for conflicts.
	listing := regexp.MustCompile(`(\d+) listing the location's contacts`).FindStringSubmatch(importOut)
	if listing == nil || listing[1] != "1" {
		t.Errorf("the plan counts no listing for conflicts:\n%s", importOut)
	}
	r = runCLI(t, nil, "validate", in, "--mapping", mapping)
	if got := planRequests.FindStringSubmatch(r.stdout); r.code != 0 || got == nil || got[1] != fmt.Sprint(planned-1) {
		t.Errorf("validate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// --max-requests stops the run (exit 3), the next run goes on; --id-map
// lists every written contact by its source key.
func TestMaxRequestsAndIDMap(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir, in, mapping := writePlanInput(t, 200)
	state, ids := filepath.Join(dir, "s.state"), filepath.Join(dir, "ids.csv")
	report := filepath.Join(dir, "r.json")
	r := runCLI(t, sb.env(), "import", in, "--mapping", mapping, "--state", state, "--max-requests", "60", "--report", report, "--no-progress")
	if r.code != exitStopped || !strings.Contains(r.stderr, "--max-requests 60") {
		t.Fatalf("capped run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rep := readPlanReport(t, report)
	t.Logf("capped run: %d requests (report), %d served", rep.Requests, sb.Counts().Total)
	// The rows in hand finish (their notes): a soft stop overshoots. The
	// cap counts every request from the run's start, the write check's
	// probe too, which the report leaves out.
	if served := sb.Counts().Total; served < 60 || rep.Requests > 120 || rep.Created == 0 {
		t.Errorf("capped run: %d requests served, %d reported, created %d", served, rep.Requests, rep.Created)
	}
	r = runCLI(t, sb.env(), "import", in, "--mapping", mapping, "--state", state, "--id-map", ids, "--no-progress")
	if r.code != 0 {
		t.Fatalf("resumed run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(ids)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1+195 || lines[0] != "source_key,key,contact_id" || !strings.HasPrefix(lines[1], "S100,email:person0@example.com,") {
		t.Errorf("id map: %d lines, starting %q", len(lines), lines[:2])
	}
}

// A daily quota too small for the input stops the run with exit 3; with
// --wait the run waits for the quota and finishes by itself. One worker: a
// group is checkpointed only once done, so each quota window must be able
// to finish the groups in flight (workers x up to GroupSize rows); 150
// requests can't finish 8 lanes' groups. With the real 200,000 a day this
// costs at most the groups in flight, once a day.
func TestDailyQuotaWait(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1, Daily: 150, DailyWindow: 2 * time.Second})
	dir, in, mapping := writePlanInput(t, 200)
	state := filepath.Join(dir, "s.state")
	r := runCLI(t, sb.env(), "import", in, "--mapping", mapping, "--state", state, "--no-progress")
	if r.code != exitStopped || !strings.Contains(r.stderr, "quota") {
		t.Fatalf("without --wait: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	report := filepath.Join(dir, "r.json")
	r = runCLI(t, sb.env(), "import", in, "--mapping", mapping, "--state", state, "--wait", "--report", report, "--no-progress", "--workers", "1")
	if r.code != 0 || strings.Count(r.stderr, "waiting for it to reset") < 1 {
		t.Fatalf("with --wait: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rep := readPlanReport(t, report)
	if rep.Outcome != "done" || rep.RowsRead != 200 {
		t.Errorf("report %+v", rep)
	}
}
