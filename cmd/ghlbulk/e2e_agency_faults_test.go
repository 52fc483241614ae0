package main

// End-to-end tests of agency mode (issue 17) when one location fails the
// way a live one can: a 5xx storm on it, or its daily quota spent. The
// others must finish, the manifest and the summary must say which
// location did not, the exit code must be the worst outcome (failed 1 over
// stopped 3 over done 0), and the re-run must redo that location alone.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/agency"
)

// agencyFaultFiles are what each location's folder holds with --format
// csv --include tasks,notes.
var agencyFaultFiles = []string{"contacts.csv", "tasks.csv", "notes.csv"}

// singleLocationExport exports location id alone, with its own token, into
// a new folder and returns it.
func singleLocationExport(t *testing.T, sb *testSandbox, id string, args ...string) string {
	t.Helper()
	tok, err := sb.IssueToken(id, sandbox.AllScopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "single")
	r := runCLI(t, []string{"GHL_API_URL=" + sb.URL, "GHL_LOCATION_ID=" + id, "GHL_TOKEN=" + tok},
		append([]string{"export", "--out", dir}, args...)...)
	if r.code != 0 {
		t.Fatalf("single export of %s: exit %d\n%s", id, r.code, r.stderr)
	}
	return dir
}

// assertLocationComplete checks that location id's folder under out holds
// every file, its own manifest, and contacts rows for n contacts.
func assertLocationComplete(t *testing.T, out, id string, n int) {
	t.Helper()
	dir := filepath.Join(out, agency.LocationDir(id))
	for _, f := range append([]string{"manifest.json"}, agencyFaultFiles...) {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("location %s: %v", id, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "contacts.csv")); err == nil && bytes.Count(b, []byte("\n")) != n+1 {
		t.Errorf("location %s: contacts.csv has %d lines, want %d", id, bytes.Count(b, []byte("\n")), n+1)
	}
}

// assertEqualsSingle checks that location id's files under out equal a
// one-location export of id.
func assertEqualsSingle(t *testing.T, sb *testSandbox, out, id string, args ...string) {
	t.Helper()
	single := singleLocationExport(t, sb, id, args...)
	for _, f := range agencyFaultFiles {
		got := mustRead(t, filepath.Join(out, agency.LocationDir(id), f))
		want := mustRead(t, filepath.Join(single, f))
		if !bytes.Equal(got, want) {
			t.Errorf("%s of %s differs from its single-location export (%d vs %d bytes)", f, id, len(got), len(want))
		}
	}
}

// requestsBy is the sandbox's API requests by location.
func requestsBy(sb *testSandbox) map[string]int64 {
	out := map[string]int64{}
	for id, c := range sb.Counts().ByLocation {
		out[id] = c.Requests
	}
	return out
}

// assertSummaryRows checks that the summary has one row per location, with
// its status.
func assertSummaryRows(t *testing.T, stdout string, want map[string]string) {
	t.Helper()
	for id, st := range want {
		found := false
		for _, line := range strings.Split(stdout, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == id && f[1] == st {
				found = true
			}
		}
		if !found {
			t.Errorf("the summary has no row %q %q:\n%s", id, st, stdout)
		}
	}
}

// TestE2EAgencyStormAndSpentQuota: of four locations, one answers every
// request 500/502/503 and another has its daily quota spent. The two
// others finish, complete; the stormed one is failed and the spent one
// stopped, and the run exits 1 (failed over stopped). Once both are
// lifted the re-run sends no request to the finished locations, exits 0,
// and the two redone equal single-location exports.
//
// The storm is waited out by the export's retries (10 attempts, backoff up
// to 30 s: about a minute), so the test runs beside the others.
func TestE2EAgencyStormAndSpentQuota(t *testing.T) {
	t.Parallel()
	const contacts = 20
	sb := startSandbox(t, sandbox.Options{Contacts: contacts, Locations: 4})
	ids := sb.Locations()
	storm, spent := ids[1], ids[2]
	env := agencyEnv(t, sb)
	out := filepath.Join(t.TempDir(), "agency")
	kind := []string{"--format", "csv", "--include", "tasks,notes"}
	args := append([]string{"export", "--out", out, "--locations", "all"}, kind...)

	sb.StormLocation(storm, 1)
	sb.SpendDailyQuota(spent, true)
	start := time.Now()
	r := runCLI(t, env, args...)
	t.Logf("first run: %.1f s, exit %d", time.Since(start).Seconds(), r.code)
	if r.code != exitFailed {
		t.Fatalf("a stormed and a spent location: exit %d, want %d (failed over stopped)\n%s\n%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	m := readAgencyManifest(t, out)
	want := map[string]string{ids[0]: agency.Done, storm: agency.Failed, spent: agency.Stopped, ids[3]: agency.Done}
	if got := statusOf(m); !mapsEqual(got, want) || m.Status != "incomplete" {
		t.Fatalf("manifest statuses %v (%s), want %v", got, m.Status, want)
	}
	for _, l := range m.Locations {
		if l.Status != agency.Done && l.Error == "" {
			t.Errorf("location %s is %s with no error in the manifest", l.LocationID, l.Status)
		}
	}
	assertSummaryRows(t, r.stdout, want)
	for _, id := range []string{ids[0], ids[3]} {
		assertLocationComplete(t, out, id, contacts)
	}
	if c := sb.Counts().ByLocation[storm]; c.Requests < 10 {
		t.Errorf("the stormed location got %d requests: was it retried?", c.Requests)
	}

	sb.StormLocation(storm, 0)
	sb.SpendDailyQuota(spent, false)
	before := requestsBy(sb)
	r = runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("re-run after the storm and the quota: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after := requestsBy(sb)
	for _, id := range ids {
		n := after[id] - before[id]
		if redo := id == storm || id == spent; redo != (n > 0) {
			t.Errorf("re-run: %d requests to location %s (redo it: %v)", n, id, redo)
		}
	}
	m = readAgencyManifest(t, out)
	if m.Status != "complete" {
		t.Fatalf("re-run manifest: %+v", m)
	}
	for _, id := range []string{storm, spent} {
		assertLocationComplete(t, out, id, contacts)
		assertEqualsSingle(t, sb, out, id, kind...)
	}
}

// TestE2EAgencySpentQuotaStops: one location's daily quota spent is a stop
// (exit 3, the one-location outcome of a spent quota), not a failure; the
// others finish; once the quota resets the re-run finishes it alone.
func TestE2EAgencySpentQuotaStops(t *testing.T) {
	const contacts = 15
	sb := startSandbox(t, sandbox.Options{Contacts: contacts, Locations: 3})
	ids := sb.Locations()
	spent := ids[0] // the default location: listed first
	env := agencyEnv(t, sb)
	out := filepath.Join(t.TempDir(), "agency")
	kind := []string{"--format", "csv", "--include", "tasks,notes"}
	args := append([]string{"export", "--out", out, "--locations", "all", "--parallel-locations", "2"}, kind...)

	sb.SpendDailyQuota(spent, true)
	r := runCLI(t, env, args...)
	if r.code != exitStopped {
		t.Fatalf("one location's quota spent: exit %d, want %d\n%s\n%s", r.code, exitStopped, r.stdout, r.stderr)
	}
	m := readAgencyManifest(t, out)
	want := map[string]string{spent: agency.Stopped, ids[1]: agency.Done, ids[2]: agency.Done}
	if got := statusOf(m); !mapsEqual(got, want) || m.Status != "incomplete" {
		t.Fatalf("manifest statuses %v (%s), want %v", got, m.Status, want)
	}
	for _, l := range m.Locations {
		if l.LocationID == spent && (l.ExitCode != exitStopped || !strings.Contains(l.Error, "quota")) {
			t.Errorf("the spent location in the manifest: exit %d, error %q; want %d and the quota named", l.ExitCode, l.Error, exitStopped)
		}
	}
	assertSummaryRows(t, r.stdout, want)
	if !strings.Contains(r.stderr, "run the same command again") {
		t.Errorf("stderr does not say what to do:\n%s", r.stderr)
	}
	for _, id := range ids[1:] {
		assertLocationComplete(t, out, id, contacts)
	}

	sb.SpendDailyQuota(spent, false) // the daily window rolled over
	before := requestsBy(sb)
	r = runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("re-run after the quota reset: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after := requestsBy(sb)
	for _, id := range ids {
		if n := after[id] - before[id]; (id == spent) != (n > 0) {
			t.Errorf("re-run: %d requests to location %s; only %s should be redone", n, id, spent)
		}
	}
	if m := readAgencyManifest(t, out); m.Status != "complete" {
		t.Fatalf("re-run manifest: %+v", m)
	}
	assertLocationComplete(t, out, spent, contacts)
	assertEqualsSingle(t, sb, out, spent, kind...)
}

// TestE2EAgencyImportSpentQuota: import --location-column where one
// location's daily quota is spent: the others are imported, that one is
// stopped (exit 3, resumable), and the re-run once the quota is back
// writes only its rows.
func TestE2EAgencyImportSpentQuota(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Locations: 3})
	ids := sb.Locations()
	dir := t.TempDir()
	in := filepath.Join(dir, "franchise.csv")
	rows := "Location,First Name,Email\n"
	for i := range 9 {
		rows += fmt.Sprintf("%s,P%d,p%d@example.com\n", ids[i%3], i, i)
	}
	writeFiles(t, dir, map[string]string{"franchise.csv": rows,
		"m.yaml": "version: 1\nkey: [email]\nfields:\n  firstName: \"First Name\"\n  email: \"Email\"\n"})
	args := []string{"import", in, "--mapping", filepath.Join(dir, "m.yaml"), "--location-column", "Location", "--parallel-locations", "3"}
	env := agencyEnv(t, sb)

	sb.SpendDailyQuota(ids[1], true)
	r := runCLI(t, env, args...)
	if r.code != exitStopped {
		t.Fatalf("a location with its quota spent: exit %d, want %d\n%s\n%s", r.code, exitStopped, r.stdout, r.stderr)
	}
	assertSummaryRows(t, r.stdout, map[string]string{ids[0]: agency.Done, ids[1]: agency.Stopped, ids[2]: agency.Done})
	if !strings.Contains(r.stderr, "again") {
		t.Errorf("stderr does not say to run it again:\n%s", r.stderr)
	}
	if got := voReadCSV(t, in+".rejects.csv"); len(got) > 1 {
		t.Errorf("the stopped location's rows were rejected: %v", got)
	}

	sb.SpendDailyQuota(ids[1], false)
	before := sb.Counts()
	if r := runCLI(t, env, args...); r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after := sb.Counts()
	// A finished location's state says so: its re-run is the session's
	// preflight and nothing else.
	for _, i := range []int{0, 2} {
		if got := after.ByLocation[ids[i]].Requests - before.ByLocation[ids[i]].Requests; got > 1 {
			t.Errorf("re-run: %d requests to finished location %d, want the preflight alone", got, i)
		}
	}
	if w := after.ByRoute["POST /contacts/upsert"] - before.ByRoute["POST /contacts/upsert"]; w != 3 {
		t.Errorf("re-run: %d upserts, want the stopped location's 3 rows", w)
	}
}
