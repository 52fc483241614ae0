package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// RelatedMix sets how many tasks, notes and appointments a seeded contact
// has on average (issue 13's benchmarks ask for 1, 1 and 0.5). Each count
// is the average's whole part, plus one with the chance of its fraction.
// The default seed (Options.Related nil) is about 0.45, 0.7 and 0.15, and
// stays what it was: a mix draws from the random stream in another order.
type RelatedMix struct {
	Tasks, Notes, Appointments float64
}

// ParseRelatedMix reads "tasks=1,notes=1,appointments=0.5" (any of the
// three; a missing one is 0).
func ParseRelatedMix(s string) (*RelatedMix, error) {
	m := &RelatedMix{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || f < 0 || f > 100 {
			return nil, fmt.Errorf("related mix %q: want tasks=N,notes=N,appointments=N with averages from 0 to 100, e.g. tasks=1,notes=1,appointments=0.5", s)
		}
		switch k {
		case "tasks":
			m.Tasks = f
		case "notes":
			m.Notes = f
		case "appointments":
			m.Appointments = f
		default:
			return nil, fmt.Errorf("related mix %q: %q is not tasks, notes or appointments", s, k)
		}
	}
	return m, nil
}

// count draws a count whose average is avg.
func (m RelatedMix) count(r *rand.Rand, avg float64) int {
	n := int(avg)
	if r.Float64() < avg-float64(n) {
		n++
	}
	return n
}

// seedMix gives c the mix's tasks, notes and appointments, shaped as
// seedChildren's.
func (s *Server) seedMix(r *rand.Rand, c *contact, m RelatedMix) {
	span := seedAnchor - c.addedMs + 1
	for range m.count(r, m.Tasks) {
		due := c.addedMs + r.Int64N(span) + int64(7*24*time.Hour/time.Millisecond)
		t := &task{ID: seedID(r), Title: taskBody[r.IntN(len(taskBody))], DueDate: fmtMillis(due - due%3600000),
			Completed: r.IntN(2) == 0, ContactID: c.ID, AssignedTo: DefaultUserID}
		s.related.tasks[c.ID] = append(s.related.tasks[c.ID], t)
		s.persistChild("task", t.ID, c.ID, t)
	}
	for range m.count(r, m.Notes) {
		n := &note{ID: seedID(r), Body: noteBody[r.IntN(len(noteBody))], UserID: DefaultUserID,
			DateAdded: fmtMillis(c.addedMs + r.Int64N(span)), ContactID: c.ID}
		s.related.notes[c.ID] = append(s.related.notes[c.ID], n)
		s.persistChild("note", n.ID, c.ID, n)
	}
	for range m.count(r, m.Appointments) {
		startMs := c.addedMs + r.Int64N(span)
		startMs -= startMs % 1800000
		st := apptStatus[r.IntN(len(apptStatus))]
		booked := time.UnixMilli(startMs - 86400000).UTC().Format(time.DateTime)
		a := &appointment{ID: seedID(r), Status: st, Title: apptTitles[r.IntN(len(apptTitles))], AssignedUserID: DefaultUserID,
			StartTime:  time.UnixMilli(startMs).UTC().Format(time.DateTime),
			EndTime:    time.UnixMilli(startMs + 1800000).UTC().Format(time.DateTime),
			LocationID: c.LocationID, ContactID: c.ID, AppointmentStatus: st, Users: appointmentUsers,
			DateAdded: booked, DateUpdated: booked}
		a.CalendarID = calendarFor(c.LocationID, a.ID)
		s.related.appointments[c.ID] = append(s.related.appointments[c.ID], a)
		s.persistChild("appointment", a.ID, c.ID, a)
	}
}
