package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/agency"
	"github.com/ghlbulk/ghlbulk/jobs/export"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/objstore"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// An agency export (export --locations) is the job in jobs/agency; here
// are its flags' config, the one-location export it runs per location
// (the plain export's own, so both write the same files) and the summary.

func runAgencyExport(ctx context.Context, o exportOptions, since time.Time) error {
	f := o.f
	if o.layout == export.LayoutRun {
		return refused(errors.New("--locations and --layout run: use one (each location's folder keeps its own files)"))
	}
	shard, err := o.shardOf()
	if err != nil {
		return refused(err)
	}
	res, runErr := agency.Run(ctx, agency.Config{
		Out: o.out, URL: o.url, StateDir: o.state, Locations: o.locations, Tokens: o.tokens,
		Parallel: o.parallel, Workers: o.workers, Shard: shard,
		Auth: f.authOptions(), Logger: f.logger(), Export: o.locationExport(since),
	})
	if res == nil {
		return runErr
	}
	rep := res.Report
	if !f.opts.quiet {
		shown := o.out
		if o.url != "" {
			shown = objstore.Redact(o.url)
		}
		printAgencySummary(f.summaryOut(o.report), shown, res.Manifest)
	}
	if err := f.writeReport(o.report, rep); err != nil {
		f.logger().Error("writing the report", "err", err)
	}
	o.notify.done(rep, "")
	return runErr
}

// shardOf is --shard, else the Indexed Job's environment.
func (o *exportOptions) shardOf() (agency.Shard, error) {
	if o.shard != "" {
		return agency.ParseShard(o.shard)
	}
	return agency.ShardFromEnv(o.f.getenv)
}

// locationExport is the one-location export the job runs for each
// location: the flags' export, into the location's folder and state, over
// a session with the location's credentials.
func (o exportOptions) locationExport(since time.Time) agency.ExportFunc {
	return func(ctx context.Context, l agency.One) (pipeline.Report, error) {
		lo := o
		lo.out, lo.url, lo.state, lo.workers = l.Dir, l.URL, l.State, l.Workers
		lo.report, lo.locations = "", ""
		lo.plan.noPlan = true // parallel plans would interleave on stdout
		if lo.url != "" {     // the location's prefix, its state read back from it
			if err := lo.openRemote(ctx, since); err != nil {
				return pipeline.Report{}, err
			}
			defer lo.remote.Close()
		}
		if err := export.CheckOutDir(lo.config(since), lo.state); err != nil {
			return pipeline.Report{}, refused(err)
		}
		so := lo.plan.sessionOptions(auth.ScopeContactsRead)
		so.Auth, so.Location, so.Logger = l.Auth, l.ID, l.Logger
		sess, err := session.Open(ctx, so)
		if err != nil {
			return pipeline.Report{}, err
		}
		rep, runErr, err := lo.exportWith(ctx, sess, since, false)
		if err != nil {
			return rep, err
		}
		var oe *export.OutDirError
		if errors.As(runErr, &oe) {
			return rep, refused(runErr)
		}
		return rep, runErr
	}
}

func printAgencySummary(w io.Writer, out string, m agency.Manifest) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	what := fmt.Sprintf("%d locations", len(m.Locations))
	if m.Shard != "" {
		what += " (shard " + m.Shard + ")"
	}
	fmt.Fprintf(tw, "export of %s into %s (%s)\n", what, out, m.Status)
	fmt.Fprintf(tw, "  location\tstatus\tcontacts\trequests\terror\n")
	for _, l := range m.Locations {
		e := l.Error
		if len(e) > 120 {
			e = e[:120] + "…"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", l.LocationID, l.Status, l.RowsWritten["contacts"], l.Requests, e)
	}
	tw.Flush()
}
