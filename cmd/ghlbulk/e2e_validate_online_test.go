package main

// End-to-end test of `ghlbulk validate --online`: the built binary against
// an in-process sandbox holding planted contacts among seeded ones. The
// plan it writes is checked line by line, it must send no write and list
// the contacts in ceil(n/500) pages, and then the real import of the same
// rows must do what the plan said.

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

const voMapping = `version: 1
key: [email, phone]
source_key: "id"
defaults:
  phone_region: US
fields:
  firstName: "first"
  email: "email"
  phone: "phone"
`

// voRow is an input row and the plan line validate must write for it.
type voRow struct {
	id, first, email, phone string
	action                  string
	contact, other          string // planted contact names (A..D), "" for none
	key                     string
	reason                  string // a part of the reason
}

// The planted contacts: A and B with both keys, C email only, D phone only.
var voPlanted = []struct{ name, email, phone string }{
	{"A", "ann@validate.test", "+14155550101"},
	{"B", "bob@validate.test", "+14155550102"},
	{"C", "cat@validate.test", ""},
	{"D", "", "+14155550104"},
}

var voRows = []voRow{
	{"r1", "New", "new1@validate.test", "(415) 555-0111", "create", "", "", "email:new1@validate.test", "no contact has this email or phone"},
	{"r2", "Ann", "Ann@Validate.test", "", "update", "A", "", "email:ann@validate.test", "matches by email"},
	{"r3", "Dee", "", "415-555-0104", "update", "D", "", "phone:+14155550104", "matches by phone"},
	{"r4", "Cat", "cat@validate.test", "+1 415 555 0102", "conflict", "C", "B", "email:cat@validate.test", "the upsert updates the first and drops the phone"},
	{"r5", "Bob", "bob@validate.test", "4155550102", "update", "B", "", "email:bob@validate.test", "matches by email and phone"},
	{"r6", "New again", "new1@validate.test", "", "duplicate", "", "", "email:new1@validate.test", "merged into row 1"},
	{"r7", "Bad", "not-an-email", "", "reject", "", "", "", "email"},
	{"r8", "Other", "new2@validate.test", "4155550112", "create", "", "", "email:new2@validate.test", "no contact has this email or phone"},
	{"r9", "Ann again", "ann@validate.test", "", "duplicate", "A", "", "email:ann@validate.test", "merged into row 2"},
	{"r10", "Nobody", "", "", "reject", "", "", "", "no email or phone"},
}

func voWriteCSV(t *testing.T, path string, rows []voRow) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"id", "first", "email", "phone"})
	for _, r := range rows {
		w.Write([]string{r.id, r.first, r.email, r.phone})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func voReadCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

var voSummaryRequests = regexp.MustCompile(`(?m)^validate \(nothing written\)\n(?:  .*\n)*?  requests\s+(\d+)\n`)

func TestValidateOnlinePredictsImport(t *testing.T) {
	const seeded = 1000
	sb := startSandbox(t, sandbox.Options{Rate: -1, Contacts: seeded})
	ctx := context.Background()
	c := sb.client()
	ids := map[string]string{} // planted name -> contact id
	for _, p := range voPlanted {
		req := ghl.UpsertContactRequest{LocationID: sb.LocationID(), FirstName: &p.name}
		if p.email != "" {
			req.Email = &p.email
		}
		if p.phone != "" {
			req.Phone = &p.phone
		}
		got, err := c.CreateContact(ctx, req)
		if err != nil {
			t.Fatalf("planting %s: %v", p.name, err)
		}
		ids[p.name] = got.ID
	}
	contacts := seeded + len(voPlanted)

	dir := t.TempDir()
	in, mapping := filepath.Join(dir, "people.csv"), filepath.Join(dir, "m.yaml")
	voWriteCSV(t, in, voRows)
	if err := os.WriteFile(mapping, []byte(voMapping), 0o644); err != nil {
		t.Fatal(err)
	}

	sb.ResetCounts()
	r := runCLI(t, sb.env(), "validate", in, "--mapping", mapping, "--online", "--no-progress")
	if r.code != 0 {
		t.Fatalf("validate --online: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	counts := sb.Counts()

	// The plan, line by line, in input order.
	plan := voReadCSV(t, in+".plan.csv")
	if got := strings.Join(plan[0], ","); got != "_file,_row,action,contact_id,other_contact_id,key,reason" {
		t.Fatalf("plan header %q", got)
	}
	if len(plan) != len(voRows)+1 {
		t.Fatalf("plan has %d lines for %d rows:\n%q", len(plan)-1, len(voRows), plan)
	}
	for i, w := range voRows {
		l := plan[i+1]
		want := []string{in, strconv.Itoa(i + 1), w.action, ids[w.contact], ids[w.other], w.key}
		if strings.Join(l[:6], ",") != strings.Join(want, ",") || !strings.Contains(l[6], w.reason) {
			t.Errorf("plan line %d (%s):\n got %q\nwant %q, reason containing %q", i+1, w.id, l, want, w.reason)
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", r.stdout)
	}

	// Nothing written, and the listing in ceil(n/500) pages (n+1 when a
	// multiple of 500: the empty page that ends it) plus the preflight.
	if counts.Writes != 0 {
		t.Errorf("validate sent %d write requests: %v", counts.Writes, counts.ByRoute)
	}
	pages := int64(contacts/500 + 1)
	if got := counts.ByRoute["POST /contacts/search"]; got != pages {
		t.Errorf("listed %d contacts in %d requests, want %d: %v", contacts, got, pages, counts.ByRoute)
	}
	if counts.Total > pages+2 {
		t.Errorf("validate made %d requests for %d contacts (want %d pages + the preflight): %v", counts.Total, contacts, pages, counts.ByRoute)
	}
	m := voSummaryRequests.FindStringSubmatch(r.stdout)
	if m == nil || m[1] != strconv.FormatInt(counts.Total, 10) {
		t.Errorf("summary's requests %v, the sandbox served %d:\n%s", m, counts.Total, r.stdout)
	}
	for _, s := range []string{"would create         2", "would update         3", "conflicts            1",
		"duplicates in input  2", "would reject         2", fmt.Sprintf("contacts indexed     %d", contacts),
		"email, then phone (assumed"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("summary lacks %q:\n%s", s, r.stdout)
		}
	}
	t.Logf("validate --online: %d contacts, %d requests (%v)", contacts, counts.Total, counts.ByRoute)

	// duplicates: report names the repeats as such.
	reportMapping := filepath.Join(dir, "report.yaml")
	if err := os.WriteFile(reportMapping, []byte(voMapping+"duplicates: report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reportPlan := filepath.Join(dir, "report-plan.csv")
	r = runCLI(t, sb.env(), "validate", in, "--mapping", reportMapping, "--online", "--plan-out", reportPlan, "--no-progress", "-q")
	if r.code != 0 {
		t.Fatalf("validate --online (duplicates: report): exit %d\n%s", r.code, r.stderr)
	}
	plan2 := voReadCSV(t, reportPlan)
	if l := plan2[6]; l[2] != "duplicate" || l[6] != "repeats row 1 (duplicates: report)" {
		t.Errorf("report mode, row 6: %q", l)
	}
	if l := plan2[9]; l[2] != "duplicate" || l[3] != ids["A"] || l[6] != "repeats row 2 (duplicates: report)" {
		t.Errorf("report mode, row 9: %q", l)
	}

	// Offline: no request, rejects and duplicates still told.
	offPlan := filepath.Join(dir, "offline-plan.csv")
	r = runCLI(t, nil, "validate", in, "--mapping", mapping, "--plan-out", offPlan, "--no-progress", "-q")
	if r.code != 0 {
		t.Fatalf("validate offline: exit %d\n%s", r.code, r.stderr)
	}
	for i, l := range voReadCSV(t, offPlan)[1:] {
		want := voRows[i].action
		switch want {
		case "create", "update", "conflict":
			want = "upsert"
		}
		if l[2] != want {
			t.Errorf("offline plan line %d: %q, want action %s", i+1, l, want)
		}
	}

	// The prediction holds: import the same rows less the conflict (whose
	// phone the upsert would drop) and compare.
	var kept []voRow
	for _, w := range voRows {
		if w.action != "conflict" {
			kept = append(kept, w)
		}
	}
	in2 := filepath.Join(dir, "people-noconflict.csv")
	voWriteCSV(t, in2, kept)
	r = runCLI(t, sb.env(), "validate", in2, "--mapping", mapping, "--online", "--no-progress", "-q")
	if r.code != 0 {
		t.Fatalf("validate --online: exit %d\n%s", r.code, r.stderr)
	}
	predicted := map[string]int{}
	predictedID := map[string]string{} // key -> contact id, for the rows that update one
	for _, l := range voReadCSV(t, in2+".plan.csv")[1:] {
		predicted[l[2]]++
		if l[3] != "" {
			predictedID[l[5]] = l[3]
		}
	}
	f := newImpFiles(t)
	idMap := filepath.Join(f.dir, "ids.csv")
	rep := mustImport(t, sb, f, in2, mapping, "--id-map", idMap, "--no-plan")
	// A repeated key is written again on top of the first: an update.
	if int(rep.Created) != predicted["create"] || int(rep.Updated) != predicted["update"]+predicted["duplicate"] ||
		int(rep.Rejected) != predicted["reject"] {
		t.Errorf("import created %d, updated %d, rejected %d; the plan said %v", rep.Created, rep.Updated, rep.Rejected, predicted)
	}
	for _, l := range voReadCSV(t, idMap)[1:] {
		key, id := l[1], l[2]
		if want, ok := predictedID[key]; ok && want != id {
			t.Errorf("import wrote %s to %s, the plan said %s", key, id, want)
		}
		delete(predictedID, key)
	}
	if len(predictedID) > 0 {
		t.Errorf("import wrote no contact for %v", predictedID)
	}
}
