package transform

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/nyaruka/phonenumbers"
)

var hdr = []string{"First Name", "Last Name", "Email", "Phone", "Notes", "Tags", "Stage"}

func TestLint(t *testing.T) {
	tests := []struct {
		name, yaml string
		compile    bool // the problem shows only against the header
		want       []string
	}{
		{"unknown function with suggestion", "version: 1\nfields:\n  phone: { expr: 'normalise_phone(col[\"Phone\"])' }\n", true,
			[]string{`m.yaml:3:18: unknown function "normalise_phone" (did you mean "normalize_phone"?)`}},
		{"unknown column with suggestion", "version: 1\nfields:\n  email: \"E-mail\"\n", true,
			[]string{`m.yaml:3:10: unknown column "E-mail" (did you mean "Email"?)`}},
		{"unknown column in expression", "version: 1\nfields:\n  email: Email\n  name: { expr: 'col[\"Frist Name\"]' }\n", true,
			[]string{`unknown column "Frist Name" in expression (did you mean "First Name"?)`}},
		{"bad expression", "version: 1\nfields:\n  email: Email\n  name: { expr: 'col[\"Email\"] +' }\n", true,
			[]string{`m.yaml:4:17: bad expression`}},
		{"unknown custom field", "version: 1\nfields: { email: Email }\ncustom_fields:\n  contact.lifecycle_stag: Stage\n", true,
			[]string{`m.yaml:4:3: unknown custom field "contact.lifecycle_stag" (did you mean "contact.lifecycle_stage"?)`}},
		{"custom field key without prefix is fine", "version: 1\nfields: { email: Email }\ncustom_fields:\n  lifecycle_stage: Stage\n", true, nil},
		{"createNewIfDuplicateAllowed refused", "version: 1\nfields:\n  email: Email\n  createNewIfDuplicateAllowed: { value: \"true\" }\n", false,
			[]string{`m.yaml:4:3: field "createNewIfDuplicateAllowed": never mapped`}},
		{"additionalEmails refused", "version: 1\nfields:\n  email: Email\n  additionalEmails: Email\n", false,
			[]string{`field "additionalEmails": not supported`}},
		{"unknown field", "version: 1\nfields:\n  frstName: \"First Name\"\n  email: Email\n", false,
			[]string{`m.yaml:3:3: unknown contact field "frstName" (did you mean "firstName"?)`}},
		{"unknown top-level key", "version: 1\nfeilds:\n  email: Email\n", false,
			[]string{`m.yaml:2:1: unknown key "feilds" (did you mean "fields"?)`}},
		{"unknown normalizer", "version: 1\nfields:\n  email: { column: Email, normalize: emial }\n", false,
			[]string{`unknown normalizer "emial" (did you mean "email"?)`}},
		{"all problems at once", "version: 2\nfields:\n  frstName: x\n  email: { column: Email, value: y }\ntasks:\n  - title: Call\n", false,
			[]string{`m.yaml:1:10: version "2": must be 1`, `unknown contact field "frstName"`, `give exactly one of column, value or expr`, `a task needs a due date`}},
		{"bad phone region", "version: 1\ndefaults: { phone_region: XX }\nfields: { email: Email }\n", false,
			[]string{`phone_region "XX": not a region`}},
		{"when must be boolean", "version: 1\nfields: { email: Email }\ntags:\n  - { value: x, when: 'col[\"Stage\"]' }\n", true,
			[]string{`bad expression`}},
		{"not yaml", "version: 1\nfields: [\n", false, []string{"not valid YAML"}},
		{"key email without an email field", "version: 1\nkey: [email]\nfields: { phone: Phone }\n", true,
			[]string{`key email: the mapping sets no email field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseMapping("m.yaml", []byte(tt.yaml))
			if err == nil && tt.compile {
				_, err = s.Compile(hdr, sandboxFields)
			}
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var le *LintError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LintError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
			if len(le.Lints) < len(tt.want) {
				t.Errorf("%d lints, want at least %d", len(le.Lints), len(tt.want))
			}
		})
	}
}

const rowMapping = `
version: 1
fields:
  firstName: "First Name"
  lastName: "Last Name"
  email: Email
  phone: Phone
tags:
  - { split: Tags, sep: ";" }
  - { value: lead, when: 'lower(col["Stage"]) == "lead"' }
notes:
  - Notes
tasks:
  - { title: Follow up, due: '"2024-05-01"', when: 'lower(col["Notes"]) contains "follow up"' }
`

func TestApplyRows(t *testing.T) {
	m := compile(t, rowMapping, hdr)
	tests := []struct {
		name    string
		row     []string
		wantErr string
		check   func(t *testing.T, r record.Row)
	}{
		{"bad phone", []string{"A", "B", "", "555-01", "", "", ""}, `row 1: phone "555-01": not a valid number for region US`, nil},
		{"bad email", []string{"A", "B", "a@b", "", "", "", ""}, `row 1: email "a@b": not a valid email address`, nil},
		{"no key", []string{"A", "B", "", "", "", "", ""}, `row 1: no email or phone`, nil},
		{"empty row", []string{"", " ", "", "", "", "", ""}, `row 1: empty row`, nil},
		{"ragged", []string{"A", "B"}, `row 1: 2 fields, header has 7`, nil},
		{"invalid utf-8", []string{"A\xff", "B", "a@example.com", "", "", "", ""}, `row 1: column "First Name": not valid UTF-8`, nil},
		{"phone only", []string{"", "", "", "(415) 555-0132", "", "", ""}, "", func(t *testing.T, r record.Row) {
			if r.Key != "phone:+14155550132" {
				t.Errorf("Key = %q", r.Key)
			}
			if r.Contact.FirstName != nil || r.Contact.Email != nil {
				t.Errorf("blank values were set: %+v", r.Contact)
			}
		}},
		{"full", []string{"  ana ", "López", " Ana@Example.COM ", "415.555.0132", "Please follow up", "a; b ;a;", "Lead"}, "", func(t *testing.T, r record.Row) {
			if r.Key != "email:ana@example.com" || *r.Contact.FirstName != "ana" || *r.Contact.Phone != "+14155550132" {
				t.Errorf("row = %+v", r)
			}
			if strings.Join(r.Tags, ",") != "a,b,lead" {
				t.Errorf("Tags = %q", r.Tags)
			}
			if len(r.Notes) != 1 || r.Notes[0].Body != "Please follow up" {
				t.Errorf("Notes = %+v", r.Notes)
			}
			if len(r.Tasks) != 1 || r.Tasks[0].DueDate != "2024-05-01T00:00:00Z" {
				t.Errorf("Tasks = %+v", r.Tasks)
			}
			if len(r.Hash) != 64 {
				t.Errorf("Hash = %q", r.Hash)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := stringRecord(t, hdr, [][]string{tt.row})
			defer rec.Release()
			rows := m.Apply(rec, "in.csv", 1)
			r := rows[0]
			if tt.wantErr != "" {
				if r.Err == nil || !strings.HasPrefix(r.Err.Error(), tt.wantErr) {
					t.Fatalf("Err = %v, want %q", r.Err, tt.wantErr)
				}
				var re *RowError
				if !errors.As(r.Err, &re) || re.File != "in.csv" || re.Row != 1 {
					t.Errorf("not a *RowError with file and row: %#v", r.Err)
				}
				if len(r.Raw) != len(hdr) {
					t.Errorf("Raw = %q", r.Raw)
				}
				return
			}
			if r.Err != nil {
				t.Fatalf("Err = %v", r.Err)
			}
			tt.check(t, r)
		})
	}
}

func TestNoKeyIsErrNoKey(t *testing.T) {
	m := compile(t, "version: 1\nkey: [email, {column: Stage}]\nfields: { email: Email }\n", hdr)
	rec := stringRecord(t, hdr, [][]string{{"A", "", "", "", "", "", ""}, {"A", "", "", "", "", "", "S-1"}})
	defer rec.Release()
	rows := m.Apply(rec, "in.csv", 10)
	if !errors.Is(rows[0].Err, ErrNoKey) || rows[0].Err.Error() != "row 10: no email or Stage" {
		t.Errorf("row 10: %v", rows[0].Err)
	}
	if rows[1].Key != "key:S-1" || rows[1].Row != 11 {
		t.Errorf("row 11: key %q row %d err %v", rows[1].Key, rows[1].Row, rows[1].Err)
	}
}

func TestHashStable(t *testing.T) {
	m := compile(t, rowMapping, hdr)
	rec := stringRecord(t, hdr, [][]string{
		{"A", "B", "a@example.com", "", "", "x;y", ""},
		{"A", "B", "a@example.com", "", "", "y;x", ""},
		{"A", "C", "a@example.com", "", "", "y;x", ""},
	})
	defer rec.Release()
	r1 := m.Apply(rec, "f", 1)
	r2 := m.Apply(rec, "f", 1)
	if r1[0].Hash != r2[0].Hash {
		t.Error("hash differs between runs")
	}
	if r1[0].Hash != r1[1].Hash {
		t.Error("hash depends on tag order")
	}
	if r1[0].Hash == r1[2].Hash {
		t.Error("hash ignores lastName")
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2024-03-01", "2024-03-01T00:00:00Z"},
		{"2024-03-01T09:30:00Z", "2024-03-01T09:30:00Z"},
		{"2024-03-01T09:30:00.000+0000", "2024-03-01T09:30:00Z"},
		{"2024-03-01 09:30", "2024-03-01T09:30:00Z"},
		{"03/04/2024", ""}, // ambiguous without date_order: never guessed
		{"13/04/2024", "2024-04-13T00:00:00Z"},
		{"04/13/2024", "2024-04-13T00:00:00Z"},
		{"04/04/2024", "2024-04-04T00:00:00Z"},
		{"3/4/24", ""},
		{"1.2.2024", ""},
		{"13/13/2024", ""},
		{"Mar 1, 2024", "2024-03-01T00:00:00Z"},
		{"1 March 2024", "2024-03-01T00:00:00Z"},
		{"1709285400", "2024-03-01T09:30:00Z"},
		{"1709285400000", "2024-03-01T09:30:00Z"},
		{"2024-13-45", ""},
		{"soon", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDate(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Errorf("ParseDate(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got.UTC().Format(time.RFC3339) != tt.want {
				t.Errorf("ParseDate(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestParseDateOrder: the finding's dates read by a declared order, and
// no date read in the other order.
func TestParseDateOrder(t *testing.T) {
	tests := []struct {
		in    string
		order DateOrder
		want  string // "" for an error containing fail
		fail  string
	}{
		{"13/01/1990", DateOrderDMY, "1990-01-13T00:00:00Z", ""},
		{"02/03/1990", DateOrderDMY, "1990-03-02T00:00:00Z", ""},
		{"02.03.1990", DateOrderDMY, "1990-03-02T00:00:00Z", ""},
		{"02-03-90", DateOrderDMY, "1990-03-02T00:00:00Z", ""},
		{"02/03/1990 14:30", DateOrderDMY, "1990-03-02T14:30:00Z", ""},
		{"02/03/1990", DateOrderMDY, "1990-02-03T00:00:00Z", ""},
		{"2/3/1990 2:30 PM", DateOrderMDY, "1990-02-03T14:30:00Z", ""},
		{"1990-03-02", DateOrderDMY, "1990-03-02T00:00:00Z", ""},
		{"13/01/1990", DateOrderNone, "1990-01-13T00:00:00Z", ""},
		{"02/03/1990", DateOrderNone, "", "ambiguous date \"02/03/1990\": 2 March or February 3? (set date_order: DMY or MDY"},
		{"02/03/1990", DateOrderYMD, "", "ambiguous date"},
		{"01/13/1990", DateOrderDMY, "", "13 is not a month (date_order: DMY"},
		{"31/02/1990", DateOrderDMY, "", "day 31 is not in February 1990"},
		{"02/03-1990", DateOrderDMY, "", "mixes separators"},
	}
	for _, tt := range tests {
		t.Run(tt.in+" "+string(tt.order), func(t *testing.T) {
			got, err := ParseDateOrder(tt.in, time.UTC, tt.order)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.fail) {
					t.Fatalf("= %v, %v; want an error containing %q", got, err, tt.fail)
				}
				return
			}
			if err != nil || got.Format(time.RFC3339) != tt.want {
				t.Errorf("= %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestNormalizers(t *testing.T) {
	tests := []struct {
		fn, in, want string
		err          bool
	}{
		{"email", " Jo.Smith@Example.COM ", "jo.smith@example.com", false},
		{"email", "jo@localhost", "", true},
		{"email", "Jo <jo@example.com>", "", true},
		{"email", "jo@@example.com", "", true},
		{"phone", "(212) 555-0148", "+12125550148", false},
		{"phone", "+44 20 7946 0958", "+442079460958", false},
		{"phone", "12", "", true},
		{"name", "  Mary   Jane\t ", "Mary Jane", false},
		{"country", "United Kingdom", "GB", false},
		{"country", "uk", "GB", false},
		{"country", "de", "DE", false},
	}
	for _, tt := range tests {
		t.Run(tt.fn+" "+tt.in, func(t *testing.T) {
			var got string
			var err error
			switch tt.fn {
			case "email":
				got, err = NormalizeEmail(tt.in)
			case "phone":
				got, err = NormalizePhone(tt.in, "US")
			case "name":
				got = NormalizeName(tt.in)
			case "country":
				got = NormalizeCountry(tt.in)
			}
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestTypedColumns feeds typed columns, as a Parquet source yields them.
func TestTypedColumns(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "email", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "rating", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "vip", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "created", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
		{Name: "born", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("t@example.com")
	b.Field(1).(*array.Int64Builder).Append(42)
	b.Field(2).(*array.Float64Builder).Append(4.5)
	b.Field(3).(*array.BooleanBuilder).Append(true)
	ts, _ := arrow.TimestampFromTime(time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC), arrow.Millisecond)
	b.Field(4).(*array.TimestampBuilder).Append(ts)
	b.Field(5).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(1990, 7, 27, 0, 0, 0, 0, time.UTC)))
	lb := b.Field(6).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"golf", "travel"}, nil)
	rec := b.NewRecord()
	defer rec.Release()
	header := []string{"email", "score", "rating", "vip", "created", "born", "tags"}
	m := compile(t, `
version: 1
fields:
  email: email
  dateOfBirth: born
  dnd: vip
custom_fields:
  lead_score: score
  interests: tags
tags:
  - { split: tags }
  - { value: rated, when: 'col["rating"] == "4.5"' }
tasks:
  - { title: Call, due: 'add_days(col["created"], 1)' }
`, header)
	r := m.Apply(rec, "in.parquet", 1)[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	want := []string{"t@example.com", "42", "4.5", "true", "2024-03-01T09:30:00Z", "1990-07-27", `["golf","travel"]`}
	if strings.Join(r.Raw, "|") != strings.Join(want, "|") {
		t.Errorf("Raw = %q", r.Raw)
	}
	if *r.Contact.DateOfBirth != "1990-07-27" || !*r.Contact.DND {
		t.Errorf("contact = %+v", r.Contact)
	}
	if strings.Join(r.Tags, ",") != "golf,travel,rated" {
		t.Errorf("Tags = %q", r.Tags)
	}
	if r.Tasks[0].DueDate != "2024-03-02T09:30:00Z" {
		t.Errorf("due = %s", r.Tasks[0].DueDate)
	}
	if len(r.Contact.CustomFields) != 2 || r.Contact.CustomFields[0].FieldValue.(float64) != 42 {
		t.Errorf("custom fields = %+v", r.Contact.CustomFields)
	}
}

func TestCustomFieldKeys(t *testing.T) {
	s, err := ParseMapping("m.yaml", []byte("version: 1\nfields: { email: Email }\ncustom_fields:\n  lead_score: Stage\n  contact.birthday: Stage\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.CustomFieldKeys(), ","); got != "contact.birthday,lead_score" || !s.NeedsCustomFields() {
		t.Errorf("CustomFieldKeys = %s", got)
	}
}

func BenchmarkApply(b *testing.B) {
	m := compile(b, rowMapping, hdr)
	rows := make([][]string, 1024)
	for i := range rows {
		rows[i] = []string{"Ana", "López", "ana" + itoa(i) + "@example.com", "(415) 555-" + pad4(i%10000), "Please follow up soon", "a;b;c", "lead"}
	}
	rec := stringRecord(b, hdr, rows)
	defer rec.Release()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := m.Apply(rec, "bench.csv", 1)
		if out[0].Err != nil {
			b.Fatal(out[0].Err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
	// Wall time suffers when the machine is shared; CPU time per row is
	// the steadier figure (one core's worth).
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N*len(rows))/cpu.Seconds(), "rows/cpu-s")
	}
}

// BenchmarkNANPFast times the phone fast path alone (valid, 1-prefixed,
// +1, invalid block, and a non-NANP number it hands to the full parser), in
// CPU time per number: Apply's row time hides a few ns here.
func BenchmarkNANPFast(b *testing.B) {
	in := []string{"(415) 555-0132", "415.555.0132", "1-212-555-0148", "+1 (646) 555-3890", "555-555-5555", "+44 20 7946 0958"}
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		nanpFast(in[i%len(in)], "US")
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func itoa(i int) string {
	return strings.TrimLeft(pad4(i), "0") + map[bool]string{true: "0", false: ""}[i == 0]
}

func pad4(i int) string {
	return string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

// TestNANPFastPathAgrees checks the fast path against libphonenumber's full
// parser on a spread of numbers, valid and not.
func TestNANPFastPathAgrees(t *testing.T) {
	inputs := []string{"(415) 555-0132", "415.555.0132", "1-212-555-0148", "+1 (646) 555-3890", "555-555-5555",
		"(011) 555-0132", "800-555-0199", "(123) 456-7890", "+1 415 555 013", "212 911 1234", "+1 684 733 1234", "787 555 0100"}
	for _, in := range inputs {
		for _, region := range []string{"US", "CA"} {
			fast, okFast, known := nanpFast(in, region)
			if !known {
				continue
			}
			num, err := phonenumbers.Parse(in, region)
			slowOK := err == nil && phonenumbers.IsValidNumber(num)
			if okFast != slowOK || (slowOK && fast != phonenumbers.Format(num, phonenumbers.E164)) {
				t.Errorf("%q in %s: fast %q %v, libphonenumber valid=%v", in, region, fast, okFast, slowOK)
			}
		}
	}
}
