package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ghlbulk/ghlbulk/jobs/agency"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/transform"
)

// An agency import (import --location-column COL) is the job in
// jobs/agency (agency.Import: the split, one import a location, the one
// rejects file, the worst outcome); here are its flags' checks and
// config, the one-location import it runs per location (the plain
// import's own) and the summary.

func runAgencyImport(ctx context.Context, o importOptions) error {
	if err := o.checkAgencyImport(); err != nil {
		return refused(err)
	}
	f := o.f
	res, runErr := agency.Import(ctx, agency.ImportConfig{
		Files: o.files, Open: o.open, Column: o.locationColumn, StateDir: o.state, Rejects: o.rejects,
		Parallel: o.parallel, Workers: o.workers, Tokens: o.tokens,
		Auth: f.authOptions(), Logger: f.logger(), Import: o.locationImport(),
	})
	if res == nil {
		return runErr
	}
	if !f.opts.quiet {
		printImportSummary(f.summaryOut(o.report), o, res)
	}
	if err := f.writeReport(o.report, res.Report); err != nil {
		f.logger().Error("writing the report", "err", err)
	}
	o.notify.done(res.Report, o.rejects)
	return runErr
}

// checkAgencyImport checks the flags and files before anything is read.
func (o *importOptions) checkAgencyImport() error {
	if o.related() {
		return errors.New("--location-column imports contacts: it does not go with --kind notes|tasks")
	}
	if o.plan.idMap != "" {
		return errors.New("--location-column and --id-map: use one (each location would write its own map)")
	}
	if o.parallel < 1 || o.parallel > 64 {
		return fmt.Errorf("--parallel-locations %d: must be between 1 and 64", o.parallel)
	}
	if o.state == "" && len(o.files) > 0 {
		o.state = o.files[0] + ".states"
	}
	if err := o.validate(); err != nil {
		return err
	}
	if err := o.checkPaths(o.f); err != nil {
		return err
	}
	if err := o.checkContactsFlags(); err != nil {
		return err
	}
	_, err := transform.LoadMapping(o.mapping)
	return err
}

// locationImport is the one-location import the job runs for each
// location: the flags' contacts import of the location's parts, into its
// state and rejects, over a session with the location's credentials.
func (o importOptions) locationImport() agency.ImportFunc {
	return func(ctx context.Context, p agency.ImportPart) (pipeline.Report, error) {
		lo := o
		lo.files, lo.state, lo.rejects, lo.workers = p.Files, p.State, p.Rejects, p.Workers
		lo.report, lo.locationColumn, lo.agencyPart = "", "", &p
		lo.plan.noPlan = true // parallel plans would interleave on stdout
		rep, _, runErr, err := importContacts(ctx, &lo)
		if err == nil {
			err = runErr
		}
		return rep, err
	}
}

// openSession opens the run's session: for one location of an agency
// import, with that location's credentials.
func (o *importOptions) openSession(ctx context.Context, so session.Options) (*session.Session, error) {
	p := o.agencyPart
	if p == nil {
		return o.f.session(ctx, so)
	}
	so.Auth, so.Location, so.Logger = p.Auth, p.ID, p.Logger
	return session.Open(ctx, so)
}

func printImportSummary(w io.Writer, o importOptions, res *agency.ImportResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "import into %d locations by column %s\n", len(res.Locations), o.locationColumn)
	fmt.Fprintf(tw, "  location\tstatus\tcreated\tupdated\tunchanged\trejected\trequests\terror\n")
	for _, l := range res.Locations {
		e := l.Error
		if len(e) > 120 {
			e = e[:120] + "…"
		}
		r := l.Report
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", l.LocationID, l.Status, r.Created, r.Updated, r.Unchanged, r.Rejected, l.Requests, e)
	}
	fmt.Fprintf(tw, "  (no reachable location)\trejected\t\t\t\t%d\t\t\n", res.Unreachable)
	fmt.Fprintf(tw, "rejects file\t%s\n", o.rejects)
	if !o.dryRun {
		fmt.Fprintf(tw, "state\t%s\n", o.state)
	}
	tw.Flush()
}
