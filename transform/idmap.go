package transform

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// idMapHeader is the header `ghlbulk import --id-map` writes.
var idMapHeader = []string{"source_key", "key", "contact_id"}

// IDMap is an ID map as a contacts import writes it with --id-map: one line
// per source key and match key, with the HighLevel contact id each was
// written to. A notes or tasks mapping finds a row's contact in it.
type IDMap struct {
	path     string
	bySource map[string][]string // source_key -> distinct contact ids, in file order
	byKey    map[string][]string // key ("email:a@b.c") -> distinct contact ids
	lines    int
}

// IDMapError says why an ID map can't be used, and what to do.
type IDMapError struct {
	Path    string
	Line    int // 1-based line of the file (the header is line 1); 0 for the whole file
	Problem string
	Err     error
}

func (e *IDMapError) Error() string {
	where := e.Path
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.Path, e.Line)
	}
	msg := fmt.Sprintf("ID map %s: %s", where, e.Problem)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + " (write it with the contacts import: ghlbulk import CONTACTS.csv --mapping M.yaml --id-map " + e.Path + ")"
}

func (e *IDMapError) Unwrap() error { return e.Err }

// ReadIDMap reads an ID map (CSV with the header source_key,key,contact_id).
// A file that is missing, unreadable, not of that shape, or lists no
// contact is an *IDMapError.
func ReadIDMap(path string) (*IDMap, error) {
	f, err := os.Open(path)
	if err != nil {
		problem := "cannot read it"
		if errors.Is(err, os.ErrNotExist) {
			problem, err = "no such file", nil
		}
		return nil, &IDMapError{Path: path, Problem: problem, Err: err}
	}
	defer f.Close()
	return parseIDMap(path, f)
}

func parseIDMap(path string, r io.Reader) (*IDMap, error) {
	m := &IDMap{path: path, bySource: map[string][]string{}, byKey: map[string][]string{}}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &IDMapError{Path: path, Problem: "empty file, not an ID map"}
	}
	if err != nil {
		return nil, &IDMapError{Path: path, Line: 1, Problem: "not valid CSV", Err: err}
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF")
	}
	if !slices.Equal(header, idMapHeader) {
		got := header
		if len(got) > 4 {
			got = append(got[:4:4], "...")
		}
		return nil, &IDMapError{Path: path, Line: 1, Problem: fmt.Sprintf("header is %q, an ID map's is %q", strings.Join(got, ","), strings.Join(idMapHeader, ","))}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			return nil, &IDMapError{Path: path, Line: line, Problem: "not valid CSV", Err: err}
		}
		if len(rec) != len(idMapHeader) {
			return nil, &IDMapError{Path: path, Line: line, Problem: fmt.Sprintf("%d fields, the header has 3", len(rec))}
		}
		src, key, id := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2])
		if id == "" {
			return nil, &IDMapError{Path: path, Line: line, Problem: "no contact_id"}
		}
		if src == "" && key == "" {
			return nil, &IDMapError{Path: path, Line: line, Problem: "neither a source_key nor a key"}
		}
		if src != "" && !slices.Contains(m.bySource[src], id) {
			m.bySource[src] = append(m.bySource[src], id)
		}
		if key != "" && !slices.Contains(m.byKey[key], id) {
			m.byKey[key] = append(m.byKey[key], id)
		}
		m.lines++
	}
	if m.lines == 0 {
		return nil, &IDMapError{Path: path, Problem: "lists no contact (did the contacts import write any?)"}
	}
	return m, nil
}

// Path is the file the map was read from, as given.
func (m *IDMap) Path() string { return m.path }

// Len is the number of lines after the header.
func (m *IDMap) Len() int { return m.lines }

// Lookup returns the contact ids the map holds for a source key (how
// "source_key") or a match key (how "key", e.g. "email:a@b.c"). More than
// one id means the map is ambiguous for it.
func (m *IDMap) Lookup(how, v string) []string {
	switch how {
	case "source_key":
		return m.bySource[v]
	case "key":
		return m.byKey[v]
	}
	return nil
}
