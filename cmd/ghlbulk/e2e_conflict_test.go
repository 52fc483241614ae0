package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// TestImportConflicts: a row whose email matches one contact and phone
// another is rejected with both contact ids and never sent (by default), or
// written on the first with --on-conflict update-first; rows around it are
// written as usual, and a re-run lists nothing.
func TestImportConflicts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode             string
		rejected, writes int64
	}{
		{"reject", 1, 2},
		{"update-first", 0, 3},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{Rate: -1})
			c := sb.client()
			mk := func(email, phone string) string {
				r, err := c.UpsertContact(context.Background(), ghl.UpsertContactRequest{LocationID: sb.LocationID(), Email: &email, Phone: &phone})
				if err != nil {
					t.Fatal(err)
				}
				return r.Contact.ID
			}
			a, b := mk("ann@example.com", "+12125550101"), mk("bob@example.com", "+12125550102")
			f := newImpFiles(t)
			file := filepath.Join(f.dir, "in.csv")
			os.WriteFile(file, []byte("id,first,last,email,phone,city,company,stage,note,task\n"+
				"1,Ann,A,ann@example.com,(212) 555-0102,Boston,Co,lead,,\n"+ // Ann's email, Bob's phone
				"2,Ann,A,ann@example.com,(212) 555-0101,Boston,Co,lead,,\n"+
				"3,Cy,C,cy@example.com,(212) 555-0103,Boston,Co,lead,,\n"), 0o644)
			sb.ResetCounts()
			rep := mustImport(t, sb, f, file, peopleMapping, "--on-conflict", tc.mode)
			if rep.Rejected != tc.rejected || sb.Counts().ByRoute["POST /contacts/upsert"] != tc.writes {
				t.Errorf("report %+v, upserts %d (want %d rejected, %d upserts)", rep, sb.Counts().ByRoute["POST /contacts/upsert"], tc.rejected, tc.writes)
			}
			if tc.mode == "reject" {
				rj := rejectsFile(t, f.rejects)
				if len(rj) != 1 || rj[0]["_row"] != "1" || !strings.Contains(rj[0]["_reason"], a) || !strings.Contains(rj[0]["_reason"], b) {
					t.Errorf("rejects %v, want row 1 naming %s and %s", rj, a, b)
				}
			}
			sb.ResetCounts()
			again := mustImport(t, sb, f, file, peopleMapping, "--on-conflict", tc.mode)
			if again.Requests != 0 || sb.Counts().ByRoute["POST /contacts/search"] != 0 {
				t.Errorf("re-run: %d requests, %v", again.Requests, sb.Counts().ByRoute)
			}
		})
	}
	sb := startSandbox(t, sandbox.Options{Rate: -1})
	f := newImpFiles(t)
	file := genPeople(t, f.dir, 5, 0)
	if r := runCLI(t, sb.env(), f.args(file, peopleMapping, "--on-conflict", "merge")...); r.code != exitRefused || !strings.Contains(r.stderr, "update-first") || sb.Counts().Total != 0 {
		t.Errorf("--on-conflict merge: exit %d, %d requests\n%s", r.code, sb.Counts().Total, r.stderr)
	}
}
