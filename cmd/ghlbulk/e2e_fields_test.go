package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// fieldsMapping maps two fields the sandbox has (lifecycle_stage, a
// picklist, with a normalize: map) and two it lacks (typed for
// --create-fields), and businessId.
const fieldsMapping = `version: 1
fields:
  email: Email
  businessId: Business
custom_fields:
  lifecycle_stage:
    column: Stage
    normalize: { salesqualifiedlead: SQL }
  nps_score: { column: NPS, type: NUMERICAL, name: "NPS Score" }
  plan_tier: { column: Tier, type: SINGLE_OPTIONS, options: [Free, Pro, Enterprise] }
`

const fieldsCSV = `Email,Stage,NPS,Tier,Business
ann@example.com,salesqualifiedlead,9,pro,biz_acme
bob@example.com,bogus-stage,7,Free,
cy@example.com,Customer,3,Gold,
`

// fieldsFiles writes the mapping and the CSV into a fresh folder.
func fieldsFiles(t *testing.T) (mapping, input, dir string) {
	t.Helper()
	dir = t.TempDir()
	mapping, input = filepath.Join(dir, "m.yaml"), filepath.Join(dir, "in.csv")
	if err := os.WriteFile(mapping, []byte(fieldsMapping), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, []byte(fieldsCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	return mapping, input, dir
}

func (s *testSandbox) fieldsByKey(t *testing.T) map[string]ghl.CustomField {
	t.Helper()
	var defs []ghl.CustomField
	again(t, func(ctx context.Context) (err error) {
		defs, err = s.client().ListCustomFields(ctx, s.LocationID())
		return err
	})
	out := map[string]ghl.CustomField{}
	for _, f := range defs {
		out[f.FieldKey] = f
	}
	return out
}

func TestE2ECreateFields(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1})
	mapping, input, dir := fieldsFiles(t)
	before := len(s.fieldsByKey(t))
	rejects := filepath.Join(dir, "rejects.csv")
	report := filepath.Join(dir, "r.json")
	r := runCLI(t, s.env(), "import", input, "--mapping", mapping, "--create-fields",
		"--state", filepath.Join(dir, "s.state"), "--rejects", rejects, "--report", report)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// The plan counts the fields created and the business link too.
	if m := planRequests.FindStringSubmatch(r.stdout); m == nil {
		t.Errorf("no plan:\n%s", r.stdout)
	} else if rep := readPlanReport(t, report); fmt.Sprint(rep.Requests-rep.Retries) != m[1] {
		t.Errorf("planned %s requests, the run made %d (%d retries)\n%s", m[1], rep.Requests, rep.Retries, r.stdout)
	}
	if !regexp.MustCompile(`custom fields to create\s+2`).MatchString(r.stdout) {
		t.Errorf("the plan does not say 2 custom fields to create:\n%s", r.stdout)
	}
	defs := s.fieldsByKey(t)
	if len(defs) != before+2 {
		t.Errorf("%d fields after, %d before: want exactly the 2 missing created", len(defs), before)
	}
	nps, tier := defs["contact.nps_score"], defs["contact.plan_tier"]
	if nps.DataType != "NUMERICAL" || nps.Name != "NPS Score" {
		t.Errorf("nps_score created as %+v, want NUMERICAL named NPS Score", nps)
	}
	if tier.DataType != "SINGLE_OPTIONS" || !slices.Equal(tier.PicklistOptions, []string{"Free", "Pro", "Enterprise"}) {
		t.Errorf("plan_tier created as %+v, want SINGLE_OPTIONS [Free Pro Enterprise]", tier)
	}

	// ann: imported into the created fields, her stage mapped by normalize:,
	// in her business. bob: his stage is not an option; cy: her tier.
	byEmail := map[string]held{}
	for _, h := range s.contents(t) {
		byEmail[h.Email] = h
	}
	ann, ok := byEmail["ann@example.com"]
	if !ok {
		t.Fatalf("ann not imported; rejects:\n%s", readFile(t, rejects))
	}
	vals := map[string]string{}
	for _, v := range ann.CustomFields {
		vals[v.ID] = string(v.Value)
	}
	if got := vals[defs["contact.lifecycle_stage"].ID]; got != `"SQL"` {
		t.Errorf("ann's lifecycle_stage = %s, want \"SQL\" (normalize: salesqualifiedlead -> SQL)", got)
	}
	if got := vals[nps.ID]; got != "9" {
		t.Errorf("ann's nps_score = %s, want 9", got)
	}
	if got := vals[tier.ID]; got != `"Pro"` {
		t.Errorf("ann's plan_tier = %s, want \"Pro\"", got)
	}
	if ann.BusinessID != "biz_acme" {
		t.Errorf("ann's businessId = %q, want biz_acme", ann.BusinessID)
	}
	for _, gone := range []string{"bob@example.com", "cy@example.com"} {
		if _, ok := byEmail[gone]; ok {
			t.Errorf("%s imported, want rejected", gone)
		}
	}
	rej := readRejectReasons(t, rejects)
	for _, want := range []string{
		`custom field contact.lifecycle_stage: "bogus-stage" is not one of: Lead, MQL, SQL, Customer, Churned`,
		`custom field contact.plan_tier: "Gold" is not one of: Free, Pro, Enterprise`,
	} {
		if !strings.Contains(rej, want) {
			t.Errorf("rejects lack %q:\n%s", want, rej)
		}
	}
}

// Without the scope: exit 2 naming it, and nothing written (no field, no
// contact).
func TestE2ECreateFieldsWithoutScope(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1})
	tok, err := s.IssueToken(s.LocationID(), []string{"contacts.readonly", "contacts.write", "locations/customFields.readonly"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mapping, input, dir := fieldsFiles(t)
	before := len(s.fieldsByKey(t))
	s.ResetCounts()
	env := []string{"GHL_API_URL=" + s.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN=" + tok}
	r := runCLI(t, env, "import", input, "--mapping", mapping, "--create-fields",
		"--state", filepath.Join(dir, "s.state"), "--rejects", filepath.Join(dir, "r.csv"))
	if r.code != 2 || !strings.Contains(r.stderr, "locations/customFields.write") {
		t.Errorf("exit %d, want 2 naming locations/customFields.write\n%s", r.code, r.stderr)
	}
	// The one write-route request is the scope probe, refused (403).
	if c := s.Counts(); c.Writes != 1 || c.ByRoute["POST /locations/{locationId}/customFields"] != 1 || c.ByStatus[403] != 1 {
		t.Errorf("write-route requests %d, by route %v, statuses %v: want only the refused scope probe", c.Writes, c.ByRoute, c.ByStatus)
	}
	if after := len(s.fieldsByKey(t)); after != before {
		t.Errorf("%d fields, want %d", after, before)
	}
	if n := len(s.contents(t)); n != 0 {
		t.Errorf("%d contacts written, want none", n)
	}

	// Without --create-fields, the missing fields are a lint that names the
	// flag.
	r = runCLI(t, env, "import", input, "--mapping", mapping,
		"--state", filepath.Join(dir, "s2.state"), "--rejects", filepath.Join(dir, "r2.csv"))
	if r.code != 2 || !strings.Contains(r.stderr, "--create-fields") {
		t.Errorf("no --create-fields: exit %d, want 2 naming --create-fields\n%s", r.code, r.stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readRejectReasons is every cell of a rejects file, joined.
func readRejectReasons(t *testing.T, path string) string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(readFile(t, path))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, strings.Join(r, " | "))
	}
	return strings.Join(out, "\n")
}
