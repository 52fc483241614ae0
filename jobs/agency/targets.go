package agency

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// Target is one location of an agency run, and how it is reached.
type Target struct {
	ID, Name string
	// token, with --tokens, is the location's row (nil: it has none);
	// without, the location's token is minted from the Company one.
	token  *auth.TokenRow
	tokens bool // --tokens was given
}

// auth is the credentials t's session opens with.
func (t Target) auth(base auth.Options) (auth.Options, error) {
	if !t.tokens {
		base.AgencyLocation = t.ID
		return base, nil
	}
	if t.token == nil {
		return base, &auth.CredentialsError{Reason: fmt.Sprintf("location %s has no row in --tokens", t.ID),
			Fix: "add a location_id,ENV_VAR row for it, or leave it out of --locations"}
	}
	tok, err := base.LookupToken(*t.token)
	if err != nil {
		return base, err
	}
	return base.WithToken(tok), nil
}

// resolve reads --locations: "all" (the installed locations, or with
// --tokens every location of the file), "@FILE" (ids one a line; blank
// lines and # comments skipped) or "ID,ID".
func resolve(ctx context.Context, cfg Config) ([]Target, error) {
	if cfg.Tokens != "" {
		rows, err := auth.ReadTokenFile(cfg.Tokens)
		if err != nil {
			return nil, pipeline.Refused(err)
		}
		return tokenTargets(cfg.Locations, rows)
	}
	a, err := auth.OpenAgency(ctx, cfg.Auth)
	if err != nil {
		return nil, pipeline.Refused(err)
	}
	if cfg.Locations != "all" {
		return named(cfg.Locations)
	}
	locs, err := a.Installed(ctx)
	if err != nil {
		return nil, session.Refusal(err)
	}
	out := make([]Target, 0, len(locs))
	for _, l := range locs {
		out = append(out, Target{ID: l.ID, Name: l.Name})
	}
	if len(out) == 0 {
		return nil, pipeline.Refused(errors.New("--locations all: the app is installed on no location of this agency"))
	}
	return out, nil
}

// tokenTargets are the locations spec names, each with its row of the
// --tokens file; "all" is every row.
func tokenTargets(spec string, rows []auth.TokenRow) ([]Target, error) {
	var ts []Target
	if spec == "all" {
		for _, r := range rows {
			ts = append(ts, Target{ID: r.LocationID})
		}
	} else {
		var err error
		if ts, err = named(spec); err != nil {
			return nil, err
		}
	}
	for i := range ts {
		ts[i].tokens = true
		if j := slices.IndexFunc(rows, func(r auth.TokenRow) bool { return r.LocationID == ts[i].ID }); j >= 0 {
			ts[i].token = &rows[j]
		}
	}
	return ts, nil
}

// named reads "@FILE" or "ID,ID".
func named(spec string) ([]Target, error) {
	var ids []string
	if file, ok := strings.CutPrefix(spec, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, pipeline.Refused(fmt.Errorf("--locations %s: %w (the file lists location ids, one a line)", spec, err))
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				ids = append(ids, l)
			}
		}
	} else {
		for id := range strings.SplitSeq(spec, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return targetsOf(spec, ids)
}

func targetsOf(spec string, ids []string) ([]Target, error) {
	var out []Target
	for _, id := range ids {
		if strings.ContainsAny(id, `/\. =`) {
			return nil, pipeline.Refused(fmt.Errorf("--locations: %q is not a location id", id))
		}
		if !slices.ContainsFunc(out, func(t Target) bool { return t.ID == id }) {
			out = append(out, Target{ID: id})
		}
	}
	if len(out) == 0 {
		return nil, pipeline.Refused(fmt.Errorf("--locations %q %w", spec, errNoLocation))
	}
	return out, nil
}
