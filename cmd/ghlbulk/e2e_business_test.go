package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

const businessRoute = "POST /contacts/bulk/business"

// businessFiles writes a mapping of email and businessId and n rows
// spread over two businesses, and returns the import's arguments (with a
// state, rejects and report in dir) and each email's business.
func businessFiles(t *testing.T, n int) (args []string, want map[string]string, report string) {
	t.Helper()
	dir := t.TempDir()
	mapping, input := filepath.Join(dir, "m.yaml"), filepath.Join(dir, "in.csv")
	var b strings.Builder
	b.WriteString("Email,Business\n")
	want = map[string]string{}
	for i := range n {
		email, biz := fmt.Sprintf("u%d@example.com", i), []string{"biz_acme", "biz_globex"}[i%2]
		fmt.Fprintf(&b, "%s,%s\n", email, biz)
		want[email] = biz
	}
	if err := os.WriteFile(mapping, []byte("version: 1\nfields:\n  email: Email\n  businessId: Business\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	report = filepath.Join(dir, "r.json")
	return []string{"--no-progress", "import", input, "--mapping", mapping, "--state", filepath.Join(dir, "s.state"),
		"--rejects", filepath.Join(dir, "rejects.csv"), "--report", report}, want, report
}

// businesses is each contact's business as the sandbox holds it, by email.
func (s *testSandbox) businesses(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := ghl.ListContactsParams{LocationID: s.LocationID(), Limit: 100}
	for done := false; !done; {
		var page *ghl.ContactsPage
		again(t, func(ctx context.Context) (err error) { page, err = s.client().ListContacts(ctx, p); return err })
		for _, c := range page.Contacts {
			out[c.Email] = c.BusinessID
		}
		done = page.Last || len(page.Contacts) == 0
		p = page.NextParams
	}
	return out
}

// checkBusinesses fails for every contact not in its business.
func checkBusinesses(t *testing.T, s *testSandbox, want map[string]string) {
	t.Helper()
	got := s.businesses(t)
	if len(got) != len(want) {
		t.Errorf("sandbox holds %d contacts, want %d", len(got), len(want))
	}
	bad := 0
	for email, biz := range want {
		if got[email] != biz {
			if bad++; bad <= 5 {
				t.Errorf("%s in business %q, want %q", email, got[email], biz)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d contacts not in their business", bad, len(want))
	}
}

var planBusiness = regexp.MustCompile(`(\d+) business links`)

// TestE2EBusinessBatched: 300 rows over 2 businesses take a business
// request per business, not one a row; the plan says so; every contact
// is in its business; a re-run sends none.
func TestE2EBusinessBatched(t *testing.T) {
	t.Parallel()
	const rows = 300
	s := startSandbox(t, sandbox.Options{Rate: -1})
	args, want, report := businessFiles(t, rows)
	r := runCLI(t, s.env(), args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	n := s.Counts().ByRoute[businessRoute]
	if n < 2 || n > 4 {
		t.Errorf("%d business requests for %d rows of 2 businesses, want 2-4", n, rows)
	}
	if m := planBusiness.FindStringSubmatch(r.stdout); m == nil || m[1] != strconv.FormatInt(n, 10) {
		t.Errorf("the plan's business links %v, the run made %d:\n%s", m, n, r.stdout)
	}
	if m := planRequests.FindStringSubmatch(r.stdout); m == nil {
		t.Errorf("no plan:\n%s", r.stdout)
	} else if rep := readPlanReport(t, report); fmt.Sprint(rep.Requests-rep.Retries) != m[1] {
		t.Errorf("planned %s requests, the run made %d (%d retries)\n%s", m[1], rep.Requests, rep.Retries, r.stdout)
	}
	checkBusinesses(t, s, want)
	t.Logf("%d rows: %d business requests, %d requests in all", rows, n, s.Counts().ByRoute["POST /contacts/upsert"]+n)

	s.ResetCounts()
	if r := runCLI(t, s.env(), args...); r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := s.Counts().ByRoute[businessRoute]; n != 0 {
		t.Errorf("re-run over unchanged input made %d business requests, want 0", n)
	}
}

// TestE2EBusinessKilledAndResumed: a SIGKILL mid-run, then the same
// command: every contact lands in its business, and the links journaled
// by the killed run are sent once (two requests in all, one a business)
// and a re-run sends none.
func TestE2EBusinessKilledAndResumed(t *testing.T) {
	t.Parallel()
	const rows = 300
	faults, err := sandbox.ParseFaults("latency=2ms-6ms,seed=5")
	if err != nil {
		t.Fatal(err)
	}
	s := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	args, want, _ := businessFiles(t, rows)
	cmd, out := startImport(t, s.env(), args...)
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	if !waitWrites(t, s, 150, exited) {
		t.Fatalf("run ended before it could be killed: %v\n%s", werr, out)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	if exitOf(werr) != -int(syscall.SIGKILL) {
		t.Fatalf("kill: %v\n%s", werr, out)
	}
	t.Logf("killed at %d writes", s.Counts().Writes)
	if r := runCLI(t, s.env(), args...); r.code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkBusinesses(t, s, want)
	// 150 contacts a business fill no request before the end: each
	// business is one request across both runs, or a contact was sent
	// twice.
	if n := s.Counts().ByRoute[businessRoute]; n != 2 {
		t.Errorf("%d business requests across the killed run and its resume, want 2", n)
	}
	s.ResetCounts()
	if r := runCLI(t, s.env(), args...); r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := s.Counts().ByRoute[businessRoute]; n != 0 {
		t.Errorf("re-run after the resume made %d business requests, want 0", n)
	}
}
