package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/jobs/undo"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

type undoOptions struct {
	f       *factory
	state   string
	run     string
	updated bool
	dryRun  bool
	workers int
	report  string
}

func newUndoCmd(f *factory) *cobra.Command {
	o := undoOptions{f: f}
	cmd := &cobra.Command{
		Use:   "undo --state S --run ID",
		Short: "Delete what one import run created, from the record in its state",
		Long: `Take back one import run: delete the contacts it created (their notes and tasks go with them).
Every import run has an id and, unless --run-tag "" was given, tags the contacts it creates with its
run tag (ghlbulk-{run}); the import's summary and report name both. A contact the run created that
no longer carries the run tag is left alone and listed: someone has taken it over.

Contacts the run only updated are not touched unless --updated is given: then the notes and tasks the
run created on them are deleted and the tags it added removed. Field values an update changed are not
restored (the API does not say what they were).

Paced like any run and resumable: what is undone is struck from the state as it goes, so running the
same command again after a stop goes on. Afterwards, importing the same rows again writes them again.
Without --run, lists the runs the state holds.

Exit codes: 0 done, 1 failed (resumable), 2 refused (flag, state, credentials), 3 stopped (resumable).`,
		Example: `  ghlbulk undo --state contacts.csv.state                 # list the runs
  ghlbulk undo --state contacts.csv.state --run 20261123-190512-3fa9 --dry-run
  ghlbulk undo --state contacts.csv.state --run 20261123-190512-3fa9 --updated`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUndo(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.state, "state", "", "the import's checkpoint; required")
	fl.StringVar(&o.run, "run", "", "the run to undo (see the import's summary, or run without --run to list them)")
	fl.BoolVar(&o.updated, "updated", false, "also delete the notes and tasks the run created on contacts it only updated, and remove the tags it added to them")
	fl.BoolVar(&o.dryRun, "dry-run", false, "count what would be undone; delete nothing")
	fl.IntVarP(&o.workers, "workers", "w", pipeline.DefaultWorkers, "requests in flight")
	fl.StringVar(&o.report, "report", "", "write what was undone as JSON to this file")
	return cmd
}

func runUndo(ctx context.Context, o undoOptions) error {
	f := o.f
	if o.state == "" {
		return refused(errors.New("--state is required: the state file of the import to undo"))
	}
	if o.workers < 1 || o.workers > 64 {
		return refused(fmt.Errorf("--workers %d: must be between 1 and 64", o.workers))
	}
	if _, err := os.Stat(o.state); err != nil {
		return refused(fmt.Errorf("--state %s: no import state there", o.state))
	}
	if err := checkStateReport(f, o.state, o.report); err != nil {
		return refused(err)
	}
	store, err := pipeline.OpenStore(o.state, pipeline.StoreOptions{})
	if err != nil {
		return refused(err)
	}
	defer store.Close()
	if o.run == "" {
		runs, err := store.Runs(ctx)
		if err != nil {
			return err
		}
		printRuns(f, o.state, runs)
		return nil
	}
	if _, err := store.RunByID(ctx, o.run); err != nil {
		return refused(err)
	}
	stateLoc, _ := store.Location(ctx)
	if loc, _ := f.locationID(); stateLoc != "" && loc != "" && loc != stateLoc {
		return refused(fmt.Errorf("the state is of location %s, not %s: check --location / GHL_LOCATION_ID", stateLoc, loc))
	}
	sess, err := f.session(ctx, session.Options{Need: auth.ScopeContactsWrite})
	if err != nil {
		return err
	}
	stats := pipeline.NewStats()
	res, err := undo.Run(sess.Context(ctx), undo.Config{
		Client: sess.Client, Store: store, RunID: o.run, LocationID: sess.Location,
		Updated: o.updated, DryRun: o.dryRun, Workers: o.workers, Stats: stats, Log: f.logger(),
	})
	rep := stats.Snapshot()
	if o.report != "" {
		werr := f.writeReport(o.report, struct {
			undo.Result
			Requests int64   `json:"requests"`
			Retries  int64   `json:"retries"`
			Elapsed  float64 `json:"elapsed_s"`
			DryRun   bool    `json:"dry_run,omitempty"`
			Error    string  `json:"error,omitempty"`
		}{res, rep.Requests, rep.Retries, rep.ElapsedS, o.dryRun, errString(err)})
		if werr != nil && err == nil {
			err = werr
		}
	}
	if !f.opts.quiet {
		printUndo(f, o, res, rep)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pace.ErrDailyQuota), errors.As(err, new(*pace.QuotaError)), errors.Is(err, context.Canceled):
		return stopped(fmt.Errorf("undo stopped: %w; run the same command again to go on", err))
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// printRuns lists the runs of a state (undo without --run): a listing,
// not a refusal, so it exits 0.
func printRuns(f *factory, state string, runs []pipeline.Run) {
	if len(runs) == 0 {
		fmt.Fprintln(f.stdout, "the state holds no import run")
		return
	}
	tw := tabwriter.NewWriter(f.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tstarted\trun tag\tfiles")
	for _, r := range runs {
		tag := r.Tag
		if tag == "" {
			tag = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Started.Format("2006-01-02 15:04:05Z07:00"), tag, strings.Join(r.Files, ", "))
	}
	tw.Flush()
	fmt.Fprintf(f.stdout, "undo one with: ghlbulk undo --state %s --run RUN\n", state)
}

func printUndo(f *factory, o undoOptions, res undo.Result, rep pipeline.Report) {
	verb := "deleted"
	if o.dryRun {
		verb = "would delete"
	}
	tw := tabwriter.NewWriter(f.summaryOut(o.report), 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "undo of run %s\n", o.run)
	fmt.Fprintf(tw, "  contacts %s\t%d\n", verb, res.ContactsDeleted)
	if o.updated {
		fmt.Fprintf(tw, "  notes %s\t%d\n", verb, res.NotesDeleted)
		fmt.Fprintf(tw, "  tasks %s\t%d\n", verb, res.TasksDeleted)
		fmt.Fprintf(tw, "  tags removed\t%d\n", res.TagsRemoved)
	} else if res.LeftOnUpdated > 0 {
		fmt.Fprintf(tw, "  left on updated contacts\t%d notes, tasks and tags (--updated removes them)\n", res.LeftOnUpdated)
	}
	if res.NotUndone > 0 {
		fmt.Fprintf(tw, "  not undone\t%d notes and tasks the run updated or deleted (their earlier content is not kept)\n", res.NotUndone)
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(tw, "  left alone (no run tag)\t%d: %s\n", len(res.Skipped), strings.Join(res.Skipped, ", "))
	}
	fmt.Fprintf(tw, "  requests\t%d (%d retries)\n", rep.Requests, rep.Retries)
	tw.Flush()
}
