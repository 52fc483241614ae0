package main

// End-to-end tests of agency mode (issue 17): one Company token, three
// sandbox locations, `locations` and `export --locations`.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/agency"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// agencyEnv is an agency's environment: the Company token in GHL_TOKEN,
// and a token store (for the location tokens) in the test's folder.
func agencyEnv(t *testing.T, sb *testSandbox) []string {
	return []string{"GHL_API_URL=" + sb.URL, "GHL_TOKEN=" + sb.IssueCompanyToken(nil, time.Hour),
		"GHL_TOKEN_FILE=" + filepath.Join(t.TempDir(), "token.json")}
}

func readAgencyManifest(t *testing.T, out string) agency.Manifest {
	t.Helper()
	var m agency.Manifest
	if err := json.Unmarshal(mustRead(t, filepath.Join(out, "manifest.json")), &m); err != nil {
		t.Fatalf("top-level manifest: %v", err)
	}
	return m
}

func statusOf(m agency.Manifest) map[string]string {
	st := map[string]string{}
	for _, l := range m.Locations {
		st[l.LocationID] = l.Status
	}
	return st
}

func TestE2EAgencyLocationsAndExport(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Contacts: 40, Locations: 3, Rate: -1})
	ids := sb.Locations()
	env := agencyEnv(t, sb)

	r := runCLI(t, env, "locations")
	if r.code != 0 {
		t.Fatalf("locations: exit %d\n%s", r.code, r.stderr)
	}
	for _, id := range ids {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("locations does not list %s:\n%s", id, r.stdout)
		}
	}
	r = runCLI(t, env, "locations", "--json")
	var listed []struct{ ID, Name string }
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 3 {
		t.Fatalf("locations --json: %v %d\n%s", err, len(listed), r.stdout)
	}

	out := filepath.Join(t.TempDir(), "agency")
	report := filepath.Join(t.TempDir(), "report.json")
	r = runCLI(t, env, "export", "--out", out, "--locations", "all", "--format", "csv", "--include", "tasks,notes", "--report", report)
	if r.code != 0 {
		t.Fatalf("export --locations all: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	m := readAgencyManifest(t, out)
	if m.Status != "complete" || len(m.Locations) != 3 {
		t.Fatalf("manifest: %+v", m)
	}
	// The report adds the locations up, over the run's own time.
	var rep pipeline.Report
	if err := json.Unmarshal(mustRead(t, report), &rep); err != nil {
		t.Fatal(err)
	}
	var reqs int64
	for _, l := range m.Locations {
		reqs += l.Requests
	}
	if rep.RowsWritten["contacts"] != 120 || rep.Requests != reqs || rep.Outcome != "done" ||
		rep.ElapsedS > m.FinishedAt.Sub(m.StartedAt).Seconds()+1 {
		t.Errorf("report: contacts %d, requests %d (locations' %d), outcome %q, %.2f s for a run of %.2f s",
			rep.RowsWritten["contacts"], rep.Requests, reqs, rep.Outcome, rep.ElapsedS, m.FinishedAt.Sub(m.StartedAt).Seconds())
	}
	// Each location's files equal, row for row, a one-location export
	// with that location's own token.
	for _, id := range ids {
		tok, err := sb.IssueToken(id, sandbox.AllScopes, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		single := filepath.Join(t.TempDir(), "single")
		r := runCLI(t, []string{"GHL_API_URL=" + sb.URL, "GHL_LOCATION_ID=" + id, "GHL_TOKEN=" + tok},
			"export", "--out", single, "--format", "csv", "--include", "tasks,notes")
		if r.code != 0 {
			t.Fatalf("single export of %s: exit %d\n%s", id, r.code, r.stderr)
		}
		for _, file := range []string{"contacts.csv", "tasks.csv", "notes.csv"} {
			got := mustRead(t, filepath.Join(out, "location_id="+id, file))
			want := mustRead(t, filepath.Join(single, file))
			if !bytes.Equal(got, want) {
				t.Errorf("%s of %s differs from its single-location export (%d vs %d bytes)", file, id, len(got), len(want))
			}
			if n := bytes.Count(got, []byte("\n")); file == "contacts.csv" && n != 41 {
				t.Errorf("%s of %s: %d lines, want 41", file, id, n)
			}
		}
	}
}

func TestE2EAgencyOneLocationFails(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Contacts: 20, Locations: 3})
	ids := sb.Locations()
	env := agencyEnv(t, sb)
	out := filepath.Join(t.TempDir(), "agency")
	args := []string{"export", "--out", out, "--locations", strings.Join(ids, ","), "--format", "csv"}

	sb.RefuseLocation(ids[1], true) // the app uninstalled there
	r := runCLI(t, env, args...)
	if r.code != exitFailed {
		t.Fatalf("one location refused: exit %d, want %d\n%s\n%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	m := readAgencyManifest(t, out)
	want := map[string]string{ids[0]: agency.Done, ids[1]: agency.Refused, ids[2]: agency.Done}
	if got := statusOf(m); !mapsEqual(got, want) || m.Status != "incomplete" {
		t.Fatalf("manifest statuses %v (%s), want %v", got, m.Status, want)
	}
	for _, id := range []string{ids[0], ids[2]} {
		if _, err := os.Stat(filepath.Join(out, "location_id="+id, "contacts.csv")); err != nil {
			t.Errorf("location %s not written: %v", id, err)
		}
	}
	if !strings.Contains(r.stdout, ids[1]) || !strings.Contains(r.stdout, agency.Refused) {
		t.Errorf("the summary has no row for the refused location:\n%s", r.stdout)
	}
	finished := map[string]time.Time{}
	for _, l := range m.Locations {
		finished[l.LocationID] = l.FinishedAt
	}

	sb.RefuseLocation(ids[1], false)
	before := sb.Counts().Total
	r = runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	m = readAgencyManifest(t, out)
	if m.Status != "complete" {
		t.Fatalf("re-run manifest: %+v", m)
	}
	for _, l := range m.Locations {
		if redone := !l.FinishedAt.Equal(finished[l.LocationID]); redone != (l.LocationID == ids[1]) {
			t.Errorf("re-run: location %s redone=%v; only %s should be", l.LocationID, redone, ids[1])
		}
	}
	if _, err := os.Stat(filepath.Join(out, "location_id="+ids[1], "contacts.csv")); err != nil {
		t.Errorf("the re-run did not write %s: %v", ids[1], err)
	}
	if sb.Counts().Total-before > 40 {
		t.Errorf("the re-run made %d requests: more than one location's", sb.Counts().Total-before)
	}
}

func TestE2EAgencyEveryLocationRefused(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Locations: 2})
	env := []string{"GHL_API_URL=" + sb.URL, "GHL_TOKEN=" + sb.Token} // a Location token
	r := runCLI(t, env, "export", "--out", filepath.Join(t.TempDir(), "o"), "--locations", "all")
	if r.code != exitRefused || !strings.Contains(r.stderr, "Company") {
		t.Fatalf("a Location token with --locations: exit %d, want %d naming the Company token\n%s", r.code, exitRefused, r.stderr)
	}
	ids := sb.Locations()
	for _, id := range ids {
		sb.RefuseLocation(id, true)
	}
	r = runCLI(t, agencyEnv(t, sb), "export", "--out", filepath.Join(t.TempDir(), "o"), "--locations", strings.Join(ids, ","))
	if r.code != exitRefused {
		t.Fatalf("every location refused: exit %d, want %d\n%s", r.code, exitRefused, r.stderr)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	return !slices.ContainsFunc(keys, func(k string) bool { return a[k] != b[k] })
}

// TestE2EAgencyImportByLocationColumn: import --location-column routes
// each row to the location it names, each with its own state; rows naming
// no reachable location, and a row one location rejects, are in the one
// rejects file under their original row numbers; a re-run writes nothing.
func TestE2EAgencyImportByLocationColumn(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Locations: 3})
	ids := sb.Locations()
	env := agencyEnv(t, sb)
	dir := t.TempDir()
	mapping := filepath.Join(dir, "m.yaml")
	writeFiles(t, dir, map[string]string{"m.yaml": "version: 1\nkey: [email]\nfields:\n  firstName: \"First Name\"\n  email: \"Email\"\n"})
	in := filepath.Join(dir, "franchise.csv")
	writeFiles(t, dir, map[string]string{"franchise.csv": "Location,First Name,Email\n" +
		ids[0] + ",Ann,ann@example.com\n" +
		ids[1] + ",Bob,bob@example.com\n" +
		"nope-123,Cid,cid@example.com\n" +
		ids[2] + ",Dee,dee@example.com\n" +
		ids[0] + ",Eve,eve@@example.com\n" +
		ids[1] + ",Fay,fay@example.com\n" +
		",Gus,gus@example.com\n"})
	report := filepath.Join(dir, "report.json")
	args := []string{"import", in, "--mapping", mapping, "--location-column", "Location", "--parallel-locations", "2", "--report", report}
	r := runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("import --location-column: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The locations' rows are disjoint: the report adds them up.
	var rep pipeline.Report
	if err := json.Unmarshal(mustRead(t, report), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.RowsRead != 7 || rep.Created != 4 || rep.Rejected != 3 || rep.Outcome != "done" {
		t.Errorf("report: rows_read %d created %d rejected %d outcome %q, want 7, 4, 3, done", rep.RowsRead, rep.Created, rep.Rejected, rep.Outcome)
	}
	for _, id := range ids {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("the summary has no row for %s:\n%s", id, r.stdout)
		}
		if _, err := os.Stat(filepath.Join(in+".states", id+".state")); err != nil {
			t.Errorf("no state for %s: %v", id, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(in+".states", ".split-*")); len(left) != 0 {
		t.Errorf("the split input was left behind: %v", left)
	}

	rejects := voReadCSV(t, in+".rejects.csv")
	want := []struct{ row, reason string }{{"3", "nope-123"}, {"5", "mail"}, {"7", "blank"}}
	if len(rejects) != 1+len(want) {
		t.Fatalf("rejects: %v, want the rows %v", rejects, want)
	}
	for i, w := range want {
		rec := rejects[i+1]
		if n := len(rec); rec[n-3] != w.row || rec[n-2] != in || !strings.Contains(rec[n-1], w.reason) {
			t.Errorf("reject %d: %v, want row %s of %s naming %q", i, rec, w.row, in, w.reason)
		}
	}

	out := filepath.Join(dir, "agency")
	if r := runCLI(t, env, "export", "--out", out, "--locations", "all", "--format", "csv"); r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	wantIn := map[string][]string{ids[0]: {"ann@"}, ids[1]: {"bob@", "fay@"}, ids[2]: {"dee@"}}
	all := []string{"ann@", "bob@", "cid@", "dee@", "eve@", "fay@", "gus@"}
	for _, id := range ids {
		got := string(mustRead(t, filepath.Join(out, "location_id="+id, "contacts.csv")))
		for _, e := range all {
			if strings.Contains(got, e) != slices.Contains(wantIn[id], e) {
				t.Errorf("location %s: has %s = %v, want %v\n%s", id, e, strings.Contains(got, e), slices.Contains(wantIn[id], e), got)
			}
		}
	}

	before := dataWrites(sb.Counts())
	if r := runCLI(t, env, args...); r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	if w := dataWrites(sb.Counts()) - before; w != 0 {
		t.Errorf("the re-run sent %d writes, want none", w)
	}
	if got := voReadCSV(t, in+".rejects.csv"); len(got) != len(rejects) {
		t.Errorf("re-run rejects: %v", got)
	}
}
