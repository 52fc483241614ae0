package auth

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Per-location private integration tokens (export --locations with
// --tokens FILE): the file is a CSV of location_id,ENV_VAR rows, one
// location a row, the header row "location_id,env" optional, blank lines
// and lines starting with # skipped. The file names the environment
// variable that holds each token, never the token: it can be committed,
// mounted from a ConfigMap, printed in a log, while the tokens stay in
// the environment (a Secret's env, a vault agent). A second column that
// is no variable name is refused without being shown: it may be a token
// pasted there by mistake.

// TokenRow is one location of a --tokens file.
type TokenRow struct {
	LocationID string
	Env        string // the environment variable that holds its token
	Line       int    // its line in the file, for messages
}

// envNameRE is an environment variable name as people write them: upper
// case, digits and _, not starting with a digit. Lower case is refused
// too, so that a token (mixed case, dashes, dots) never passes for a name.
var envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// ReadTokenFile reads a --tokens file. Its errors name the file and the
// line, never the value of a bad second column.
func ReadTokenFile(path string) ([]TokenRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--tokens: %w (a CSV of location_id,ENV_VAR rows)", err)
	}
	defer f.Close()
	return parseTokenFile(path, f)
}

func parseTokenFile(path string, r io.Reader) ([]TokenRow, error) {
	cr := csv.NewReader(r)
	cr.Comment, cr.FieldsPerRecord, cr.TrimLeadingSpace = '#', -1, true
	var rows []TokenRow
	seen := map[string]int{}
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("--tokens %s: line %d: not CSV (%s)", path, line, csvReason(err))
		}
		if first && strings.EqualFold(strings.TrimSpace(rec[0]), "location_id") {
			continue // the header
		}
		row, err := tokenRow(rec, line)
		if err != nil {
			return nil, fmt.Errorf("--tokens %s: line %d: %w", path, line, err)
		}
		if at, dup := seen[row.LocationID]; dup {
			return nil, fmt.Errorf("--tokens %s: line %d: location %s is on line %d already: one row a location", path, line, row.LocationID, at)
		}
		seen[row.LocationID] = line
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("--tokens %s: no location in it: write one location_id,ENV_VAR row a location", path)
	}
	return rows, nil
}

// csvReason is a csv error's cause without the record (which may hold a
// token).
func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "unreadable"
}

func tokenRow(rec []string, line int) (TokenRow, error) {
	if len(rec) != 2 {
		return TokenRow{}, fmt.Errorf("%d columns, want 2: location_id,ENV_VAR", len(rec))
	}
	id, env := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
	if id == "" || strings.ContainsAny(id, `/\. =`) {
		return TokenRow{}, fmt.Errorf("%q is not a location id", id)
	}
	if !envNameRE.MatchString(env) {
		return TokenRow{}, errors.New("the second column is not an environment variable name (A-Z, 0-9 and _, at most 64; its value is not shown): " +
			"it names the variable that holds the location's token, never the token itself; put the token in a variable and name that here")
	}
	return TokenRow{LocationID: id, Env: env, Line: line}, nil
}

// WithToken is o with tok as its token, as if GHL_TOKEN held it: a
// location's own private integration token. The rest of the environment
// is read as before.
func (o Options) WithToken(tok string) Options {
	parent := o.getenv
	o.AgencyLocation = ""
	o.Getenv = func(k string) string {
		if k == EnvToken {
			return tok
		}
		return parent(k)
	}
	return o
}

// LookupToken reads row's variable from the environment of o. A missing
// or empty one is a *CredentialsError naming the variable.
func (o Options) LookupToken(row TokenRow) (string, error) {
	tok := strings.TrimSpace(o.getenv(row.Env))
	if tok == "" {
		return "", &CredentialsError{Reason: fmt.Sprintf("%s is unset or empty", row.Env),
			Fix: fmt.Sprintf("set %s to location %s's private integration token (line %d of --tokens)", row.Env, row.LocationID, row.Line)}
	}
	return tok, nil
}
