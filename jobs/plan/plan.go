// Package plan tells a user, before the first write, what an import will
// cost in API requests and how long that takes under HighLevel's limits,
// and helps a run stay inside them: a request cap (Cap), a loop that waits
// out a spent daily quota (RunWithWait), and the ID map a run leaves
// behind (WriteIDMap).
//
// Floor 4 (docs/design.md): imports the engine and the floors below it, never the command line.
package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
)

// Input is what Estimate reads: the run's files through its mapping, and
// the checkpoint if there is one. FromImport fills it from the run's
// ImportConfig, so that the plan reads the rows exactly as the run will.
type Input struct {
	Files       []string
	Open        func(path string) (record.Source, error)
	Fingerprint func(path string) (string, error) // nil: pipeline.FileFingerprint
	Transform   pipeline.TransformFunc
	// Store is the run's checkpoint; nil when nothing was written yet
	// (validate, or a first run). With it, rows already done, rows whose
	// content was already written and notes and tasks already created
	// are left out of the count.
	Store *pipeline.Store
	// BulkTagMax and MaxPendingTags are the run's tag batcher's bounds
	// (0: the pipeline's defaults): the estimate batches tags as it does.
	BulkTagMax, MaxPendingTags int
	// BulkBusinessMax is the run's contacts per business link request (0:
	// pipeline.DefaultBulkBusinessMax).
	BulkBusinessMax int
	// RunTag is the run's tag (ImportConfig.RunTag): added to each contact
	// the run creates, counted for each row whose contact the state does
	// not know (an upper bound: a contact that was in the location before
	// is updated, and gets no run tag).
	RunTag string
	// LocationContacts, when the run reads the location's contacts once
	// before its first write (--on-conflict reject: a listing page per
	// 500), says how many there are; it is asked only if there is a row
	// to write.
	LocationContacts func(ctx context.Context) (int, error)
	// DuplicatesReport is ImportConfig.DuplicatesReport: a row repeating an
	// earlier row's match key is rejected.
	DuplicatesReport bool
	// FieldsToCreate is the custom fields --create-fields creates before
	// the first row: a request each.
	FieldsToCreate int
	// Rate is the X-RateLimit-* state seen so far (pace.Transport.Observed
	// after the preflight); fields at -1 or 0 fall back to the documented
	// limits (100 per 10 s, 200,000 a day).
	Rate pace.RateState
	// DailyWindow is how long a daily quota lasts (0: 24 h).
	DailyWindow time.Duration
	// RelatedKind is, for import --kind notes|tasks, record.KindNote or
	// record.KindTask: the rows write on contacts that exist (no upsert,
	// no tags), as sinks.Related does. LookupExisting is its
	// --lookup-existing, DeleteMissing its --delete-missing.
	RelatedKind                   string
	LookupExisting, DeleteMissing bool
}

// FromImport is the Input of the run cfg describes, with the rate-limit
// state rate (pace.RateState{} when offline).
func FromImport(cfg pipeline.ImportConfig, rate pace.RateState) Input {
	return Input{
		Files: cfg.Files, Open: cfg.Open, Fingerprint: cfg.Fingerprint, Transform: cfg.Transform,
		Store: cfg.Store, BulkTagMax: cfg.BulkTagMax, MaxPendingTags: cfg.MaxPendingTags, RunTag: cfg.RunTag,
		BulkBusinessMax:  cfg.BulkBusinessMax,
		DuplicatesReport: cfg.DuplicatesReport, Rate: rate,
	}
}

// Plan is what a run is expected to cost. Requests is the sum of the
// request kinds below it, each a first attempt: retries come on top.
type Plan struct {
	Rows     int64 // rows read
	Requests int64 // Upserts + Notes + Tasks + TagCalls + Lookups + Listing + Updates + Deletes + Fields + Business
	Upserts  int64 // POST /contacts/upsert, one per row to write
	Related  int64 // notes or tasks file rows to write (import --kind notes|tasks: no upsert)
	Notes    int64 // notes not yet created
	Tasks    int64 // tasks not yet created
	TagCalls int64 // bulk tag requests (an upper bound: tags a contact already has are not added)
	Lookups  int64 // listings of notes or tasks before one is sent (a killed run's, or an existing contact's)
	Updates  int64 // notes or tasks whose row changed: PUT
	Deletes  int64 // notes or tasks deleted: by a deleted: condition, or gone from the input (--delete-missing)
	// DeleteRefused is why --delete-missing will delete nothing ("" if it
	// will): rows whose source_key could not be read.
	DeleteRefused string
	Listing       int64 // pages of the location's contacts read once to find conflicts
	Unchanged     int64 // rows already done, or whose content was already written
	Duplicates    int64 // rows repeating an earlier row of the input (same match key, same content)
	Fields        int64 // custom fields to create (--create-fields), a request each
	Business      int64 // POST /contacts/bulk/business: written rows that map businessId, up to BulkBusinessMax of one business a request
	Rejected      int64 // rows the mapping rejects (no request)

	DailyLeft  int           // requests left in today's quota; -1 unknown
	DailyLimit int           // the daily quota
	Burst      int           // requests per Interval
	Interval   time.Duration // the burst window
	ETA        time.Duration // at the burst rate, waiting for the quota to come back as often as it runs out
	Days       int           // quota windows the run touches: 1 when it fits in what is left today
}

// Estimate reads every input row through the mapping, as the run will,
// and counts the requests writing them takes. It keeps no rows: its memory
// is a set of 8-byte digests of (match key, content hash) for the
// duplicates (about 40 bytes a distinct row in Go's map, so 40 MB for a
// million rows) and one lane group of tag sets at a time.
func Estimate(ctx context.Context, in Input) (Plan, error) {
	if in.Open == nil || in.Transform == nil {
		return Plan{}, errors.New("plan: Open and Transform are required")
	}
	if in.Fingerprint == nil {
		in.Fingerprint = pipeline.FileFingerprint
	}
	e := &estimator{in: in, seen: make(map[uint64]struct{}), tags: pipeline.NewTagBatcher(in.BulkTagMax, in.MaxPendingTags).SetBusinessMax(in.BulkBusinessMax)}
	if in.DeleteMissing {
		e.present = sinks.NewPresence()
	}
	if in.DuplicatesReport {
		e.keys = pipeline.NewKeyPlaces(in.Files)
	}
	if err := e.resumedTags(ctx); err != nil {
		return e.p, err
	}
	for i, f := range in.Files {
		if err := e.file(ctx, i, f); err != nil {
			return e.p, err
		}
	}
	e.countBulk(e.tags.Drain())
	if err := e.missing(ctx); err != nil {
		return e.p, err
	}
	if in.LocationContacts != nil && e.p.Upserts > 0 {
		n, err := in.LocationContacts(ctx)
		if err != nil {
			return e.p, err
		}
		e.p.Listing = int64(max(1, (n+sources.MaxSearchPageLimit-1)/sources.MaxSearchPageLimit))
	}
	e.p.Fields = int64(in.FieldsToCreate)
	e.p.Requests = e.p.Upserts + e.p.Notes + e.p.Tasks + e.p.TagCalls + e.p.Lookups + e.p.Listing + e.p.Updates + e.p.Deletes + e.p.Fields + e.p.Business
	e.p.schedule(in.Rate, in.DailyWindow)
	return e.p, nil
}

type estimator struct {
	in   Input
	p    Plan
	seen map[uint64]struct{}
	keys *pipeline.KeyPlaces // where match keys first appeared (DuplicatesReport; nil otherwise)
	// tags batches the rows' tags as the run's batcher does, the match
	// key standing in for the contact id.
	tags    *pipeline.TagBatcher
	classes pipeline.TagClassifier
	present *sinks.Presence // --delete-missing: what the input holds
	planned planned         // notes and tasks counted so far, as the run will have journaled them
}

// resumedTags counts the requests for the tags and business links an earlier run left
// journaled, which the run sends before anything else.
func (e *estimator) resumedTags(ctx context.Context) error {
	if e.in.Store == nil {
		return nil
	}
	intents, err := e.in.Store.TagIntents(ctx)
	if err != nil || len(intents) == 0 {
		return err
	}
	b := pipeline.NewTagBatcher(e.in.BulkTagMax, e.in.MaxPendingTags).SetBusinessMax(e.in.BulkBusinessMax)
	for _, in := range intents {
		e.countBulk(b.Add(in))
	}
	e.countBulk(b.Drain())
	return nil
}

func (e *estimator) file(ctx context.Context, idx int, file string) (err error) {
	fp, err := e.in.Fingerprint(file)
	if err != nil {
		return fmt.Errorf("input %s: %w", file, err)
	}
	src, err := e.in.Open(file)
	if err != nil {
		return fmt.Errorf("input %s: %w", file, err)
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("input %s: %w", file, cerr)
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("input %s: %w", file, err)
		}
		if b.Record == nil {
			continue
		}
		recs := e.in.Transform(b.Record, b.File, b.FirstRow)
		b.Record.Release()
		if err := e.batch(ctx, fp, idx, recs); err != nil {
			return err
		}
	}
	return nil
}

// batch counts one batch's rows as the run does: pipeline.JudgeRow
// decides each row's fate for both.
func (e *estimator) batch(ctx context.Context, fp string, file int, recs []record.Row) error {
	if len(recs) == 0 {
		return nil
	}
	e.p.Rows += int64(len(recs))
	if e.present != nil {
		e.present.Add(recs)
	}
	state, err := pipeline.LookUpState(ctx, e.in.Store, fp, recs)
	if err != nil {
		return err
	}
	for i := range recs {
		rec := &recs[i]
		f := state.Facts(rec)
		f.KeyFirst = e.keys.First(rec, file)
		// Unlike the run, which remembers only the rows that can still
		// be in flight, every earlier row counts: a repeat of one the run
		// has checkpointed by then is unchanged, which costs nothing too.
		d := pipeline.RowDigest(rec.Key, rec.Hash)
		_, f.InFlight = e.seen[d]
		v := pipeline.JudgeRow(rec, f)
		switch {
		case v.Fate == pipeline.FateRepeat:
			e.p.Duplicates++
		case v.Fate == pipeline.FateWrite:
			e.seen[d] = struct{}{}
			if e.in.RelatedKind != "" {
				if err := e.relatedRow(ctx, rec); err != nil {
					return err
				}
				continue
			}
			if err := e.write(ctx, rec, v.ContactID); err != nil {
				return err
			}
		case v.Status == record.StatusRejected:
			e.p.Rejected++
		default:
			e.p.Unchanged++
		}
	}
	return nil
}

// write counts the requests writing rec takes: its upsert, its notes and
// tasks, and its share of the bulk tag calls. known is the contact the ID
// map holds for its key ("" if none).
func (e *estimator) write(ctx context.Context, rec *record.Row, known string) error {
	e.p.Upserts++
	biz := ""
	if b := rec.Contact.BusinessID; b != nil {
		biz = *b // importer.WithBusiness: linked in bulk after the upsert
	}
	if err := e.related(ctx, rec, known); err != nil {
		return err
	}
	tags := rec.Tags
	if e.in.RunTag != "" && known == "" {
		tags = append(slices.Clone(tags), runTagStandIn)
	}
	tags = record.NormTags(tags)
	common := e.classes.Observe(tags)
	if len(tags) > 0 || biz != "" {
		e.countBulk(e.tags.Add(&pipeline.TagIntent{ContactID: rec.Key, Tags: tags, Common: common, Business: biz}))
	}
	return nil
}

// countBulk adds the bulk requests calls to the plan: business links or tag
// calls.
func (e *estimator) countBulk(calls []pipeline.TagCall) {
	for _, c := range calls {
		if c.Business != "" {
			e.p.Business++
		} else {
			e.p.TagCalls++
		}
	}
}

// runTagStandIn counts as the run tag, whose value is only known once the
// run starts.
const runTagStandIn = "\x00run tag"

// schedule fills in the limits and the ETA.
func (p *Plan) schedule(rate pace.RateState, window time.Duration) {
	def := pace.DefaultLimits()
	p.Burst, p.Interval, p.DailyLimit, p.DailyLeft = def.Burst, def.Interval, def.Daily, -1
	if rate.Max > 0 {
		p.Burst = rate.Max
	}
	if rate.Interval > 0 {
		p.Interval = rate.Interval
	}
	if rate.DailyLimit > 0 {
		p.DailyLimit = rate.DailyLimit
	}
	if rate.DailyRemaining >= 0 && !rate.At.IsZero() {
		p.DailyLeft = rate.DailyRemaining
	}
	if window <= 0 {
		window = 24 * time.Hour
	}
	burst := func(n int64) time.Duration {
		return time.Duration(float64(n) / float64(p.Burst) * float64(p.Interval))
	}
	left := int64(p.DailyLeft)
	if left < 0 {
		left = int64(p.DailyLimit)
	}
	p.Days = 1
	if p.Requests <= left {
		p.ETA = burst(p.Requests)
		return
	}
	// Today's share, then whole windows, then the rest: each window
	// starts when the previous one ends (an estimate: the real reset
	// comes at a fixed time of day).
	rest := p.Requests - left
	full := (rest - 1) / int64(p.DailyLimit)
	last := rest - full*int64(p.DailyLimit)
	p.Days = int(2 + full)
	p.ETA = time.Duration(1+full)*window + burst(last)
}

// Print writes the plan as the table a user reads before the run starts.
func (p Plan) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", k, v) }
	fmt.Fprintln(tw, "plan")
	row("rows read", p.Rows)
	row("to write", p.Upserts+p.Related)
	if p.Unchanged > 0 {
		row("unchanged", p.Unchanged)
	}
	if p.Duplicates > 0 {
		row("duplicates in input", p.Duplicates)
	}
	if p.Rejected > 0 {
		row("rejected", p.Rejected)
	}
	if p.Fields > 0 {
		row("custom fields to create", p.Fields)
	}
	if p.Updates > 0 {
		row("notes/tasks to update", p.Updates)
	}
	if p.Deletes > 0 {
		row("notes/tasks to delete", p.Deletes)
	}
	if p.DeleteRefused != "" {
		row("notes/tasks to delete", "none: "+p.DeleteRefused)
	}
	kinds := fmt.Sprintf("%d upserts, %d tag calls, %d notes, %d tasks", p.Upserts, p.TagCalls, p.Notes, p.Tasks)
	if p.Updates+p.Deletes > 0 {
		kinds += fmt.Sprintf(", %d updates, %d deletes", p.Updates, p.Deletes)
	}
	if p.Lookups > 0 {
		kinds += fmt.Sprintf(", %d lookups", p.Lookups)
	}
	if p.Business > 0 {
		kinds += fmt.Sprintf(", %d business links", p.Business)
	}
	if p.Listing > 0 {
		kinds += fmt.Sprintf(", %d listing the location's contacts", p.Listing)
	}
	row("requests", fmt.Sprintf("%d (%s; retries on top)", p.Requests, kinds))
	p.printTiming(row)
	tw.Flush()
}

// etaSentence says how long the run takes as one plain sentence: at what
// rate, and over how many days when the daily quota runs out first.
func (p Plan) etaSentence() string {
	eta := "about " + FormatDuration(p.ETA)
	switch {
	case p.Days > 1:
		return fmt.Sprintf("%s: the run needs the daily quota of %d days (--wait waits for it to come back).", eta, p.Days)
	case p.Burst >= 1e9: // a limit past a billion is a sandbox with limits off
		return eta + " with no burst limit."
	}
	return fmt.Sprintf("%s at %d requests per %s.", eta, p.Burst, p.Interval)
}

// FormatDuration is d for a person: seconds, minutes, hours or days.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.1f min", d.Minutes())
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f hours", d.Hours())
	default:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
}

// printTiming writes the quota and ETA rows.
func (p Plan) printTiming(row func(k string, v any)) {
	if p.DailyLeft >= 0 && p.DailyLimit < 1e9 {
		row("daily quota left", fmt.Sprintf("%d of %d", p.DailyLeft, p.DailyLimit))
	} else if p.DailyLimit < 1e9 {
		row("daily quota", fmt.Sprintf("%d (what is left today is not known yet)", p.DailyLimit))
	}
	row("ETA", p.etaSentence())
}
