package plan

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/pace"
)

// ExportPlan is what an export is expected to cost, told before its first
// request that costs much (after the preflight and the probes that find
// the counts). Requests is Made plus every kind below it, each a first
// attempt: retries come on top.
type ExportPlan struct {
	Made         int64 // requests made so far (custom fields, probes)
	Contacts     int64 // contacts left to list; -1: not known
	ContactPages int64 // listing pages left (a listing ends on its first short page)
	TaskPages    int64 // location-wide task search pages left
	// TasksEstimated is set when TaskPages is a guess, not a probe's count.
	TasksEstimated bool
	Calendars      int   // calendars of the location
	Windows        int64 // calendar windows left: calendars × 31-day windows
	// WindowsEstimated is set when the window's start is not known yet
	// (it is the oldest contact's dateAdded, read by the listing).
	WindowsEstimated bool
	Notes            int64 // per-contact notes requests
	PerContact       int64 // per-contact tasks and appointments requests (no listing scope)
	// NotesWhy says how notes are read (a full sweep, or only the
	// contacts the change feed names, and why).
	NotesWhy string
	Requests int64 // Made + ContactPages + TaskPages + Windows + Notes + PerContact

	DailyLeft  int           // requests left in today's quota; -1 unknown
	DailyLimit int           // the daily quota
	Burst      int           // requests per Interval
	Interval   time.Duration // the burst window
	ETA        time.Duration // for the requests left, as Plan's ETA
	Days       int
}

// Sum sets Requests from the kinds.
func (p *ExportPlan) Sum() {
	p.Requests = p.Made + p.ContactPages + p.TaskPages + p.Windows + p.Notes + p.PerContact
}

// Schedule fills in the limits and the ETA of the requests left, with the
// X-RateLimit-* state rate, as Estimate does for import.
func (p *ExportPlan) Schedule(rate pace.RateState, window time.Duration) {
	q := Plan{Requests: p.Requests - p.Made}
	q.schedule(rate, window)
	p.DailyLeft, p.DailyLimit, p.Burst, p.Interval, p.ETA, p.Days = q.DailyLeft, q.DailyLimit, q.Burst, q.Interval, q.ETA, q.Days
}

// Print writes the plan as import's plan is printed.
func (p ExportPlan) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", k, v) }
	fmt.Fprintln(tw, "plan")
	if p.Contacts >= 0 {
		row("contacts to list", p.Contacts)
	} else {
		row("contacts to list", "not known")
	}
	row("contact pages", p.ContactPages)
	if p.TaskPages > 0 {
		tp := fmt.Sprint(p.TaskPages)
		if p.TasksEstimated {
			tp += " (an estimate)"
		}
		row("task pages", tp)
	}
	if p.Calendars > 0 {
		cw := fmt.Sprintf("%d (%d calendars)", p.Windows, p.Calendars)
		if p.WindowsEstimated {
			cw += " (an estimate: the window starts at the oldest contact's dateAdded)"
		}
		row("calendar windows", cw)
	}
	if p.NotesWhy != "" {
		row("notes", fmt.Sprintf("%d requests: %s", p.Notes, p.NotesWhy))
	}
	if p.PerContact > 0 {
		row("per-contact tasks/appointments", p.PerContact)
	}
	row("requests", fmt.Sprintf("%d (%d made so far; retries on top)", p.Requests, p.Made))
	Plan{DailyLeft: p.DailyLeft, DailyLimit: p.DailyLimit, Burst: p.Burst, Interval: p.Interval, ETA: p.ETA, Days: p.Days}.printTiming(row)
	tw.Flush()
}
