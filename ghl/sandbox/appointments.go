package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// The appointment writes of calendars.json (issue 13: export's appointment
// changes are tested through them): create-appointment, edit-appointment
// and delete-event, under calendars/events.write. DEVIATIONS.md says what
// the file leaves open and what the sandbox does.

const scEventsWrite = "calendars/events.write"

// msgApptNotFound is the 400 of an event id the location does not have.
const msgApptNotFound = "Appointment not found"

// apptStatuses and meetingTypes are the enums of AppointmentCreateSchema
// and AppointmentEditSchema (the DTO check reads kinds, not enums).
var (
	apptStatuses = []string{"new", "confirmed", "cancelled", "showed", "noshow", "invalid"}
	meetingTypes = []string{"custom", "zoom", "gmeet", "phone", "address", "ms_teams", "google"}
)

// defaultApptLength is an appointment's length when the body gives no
// endTime: the seeded calendars' 30-minute slots.
const defaultApptLength = 30 * time.Minute

// apptResponse is AppointmentSchemaResponse: the object itself, no wrapper.
type apptResponse struct {
	ID                  string `json:"id"`
	CalendarID          string `json:"calendarId"`
	LocationID          string `json:"locationId"`
	ContactID           string `json:"contactId"`
	StartTime           string `json:"startTime"`
	EndTime             string `json:"endTime"`
	Title               string `json:"title"`
	MeetingLocationType string `json:"meetingLocationType"`
	AppointmentStatus   string `json:"appointmentStatus"`
	AssignedUserID      string `json:"assignedUserId,omitempty"`
	Address             string `json:"address,omitempty"`
	IsRecurring         bool   `json:"isRecurring"`
}

func apptReply(a *appointment) reply {
	mt := "default"
	if a.Address != "" {
		mt = "custom"
	}
	return reply{status: http.StatusOK, body: apptResponse{ID: a.ID, CalendarID: a.CalendarID, LocationID: a.LocationID,
		ContactID: a.ContactID, StartTime: eventTime(a.StartTime), EndTime: eventTime(a.EndTime), Title: a.Title,
		MeetingLocationType: mt, AppointmentStatus: a.AppointmentStatus, AssignedUserID: a.AssignedUserID,
		Address: a.Address}}
}

// apptEvent is a as the Appointment* webhooks carry it (CalendarEventDTO's
// shape, as GET /calendars/events gives it).
func apptEvent(a *appointment) any {
	users := a.Users
	if users == nil {
		users = []string{}
	}
	return event{ID: a.ID, Address: a.Address, Title: a.Title, CalendarID: a.CalendarID, LocationID: a.LocationID,
		ContactID: a.ContactID, GroupID: a.GroupID, AppointmentStatus: a.AppointmentStatus,
		AssignedUserID: a.AssignedUserID, Users: users, Notes: a.Notes, StartTime: eventTime(a.StartTime),
		EndTime: eventTime(a.EndTime), DateAdded: eventTime(a.DateAdded), DateUpdated: eventTime(a.DateUpdated)}
}

// apptFields applies a validated AppointmentCreateSchema or
// AppointmentEditSchema to a: the enums, the times (ISO 8601 with an
// offset, stored in UTC) and the calendar, which must be the location's.
func apptFields(a *appointment, fields map[string]json.RawMessage) []string {
	var msgs []string
	if v, ok := str(fields["appointmentStatus"]); ok {
		if !slices.Contains(apptStatuses, v) {
			msgs = append(msgs, "appointmentStatus must be one of the following values: new, confirmed, cancelled, showed, noshow, invalid")
		}
		a.AppointmentStatus, a.Status = v, v
	}
	if v, ok := str(fields["meetingLocationType"]); ok && !slices.Contains(meetingTypes, v) {
		msgs = append(msgs, "meetingLocationType must be one of the following values: custom, zoom, gmeet, phone, address, ms_teams, google")
	}
	if v, ok := str(fields["calendarId"]); ok {
		if !slices.ContainsFunc(locationCalendars(a.LocationID), func(c calendar) bool { return c.ID == v }) {
			msgs = append(msgs, "calendarId must be a calendar of the location")
		}
		a.CalendarID = v
	}
	for _, f := range []struct {
		name string
		to   *string
	}{{"title", &a.Title}, {"assignedUserId", &a.AssignedUserID}, {"address", &a.Address}} {
		if v, ok := str(fields[f.name]); ok {
			*f.to = v
		}
	}
	return append(msgs, apptTimes(a, fields)...)
}

// apptTimes sets a's start and end. A new start without an end keeps the
// appointment's length (a move); an end before the start is refused.
func apptTimes(a *appointment, fields map[string]json.RawMessage) []string {
	oldStart, hadStart := apptTime(a.StartTime)
	oldEnd, hadEnd := apptTime(a.EndTime)
	length := defaultApptLength
	if hadStart && hadEnd {
		length = oldEnd.Sub(oldStart)
	}
	start, end := oldStart, oldEnd
	var msgs []string
	parse := func(name string, to *time.Time) bool {
		v, ok := str(fields[name])
		if !ok {
			return false
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			msgs = append(msgs, name+" must be a valid ISO 8601 date string")
			return false
		}
		*to = t.UTC()
		return true
	}
	newStart := parse("startTime", &start)
	if !parse("endTime", &end) && newStart {
		end = start.Add(length)
	}
	if len(msgs) == 0 && end.Before(start) {
		msgs = append(msgs, "endTime must not be before startTime")
	}
	a.StartTime, a.EndTime = start.Format(time.DateTime), end.Format(time.DateTime)
	return msgs
}

// hApptCreate is POST /calendars/events/appointments.
func (s *Server) hApptCreate(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("AppointmentCreateSchema", fields); rep != nil {
		return *rep
	}
	locID, _ := str(fields["locationId"])
	if rep := checkLocation(q.tok, locID); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cid, _ := str(fields["contactId"])
	if _, c := s.contactOf(q.tok, cid); c == nil {
		return rep400(msgContactNotFound)
	}
	now := time.UnixMilli(s.stamp()).UTC().Format(time.DateTime)
	a := &appointment{ID: s.newID(), LocationID: locID, ContactID: cid, AppointmentStatus: "confirmed",
		Status: "confirmed", AssignedUserID: DefaultUserID, Users: appointmentUsers, DateAdded: now, DateUpdated: now}
	if msgs := apptFields(a, fields); len(msgs) > 0 {
		return rep422(msgs...)
	}
	s.related.appointments[cid] = append(s.related.appointments[cid], a)
	s.persistChild("appointment", a.ID, cid, a)
	s.webhook("AppointmentCreate", locID, apptEvent(a))
	return apptReply(a)
}

// findAppt is the index of event id among its contact's appointments in
// the token's location. Call with a lock held.
func (s *Server) findAppt(q *call, id string) (cid string, i int) {
	l := s.locs[q.tok.LocationID]
	if l == nil {
		return "", -1
	}
	for cid, list := range s.related.appointments {
		if l.contacts[cid] == nil {
			continue
		}
		if i := slices.IndexFunc(list, func(a *appointment) bool { return a.ID == id }); i >= 0 {
			return cid, i
		}
	}
	return "", -1
}

// hApptEdit is PUT /calendars/events/appointments/{eventId}.
func (s *Server) hApptEdit(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("AppointmentEditSchema", fields); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cid, i := s.findAppt(q, q.p[0])
	if i < 0 {
		return rep400(msgApptNotFound)
	}
	list := s.related.appointments[cid]
	a := *list[i]
	if msgs := apptFields(&a, fields); len(msgs) > 0 {
		return rep422(msgs...)
	}
	a.DateUpdated = time.UnixMilli(s.stamp()).UTC().Format(time.DateTime)
	list = slices.Clone(list)
	list[i] = &a
	s.related.appointments[cid] = list
	s.persistChild("appointment", a.ID, cid, &a)
	s.webhook("AppointmentUpdate", a.LocationID, apptEvent(&a))
	return apptReply(&a)
}

// hEventDelete is DELETE /calendars/events/{eventId}: 201 and
// {"succeeded": true}, as the file declares (contacts.json's deletes spell
// it "succeded").
func (s *Server) hEventDelete(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("DeleteAppointmentSchema", fields); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cid, i := s.findAppt(q, q.p[0])
	if i < 0 {
		return rep400(msgApptNotFound)
	}
	list := s.related.appointments[cid]
	s.webhook("AppointmentDelete", list[i].LocationID, apptEvent(list[i]))
	s.related.appointments[cid] = slices.Delete(slices.Clone(list), i, i+1)
	if s.db != nil {
		s.db.del("appointment", q.p[0])
	}
	return reply{status: http.StatusCreated, body: map[string]bool{"succeeded": true}}
}
