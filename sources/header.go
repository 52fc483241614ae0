package sources

import (
	"errors"
	"fmt"
	"strings"
)

// checkHeader refuses blank and duplicate column names, naming positions
// (1-based) so the user can find them in a spreadsheet.
func checkHeader(h []string) error {
	var errs []error
	seen := make(map[string]int, len(h))
	for i, name := range h {
		switch {
		case strings.TrimSpace(name) == "":
			errs = append(errs, fmt.Errorf("header column %d: blank name (every column needs a name)", i+1))
		case name == ErrorColumn:
			errs = append(errs, fmt.Errorf("header column %d: name %q is reserved", i+1, name))
		default:
			if j, ok := seen[name]; ok {
				errs = append(errs, fmt.Errorf("header column %d: duplicate name %q (also column %d)", i+1, name, j+1))
				continue
			}
			seen[name] = i
		}
	}
	return errors.Join(errs...)
}

// header is a file's first row as the transform will see it.
type header struct {
	names    []string
	trailing int      // blank-named columns cut off its end
	warnings []string // what was changed, for the run's output
}

// fixHeader makes what spreadsheets leave in a header addressable rather
// than refusing the file: blank-named columns at its end (Excel saves
// formatted empty columns) are cut off, and a repeated name gets its
// position, "Phone Number (2)", with a warning. A blank name between named
// columns and the reserved ErrorColumn are still refused: no mapping
// could name them.
func fixHeader(raw []string) (header, error) {
	var h header
	n := len(raw)
	for n > 0 && strings.TrimSpace(raw[n-1]) == "" {
		n--
	}
	if n == 0 {
		return h, errors.New("the header row has no column names (is the first row blank?)")
	}
	if h.trailing = len(raw) - n; h.trailing > 0 {
		h.warnings = append(h.warnings, fmt.Sprintf("%d unnamed column(s) at the end of the header (columns %d-%d) ignored", h.trailing, n+1, len(raw)))
	}
	h.names = make([]string, n)
	seen := make(map[string]int, n)
	for i, name := range raw[:n] {
		if _, ok := seen[name]; !ok {
			seen[name] = i
		}
	}
	var errs []error
	for i, name := range raw[:n] {
		h.names[i] = name
		switch {
		case strings.TrimSpace(name) == "":
			errs = append(errs, fmt.Errorf("header column %d: blank name (every column needs a name: name it in the file's first row)", i+1))
		case name == ErrorColumn:
			errs = append(errs, fmt.Errorf("header column %d: name %q is reserved (rename the column)", i+1, name))
		case seen[name] != i:
			h.names[i] = renameRepeat(name, raw[:n], h.names[:i])
			h.warnings = append(h.warnings, fmt.Sprintf("header column %d: %q repeats an earlier column: read as %q", i+1, name, h.names[i]))
		}
	}
	return h, errors.Join(errs...)
}

// renameRepeat is "NAME (k)" for the smallest k from 2 that no column has.
func renameRepeat(name string, raw, done []string) string {
	taken := func(s string) bool {
		for _, r := range raw {
			if r == s {
				return true
			}
		}
		for _, d := range done {
			if d == s {
				return true
			}
		}
		return false
	}
	for k := 2; ; k++ {
		if s := fmt.Sprintf("%s (%d)", name, k); !taken(s) {
			return s
		}
	}
}

// fieldCountMarker marks a record whose field count is not the header's.
// Fields under the header's cut-off unnamed columns may be there, blank.
func fieldCountMarker(rec []string, ncol, trailing int) string {
	if len(rec) == ncol {
		return ""
	}
	if len(rec) > ncol && len(rec) <= ncol+trailing {
		for i := ncol; i < len(rec); i++ {
			if strings.TrimSpace(rec[i]) != "" {
				return fmt.Sprintf("a value under unnamed column %d (%q): name the column in the header", i+1, rec[i])
			}
		}
		return ""
	}
	return fmt.Sprintf("%d fields, header has %d", len(rec), ncol)
}

func delimName(r rune) string {
	switch r {
	case '\t':
		return "tab"
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '|':
		return "pipe"
	}
	return fmt.Sprintf("%q", r)
}

// quoteNames lists the first names of a header, quoted.
func quoteNames(h []string) string {
	const most = 30
	var b strings.Builder
	for i, n := range h {
		if i == most {
			fmt.Fprintf(&b, ", ... (%d more)", len(h)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", n)
	}
	return b.String()
}
