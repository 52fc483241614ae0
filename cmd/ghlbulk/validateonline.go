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
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/spf13/pflag"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/jobs/predict"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sources"
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

// runValidate is import's dry run (the rejects file, the request plan, the
// summary) with each row also judged by the predictor, in input order, as
// the run's transform hands the rows on; the plan file is the result.
func runValidate(ctx context.Context, f *factory, o importOptions, v validateFlags) error {
	log := f.logger()
	if err := o.checkKind(); err != nil {
		return refused(err)
	}
	rule, err := predict.ParseRule(v.rule)
	if err != nil {
		return refused(fmt.Errorf("--duplicate-rule: %w", err))
	}
	if v.rule != "" && !o.online {
		return refused(errors.New("--duplicate-rule: needs --online (offline, no row is matched against the location)"))
	}
	planAsked := v.planOut != ""
	if !planAsked && len(o.files) > 0 {
		v.planOut = o.files[0] + ".plan.csv"
	}
	o.planOut = v.planOut // checked against the inputs by prepare
	var counter requestCounter
	f.wrapHTTP = counter.wrap
	f.waitForQuota = false
	p, err := o.prepare(ctx, f, o.online)
	if err != nil {
		return err
	}
	// Before the listing: a plan that can't be written is refused first.
	plan, err := predict.CreatePlan(o.planOut)
	if err != nil {
		return refused(fmt.Errorf("--plan-out: %w", err))
	}
	defer plan.Abort()
	cfg := o.runConfig(f, p.transformFor(), p.mappingHash)
	cfg.DryRun = true
	if p.session != nil {
		ctx = p.session.ctx
		cfg.LocationID = p.session.location
	}
	if err := o.plan.printPlan(ctx, f, cfg, p.session); err != nil {
		return refused(err)
	}

	var idx *predict.Index
	if p.session != nil {
		if idx, err = indexContacts(ctx, f, p.session, cfg.Stats); err != nil {
			return err
		}
	}
	dups := transform.DuplicatesMerge
	for _, m := range p.mappings { // one spec: the same setting for every file
		dups = m.Duplicates()
		break
	}
	pred := predict.New(idx, predict.Options{Rule: rule, Duplicates: dups})
	var planErr error
	planDropped := false // the default plan of an input past defaultPlanRows
	inner := cfg.Transform
	cfg.Transform = func(rec arrow.Record, file string, firstRow int64) []record.Row {
		recs := inner(rec, file, firstRow)
		for i := range recs {
			if recs[i].File == "" {
				recs[i].File = file
			}
			d := pred.Judge(&recs[i])
			if !planAsked && !planDropped && plan.Lines() >= defaultPlanRows {
				plan.Abort()
				planDropped = true
			}
			if planErr == nil && !planDropped {
				planErr = plan.Write(d)
			}
		}
		return recs
	}
	rep, runErr := pipeline.RunImport(ctx, cfg)
	if runErr == nil && planErr == nil && !planDropped && plan.Lines() != rep.RowsRead {
		planErr = fmt.Errorf("plan %s: %d lines for %d rows read", v.planOut, plan.Lines(), rep.RowsRead)
	}
	if runErr == nil && planErr == nil && !planDropped {
		planErr = plan.Commit()
	}

	counts := pred.Counts()
	out := validateReport{Report: rep, Plan: counts}
	if planErr == nil && runErr == nil && !planDropped {
		out.PlanFile = v.planOut
	}
	if p.session != nil {
		// Every request validate made: the preflight, the custom field
		// definitions, the listing (retries included).
		out.Requests = counter.n.Load()
		n := idx.Len()
		out.ContactsIndexed = &n
		out.DuplicateRule = rule.Name()
	}
	extra := [][2]string{{"rejects file", o.rejects}}
	if p.session != nil {
		extra = append(extra,
			[2]string{"would create", fmt.Sprint(counts[predict.Create])},
			[2]string{"would update", fmt.Sprint(counts[predict.Update])},
			[2]string{"conflicts", withNote(counts[predict.Conflict], "email and phone match two contacts: the first is updated, the other field dropped")})
	}
	dupNote := "merged into the earlier row"
	if dups == transform.DuplicatesReport {
		dupNote = "reported (duplicates: report)"
	}
	extra = append(extra, [2]string{"duplicates in input", withNote(counts[predict.Duplicate], dupNote)})
	switch {
	case out.PlanFile != "":
		extra = append(extra, [2]string{"plan file", out.PlanFile})
	case planDropped:
		extra = append(extra, [2]string{"plan file", fmt.Sprintf("not written (more than %d rows): add --plan-out PATH to write it", defaultPlanRows)})
	}
	if p.session != nil {
		extra = append(extra, [2]string{"contacts indexed", fmt.Sprint(idx.Len())})
		how := noRuleRead
		if v.rule != "" {
			how = "--duplicate-rule"
		}
		extra = append(extra, [2]string{"duplicate rule", rule.String() + " (" + how + ")"})
		if st := p.session.pacer.Observed(); st.DailyRemaining >= 0 && st.DailyLimit < 1e9 {
			extra = append(extra, [2]string{"daily quota left", fmt.Sprintf("%d of %d", st.DailyRemaining, st.DailyLimit)})
		}
	}
	if !f.opts.quiet {
		printSummary(f.stdout, "validate (nothing written)", out.Report, extra)
	}
	if err := writeReport(o.report, out); err != nil {
		log.Error("writing the report", "err", err)
	}
	if runErr != nil {
		return classifyRunError(runErr)
	}
	return planErr
}

// withNote is n, with the note in parentheses when n is not 0.
func withNote(n int64, note string) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", n, note)
}

// indexContacts lists the location's contacts once, by the export's
// listing (POST /contacts/search, 500 a page, each page retried under
// pace.Retry, a repeated cursor or a short listing an error), into an
// index of their emails and phones.
func indexContacts(ctx context.Context, f *factory, s *apiSession, stats pace.Recorder) (*predict.Index, error) {
	var idx *predict.Index
	start := time.Now()
	err := eachLocationContact(ctx, f, s, stats, func(total int, c *ghl.Contact) error {
		if idx == nil {
			idx = predict.NewIndex(total)
		}
		idx.Add(c.ID, c.Email, c.Phone)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, stopped(ctx.Err())
		}
		return nil, refusedIfAPIRefusal(fmt.Errorf("reading the location's contacts: %w", err))
	}
	if idx == nil {
		idx = predict.NewIndex(0)
	}
	f.logger().Debug("location's contacts indexed", "contacts", idx.Len(), "ms", time.Since(start).Milliseconds())
	return idx, nil
}

// eachLocationContact lists the location's contacts (POST /contacts/search,
// 500 a page, each page retried under pace.Retry, a repeated cursor or a
// short listing an error) and hands each to fn with the total announced.
// A spent daily quota is waited out (as f.quotaAware allows) and the
// listing goes on from the page it stopped at.
func eachLocationContact(ctx context.Context, f *factory, s *apiSession, stats pace.Recorder, fn func(total int, c *ghl.Contact) error) error {
	log := f.logger()
	src := sources.NewGHLContacts(s.client, sources.GHLOptions{LocationID: s.location, Stats: stats})
	var cur sources.Cursor
	last := time.Now()
	return f.quotaAware(ctx, func() error {
		for page, err := range src.Pages(ctx, cur) {
			if err != nil {
				return err
			}
			for i := range page.Contacts {
				if err := fn(page.Total, &page.Contacts[i]); err != nil {
					return err
				}
			}
			cur = page.Next
			if time.Since(last) >= 10*time.Second {
				last = time.Now()
				log.Info("reading the location's contacts", "read", page.Next.Seen, "of", page.Total)
			}
		}
		return nil
	})
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
