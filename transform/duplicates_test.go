package transform

import (
	"errors"
	"strings"
	"testing"
)

// The duplicates: key: merge by default, report when asked, and a bad
// value is a lint at its line with the allowed values.
func TestDuplicatesSetting(t *testing.T) {
	const base = "version: 1\nfields:\n  email: email\n"
	cases := []struct {
		name string
		yaml string
		want Duplicates
		lint string // "" = no error
	}{
		{"default", base, DuplicatesMerge, ""},
		{"merge", base + "duplicates: merge\n", DuplicatesMerge, ""},
		{"report", base + "duplicates: report\n", DuplicatesReport, ""},
		{"case and spaces", base + "duplicates: ' Report '\n", DuplicatesReport, ""},
		{"typo", base + "duplicates: reprot\n", "", `m.yaml:4:13: duplicates "reprot": must be merge or report (did you mean "report"?)`},
		{"not a scalar", base + "duplicates: [merge]\n", "", `m.yaml:4:13: duplicates: must be merge or report`},
		{"empty", base + "duplicates:\n", "", `m.yaml:4:12: duplicates: must be merge or report`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseMapping("m.yaml", []byte(tc.yaml))
			if tc.lint != "" {
				var le *LintError
				if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), tc.lint) {
					t.Fatalf("err = %v, want a lint starting %q", err, tc.lint)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.Compile([]string{"email"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Duplicates(); got != tc.want {
				t.Errorf("Duplicates() = %q, want %q", got, tc.want)
			}
		})
	}
}
