package transform

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzExpr compiles an expression as a mapping does (as a field's value, a
// tag list and a when: condition) and runs it on a sample row whose "Fuzz"
// column holds the fuzzed value. It must compile or be refused with a
// *LintError, and run to an end, quickly, on every row.

var exprSeeds = []string{
	`trim(col["First Name"] + " " + col["Last Name"])`,
	`coalesce(col["Phone Number"], col["Mobile Phone Number"])`,
	`lower(col["Lifecycle Stage"]) in ["lead", "subscriber"]`,
	`lower(col["Message"]) matches "follow[- ]?up"`,
	`add_days(col["Create Date"], 7)`,
	`normalize_phone(col["Fuzz"], "GB")`, `normalize_email(col["Fuzz"])`, `normalize_name(col["Fuzz"])`,
	`parse_date(col["Fuzz"])`, `day(col["Fuzz"])`, `blank(col["Fuzz"]) ? "none" : upper(col["Fuzz"])`,
	`split(col["Fuzz"], ";")`, `map(split(col["Fuzz"], ","), trim(#))`, `filter(split(col["Fuzz"], ""), # != " ")`,
	`len(col["Fuzz"]) > 3 && col["Fuzz"] startsWith "a"`, `row % 2 == 0`, `file + ":" + string(row)`,
	`col[col["Fuzz"]]`, `let x = col["Fuzz"]; x + x`, `int(col["Fuzz"]) * 2`, `float(col["Fuzz"]) / 0`,
	`toJSON(col)`, `fromJSON(col["Fuzz"])`, `sum(1..100)`, `reduce(1..10, #acc + #, 0)`,
	`repeat(col["Fuzz"], 3)`, `now().Year()`, `date(col["Fuzz"])`, `duration(col["Fuzz"])`,
}

// exprValues are the fuzzed column's seed values.
var exprValues = []string{"ava.nguyen@example.com", "(415) 555-0132", "2024-03-01", "a, b ;c", "", "42", `{"a":[1,2]}`, "1h30m", "Ana"}

// slowExpr is longer than any row's expressions should take, even on a
// loaded machine.
const slowExpr = 2 * time.Second

func FuzzExpr(f *testing.F) {
	for i, e := range exprSeeds {
		f.Add(e, exprValues[i%len(exprValues)])
	}
	// The expressions of the shipped mappings.
	paths, _ := filepath.Glob(filepath.Join("..", "mappings", "*.yaml"))
	quoted := regexp.MustCompile(`(?:expr|when|due|completed): '([^']*)'`)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range quoted.FindAllSubmatch(data, -1) {
			f.Add(string(m[1]), "x")
		}
	}
	fx := sampleFixture(f, "hubspot-contacts.csv")
	header := append(append([]string(nil), fx.header...), "Fuzz")
	first := make([]string, len(fx.header))
	for i := range first {
		first[i] = fx.rec.Column(i).ValueStr(0)
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		rec := stringRecord(t, header, [][]string{append(append([]string(nil), first...), value)})
		defer rec.Release()
		v := valueSpec{kind: kindExpr, text: text, line: 1, col: 1}
		email := fieldSpec{name: "email", v: valueSpec{kind: kindValue, text: "a@example.com"}}
		specs := map[string]*Spec{
			"value": {fields: []fieldSpec{email, {name: "companyName", v: v}}, tags: []tagSpec{{v: v}}},
			"when":  {fields: []fieldSpec{email}, tags: []tagSpec{{v: valueSpec{kind: kindValue, text: "t"}, when: v}}},
		}
		for what, s := range specs {
			s.file, s.key, s.phoneRegion, s.loc, s.optional = "m.yaml", []keyPart{{kind: "email"}}, "US", time.UTC, map[string]bool{}
			m, err := s.Compile(header, nil)
			if err != nil {
				lintOnly(t, what, err)
				continue
			}
			start := time.Now()
			rows := m.Apply(rec, "f.csv", 1)
			if d := time.Since(start); d > slowExpr {
				t.Fatalf("%s %q took %v on one row", what, text, d)
			}
			if len(rows) != 1 {
				t.Fatalf("%s: %d rows for 1", what, len(rows))
			}
		}
	})
}

// TestExprBudget: an expression whose loops or strings grow without bound
// is stopped by the memory budget (the row is rejected) instead of running
// for minutes or until memory runs out; ordinary ones are unchanged.
func TestExprBudget(t *testing.T) {
	doubling := `let s0 = repeat("x", 999);` // 999 << 12 bytes: ~4 MB, to keep the test cheap without the budget
	for i := 1; i <= 12; i++ {
		doubling += fmt.Sprintf(" let s%d = s%d + s%d;", i, i-1, i-1)
	}
	cases := []struct {
		name, expr, want string // want: the company name, or the reject's reason
		reject           bool
	}{
		{"nested loops", `let a = 0..999; string(count(a, count(a, count(a, true) == 1000) == 1000))`, "memory budget exceeded", true},
		{"doubling string", doubling + ` string(len(s12))`, "memory budget exceeded", true},
		{"concatenation", `trim(col["First Name"] + " " + upper(col["Last Name"]))`, "Ava NGUYEN", false},
		{"closures", `join(map(filter(split("a, b,,c", ","), trim(#) != ""), upper(trim(#))), "+")`, "A+B+C", false},
		{"one loop", `string(count(0..99999, # % 2 == 0))`, "50000", false},
	}
	header := []string{"First Name", "Last Name", "Email"}
	rec := stringRecord(t, header, [][]string{{"Ava", "Nguyen", "ava@example.com"}})
	defer rec.Release()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := compile(t, "version: 1\nfields:\n  email: Email\n  companyName: { expr: '"+strings.ReplaceAll(tc.expr, "'", "''")+"' }\n", header)
			start := time.Now()
			r := m.Apply(rec, "f.csv", 1)[0]
			if d := time.Since(start); d > slowExpr {
				t.Errorf("took %v", d)
			}
			switch {
			case tc.reject && (r.Err == nil || !strings.Contains(r.Err.Error(), tc.want)):
				t.Errorf("error %v, want one with %q", r.Err, tc.want)
			case !tc.reject && r.Err != nil:
				t.Errorf("rejected: %v", r.Err)
			case !tc.reject && (r.Contact.CompanyName == nil || *r.Contact.CompanyName != tc.want):
				t.Errorf("companyName %v, want %q", r.Contact.CompanyName, tc.want)
			}
		})
	}
}
