package export

// Location-wide listings of related records (issue 13). A contact's tasks
// and appointments can be read per contact (one request per contact and
// kind) or for the whole location at once:
//
//   - tasks: POST /locations/{id}/tasks/search, 500 a request (skip paging;
//     rows marked deleted are dropped; offsets shift while tasks come and
//     go, so rows are keyed by id and a task read twice is written once);
//   - appointments: GET /calendars/events per calendar and window of at
//     most ghl.MaxEventsWindow (31 days). The windows cover, by default,
//     from the oldest contact's dateAdded (or --since, or the start an
//     earlier run of the scope used, whichever is earliest) to two years
//     after the run's start: HighLevel appointments are booked for
//     contacts, so none starts long before its contact was added, and
//     bookings rarely reach further than two years ahead.
//
// Notes have no location-wide listing and stay per contact. A token
// without the scope of a listing (locations/tasks.readonly,
// calendars.readonly, calendars/events.readonly) still exports: that kind
// is read per contact and the run says which scope would make it cheaper.
// The choice is made once when a run starts and kept with it, so a resumed
// run reads the way it began.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/internal/fanout"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
)

// How a related kind is read.
const (
	readWide       = "location" // one location-wide listing
	readPerContact = "contact"  // one request per contact
)

// Scopes that make the location-wide listings possible.
const (
	scopeTasksRead    = "locations/tasks.readonly"
	scopeCalendars    = "calendars.readonly"
	scopeEventsRead   = "calendars/events.readonly"
	appointmentsAhead = 2 * 365 * 24 * time.Hour
	// relatedPageBase numbers the staged pages of the location-wide
	// listings after every contact page.
	relatedPageBase = 1 << 30
	// scopeKeyApptsFrom is the scope value that keeps the appointments
	// window's start, so a later run never looks at less of the past.
	scopeKeyApptsFrom = "appointments_from_ms"
)

// relState is how a run reads related records and where its location-wide
// listings stand; kept with the run (pipeline.ExportRun.Related).
type relState struct {
	Tasks        string `json:"tasks,omitempty"` // readWide, readPerContact, or "" (not included)
	Notes        string `json:"notes,omitempty"`
	Appointments string `json:"appointments,omitempty"`
	// Complete: the run reads every related record of the scope, so its
	// records become the known ones and those it misses were deleted.
	Complete bool `json:"complete,omitempty"`
	// Diff: write only the records new or changed since the known ones
	// (incremental runs).
	Diff      bool                 `json:"diff,omitempty"`
	Calendars []string             `json:"calendars,omitempty"`
	MinAdded  int64                `json:"min_added_ms,omitempty"` // oldest contact dateAdded listed
	From      int64                `json:"from_ms,omitempty"`      // appointments window, [From, To)
	To        int64                `json:"to_ms,omitempty"`
	TaskNext  ghl.TaskSearchParams `json:"task_next"`
	TasksDone bool                 `json:"tasks_done,omitempty"`
	Window    int                  `json:"window,omitempty"` // next (calendar, window) pair, calendar-major
	ApptsDone bool                 `json:"appts_done,omitempty"`
	Page      int                  `json:"page,omitempty"` // next related page, from relatedPageBase
	// Changes is how notes are read with --changes (changes.go); nil
	// without it.
	Changes *changeSet `json:"changes,omitempty"`
}

// perContact is the kinds read per contact.
func (s relState) perContact() sources.Include {
	return sources.Include{Tasks: s.Tasks == readPerContact, Notes: s.Notes == readPerContact, Appointments: s.Appointments == readPerContact}
}

// legacyRel is the reading of a run an older ghlbulk started: every kind
// per contact, for the contacts written, nothing diffed.
func legacyRel(inc sources.Include) relState {
	s := relState{}
	if inc.Tasks {
		s.Tasks = readPerContact
	}
	if inc.Notes {
		s.Notes = readPerContact
	}
	if inc.Appointments {
		s.Appointments = readPerContact
	}
	return s
}

// planRelated decides how a new run reads each included kind: location
// wide where the token may (probed with one small request each), per
// contact otherwise. A --since run reads per contact: it writes few
// contacts' records and keeps no known records.
func (e *exporter) planRelated(ctx context.Context, r *exportRun) (relState, error) {
	s := legacyRel(e.inc)
	if e.mode == ModeSince {
		return s, nil
	}
	s.Complete, s.Diff = true, e.mode == ModeIncremental
	if e.cfg.Changes != "" && s.Diff && e.inc.Notes {
		cs, err := e.readChanges(ctx, r)
		if err != nil {
			return s, err
		}
		s.Changes = cs
	}
	if e.inc.Tasks {
		err := e.retry(ctx, func(ctx context.Context) error {
			_, err := e.cfg.Client.SearchLocationTasks(ctx, e.cfg.LocationID, ghl.TaskSearchParams{Limit: 1, BusinessID: e.cfg.BusinessID})
			return err
		})
		switch {
		case err == nil:
			s.Tasks = readWide
		case refusedScope(err):
			e.log.Warn("reading tasks per contact (one request each): the token may not search the location's tasks; grant scope " + scopeTasksRead + " to read them 500 a request")
		default:
			return s, fmt.Errorf("searching the location's tasks: %w", err)
		}
	}
	if e.inc.Appointments {
		var cals []ghl.Calendar
		err := e.retry(ctx, func(ctx context.Context) (err error) {
			cals, err = e.cfg.Client.ListCalendars(ctx, e.cfg.LocationID)
			return err
		})
		switch {
		case err == nil:
			s.Appointments = readWide
			for _, c := range cals {
				s.Calendars = append(s.Calendars, c.ID)
			}
		case refusedScope(err):
			e.log.Warn("reading appointments per contact (one request each): the token may not list the location's calendars; grant scopes " + scopeCalendars + " and " + scopeEventsRead + " to read them by calendar and month")
		default:
			return s, fmt.Errorf("listing the location's calendars: %w", err)
		}
	}
	return s, nil
}

// refusedScope reports an answer that says the token may not do this (403,
// or the 401 the live API has been seen to send with the scope message).
func refusedScope(err error) bool {
	c := ghl.StatusCode(err)
	return c == http.StatusForbidden || c == http.StatusUnauthorized
}

func (e *exporter) retry(ctx context.Context, fn func(context.Context) error) error {
	p := e.cfg.Retry
	if (p == pace.Policy{}) {
		p = pace.DefaultPolicy()
	}
	return pace.Retry(ctx, p, e.stats, fn)
}

// listWide runs the location-wide listings after the contacts, staging
// and checkpointing each page.
func (e *exporter) listWide(ctx context.Context, r *exportRun) error {
	if err := e.listTasks(ctx, r); err != nil {
		return err
	}
	return e.listAppointments(ctx, r)
}

func (e *exporter) listTasks(ctx context.Context, r *exportRun) error {
	if r.Rel.Tasks != readWide || r.Rel.TasksDone {
		return nil
	}
	p := r.Rel.TaskNext
	p.BusinessID = e.cfg.BusinessID
	for {
		var page *ghl.TaskSearchPage
		err := e.retry(ctx, func(ctx context.Context) (err error) {
			page, err = e.cfg.Client.SearchLocationTasks(ctx, e.cfg.LocationID, p)
			return err
		})
		if err != nil {
			return fmt.Errorf("searching the location's tasks (after %d): %w", p.Skip, err)
		}
		rel := &related{}
		for _, t := range page.Tasks {
			if !t.Deleted && t.ID != "" {
				rel.Tasks = append(rel.Tasks, t.Task)
			}
		}
		next := *r
		next.Rel.TaskNext, next.Rel.TasksDone = page.Next, page.Last
		if err := e.stageRelated(ctx, r, &next, rel, true); err != nil {
			return err
		}
		if page.Last {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		p = page.Next
	}
}

// calWindow is one GET /calendars/events request.
type calWindow struct {
	calendar   string
	start, end time.Time
}

// windows are the requests of the appointments listing, calendar by
// calendar, each window at most ghl.MaxEventsWindow.
func (s relState) windows() []calWindow {
	var out []calWindow
	for _, c := range s.Calendars {
		for t := time.UnixMilli(s.From).UTC(); t.UnixMilli() < s.To; t = t.Add(ghl.MaxEventsWindow) {
			end := t.Add(ghl.MaxEventsWindow)
			if end.UnixMilli() > s.To {
				end = time.UnixMilli(s.To).UTC()
			}
			out = append(out, calWindow{calendar: c, start: t, end: end})
		}
	}
	return out
}

// apptsRange sets the appointments window when the listing starts: from
// the earliest of the oldest contact's dateAdded, --since and the start an
// earlier run of the scope used (to the day), to two years after the start.
func (e *exporter) apptsRange(ctx context.Context, r *exportRun) error {
	from, ok, err := e.apptsFrom(ctx, r, r.Rel.MinAdded)
	if err != nil {
		return err
	}
	if !ok {
		r.Rel.ApptsDone = true // no contact, so no appointment of one
		return e.saveRun(ctx, r)
	}
	r.Rel.From = time.UnixMilli(from).UTC().Truncate(24 * time.Hour).UnixMilli()
	r.Rel.To = r.StartedAt.Add(appointmentsAhead).UnixMilli()
	return e.saveRun(ctx, r)
}

// apptsFrom is the appointments window's start (ms) given the oldest
// contact's dateAdded (minAdded, 0: none); ok is false when there is none.
func (e *exporter) apptsFrom(ctx context.Context, r *exportRun, minAdded int64) (int64, bool, error) {
	from := minAdded
	if s := e.cfg.Since; !s.IsZero() && (from == 0 || s.UnixMilli() < from) {
		from = s.UnixMilli()
	}
	prev, ok, err := e.store.ExportScopeValue(ctx, r.Scope, scopeKeyApptsFrom)
	if err != nil {
		return 0, false, err
	}
	if ok && (from == 0 || prev < from) {
		from = prev
	}
	return from, from != 0, nil
}

func (e *exporter) listAppointments(ctx context.Context, r *exportRun) error {
	if r.Rel.Appointments != readWide || r.Rel.ApptsDone {
		return nil
	}
	if r.Rel.To == 0 {
		if err := e.apptsRange(ctx, r); err != nil || r.Rel.ApptsDone {
			return err
		}
	}
	all := r.Rel.windows()
	batch := max(e.cfg.Workers, defaultRelatedWorkers)
	for r.Rel.Window < len(all) {
		ws := all[r.Rel.Window:min(r.Rel.Window+batch, len(all))]
		got := make([][]ghl.Appointment, len(ws))
		idx := make([]int, len(ws))
		for i := range idx {
			idx[i] = i
		}
		err := fanout.Each(ctx, batch, idx, func(ctx context.Context, i int) error {
			w := ws[i]
			return e.retry(ctx, func(ctx context.Context) (err error) {
				got[i], err = e.cfg.Client.ListCalendarEvents(ctx, ghl.CalendarEventsParams{
					LocationID: e.cfg.LocationID, CalendarID: w.calendar, Start: w.start, End: w.end})
				if err != nil {
					err = fmt.Errorf("listing calendar %s's events from %s: %w", w.calendar, w.start.Format(time.DateOnly), err)
				}
				return err
			})
		})
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return err
		}
		rel := &related{}
		for _, as := range got {
			for _, a := range as {
				rel.Appointments = append(rel.Appointments, asContactAppointment(a))
			}
		}
		next := *r
		next.Rel.Window += len(ws)
		next.Rel.ApptsDone = next.Rel.Window >= len(all)
		if err := e.stageRelated(ctx, r, &next, rel, true); err != nil {
			return err
		}
	}
	return nil
}

// stageRelated stages one page of a location-wide listing (rel) and
// checkpoints it with the run as next. Records of contacts this run did
// not list (another business's, a contact deleted meanwhile) are dropped:
// the per-contact reads would not have found them either.
func (e *exporter) stageRelated(ctx context.Context, r, next *exportRun, rel *related, wide bool) error {
	if wide {
		if err := e.onlyListed(ctx, r, rel); err != nil {
			return err
		}
	}
	kept, recs, err := e.diffRelated(ctx, r, rel)
	if err != nil {
		return err
	}
	page := relatedPageBase + r.Rel.Page
	next.Rel.Page = r.Rel.Page + 1
	counts, err := e.stageEntities(r, page, e.relatedRecords(kept), kept.lens())
	if err != nil {
		return err
	}
	staged := pipeline.ExportPage{Page: page, Tasks: counts[sinks.EntityTasks], Notes: counts[sinks.EntityNotes],
		Appointments: counts[sinks.EntityAppointments], Records: recs}
	if err := e.store.CommitExportPage(ctx, staged, nil, next.record()); err != nil {
		return fmt.Errorf("checkpointing related page %d: %w", next.Rel.Page, err)
	}
	*r = *next
	return e.remotePage(ctx, r, page, counts)
}

// onlyListed drops from rel the records whose contact the run did not
// list.
func (e *exporter) onlyListed(ctx context.Context, r *exportRun, rel *related) error {
	var ids []string
	for _, t := range rel.Tasks {
		ids = append(ids, t.ContactID)
	}
	for _, a := range rel.Appointments {
		ids = append(ids, a.ContactID)
	}
	listed, err := e.store.ExportSeen(ctx, r.RunID, ids)
	if err != nil {
		return err
	}
	rel.Tasks = filter(rel.Tasks, func(t ghl.Task) bool { return listed[t.ContactID] })
	rel.Appointments = filter(rel.Appointments, func(a ghl.Appointment) bool { return listed[a.ContactID] })
	return nil
}

func filter[T any](xs []T, keep func(T) bool) []T {
	var out []T
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// contentHash identifies a record's content: a record whose hash differs
// from the known one changed.
func contentHash(v any) string {
	raw, _ := json.Marshal(v)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:12])
}

// diffRelated drops from rel the records this run read already (a task
// seen on two pages, an event in two windows), and, in a diffing run, the
// records whose content the scope's known records hold already. It returns
// what to write and, in a complete run, the records to remember as seen.
func (e *exporter) diffRelated(ctx context.Context, r *exportRun, rel *related) (*related, []pipeline.ExportRecord, error) {
	if !r.Rel.Complete {
		return rel, nil, nil
	}
	kept := &related{}
	var recs []pipeline.ExportRecord
	var err error
	if kept.Tasks, err = diffKind(ctx, e, r, sinks.EntityTasks, rel.Tasks, func(t ghl.Task) (string, string) { return t.ID, t.ContactID }, &recs); err != nil {
		return nil, nil, err
	}
	if kept.Notes, err = diffKind(ctx, e, r, sinks.EntityNotes, rel.Notes, func(n ghl.Note) (string, string) { return n.ID, n.ContactID }, &recs); err != nil {
		return nil, nil, err
	}
	if kept.Appointments, err = diffKind(ctx, e, r, sinks.EntityAppointments, rel.Appointments, func(a ghl.Appointment) (string, string) { return a.ID, a.ContactID }, &recs); err != nil {
		return nil, nil, err
	}
	return kept, recs, nil
}

// diffKind is diffRelated for one kind; key gives a record's id and
// contact. Records are appended to recs as seen.
func diffKind[T any](ctx context.Context, e *exporter, r *exportRun, kind string, xs []T, key func(T) (string, string), recs *[]pipeline.ExportRecord) ([]T, error) {
	if len(xs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(xs))
	for i, x := range xs {
		ids[i], _ = key(x)
	}
	seen, err := e.store.ExportRelatedSeen(ctx, r.RunID, kind, ids)
	if err != nil {
		return nil, err
	}
	known := map[string]string{}
	if r.Rel.Diff {
		if known, err = e.store.ExportRelatedKnown(ctx, r.Scope, kind, ids); err != nil {
			return nil, err
		}
	}
	var out []T
	for _, x := range xs {
		id, contact := key(x)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		h := contentHash(x)
		*recs = append(*recs, pipeline.ExportRecord{Kind: kind, ID: id, ContactID: contact, Hash: h})
		if !r.Rel.Diff || known[id] != h {
			out = append(out, x)
		}
	}
	return out, nil
}

// asContactAppointment gives a calendar event the fields the per-contact
// listing gives the same appointment: CalendarEventDTO has no status, only
// appointmentStatus, which GET /contacts/{id}/appointments repeats as
// status. Times stay as sent: the files hold them as timestamps, whatever
// the layout.
func asContactAppointment(a ghl.Appointment) ghl.Appointment {
	if a.Status == "" {
		a.Status = a.AppointmentStatus
	}
	return a
}
