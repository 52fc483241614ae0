package conflict

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
)

func TestJudge(t *testing.T) {
	ctx := context.Background()
	x, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, c := range [][3]string{{"A", "ann@x.io", "+12125550101"}, {"B", "bob@x.io", "+12125550102"}} {
		if err := x.Add(ctx, c[0], c[1], c[2]); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		email, phone  string
		conflict      bool
		first, second string
	}{
		{"ANN@x.io ", "(212) 555-0102", true, "A", "B"}, // Ann's email, Bob's phone (national format)
		{"ann@x.io", "+12125550101", false, "", ""},
		{"cy@x.io", "+12125550103", false, "", ""}, // row 3 creates Cy
		{"cy@x.io", "+12125550102", true, "the contact row 3 creates", "B"},
		{"", "+12125550103", false, "", ""}, // Cy's phone alone: an update of row 3's contact
		{"", "+12125550104", false, "", ""},
		{"bob@x.io", "", false, "", ""},
	}
	for i, tc := range tests {
		v, err := x.Judge(ctx, tc.email, tc.phone, "US", fmt.Sprint("row ", i+1))
		if err != nil {
			t.Fatal(err)
		}
		if v.Takeover || v.Conflict != tc.conflict || v.First != tc.first || v.Other != tc.second {
			t.Errorf("row %d (%s, %s): %+v, want conflict %v %s/%s", i+1, tc.email, tc.phone, v, tc.conflict, tc.first, tc.second)
		}
	}
}

// The index lives on disk: flushing many entries and reading them back
// gives the same answers.
func TestJudgeAfterFlush(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	x, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	// Nothing is left to a kill: the file has no name once open.
	if ents, _ := os.ReadDir(dir); runtime.GOOS != "windows" && len(ents) != 0 {
		t.Errorf("files left in %s: %v", dir, ents)
	}
	for i := range 3 * flushAt {
		if err := x.Add(ctx, fmt.Sprint("c", i), fmt.Sprintf("p%d@x.io", i), fmt.Sprintf("+1212555%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	x.flush(ctx)
	v, err := x.Judge(ctx, "p7@x.io", "+12125550009", "US", "row 1")
	if err != nil || !v.Conflict || v.First != "c7" || v.Other != "c9" {
		t.Errorf("%+v, %v; want c7/c9", v, err)
	}
}

// A row whose email leads nowhere and phone to a contact (or an earlier
// row) holding another email is a takeover, and changes nothing; a phone
// whose holder has no email is filled in; with DropPhone the row goes
// through without its phone, which stays its holder's.
func TestJudgeTakeover(t *testing.T) {
	ctx := context.Background()
	type row struct {
		email, phone string
		owner        string // the takeover's owner: contact id or row; "" none
		holds        string
	}
	for _, drop := range []bool{false, true} {
		x, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		x.DropPhone = drop
		x.Add(ctx, "A", "ann@x.io", "+18003569377")
		x.Add(ctx, "N", "", "+12125550150") // a phone-only contact
		rows := []row{
			{"bob@x.io", "1-800-FLOWERS", "A", "ann@x.io"}, // vanity letters read as digits
			{"cy@x.io", "+12125550160", "", ""},            // row 2 creates Cy
			{"dee@x.io", "(212) 555-0160", "row 2", "cy@x.io"},
			{"eve@x.io", "+12125550150", "", ""},          // N has no email: filled in
			{"fay@x.io", "+12125550150", "N", "eve@x.io"}, // N's email is eve's now
			{"", "+18003569377", "", ""},                  // phone alone: an update of A
			{"ann@x.io", "+12125550199", "", ""},          // Ann's new phone
			{"gus@x.io", "+18003569377", "", ""},          // Ann's old phone leads nowhere now
		}
		for i, r := range rows {
			v, err := x.Judge(ctx, r.email, r.phone, "US", fmt.Sprint("row ", i+1))
			if err != nil {
				t.Fatal(err)
			}
			owner := v.Owner.Contact + v.Owner.Row
			if v.Conflict || v.Takeover != (r.owner != "") || owner != r.owner || v.Owner.Holds != r.holds || v.PhoneDropped != (drop && r.owner != "") {
				t.Errorf("drop %v, row %d (%s, %s): %+v, want owner %q holding %q", drop, i+1, r.email, r.phone, v, r.owner, r.holds)
			}
		}
	}
}
