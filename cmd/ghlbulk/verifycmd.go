package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/jobs/verify"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sources"
)

type verifyOptions struct {
	importOptions
	sample  int
	all     bool
	diff    string
	workers int
}

func newVerifyCmd(f *factory) *cobra.Command {
	o := verifyOptions{importOptions: importOptions{f: f}}
	cmd := &cobra.Command{
		Use:   "verify FILE... --mapping M.yaml --state S",
		Short: "Read back what an import wrote and compare it with the input, field by field",
		Long: `Read back a sample of the contacts an import wrote (their ids come from its --state) with
GET /contacts/{id}, and compare each with what the mapping makes of the input rows that went to it:
only the fields the mapping sets; emails without regard to case, phones as E.164, the mapped tags
must all be on the contact, custom fields by id. Prints the share of contacts that match and, with
--diff, writes every difference as CSV (row, file, contact_id, field, expected, actual).

Needs the contacts.readonly scope. Exit codes: 0 every checked contact matches, 1 differences
found (or a fault), 2 refused (flag, mapping, state, credentials).`,
		Example: `  ghlbulk verify contacts.csv --mapping mappings/hubspot.yaml --state contacts.csv.state --diff diff.csv
  ghlbulk verify contacts.csv --mapping m.yaml --all`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return runVerify(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.mapping, "mapping", "m", "", "mapping file (YAML) the import used; required")
	fl.StringVar(&o.state, "state", "", "the import's checkpoint (default <first FILE>.state)")
	fl.StringVar(&o.delimiter, "delimiter", "", "CSV delimiter (default: detected from the header)")
	o.limits.register(fl)
	fl.IntVar(&o.sample, "sample", verify.DefaultSample, "contacts to check, spread over the input")
	fl.BoolVar(&o.all, "all", false, "check every contact the import wrote")
	fl.StringVar(&o.diff, "diff", "", "write the differences to this CSV file")
	fl.IntVarP(&o.workers, "workers", "w", 4, "requests in flight")
	return cmd
}

func runVerify(ctx context.Context, o verifyOptions) error {
	f := o.f
	if o.sample < 1 {
		return refused(fmt.Errorf("--sample %d: must be 1 or more (or use --all)", o.sample))
	}
	if o.workers < 1 || o.workers > 64 {
		return refused(fmt.Errorf("--workers %d: must be between 1 and 64", o.workers))
	}
	imp := o.importOptions
	imp.dryRun, imp.workers = true, pipeline.DefaultWorkers
	if err := imp.validate(); err != nil {
		return refused(err)
	}
	if err := o.checkPaths(f, imp.state); err != nil {
		return refused(err)
	}
	if _, err := os.Stat(imp.state); err != nil {
		return refused(fmt.Errorf("--state %s: no import state there (%w); verify reads the state the import wrote", imp.state, errors.Unwrap(err)))
	}
	p, err := imp.prepare(ctx, true, session.Options{})
	if err != nil {
		return err
	}
	store, err := pipeline.OpenStore(imp.state, pipeline.StoreOptions{})
	if err != nil {
		return refused(err)
	}
	defer store.Close()
	res, err := verify.Run(p.session.Context(ctx), verify.Options{
		Files: imp.files, Open: imp.open, Fingerprint: sources.Fingerprint, Transform: p.transform,
		Store: store, Client: p.session.Client, Sample: o.sample, All: o.all, DiffPath: o.diff, Workers: o.workers,
	})
	if err != nil {
		return err
	}
	if !f.opts.quiet {
		res.Print(f.stdout)
		if o.diff != "" {
			fmt.Fprintf(f.stdout, "  diff file: %s\n", o.diff)
		}
	}
	if len(res.Diffs) > 0 {
		return fmt.Errorf("%d of %d contacts differ from the input (%d differences)", res.Contacts-res.Matched, res.Contacts, len(res.Diffs))
	}
	return nil
}
