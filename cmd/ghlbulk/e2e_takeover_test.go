package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// Issue 14: a phone shared by people (an office switchboard, a family
// phone, a vanity number) must not let one row write its email and name
// over another person's contact.

// sharedPerson is one row of the generated file.
type sharedPerson struct {
	row          int64
	first, email string // email as the file spells it
	phone        string // as the file spells it
	e164         string // the phone as HighLevel stores it
}

// sharedPhones are the numbers several people of the file carry: two
// switchboards (the first also an existing contact's), family phones, and
// a vanity number spelled with letters and with digits.
var sharedPhones = []struct{ spelled, e164 string }{
	{"(212) 555-0100", "+12125550100"},
	{"(617) 555-0100", "+16175550100"},
	{"(303) 555-0123", "+13035550123"},
	{"(303) 555-0124", "+13035550124"},
	{"1-800-FLOWERS", "+18003569377"},
	{"1-800-356-9377", "+18003569377"},
}

// writeSharedPhones writes n people for people.yaml, every fifth carrying
// one of sharedPhones, the rest a phone of their own; the last row repeats
// row 7's email with stray Unicode spaces, with the vanity number.
func writeSharedPhones(t *testing.T, dir string, n int) (string, []sharedPerson) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,first,last,email,phone,city,company,stage,note,task\n")
	var people []sharedPerson
	for i := range n {
		p := sharedPerson{row: int64(i + 1), first: fmt.Sprintf("Name%d", i), email: fmt.Sprintf("p%04d@shared.example", i),
			phone: fmt.Sprintf("(415) 555-%04d", i), e164: fmt.Sprintf("+1415555%04d", i)}
		if i%5 == 0 {
			s := sharedPhones[(i/5)%len(sharedPhones)]
			p.phone, p.e164 = s.spelled, s.e164
		}
		if i == n-1 {
			p.email, p.phone, p.e164 = "\u00a0"+people[6].email+"\u2003", "1-800-FLOWERS", "+18003569377"
		}
		people = append(people, p)
		fmt.Fprintf(&b, "ID-%d,%s,Surname%d,%s,%s,Boston,Co %d,lead,,\n", i, p.first, i, p.email, p.phone, i%7)
	}
	path := filepath.Join(dir, "shared.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, people
}

// seedSwitchboard creates the existing contact whose phone is the first
// switchboard's.
func seedSwitchboard(t *testing.T, sb *testSandbox) ghl.Contact {
	t.Helper()
	email, phone, name := "reception@office.example", "+12125550100", "Reception"
	r, err := sb.client().UpsertContact(context.Background(), ghl.UpsertContactRequest{LocationID: sb.LocationID(),
		Email: &email, Phone: &phone, FirstName: &name})
	if err != nil {
		t.Fatal(err)
	}
	return r.Contact
}

// sharedOutcome is the sandbox after an import of the shared-phone file.
type sharedOutcome struct {
	byEmail map[string]held
	rejects map[string]string // row -> reason
	// overwritten lists the contacts holding an email with a name no row
	// (nor the existing contact) with that email has: another person's.
	overwritten []string
	lost        []int64 // rows neither a contact (email and a name of its) nor rejected
}

func checkShared(t *testing.T, sb *testSandbox, rejectsPath string, people []sharedPerson, seeded ghl.Contact) sharedOutcome {
	t.Helper()
	names := map[string][]string{seeded.Email: {seeded.FirstName}} // email -> the first names its rows give
	for _, p := range people {
		e := strings.ToLower(strings.TrimSpace(p.email))
		names[e] = append(names[e], p.first)
	}
	out := sharedOutcome{byEmail: map[string]held{}, rejects: map[string]string{}}
	for _, h := range sb.contents(t) {
		if !slices.Contains(names[h.Email], h.FirstName) {
			out.overwritten = append(out.overwritten, fmt.Sprintf("%s holds %s with the name %s", h.ID, h.Email, h.FirstName))
		}
		out.byEmail[h.Email] = h
	}
	if _, err := os.Stat(rejectsPath); err == nil {
		for _, r := range rejectsFile(t, rejectsPath) {
			out.rejects[r["_row"]] = r["_reason"]
		}
	}
	if h := out.byEmail[seeded.Email]; h.ID != seeded.ID || h.FirstName != seeded.FirstName || h.Phone != seeded.Phone {
		out.overwritten = append(out.overwritten, fmt.Sprintf("the existing contact is %s %s %s now", h.ID, h.FirstName, h.Phone))
	}
	for _, p := range people {
		e := strings.ToLower(strings.TrimSpace(p.email))
		h, ok := out.byEmail[e]
		_, rejected := out.rejects[fmt.Sprint(p.row)]
		if !rejected && (!ok || !slices.Contains(names[e], h.FirstName)) {
			out.lost = append(out.lost, p.row)
		}
	}
	return out
}

// TestImportSharedPhones: with --workers 8, so that rows sharing a phone
// race in different lanes, every row ends a contact equal to its values or
// a reject naming the contact (or the row) it would have overwritten, and
// no contact holds another person's email or name; validate --online
// calls the same rows conflicts. drop-phone writes every row, each shared
// phone left on one contact only, and counts the phones it dropped.
// update-first keeps the old behaviour: people are lost (the checker
// catches them).
func TestImportSharedPhones(t *testing.T) {
	t.Parallel()
	const n = 300
	t.Run("reject", func(t *testing.T) {
		sb := startSandbox(t, sandbox.Options{Rate: -1})
		seeded := seedSwitchboard(t, sb)
		f := newImpFiles(t)
		file, people := writeSharedPhones(t, f.dir, n)
		plan := filepath.Join(f.dir, "plan.csv")
		r := runCLI(t, sb.env(), "validate", file, "--mapping", peopleMapping, "--online", "--plan-out", plan, "--no-progress", "-q")
		if r.code != 0 {
			t.Fatalf("validate: exit %d\n%s", r.code, r.stderr)
		}
		rep := mustImport(t, sb, f, file, peopleMapping, "--workers", "8")
		got := checkShared(t, sb, f.rejects, people, seeded)
		if len(got.lost)+len(got.overwritten) > 0 {
			t.Errorf("rows lost: %v; contacts overwritten: %v", got.lost, got.overwritten)
		}
		// Shared phones: 60 rows, of 6 spellings of 5 numbers; the first
		// switchboard is the existing contact's, so its rows are all
		// rejected; each other number is written once; and the last row
		// (row 7's email, the vanity number) is rejected too.
		if want := int64(n/5 - 4 + 1); rep.Rejected != want || int64(len(got.rejects)) != want {
			t.Errorf("rejected %d (file %d), want %d", rep.Rejected, len(got.rejects), want)
		}
		for _, p := range people {
			reason, isRej := got.rejects[fmt.Sprint(p.row)]
			h := got.byEmail[strings.ToLower(strings.TrimSpace(p.email))]
			switch {
			case isRej && !strings.HasPrefix(reason, "conflict: "):
				t.Errorf("row %d: %s", p.row, reason)
			case isRej && p.row == n:
				if !strings.Contains(reason, "the email matches") {
					t.Errorf("row %d (row 7's email, another's phone): %s", p.row, reason)
				}
			case isRej && p.e164 == seeded.Phone:
				want := fmt.Sprintf("conflict: phone %s belongs to contact %s (%s), not %s; use --on-conflict drop-phone", seeded.Phone, seeded.ID, seeded.Email, p.email)
				if !strings.HasPrefix(reason, want) {
					t.Errorf("row %d: %q, want %q", p.row, reason, want)
				}
			case isRej && !strings.Contains(reason, "phone "+p.e164+" is shared with row "):
				t.Errorf("row %d: %q, want the row it shares %s with", p.row, reason, p.e164)
			case !isRej && (h.Phone != p.e164 || h.FirstName != p.first):
				t.Errorf("row %d: contact %+v, want %s %s", p.row, h.Contact, p.first, p.e164)
			}
		}
		plans := voReadCSV(t, plan)
		for _, rec := range plans[1:] {
			row, action := rec[1], rec[2]
			if _, isRej := got.rejects[row]; isRej != (action == "conflict") {
				t.Errorf("row %s: validate says %s (%s), import's rejects say %q", row, action, rec[6], got.rejects[row])
			}
		}
		if len(plans)-1 != n {
			t.Errorf("plan has %d rows, want %d", len(plans)-1, n)
		}
	})
	t.Run("drop-phone", func(t *testing.T) {
		sb := startSandbox(t, sandbox.Options{Rate: -1})
		seeded := seedSwitchboard(t, sb)
		f := newImpFiles(t)
		file, people := writeSharedPhones(t, f.dir, n)
		r := runCLI(t, sb.env(), f.args(file, peopleMapping, "--workers", "8", "--on-conflict", "drop-phone")...)
		if r.code != 0 {
			t.Fatalf("import: exit %d\n%s", r.code, r.stderr)
		}
		rep := readReport(t, f.report)
		checkSums(t, rep)
		got := checkShared(t, sb, f.rejects, people, seeded)
		if len(got.lost)+len(got.overwritten) > 0 || rep.Rejected != 0 {
			t.Errorf("rows lost: %v; contacts overwritten: %v; rejected %d", got.lost, got.overwritten, rep.Rejected)
		}
		if want := int64(n/5 - 4 + 1); rep.PhonesDropped != want || !regexp.MustCompile(fmt.Sprintf(`phones dropped +%d `, want)).MatchString(r.stdout) {
			t.Errorf("phones_dropped %d, want %d\n%s", rep.PhonesDropped, want, r.stdout)
		}
		holders := map[string][]string{}
		for _, h := range got.byEmail {
			if h.Phone != "" {
				holders[h.Phone] = append(holders[h.Phone], h.Email)
			}
		}
		for _, s := range sharedPhones {
			if len(holders[s.e164]) != 1 {
				t.Errorf("phone %s is on %v", s.e164, holders[s.e164])
			}
		}
	})
	t.Run("update-first", func(t *testing.T) {
		sb := startSandbox(t, sandbox.Options{Rate: -1})
		seeded := seedSwitchboard(t, sb)
		f := newImpFiles(t)
		file, people := writeSharedPhones(t, f.dir, n)
		mustImport(t, sb, f, file, peopleMapping, "--workers", "8", "--on-conflict", "update-first")
		got := checkShared(t, sb, f.rejects, people, seeded)
		if len(got.lost) == 0 || len(got.overwritten) == 0 {
			t.Errorf("update-first lost nobody and overwrote no contact: the checker can't see a takeover")
		}
		t.Logf("update-first: %d rows lost, %d contacts overwritten", len(got.lost), len(got.overwritten))
	})
}

// TestInvalidEmailSharedPhone: a row whose invalid email the mapping leaves
// out would be written by its phone alone; when another contact holds that
// phone, the upsert would put this row's name on that contact, so the row
// is a conflict (also under drop-phone: without its phone it has no key).
// A row with an invalid email and a phone no one holds is kept by its phone.
func TestInvalidEmailSharedPhone(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"reject", "drop-phone"} {
		t.Run(mode, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{Rate: -1})
			seeded := seedSwitchboard(t, sb)
			f := newImpFiles(t)
			file := filepath.Join(f.dir, "in.csv")
			body := "id,first,last,email,phone,city,company,stage,note,task\n" +
				"1,John,Doe,john@,(212) 555-0100,,,,,\n" +
				"2,Mia,Roe,mia@,(212) 555-0188,,,,,\n"
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			rep := mustImport(t, sb, f, file, peopleMapping, "--on-conflict", mode)
			if rep.Rejected != 1 || rep.Created != 1 {
				t.Errorf("%+v, want row 1 rejected and row 2 created", rep)
			}
			reasons := readRejectReasons(t, f.rejects)
			if !strings.Contains(reasons, `email "john@"`) || !strings.Contains(reasons, "belongs to contact "+seeded.ID) {
				t.Errorf("rejects:\n%s", reasons)
			}
			for _, h := range sb.contents(t) {
				if h.ID == seeded.ID && (h.FirstName != seeded.FirstName || h.Email != seeded.Email) {
					t.Errorf("the switchboard's contact became %s <%s>", h.FirstName, h.Email)
				}
			}
		})
	}
}
