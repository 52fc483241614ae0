package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/export"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// exportPlanFlags are export's flags of the quota planner and the change
// feed: --max-requests, --wait and --no-plan as import has them, and
// --changes.
type exportPlanFlags struct {
	maxRequests int64
	wait        bool
	noPlan      bool
	changes     string
	capper      *plan.Cap
}

func (pf *exportPlanFlags) register(fl *pflag.FlagSet) {
	fl.Int64Var(&pf.maxRequests, "max-requests", 0, "stop cleanly (exit 3, resumable) once the run has made this many API requests; 0: no cap")
	fl.BoolVar(&pf.wait, "wait", false, "when the daily quota is spent, wait until it resets and go on, for as many days as it takes")
	fl.BoolVar(&pf.noPlan, "no-plan", false, "do not print the request plan before the run (and skip its few counting requests)")
	fl.StringVar(&pf.changes, "changes", "", "with --incremental: read notes only for the contacts this `ghlbulk listen` journal names as changed")
}

func (pf *exportPlanFlags) validate(incremental bool) error {
	if pf.maxRequests < 0 {
		return fmt.Errorf("--max-requests %d: must be 0 (no cap) or more", pf.maxRequests)
	}
	if pf.changes != "" && !incremental {
		return errors.New("--changes needs --incremental: the journal's changes are counted from the previous run of this --state")
	}
	return nil
}

// sessionOptions puts the --max-requests counter under the pacer.
func (pf *exportPlanFlags) sessionOptions(need auth.Scope) session.Options {
	pf.capper = plan.NewCap(pf.maxRequests)
	return session.Options{Need: need, Wrap: pf.capper.Wrap, WaitForQuota: pf.wait}
}

// configure sets the plan printer (to w) and the change feed on cfg.
func (pf *exportPlanFlags) configure(f *factory, w io.Writer, cfg *export.Config, s *session.Session) {
	cfg.Changes = pf.changes
	if pf.noPlan || f.opts.quiet {
		return
	}
	cfg.Plan = func(p plan.ExportPlan) {
		p.Schedule(s.Pacer.Observed(), 0)
		p.Print(w)
	}
}

// run is export.Run under --max-requests and --wait.
func (pf *exportPlanFlags) run(ctx context.Context, f *factory, cfg export.Config) (pipeline.Report, error) {
	once := func(ctx context.Context) (pipeline.Report, error) {
		c := cfg
		c.Stats = pipeline.NewStats() // each run counts its own; the reports are merged
		rctx, stop := pf.capper.Context(ctx)
		defer stop()
		rep, err := export.Run(rctx, c)
		return rep, pf.capper.Explain(err)
	}
	if !pf.wait {
		return once(ctx)
	}
	// An export checkpoints a page at a time, and a page needs far fewer
	// requests than a day's quota: a run that made requests made progress.
	return plan.RunWithWaitOptions(ctx, once, plan.WaitOptions{Log: f.logger(),
		Progress: func(r pipeline.Report) bool { return r.Requests > 0 }})
}
