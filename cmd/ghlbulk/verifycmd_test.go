package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

const planTestMapping = `version: 1
key: [email, phone]
source_key: "id"
defaults:
  phone_region: US
fields:
  firstName: "first"
  email: "email"
  phone: "phone"
  city: "city"
custom_fields:
  contact.referral_code: "nick"
tags:
  - { split: "tags", sep: ";" }
  - { value: "imported" }
notes:
  - { column: "note" }
`

// writePlanInput writes n rows (every 40th rejected: a bad email, no phone) and the mapping.
func writePlanInput(t *testing.T, n int) (dir, csvPath, mapping string) {
	t.Helper()
	dir = t.TempDir()
	var b strings.Builder
	b.WriteString("id,first,email,phone,city,nick,tags,note\n")
	for i := range n {
		email := fmt.Sprintf("Person%d@Example.com", i)
		if i%40 == 39 {
			email = "nope"
		}
		phone := ""
		if i%3 == 0 && i%40 != 39 { // a bad email beside a valid phone would cost only the email
			phone = fmt.Sprintf("(212) 555-%04d", i)
		}
		note := ""
		if i%5 == 0 {
			note = fmt.Sprintf("note %d", i)
		}
		tags := []string{"a", "a;b", "VIP", ""}[i%4]
		fmt.Fprintf(&b, "S%d,First%d,%s,%s,City%d,nick%d,%s,%s\n", 100+i, i, email, phone, i%7, i, tags, note)
	}
	csvPath = filepath.Join(dir, "people.csv")
	mapping = filepath.Join(dir, "m.yaml")
	os.WriteFile(csvPath, []byte(b.String()), 0o644)
	os.WriteFile(mapping, []byte(planTestMapping), 0o644)
	return dir, csvPath, mapping
}

func TestVerifyAfterImport(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	dir, in, mapping := writePlanInput(t, 120)
	state := filepath.Join(dir, "s.state")
	r := runCLI(t, sb.env(), "import", in, "--mapping", mapping, "--state", state, "--no-progress")
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, sb.env(), "verify", in, "--mapping", mapping, "--state", state, "--all")
	if r.code != 0 || !strings.Contains(r.stdout, "(100.0%)") || !strings.Contains(r.stdout, "contacts checked  117") {
		t.Fatalf("verify a clean run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, sb.env(), "verify", in, "--mapping", mapping, "--state", state, "--sample", "10")
	if r.code != 0 || !strings.Contains(r.stdout, "contacts checked  10") {
		t.Fatalf("verify --sample 10: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Plant differences: change two contacts behind the import's back.
	c := sb.client()
	ctx := context.Background()
	list, err := c.SearchContacts(ctx, ghl.SearchRequest{LocationID: sb.LocationID(), PageLimit: 100, Query: "person7@example.com"})
	if err != nil || len(list.Contacts) != 1 {
		t.Fatalf("finding the contact: %v %+v", err, list)
	}
	id := list.Contacts[0].ID
	city := "Elsewhere"
	if _, err := c.UpdateContact(ctx, id, ghl.UpdateContactRequest{City: &city}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveTags(ctx, id, []string{"imported"}); err != nil {
		t.Fatal(err)
	}
	diff := filepath.Join(dir, "diff.csv")
	r = runCLI(t, sb.env(), "verify", in, "--mapping", mapping, "--state", state, "--all", "--diff", diff)
	if r.code != 1 || !strings.Contains(r.stdout, "matching          116") {
		t.Fatalf("verify after changes: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f, err := os.Open(diff)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rows)
	for _, want := range []string{"[row file contact_id field expected actual]", "[8 " + in + " " + id + " city City0 Elsewhere]", id + " tags imported"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff file lacks %q:\n%s", want, got)
		}
	}
	if len(rows) != 3 {
		t.Errorf("diff file has %d differences, want 2:\n%s", len(rows)-1, got)
	}
}

// TestVerifyUnderFaults: verify's reads are retried like the import's
// writes, so 5xx answers and dropped connections change nothing it reports.
func TestVerifyUnderFaults(t *testing.T) {
	t.Parallel()
	faults, err := sandbox.ParseFaults("5xx=0.15,drop-before=0.05,drop-after=0.05,seed=5")
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Rate: -1, Faults: faults})
	dir, in, mapping := writePlanInput(t, 80)
	state := filepath.Join(dir, "s.state")
	r := runCLI(t, sb.env(), "import", in, "--mapping", mapping, "--state", state, "--no-progress")
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	before := sb.Counts().Faults["5xx"]
	r = runCLI(t, sb.env(), "verify", in, "--mapping", mapping, "--state", state, "--all")
	if r.code != 0 || !strings.Contains(r.stdout, "contacts checked  78") || !strings.Contains(r.stdout, "(100.0%)") {
		t.Fatalf("verify under faults: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if sb.Counts().Faults["5xx"] == before {
		t.Error("verify met no 5xx: the test does not test retries")
	}
}
