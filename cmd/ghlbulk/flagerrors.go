package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagError turns pflag's parse errors into what a user can act on: a bad
// value says which flag and what kind of value it wants (not strconv's
// text), and an unknown flag suggests the command's nearest flag names.
func flagError(cmd *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	var unknown *pflag.NotExistError
	switch {
	case errors.As(err, &bad):
		err = fmt.Errorf("invalid value %q for --%s: %s", bad.GetValue(), bad.GetFlag().Name, valueProblem(bad))
	case errors.As(err, &unknown) && unknown.GetSpecifiedShortnames() == "":
		if s := suggestFlags(cmd, unknown.GetSpecifiedName()); len(s) > 0 {
			err = fmt.Errorf("%w: did you mean %s?", err, strings.Join(s, " or "))
		}
	}
	return refused(fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath()))
}

// valueProblem names what the flag's type wants; a flag of our own type
// (rates, modes) already says so in its own error.
func valueProblem(e *pflag.InvalidValueError) string {
	var ne *strconv.NumError
	if errors.As(e.Unwrap(), &ne) && errors.Is(ne.Err, strconv.ErrRange) {
		return "out of range"
	}
	switch t := e.GetFlag().Value.Type(); {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		if _, err := strconv.ParseFloat(e.GetValue(), 64); err == nil {
			return "not a whole number"
		}
		return "not a number"
	case strings.HasPrefix(t, "float"), t == "count":
		return "not a number"
	case t == "bool":
		return "must be true or false"
	case t == "duration":
		return "not a duration (like 90s, 15m or 2h)"
	}
	return e.Unwrap().Error()
}

// suggestFlags lists the command's flags (its own and inherited) within
// edit distance 2 of name, or that start with it, nearest first.
func suggestFlags(cmd *cobra.Command, name string) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	seen := map[string]bool{}
	visit := func(f *pflag.Flag) {
		if f.Hidden || seen[f.Name] {
			return
		}
		seen[f.Name] = true
		d := levenshtein(name, f.Name)
		if d <= 2 || (len(name) >= 3 && strings.HasPrefix(f.Name, name)) {
			cs = append(cs, cand{f.Name, d})
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, "--"+cs[i].name)
	}
	return out
}

// levenshtein is the edit distance between a and b (insertions, deletions
// and substitutions of bytes: flag names are ASCII).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
