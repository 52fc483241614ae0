package transform

import (
	"fmt"
	"sort"
	"strings"
)

// Lint is one problem in a mapping file, at a line and column (1-based).
type Lint struct {
	File   string
	Line   int
	Column int
	What   string // what is wrong, then the fix in parentheses when there is one
}

func (l Lint) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", l.File, l.Line, l.Column, l.What)
}

// LintError lists every problem found in a mapping, in file order. The run
// stops before any write when it sees one.
type LintError struct {
	Lints []Lint
}

func (e *LintError) Error() string {
	var b strings.Builder
	for i, l := range e.Lints {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l.String())
	}
	return b.String()
}

func (e *LintError) sort() {
	sort.SliceStable(e.Lints, func(i, j int) bool {
		a, b := e.Lints[i], e.Lints[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// didYouMean returns ` (did you mean "x"?)` for the closest candidate, or
// the fix text when nothing is close.
func didYouMean(got string, candidates []string, otherwise string) string {
	if s := closest(got, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	if otherwise != "" {
		return " (" + otherwise + ")"
	}
	return ""
}

func closest(got string, candidates []string) string {
	best, bestD := "", 1<<30
	lg := strings.ToLower(got)
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == lg {
			return c
		}
		d := levenshtein(lg, lc)
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := len([]rune(got)) / 3
	if limit < 2 {
		limit = 2
	}
	if bestD <= limit {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = x
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
