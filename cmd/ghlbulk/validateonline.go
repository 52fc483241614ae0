package main

// validate's plan: what import would do to each row (create, update which
// contact, conflict, in-file duplicate, reject), written as a CSV file.
// Online, the location's contacts are listed once (POST /contacts/search,
// 500 a page) into an in-memory index and every row is judged against it
// (jobs/predict): ceil(contacts/500) requests however long the file,
// where looking each row up would cost one or two requests a row.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"

	"github.com/spf13/pflag"

	"github.com/ghlbulk/ghlbulk/jobs/importer"
	"github.com/ghlbulk/ghlbulk/jobs/predict"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/transform"
)

// validateFlags are validate's own flags, besides import's subset.
type validateFlags struct {
	planOut string
	rule    string
}

func (v *validateFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&v.planOut, "plan-out", "",
		fmt.Sprintf("write what import would do to each row (_file,_row,action,contact_id,other_contact_id,key,reason) to this CSV file (default <first FILE>.plan.csv, written only for inputs of up to %d rows)", defaultPlanRows))
	fl.StringVar(&v.rule, "duplicate-rule", "",
		"with --online: the location's \"Allow Duplicate Contact\" order, which the API does not expose: email-phone (default), phone-email, email or phone")
}

// defaultPlanRows is the most rows whose plan validate writes unasked (to
// <first FILE>.plan.csv). A plan line is 100 to 200 bytes whatever the row
// (173 offline over 200,000 rows: 35 MB), so a few million rows make
// hundreds of megabytes of people's emails and phones on disk that nobody
// asked for: past this the plan is written only to --plan-out.
const defaultPlanRows = 10_000

// noRuleRead says why the rule is assumed rather than read.
const noRuleRead = "assumed: the API does not expose the location's matching order; set --duplicate-rule if it differs"

// validateReport is the --report JSON of validate: the run's report and
// the plan's counts.
type validateReport struct {
	pipeline.Report
	Plan            map[predict.Action]int64 `json:"plan"`
	PlanFile        string                   `json:"plan_file,omitempty"` // "" when the run stopped before the plan was whole
	ContactsIndexed *int                     `json:"contacts_indexed,omitempty"`
	DuplicateRule   string                   `json:"duplicate_rule,omitempty"`
}

// validateOptions are validate's flags: import's subset and its own.
type validateOptions struct {
	importOptions
	validateFlags
}

// runValidate is import's dry run (the rejects file, the request plan, the
// summary) with each row also judged by the predictor, in input order, as
// the run's transform hands the rows on; the plan file is the result.
func runValidate(ctx context.Context, v validateOptions) error {
	o, f := v.importOptions, v.f
	o.jobName = "validate"
	rule, err := v.checkFlags()
	if err != nil {
		return refused(err)
	}
	o.planOut = v.validateFlags.planOut // checked against the inputs by prepare
	planAsked := o.planOut != ""
	if !planAsked && len(o.files) > 0 {
		o.planOut = o.files[0] + ".plan.csv"
	}
	var counter requestCounter
	p, err := o.prepare(ctx, o.online, session.Options{Wrap: counter.wrap})
	if err != nil {
		return err
	}
	// Before the listing: a plan that can't be written is refused first.
	plan, err := importer.CreatePlanFile(o.planOut, planAsked, defaultPlanRows)
	if err != nil {
		return refused(fmt.Errorf("--plan-out: %w", err))
	}
	defer plan.Abort()
	cfg := o.runConfig(f, p.transform, p.mappingHash)
	cfg.DryRun = true
	if p.session != nil {
		ctx = p.session.Context(ctx)
		cfg.LocationID = p.session.Location
	}
	if err := o.plan.printPlan(ctx, f, f.summaryOut(o.report), cfg, p.session); err != nil {
		return refused(err)
	}
	var idx *predict.Index
	if p.session != nil {
		if idx, err = importer.IndexContacts(ctx, p.session, cfg.Stats, f.logger()); err != nil {
			return err
		}
	}
	pred := predict.New(idx, predict.Options{Rule: rule, Duplicates: p.duplicates()})
	cfg.Inspect = plan.Inspect(pred)
	cfg.TransformWorkers = runtime.GOMAXPROCS(0) // a contacts mapping keeps nothing between batches
	rep, runErr := pipeline.RunImport(ctx, cfg)
	planFile, planErr := plan.Finish(rep, runErr)

	out := validateReport{Report: rep, Plan: pred.Counts(), PlanFile: planFile}
	if p.session != nil {
		// Every request validate made: the preflight, the custom field
		// definitions, the listing (retries included).
		out.Requests = counter.n.Load()
		n := idx.Len()
		out.ContactsIndexed = &n
		out.DuplicateRule = rule.Name()
	}
	if !f.opts.quiet {
		printSummary(f.summaryOut(o.report), "validate (nothing written)", out.Report, v.summary(out, p, plan.Dropped(), rule))
	}
	if err := f.writeReport(o.report, out); err != nil {
		f.logger().Error("writing the report", "err", err)
	}
	if runErr != nil {
		return runErr
	}
	return planErr
}

// checkFlags checks validate's own flags and --kind; the rest is checked
// with import's.
func (v *validateOptions) checkFlags() (predict.Rule, error) {
	if err := v.checkKind(); err != nil {
		return predict.Rule{}, err
	}
	rule, err := predict.ParseRule(v.rule)
	if err != nil {
		return rule, fmt.Errorf("--duplicate-rule: %w", err)
	}
	if v.rule != "" && !v.online {
		return rule, errors.New("--duplicate-rule: needs --online (offline, no row is matched against the location)")
	}
	return rule, nil
}

// summary is the lines of validate's summary after the run's counters.
func (v *validateOptions) summary(out validateReport, p *prepared, planDropped bool, rule predict.Rule) [][2]string {
	counts := out.Plan
	extra := [][2]string{{"rejects file", v.rejects}}
	if p.session != nil {
		extra = append(extra,
			[2]string{"would create", fmt.Sprint(counts[predict.Create])},
			[2]string{"would update", fmt.Sprint(counts[predict.Update])},
			[2]string{"conflicts", withNote(counts[predict.Conflict], "email and phone match two contacts, or the phone one with another email: import rejects them")})
	}
	dupNote := "merged into the earlier row"
	if p.duplicates() == transform.DuplicatesReport {
		dupNote = "reported (duplicates: report)"
	}
	extra = append(extra, [2]string{"duplicates in input", withNote(counts[predict.Duplicate], dupNote)})
	switch {
	case out.PlanFile != "":
		extra = append(extra, [2]string{"plan file", out.PlanFile})
	case planDropped:
		extra = append(extra, [2]string{"plan file", fmt.Sprintf("not written (more than %d rows): add --plan-out PATH to write it", defaultPlanRows)})
	}
	if p.session == nil {
		return extra
	}
	extra = append(extra, [2]string{"contacts indexed", fmt.Sprint(*out.ContactsIndexed)})
	how := noRuleRead
	if v.rule != "" {
		how = "--duplicate-rule"
	}
	extra = append(extra, [2]string{"duplicate rule", rule.String() + " (" + how + ")"})
	if left := p.session.DailyQuotaLeft(); left != "" {
		extra = append(extra, [2]string{"daily quota left", left})
	}
	return extra
}

// withNote is n, with the note in parentheses when n is not 0.
func withNote(n int64, note string) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", n, note)
}

// requestCounter counts every HTTP request sent (each attempt, as the
// API's quota counts them), for validate's summary.
type requestCounter struct{ n atomic.Int64 }

func (c *requestCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		c.n.Add(1)
		return next.RoundTrip(r)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
