package export

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/internal/fanout"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
)

// defaultRelatedWorkers is how many per-contact related-record requests run
// at once when Config.Workers is 0. The rate itself is the transport's
// business; this only keeps enough requests in flight to use it.
const defaultRelatedWorkers = 8

// related is the related records of a run of contacts, in the contacts'
// order (and the API's order within a contact). Each row carries its
// contactId.
type related struct {
	Tasks        []ghl.Task
	Notes        []ghl.Note
	Appointments []ghl.Appointment
}

// fetchRelated fetches inc's related records of contacts, one request per
// contact and kind, at most workers at a time. The job owns this fan-out
// because a source starts no goroutines (record.Source). A contact that is
// gone meanwhile has none; the first error that outlasts its retries stops
// the others and is returned.
func fetchRelated(ctx context.Context, src *sources.GHLContacts, workers int, contacts []ghl.Contact, inc sources.Include) (*related, error) {
	out := &related{}
	if !inc.Any() || len(contacts) == 0 {
		return out, nil
	}
	if workers <= 0 {
		workers = defaultRelatedWorkers
	}
	tasks := make([][]ghl.Task, len(contacts))
	notes := make([][]ghl.Note, len(contacts))
	appts := make([][]ghl.Appointment, len(contacts))
	calls := relatedCalls(src, contacts, inc, tasks, notes, appts)
	if err := fanout.Each(ctx, workers, calls, func(ctx context.Context, call func(context.Context) error) error {
		return call(ctx)
	}); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range contacts {
		out.Tasks = append(out.Tasks, tasks[i]...)
		out.Notes = append(out.Notes, notes[i]...)
		out.Appointments = append(out.Appointments, appts[i]...)
	}
	return out, nil
}

// fetchPageRelated fetches the per-contact kinds of r for contacts: notes
// only for those the change feed names, when it does (changes.go).
func (e *exporter) fetchPageRelated(ctx context.Context, r *exportRun, contacts []ghl.Contact) (*related, error) {
	inc := r.Rel.perContact()
	if !inc.Notes {
		return fetchRelated(ctx, e.src, e.cfg.Workers, contacts, inc)
	}
	noteFor, err := e.notesFor(ctx, r, contacts)
	if err != nil {
		return nil, err
	}
	inc.Notes = false
	rel, err := fetchRelated(ctx, e.src, e.cfg.Workers, contacts, inc)
	if err != nil {
		return nil, err
	}
	notes, err := fetchRelated(ctx, e.src, e.cfg.Workers, noteFor, sources.Include{Notes: true})
	if err != nil {
		return nil, err
	}
	rel.Notes = notes.Notes
	return rel, nil
}

// relatedCalls lists the requests fetchRelated makes, in the order they are
// submitted (contact by contact; tasks, notes, appointments within one).
// Each call writes only its own contact's slot, so the slices need no lock.
func relatedCalls(src *sources.GHLContacts, contacts []ghl.Contact, inc sources.Include,
	tasks [][]ghl.Task, notes [][]ghl.Note, appts [][]ghl.Appointment) []func(context.Context) error {
	var calls []func(context.Context) error
	for i := range contacts {
		id := contacts[i].ID
		if inc.Tasks {
			calls = append(calls, func(ctx context.Context) (err error) {
				tasks[i], err = src.Tasks(ctx, id)
				return err
			})
		}
		if inc.Notes {
			calls = append(calls, func(ctx context.Context) (err error) {
				notes[i], err = src.Notes(ctx, id)
				return err
			})
		}
		if inc.Appointments {
			calls = append(calls, func(ctx context.Context) (err error) {
				appts[i], err = src.Appointments(ctx, id)
				return err
			})
		}
	}
	return calls
}

// lens is the rows of each kind.
func (r *related) lens() map[string]int {
	return map[string]int{sinks.EntityTasks: len(r.Tasks), sinks.EntityNotes: len(r.Notes), sinks.EntityAppointments: len(r.Appointments)}
}

// relatedRecords makes the Arrow record of each kind of rel on demand.
func (e *exporter) relatedRecords(rel *related) map[string]func() arrow.Record {
	return map[string]func() arrow.Record{
		sinks.EntityTasks:        func() arrow.Record { return sinks.TasksRecord(e.mem, rel.Tasks) },
		sinks.EntityNotes:        func() arrow.Record { return sinks.NotesRecord(e.mem, rel.Notes) },
		sinks.EntityAppointments: func() arrow.Record { return sinks.AppointmentsRecord(e.mem, rel.Appointments) },
	}
}
