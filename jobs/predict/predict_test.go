package predict

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/transform"
)

// existing contacts of the location, in listing (oldest first) order.
type existing struct{ id, email, phone string }

var location = []existing{
	{"A", "ann@x.com", "+14155550101"},
	{"B", "bob@x.com", "+14155550102"},
	{"C", "", "+14155550103"},          // phone only
	{"D", "dan@x.com", ""},             // email only
	{"E", "ann@x.com", "+14155550105"}, // a newer contact with A's email: A is the one matched
	{"F", "", ""},                      // nothing to match by
}

// row is an input row: its email, phone and match key (default: the
// first of email and phone, as the mapping's key: [email, phone]).
type row struct {
	email, phone, key string
	err               error
}

func (r row) record(n int) record.Row {
	key := r.key
	switch {
	case key == "-":
		key = ""
	case key != "":
	case r.email != "":
		key = "email:" + r.email
	case r.phone != "":
		key = "phone:" + r.phone
	}
	rec := record.Row{File: "in.csv", Row: int64(n), Key: key}
	if r.email != "" {
		rec.Contact.Email = &r.email
	}
	if r.phone != "" {
		rec.Contact.Phone = &r.phone
	}
	if r.err != nil {
		rec.Key = ""
		rec.Err = &transform.RowError{File: "in.csv", Row: int64(n), Column: "email", Err: r.err}
	}
	return rec
}

// want is a row's expected decision: action, contact ids, and a part of
// the reason.
type want struct {
	action    Action
	id, other string
	reasonHas string
}

func TestJudge(t *testing.T) {
	cases := []struct {
		name   string
		rule   string
		dups   transform.Duplicates
		online bool
		rows   []row
		want   []want
	}{
		{
			name: "create and update, email first", online: true,
			rows: []row{
				{email: "new@x.com", phone: "+14155550199"},
				{email: "ANN@x.com "},                          // case and spaces: A, the older of A and E
				{phone: "+14155550102"},                        // by phone
				{email: "bob@x.com", phone: "+14155550102"},    // both lead to B
				{email: "dan@x.com", phone: "+14155550177"},    // D, phone new
				{email: "nobody@x.com", phone: "+14155550103"}, // no email match: C by phone
			},
			want: []want{
				{Create, "", "", "no contact has this email or phone"},
				{Update, "A", "", "matches by email"},
				{Update, "B", "", "matches by phone"},
				{Update, "B", "", "matches by email and phone"},
				{Update, "D", "", "matches by email"},
				{Update, "C", "", "matches by phone"},
			},
		},
		{
			name: "conflict, email first", online: true,
			rows: []row{
				{email: "ann@x.com", phone: "+14155550102"}, // email A, phone B
				{email: "bob@x.com", phone: "+14155550103"}, // email B, phone C
				{email: "dan@x.com", phone: "+14155550101"}, // email D, phone A
			},
			want: []want{
				{Conflict, "A", "B", "email matches A, phone matches B: the upsert updates the first and drops the phone"},
				{Conflict, "B", "C", "drops the phone"},
				{Conflict, "D", "A", "drops the phone"},
			},
		},
		{
			name: "conflict and updates, phone first", rule: "phone-email", online: true,
			rows: []row{
				{email: "ann@x.com", phone: "+14155550102"}, // phone B wins, email A dropped
				{email: "bob@x.com", phone: "+14155550199"}, // phone matches nobody: B by email
				{email: "dan@x.com", phone: "+14155550103"}, // phone C, email D
				{email: "zed@x.com", phone: "+14155550103"}, // C by phone
			},
			want: []want{
				{Conflict, "B", "A", "phone matches B, email matches A: the upsert updates the first and drops the email"},
				{Update, "B", "", "matches by email"},
				{Conflict, "C", "D", "drops the email"},
				{Update, "C", "", "matches by phone"},
			},
		},
		{
			name: "one-field rules never conflict", rule: "email", online: true,
			rows: []row{
				{email: "ann@x.com", phone: "+14155550102"}, // only email counts: A
				{phone: "+14155550103"},                     // C's phone, but the rule ignores phones
			},
			want: []want{
				{Update, "A", "", "matches by email"},
				{Create, "", "", "the row has no email, which the duplicate rule matches on"},
			},
		},
		{
			name: "contacts earlier rows create", online: true,
			rows: []row{
				{email: "new@x.com", phone: "+14155550199"},
				{email: "other@x.com", phone: "+14155550199"}, // row 1's phone, another email: a takeover, not sent
				{email: "new@x.com"},                          // row 1's key and contact
				{email: "other@x.com", phone: "+14155550102"}, // B's phone, another email: a takeover
				{email: "new@x.com", phone: "+14155550103"},   // row 1's contact; the phone is C's
				{phone: "+14155550199", key: "phone:+14155550199"},
			},
			want: []want{
				{Create, "", "", "no contact has"},
				{Conflict, "", "", "conflict: phone +14155550199 is shared with row 1, not other@x.com; use --on-conflict drop-phone"},
				{Duplicate, "", "", "merged into row 1"},
				{Conflict, "B", "", "conflict: phone +14155550102 belongs to contact B, not other@x.com"},
				{Conflict, "", "C", "merged into row 1; its phone matches C too"},
				{Update, "", "", "matches by phone: the contact row 1 creates"},
			},
		},
		{
			name: "conflict with a contact the input creates, phone first", rule: "phone-email", online: true,
			rows: []row{
				{phone: "+14155550199"},
				{email: "ann@x.com", phone: "+14155550199"},
			},
			want: []want{
				{Create, "", "", "no contact has this phone"},
				{Conflict, "", "A", "phone matches the contact row 1 creates, email matches A: the upsert updates the first and drops the email"},
			},
		},
		{
			name: "an update moves the contact's email", online: true,
			rows: []row{
				{email: "bob2@x.com", phone: "+14155550102"}, // B's phone, another email: a takeover, not sent
				{email: "bob@x.com", phone: "+14155550177"},  // B by email: B's phone becomes 0177
				{email: "bob2@x.com", phone: "+14155550166"}, // nobody's
				{phone: "+14155550102"},                      // B's old phone is nobody's now
			},
			want: []want{
				{Conflict, "B", "", "phone +14155550102 belongs to contact B, not bob2@x.com"},
				{Update, "B", "", "matches by email"},
				{Create, "", "", "no contact has this email or phone"},
				{Create, "", "", "no contact has this phone"},
			},
		},
		{
			name: "in-file duplicates merge", online: true,
			rows: []row{
				{email: "new@x.com"},
				{email: "bob@x.com"},
				{email: "new@x.com", phone: "+14155550199"}, // merged: the new contact gets the phone
				{email: "bob@x.com", phone: "+14155550188"},
				{email: "x@x.com", phone: "+14155550199"}, // the phone row 3 gave row 1's contact, another email
			},
			want: []want{
				{Create, "", "", ""},
				{Update, "B", "", ""},
				{Duplicate, "", "", "merged into row 1"},
				{Duplicate, "B", "", "merged into row 2"},
				{Conflict, "", "", "phone +14155550199 is shared with row 1, not x@x.com"},
			},
		},
		{
			name: "in-file duplicates report", dups: transform.DuplicatesReport, online: true,
			rows: []row{
				{email: "new@x.com"},
				{email: "bob@x.com"},
				{email: "new@x.com", phone: "+14155550199"}, // reported, not merged: the phone is not given
				{email: "bob@x.com"},
				{email: "x@x.com", phone: "+14155550199"},
			},
			want: []want{
				{Create, "", "", ""},
				{Update, "B", "", ""},
				{Duplicate, "", "", "repeats row 1 (duplicates: report)"},
				{Duplicate, "B", "", "repeats row 2 (duplicates: report)"},
				{Create, "", "", ""},
			},
		},
		{
			name: "same source key, another contact", online: true,
			rows: []row{
				{email: "new@x.com", key: "key:7"},
				{email: "bob@x.com", key: "key:7"}, // the upsert goes by email: B
			},
			want: []want{
				{Create, "", "", ""},
				{Update, "B", "", "same key as row 1, but its email and phone lead to another contact"},
			},
		},
		{
			name: "rejects pass through", online: true,
			rows: []row{
				{err: errors.New(`email "not-an-email": not a valid email address`)},
				{key: "-"},
				{email: "ann@x.com"},
				{err: errors.New("empty row")},
			},
			want: []want{
				{Reject, "", "", `email "not-an-email": not a valid email address`},
				{Reject, "", "", "no email or phone to match the contact by"},
				{Update, "A", "", ""},
				{Reject, "", "", "empty row"},
			},
		},
		{
			name: "offline: duplicates and rejects only",
			rows: []row{
				{email: "ann@x.com"},
				{email: "ann@x.com"},
				{err: errors.New("bad")},
				{phone: "+14155550199"},
			},
			want: []want{
				{Upsert, "", "", "offline"},
				{Duplicate, "", "", "merged into row 1"},
				{Reject, "", "", "bad"},
				{Upsert, "", "", ""},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rule, err := ParseRule(tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			var idx *Index
			if tc.online {
				idx = NewIndex(len(location))
				for _, c := range location {
					idx.Add(c.id, c.email, c.phone)
				}
				if idx.Len() != len(location)-1 {
					t.Fatalf("Len = %d, want %d (F has nothing to match by)", idx.Len(), len(location)-1)
				}
			}
			p := New(idx, Options{Rule: rule, Duplicates: tc.dups})
			counts := map[Action]int64{}
			for i, r := range tc.rows {
				rec := r.record(i + 1)
				d := p.Judge(&rec)
				w := tc.want[i]
				counts[w.action]++
				if d.Action != w.action || d.ContactID != w.id || d.OtherContactID != w.other || !strings.Contains(d.Reason, w.reasonHas) {
					t.Errorf("row %d: got %s %q %q %q, want %s %q %q reason containing %q",
						i+1, d.Action, d.ContactID, d.OtherContactID, d.Reason, w.action, w.id, w.other, w.reasonHas)
				}
				if d.Row != int64(i+1) || d.File != "in.csv" || d.Key != rec.Key {
					t.Errorf("row %d: decision names %s row %d key %q", i+1, d.File, d.Row, d.Key)
				}
			}
			if got := p.Counts(); !reflect.DeepEqual(got, counts) {
				t.Errorf("Counts = %v, want %v", got, counts)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// A duplicate of a row of another file names that file.
func TestJudgeAcrossFiles(t *testing.T) {
	p := New(NewIndex(0), Options{})
	a := record.Row{File: "a.csv", Row: 4, Key: "email:z@x.com", Contact: ghl.UpsertContactRequest{Email: ptr("z@x.com")}}
	b := a
	b.File, b.Row = "b.csv", 1
	p.Judge(&a)
	if d := p.Judge(&b); d.Action != Duplicate || d.Reason != "merged into row 4 of a.csv" {
		t.Errorf("got %s %q", d.Action, d.Reason)
	}
}

// A phone the mapping left as written is read as HighLevel reads it.
func TestJudgeNationalPhone(t *testing.T) {
	idx := NewIndex(1)
	idx.Add("C", "", "+14155550103")
	p := New(idx, Options{})
	rec := record.Row{File: "in.csv", Row: 1, Key: "phone:(415) 555-0103", Contact: ghl.UpsertContactRequest{Phone: ptr("(415) 555-0103")}}
	if d := p.Judge(&rec); d.Action != Update || d.ContactID != "C" {
		t.Errorf("got %s %q %q", d.Action, d.ContactID, d.Reason)
	}
}

func TestParseRule(t *testing.T) {
	for _, tc := range []struct{ in, name, words string }{
		{"", "email-phone", "email, then phone"},
		{"Email-Phone", "email-phone", "email, then phone"},
		{"phone-email", "phone-email", "phone, then email"},
		{"email", "email", "email"},
		{"phone", "phone", "phone"},
	} {
		r, err := ParseRule(tc.in)
		if err != nil || r.Name() != tc.name || r.String() != tc.words {
			t.Errorf("ParseRule(%q) = %q %q %v", tc.in, r.Name(), r.String(), err)
		}
	}
	if _, err := ParseRule("phone-only"); err == nil || !strings.Contains(err.Error(), "must be email-phone, phone-email, email, phone") {
		t.Errorf("ParseRule(phone-only): %v", err)
	}
}

// The plan file: a header, one line per row, and nothing at the path
// until Commit.
func TestPlanWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.csv.plan.csv")
	w, err := CreatePlan(path)
	if err != nil {
		t.Fatal(err)
	}
	ds := []Decision{
		{File: "in.csv", Row: 1, Action: Conflict, ContactID: "A", OtherContactID: "B", Key: "email:a@x.com", Reason: "email matches A, phone matches B: x"},
		{File: "in.csv", Row: 2, Action: Reject, Reason: `email "x": not valid`},
	}
	for _, d := range ds {
		if err := w.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("plan visible before Commit: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantLines := [][]string{PlanColumns,
		{"in.csv", "1", "conflict", "A", "B", "email:a@x.com", "email matches A, phone matches B: x"},
		{"in.csv", "2", "reject", "", "", "", `email "x": not valid`}}
	if !reflect.DeepEqual(got, wantLines) {
		t.Errorf("plan file:\n%q\nwant\n%q", got, wantLines)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}

	w, err = CreatePlan(filepath.Join(t.TempDir(), "aborted.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if entries, _ := os.ReadDir(filepath.Dir(w.path)); len(entries) != 0 {
		t.Errorf("Abort left %v", entries)
	}
}

// BenchmarkIndexMemory measures the index's heap per contact (the number
// quoted on Index): go test -run '^$' -bench IndexMemory ./jobs/predict/
func BenchmarkIndexMemory(b *testing.B) {
	const n = 200_000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		idx := NewIndex(0) // grown as a listing with an unknown total would
		for i := range n {
			idx.Add(fmt.Sprintf("%020d", i), fmt.Sprintf("someone.%d@example.com", i), fmt.Sprintf("+1415%07d", i))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/contact")
		runtime.KeepAlive(idx)
	}
}

// TestPlanWriterQuotesAsCSV: the plan's own line writer gives the bytes
// encoding/csv's Writer gives, for every field that needs quoting.
func TestPlanWriterQuotesAsCSV(t *testing.T) {
	fields := []string{"", "plain", "a,b", `say "hi"`, "two\nlines", "cr\rlf", `\.`, ` lead`, "\tlead", "\u00a0nbsp",
		"trail ", `"`, `""`, "ünï,cödé", "\xff\xfe bad utf-8", "x\r\n\"y\""}
	path := filepath.Join(t.TempDir(), "plan.csv")
	w, err := CreatePlan(path)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	cw := csv.NewWriter(&want)
	cw.Write(PlanColumns)
	for i, f := range fields {
		d := Decision{File: f, Row: int64(i) - 1, Action: Action(f), ContactID: f, OtherContactID: "o" + f, Key: f + "k", Reason: f}
		if err := w.Write(d); err != nil {
			t.Fatal(err)
		}
		cw.Write([]string{d.File, fmt.Sprint(d.Row), string(d.Action), d.ContactID, d.OtherContactID, d.Key, d.Reason})
	}
	cw.Flush()
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("plan:\n%q\nencoding/csv:\n%q", got, want.String())
	}
}
