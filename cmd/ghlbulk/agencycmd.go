package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/session"
)

// Agency mode (issue 17): one Company login reaches every location its app
// is installed on; each location is reached with its own Location token.

type locationsOptions struct {
	f    *factory
	json bool
}

func newLocationsCmd(f *factory) *cobra.Command {
	o := locationsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "locations",
		Short: "List the locations an agency (Company) login reaches: the ones its app is installed on",
		Long: `List the locations (sub-accounts) the app is installed on, as the agency's Company token sees
them (GET /oauth/installedLocations, scope oauth.readonly): id and name, one a line, or with --json
one JSON array of {id, name, address}. These are what 'export --locations all' exports.

The token is an agency-level one: from 'ghlbulk auth login --user-type Company', or GHL_TOKEN.
Exit codes: 0 listed, 1 the API failed, 2 no Company token or a scope missing.`,
		Example: `  ghlbulk auth login --user-type Company --scope contacts.readonly,oauth.readonly,oauth.write
  ghlbulk locations
  ghlbulk locations --json > locations.json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runLocations(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print a JSON array of {id, name, address}")
	return cmd
}

func runLocations(ctx context.Context, o locationsOptions) error {
	a, err := auth.OpenAgency(ctx, o.f.authOptions())
	if err != nil {
		return session.Refusal(err)
	}
	locs, err := a.Installed(ctx)
	if err != nil {
		return session.Refusal(err)
	}
	if o.json {
		type row struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Address string `json:"address,omitempty"`
		}
		rows := make([]row, 0, len(locs))
		for _, l := range locs {
			rows = append(rows, row{l.ID, l.Name, l.Address})
		}
		enc := json.NewEncoder(o.f.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(o.f.stdout, 0, 0, 2, ' ', 0)
	for _, l := range locs {
		fmt.Fprintf(tw, "%s\t%s\n", l.ID, l.Name)
	}
	return tw.Flush()
}

// agencyTarget is one location of an agency run.
type agencyTarget struct{ ID, Name string }

// resolveLocations reads --locations: "all" (the installed locations),
// "@FILE" (ids one a line; blank lines and # comments skipped) or "ID,ID".
func resolveLocations(ctx context.Context, a *auth.Agency, spec string) ([]agencyTarget, error) {
	var ids []string
	switch {
	case spec == "all":
		locs, err := a.Installed(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]agencyTarget, 0, len(locs))
		for _, l := range locs {
			out = append(out, agencyTarget{l.ID, l.Name})
		}
		if len(out) == 0 {
			return nil, refused(errors.New("--locations all: the app is installed on no location of this agency"))
		}
		return out, nil
	case strings.HasPrefix(spec, "@"):
		b, err := os.ReadFile(spec[1:])
		if err != nil {
			return nil, refused(fmt.Errorf("--locations %s: %w (the file lists location ids, one a line)", spec, err))
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				ids = append(ids, l)
			}
		}
	default:
		for id := range strings.SplitSeq(spec, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return targetsOf(spec, ids)
}

func targetsOf(spec string, ids []string) ([]agencyTarget, error) {
	var out []agencyTarget
	for _, id := range ids {
		if strings.ContainsAny(id, `/\. =`) {
			return nil, refused(fmt.Errorf("--locations: %q is not a location id", id))
		}
		if !slices.ContainsFunc(out, func(t agencyTarget) bool { return t.ID == id }) {
			out = append(out, agencyTarget{ID: id})
		}
	}
	if len(out) == 0 {
		return nil, refused(fmt.Errorf("--locations %q names no location: use all, ID,ID or @FILE", spec))
	}
	return out, nil
}
