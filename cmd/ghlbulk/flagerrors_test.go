package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestLevenshtein(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"maping", "mapping", 1}, {"wokers", "workers", 1},
		{"stat", "state", 1}, {"rport", "report", 1}, {"abc", "xyz", 3}, {"", "dry-run", 7},
	}
	for _, c := range cases {
		if got := levenshtein(c.a, c.b); got != c.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestSuggestFlags(t *testing.T) {
	f := newFactory(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
	root := newRootCmd(f)
	imp, _, err := root.Find([]string{"import"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		typed string
		want  string // first suggestion, "" for none
	}{
		{"maping", "--mapping"},
		{"wokers", "--workers"},
		{"locaton", "--location"}, // inherited from the root
		{"dry", "--dry-run"},      // a prefix
		{"zzzzzzzz", ""},
	}
	for _, c := range cases {
		got := suggestFlags(imp, c.typed)
		if c.want == "" {
			if len(got) != 0 {
				t.Errorf("suggestFlags(%q) = %v, want none", c.typed, got)
			}
			continue
		}
		if len(got) == 0 || got[0] != c.want {
			t.Errorf("suggestFlags(%q) = %v, want %s first", c.typed, got, c.want)
		}
	}
}

// Flag errors through the real binary: they say which flag, what it wants,
// and the nearest flag name, and they exit 2.
func TestFlagErrorMessages(t *testing.T) {
	cases := []struct {
		args []string
		want string
		not  string
	}{
		{[]string{"import", "--workers", "abc", "x.csv"}, `invalid value "abc" for --workers: not a number`, "strconv"},
		{[]string{"import", "--workers", "1.5", "x.csv"}, `invalid value "1.5" for --workers: not a whole number`, "strconv"},
		{[]string{"import", "--maping", "m.yaml", "x.csv"}, "unknown flag: --maping: did you mean --mapping?", ""},
		{[]string{"export", "--incremental=maybe"}, `invalid value "maybe" for --incremental: must be true or false`, "strconv"},
		{[]string{"improt"}, "Did you mean this?", ""},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := runCLI(t, nil, c.args...)
			if r.code != exitRefused {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitRefused, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) || (c.not != "" && strings.Contains(r.stderr, c.not)) {
				t.Errorf("stderr %q: want %q, without %q", r.stderr, c.want, c.not)
			}
		})
	}
}
