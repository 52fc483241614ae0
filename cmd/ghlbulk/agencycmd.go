package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/session"
)

// Agency mode (issue 17): one Company login reaches every location its app
// is installed on; each location is reached with its own Location token.

type locationsOptions struct {
	f      *factory
	json   bool
	tokens string
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
With --tokens FILE (a CSV of location_id,ENV_VAR rows, one private integration token a location)
it lists the file's locations and the variable each token is read from (unset: that location would
be refused), and needs no Company token.
Exit codes: 0 listed, 1 the API failed, 2 no Company token, a scope missing, or a bad --tokens file.`,
		Example: `  ghlbulk auth login --user-type Company --scope contacts.readonly,oauth.readonly,oauth.write
  ghlbulk locations
  ghlbulk locations --json > locations.json
  ghlbulk locations --tokens tokens.csv`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runLocations(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print a JSON array of {id, name, address}")
	cmd.Flags().StringVar(&o.tokens, "tokens", "", "list the locations of this location_id,ENV_VAR file instead (no Company token needed)")
	return cmd
}

func runLocations(ctx context.Context, o locationsOptions) error {
	if o.tokens != "" {
		return listTokenFile(o)
	}
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

// listTokenFile lists the locations of a --tokens file and the variable
// each one's token is read from, never the token.
func listTokenFile(o locationsOptions) error {
	rows, err := auth.ReadTokenFile(o.tokens)
	if err != nil {
		return refused(err)
	}
	type row struct {
		ID       string `json:"id"`
		TokenEnv string `json:"token_env"`
		Set      bool   `json:"token_set"`
	}
	out := make([]row, 0, len(rows))
	for _, r := range rows {
		out = append(out, row{r.LocationID, r.Env, strings.TrimSpace(o.f.getenv(r.Env)) != ""})
	}
	if o.json {
		enc := json.NewEncoder(o.f.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(o.f.stdout, 0, 0, 2, ' ', 0)
	for _, r := range out {
		set := "set"
		if !r.Set {
			set = "unset: this location would be refused"
		}
		fmt.Fprintf(tw, "%s\ttoken from %s (%s)\n", r.ID, r.TokenEnv, set)
	}
	return tw.Flush()
}
