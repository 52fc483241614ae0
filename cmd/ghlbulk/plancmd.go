package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/pflag"

	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/jobs/importer"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// planFlags are import's flags of the quota planner: --max-requests,
// --wait, --id-map and --no-plan.
type planFlags struct {
	maxRequests int64
	wait        bool
	idMap       string
	noPlan      bool
	// tune adjusts the planner's input for the kind of run (import
	// --kind notes|tasks); nil: a contacts import.
	tune func(*plan.Input)

	fieldsToCreate int // --create-fields: custom fields the run creates first
	capper         *plan.Cap
}

func (pf *planFlags) register(fl *pflag.FlagSet) {
	fl.Int64Var(&pf.maxRequests, "max-requests", 0, "stop cleanly (exit 3, resumable) once the run has made this many API requests; 0: no cap")
	fl.BoolVar(&pf.wait, "wait", false, "when the daily quota is spent, wait until it resets and go on, for as many days as it takes")
	fl.StringVar(&pf.idMap, "id-map", "", "write source_key,key,contact_id of every written contact to this CSV file (with --kind notes|tasks: the map to read)")
	fl.BoolVar(&pf.noPlan, "no-plan", false, "do not print the request plan before the run")
}

func (pf *planFlags) validate() error {
	if pf.maxRequests < 0 {
		return fmt.Errorf("--max-requests %d: must be 0 (no cap) or more", pf.maxRequests)
	}
	return nil
}

// wrapTransport is the hook the session puts under its pacer: the
// --max-requests counter sees every attempt the API sees.
func (pf *planFlags) wrapTransport(next http.RoundTripper) http.RoundTripper {
	if pf.capper == nil {
		pf.capper = plan.NewCap(pf.maxRequests)
	}
	return pf.capper.Wrap(next)
}

// sessionOptions are what import's session needs of the planner: the
// --max-requests counter under the pacer, and --wait.
func (pf *planFlags) sessionOptions() session.Options {
	return session.Options{Wrap: pf.wrapTransport, WaitForQuota: pf.wait}
}

// printPlan prints, before the first write, the requests the run needs and
// how long they take under the limits seen on the preflight's answer, on
// w: the summary's writer (stderr when --report - has stdout).
func (pf *planFlags) printPlan(ctx context.Context, f *factory, w io.Writer, cfg pipeline.ImportConfig, s *session.Session) error {
	if pf.noPlan || f.opts.quiet {
		return nil
	}
	var rate pace.RateState
	if s != nil {
		rate = s.Pacer.Observed()
	}
	in := plan.FromImport(cfg, rate)
	in.FieldsToCreate = pf.fieldsToCreate
	if cfg.Screen != nil && s != nil {
		// The conflict screen lists the location's contacts: how many?
		in.LocationContacts = func(ctx context.Context) (int, error) { return importer.LocationContacts(ctx, s) }
	}
	if pf.tune != nil {
		pf.tune(&in)
	}
	p, err := plan.Estimate(ctx, in)
	if err != nil {
		return err
	}
	p.Print(w)
	if m, ok := cfg.Progress.(interface{ SetTotal(int64) }); ok {
		m.SetTotal(p.Rows) // the bar's length and the ETA
	}
	return nil
}

// run is RunImport under --max-requests and --wait.
func (pf *planFlags) run(ctx context.Context, f *factory, cfg pipeline.ImportConfig) (pipeline.Report, error) {
	once := func(ctx context.Context) (pipeline.Report, error) {
		c := cfg
		c.Stats = pipeline.NewStats() // each run counts its own; the reports are merged
		if cfg.DryRun {
			c.Stats = cfg.Stats
		}
		rctx, stop := pf.capper.Context(ctx)
		defer stop()
		rep, err := pipeline.RunImport(rctx, c)
		return rep, pf.capper.Explain(err)
	}
	if !pf.wait || cfg.DryRun {
		return once(ctx)
	}
	return plan.RunWithWait(ctx, once, f.logger())
}

// writeIDMap writes --id-map from the state, whatever the run's outcome.
func (pf *planFlags) writeIDMap(ctx context.Context, f *factory, store *pipeline.Store) {
	if pf.idMap == "" || store == nil {
		return
	}
	n, err := plan.WriteIDMap(context.WithoutCancel(ctx), store, pf.idMap)
	if err != nil {
		f.logger().Error("writing the ID map", "err", err)
		return
	}
	f.logger().Info("ID map written", "path", pf.idMap, "contacts", n)
}
