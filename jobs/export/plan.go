package export

// The plan an export prints before its first request that costs much
// (issue 13): the requests it will make by kind, counted with a few cheap
// probes (one contact search with pageLimit 1 for the total and the oldest
// contact; the tasks search at growing offsets, limit 1, for its pages).

import (
	"context"
	"fmt"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
)

// plan tells cfg.Plan what the run r has left to do; without cfg.Plan it
// makes no probe.
func (e *exporter) plan(ctx context.Context, r *exportRun) error {
	if e.cfg.Plan == nil {
		return nil
	}
	p, err := e.estimate(ctx, r)
	if err != nil {
		return fmt.Errorf("planning the export: %w", err)
	}
	p.Made = e.stats.Snapshot().Requests
	p.Sum()
	e.cfg.Plan(p)
	return nil
}

// pageLimit is the listing's page size, as sources.NewGHLContacts picks it.
func (e *exporter) pageLimit() int64 {
	limit := sources.MaxSearchPageLimit
	if e.cfg.BusinessID != "" {
		limit = sources.MaxListLimit
	}
	if e.cfg.PageLimit > 0 && e.cfg.PageLimit < limit {
		limit = e.cfg.PageLimit
	}
	return int64(limit)
}

func (e *exporter) estimate(ctx context.Context, r *exportRun) (plan.ExportPlan, error) {
	p := plan.ExportPlan{Contacts: 0}
	oldest := r.Rel.MinAdded
	if !r.Cursor.Done {
		total, first, err := e.probeContacts(ctx)
		if err != nil {
			return p, err
		}
		p.Contacts = max(0, total-r.Listed)
		// A listing ends on its first short page.
		p.ContactPages = p.Contacts/e.pageLimit() + 1
		if first != 0 && (oldest == 0 || first < oldest) {
			oldest = first
		}
	}
	inc := r.Rel.perContact()
	if inc.Notes {
		p.Notes, p.NotesWhy = e.notesPlanned(r, p.Contacts)
	}
	for _, on := range []bool{inc.Tasks, inc.Appointments} {
		if on {
			p.PerContact += p.Contacts
		}
	}
	if r.Rel.Tasks == readWide && !r.Rel.TasksDone {
		n, err := e.probeTaskPages(ctx, r.Rel.TaskNext.Skip)
		if err != nil {
			return p, err
		}
		p.TaskPages = n
	}
	if r.Rel.Appointments == readWide && !r.Rel.ApptsDone {
		if err := e.planWindows(ctx, r, oldest, &p); err != nil {
			return p, err
		}
	}
	return p, nil
}

// notesPlanned is the per-contact notes requests of the contacts left,
// and how notes are read.
func (e *exporter) notesPlanned(r *exportRun, left int64) (int64, string) {
	switch {
	case r.Rel.Changes != nil && !r.Rel.Changes.Sweep:
		return min(left, int64(r.Rel.Changes.Count)), r.Rel.Changes.Why
	case r.Rel.Changes != nil:
		return left, r.Rel.Changes.Why
	case e.mode == ModeSince:
		return left, "at most one per contact changed since --since"
	}
	return left, "one per contact (a full sweep)"
}

// probeContacts reads one contact, the oldest by dateAdded, for the
// listing's total and that date (ms; 0 when not known).
func (e *exporter) probeContacts(ctx context.Context) (total, oldest int64, err error) {
	if e.cfg.BusinessID != "" {
		var page *ghl.ContactsPage
		err = e.retry(ctx, func(ctx context.Context) (err error) {
			page, err = e.cfg.Client.ListBusinessContacts(ctx, e.cfg.BusinessID, ghl.BusinessContactsParams{LocationID: e.cfg.LocationID, Limit: 1})
			return err
		})
		if err != nil {
			return 0, 0, fmt.Errorf("counting the business's contacts: %w", err)
		}
		return int64(page.Total), 0, nil
	}
	var res *ghl.SearchResponse
	err = e.retry(ctx, func(ctx context.Context) (err error) {
		res, err = e.cfg.Client.SearchContacts(ctx, ghl.SearchRequest{LocationID: e.cfg.LocationID, PageLimit: 1,
			Sort: []ghl.SearchSort{{Field: "dateAdded", Direction: "asc"}}})
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("counting the location's contacts: %w", err)
	}
	if len(res.Contacts) > 0 {
		if t, ok := sinks.ParseTime(res.Contacts[0].DateAdded); ok {
			oldest = t.UnixMilli()
		}
	}
	return int64(res.Total), oldest, nil
}

// probeTaskPages counts the task search's pages from skip: the search
// gives no total, so it asks for one task at growing page offsets, then
// halves the gap (2·log2(pages) small requests). The listing ends on its
// first short page, so the pages are one more than the full ones: page k
// is full when a task is at its last row.
func (e *exporter) probeTaskPages(ctx context.Context, skip int) (int64, error) {
	has := func(page int) (bool, error) { // page k >= 1: is page k-1 full?
		var res *ghl.TaskSearchPage
		err := e.retry(ctx, func(ctx context.Context) (err error) {
			res, err = e.cfg.Client.SearchLocationTasks(ctx, e.cfg.LocationID, ghl.TaskSearchParams{
				Limit: 1, Skip: skip + page*ghl.MaxTaskSearchLimit - 1, BusinessID: e.cfg.BusinessID})
			return err
		})
		if err != nil {
			return false, fmt.Errorf("counting the location's tasks: %w", err)
		}
		return len(res.Tasks) > 0, nil
	}
	// The listing's pages are the first k >= 1 whose page k-1 is not full.
	lo, hi := 0, 1 // page lo-1 full (or lo = 0), page hi-1 not
	for {
		ok, err := has(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		ok, err := has(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return int64(hi), nil
}

// planWindows counts the calendar windows left: the run's own once its
// range is set, else the range apptsRange will set from oldest.
func (e *exporter) planWindows(ctx context.Context, r *exportRun, oldest int64, p *plan.ExportPlan) error {
	p.Calendars = len(r.Rel.Calendars)
	if r.Rel.To != 0 {
		p.Windows = int64(len(r.Rel.windows()) - r.Rel.Window)
		return nil
	}
	s := r.Rel
	s.MinAdded = oldest
	if oldest == 0 {
		// Not known before the listing (a business listing has no sort):
		// counted from the run's start.
		p.WindowsEstimated = true
		s.MinAdded = r.StartedAt.UnixMilli()
	}
	from, ok, err := e.apptsFrom(ctx, r, s.MinAdded)
	if err != nil || !ok {
		return err
	}
	s.From = time.UnixMilli(from).UTC().Truncate(24 * time.Hour).UnixMilli()
	s.To = r.StartedAt.Add(appointmentsAhead).UnixMilli()
	p.Windows = int64(len(s.windows()))
	return nil
}
