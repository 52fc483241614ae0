package sandbox

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ---- POST /locations/{locationId}/tasks/search ----

// MaxTaskSearchLimit is the largest limit the tasks search takes (issue 13's
// third-party probes; the file gives only the default, 25).
const MaxTaskSearchLimit = 500

// MaxEventsWindow is the widest startTime..endTime GET /calendars/events
// takes (chosen: no limit is published; DEVIATIONS.md).
const MaxEventsWindow = 31 * 24 * time.Hour

// searchedTask is a tasks search row: keyed `_id`, with the location and
// a deleted flag (DEVIATIONS.md).
type searchedTask struct {
	ID         string `json:"_id"`
	Title      string `json:"title"`
	Body       string `json:"body,omitempty"`
	AssignedTo string `json:"assignedTo,omitempty"`
	DueDate    string `json:"dueDate"`
	Completed  bool   `json:"completed"`
	ContactID  string `json:"contactId"`
	LocationID string `json:"locationId"`
	Deleted    bool   `json:"deleted"`
}

// taskQuery is a decoded TaskSearchParamsDto.
type taskQuery struct {
	Limit      *float64 `json:"limit"`
	Skip       *float64 `json:"skip"`
	ContactIDs []string `json:"contactId"`
	Completed  *bool    `json:"completed"`
	AssignedTo []string `json:"assignedTo"`
	Query      string   `json:"query"`
	BusinessID string   `json:"businessId"`
}

// page checks limit and skip as class-validator would and gives them as
// ints (defaults 25 and 0, the file's).
func (tq taskQuery) page() (limit, skip int, msgs []string) {
	limit, skip = 25, 0
	if tq.Limit != nil {
		switch v := *tq.Limit; {
		case v != float64(int64(v)):
			msgs = append(msgs, "limit must be an integer number")
		case v < 1:
			msgs = append(msgs, "limit must not be less than 1")
		case v > MaxTaskSearchLimit:
			msgs = append(msgs, "limit must not be greater than "+strconv.Itoa(MaxTaskSearchLimit))
		default:
			limit = int(v)
		}
	}
	if tq.Skip != nil {
		switch v := *tq.Skip; {
		case v != float64(int64(v)):
			msgs = append(msgs, "skip must be an integer number")
		case v < 0:
			msgs = append(msgs, "skip must not be less than 0")
		default:
			skip = int(v)
		}
	}
	return limit, skip, msgs
}

// keeps reports whether task t of contact c matches the query's filters.
func (tq taskQuery) keeps(c *contact, t *task) bool {
	if len(tq.ContactIDs) > 0 && !slices.Contains(tq.ContactIDs, c.ID) {
		return false
	}
	if tq.Completed != nil && *tq.Completed != t.Completed {
		return false
	}
	if len(tq.AssignedTo) > 0 && !slices.Contains(tq.AssignedTo, t.AssignedTo) {
		return false
	}
	if tq.BusinessID != "" && c.BusinessID != tq.BusinessID {
		return false
	}
	return tq.Query == "" || strings.Contains(strings.ToLower(t.Title), strings.ToLower(tq.Query))
}

// hTaskSearch lists the location's tasks: contacts in the order they were
// added, each contact's tasks in the order they were created; skip/limit
// count tasks in that order.
func (s *Server) hTaskSearch(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("TaskSearchParamsDto", fields); rep != nil {
		return *rep
	}
	if rep := checkLocation(q.tok, q.p[0]); rep != nil {
		return *rep
	}
	var tq taskQuery
	raw, _ := json.Marshal(fields)
	_ = json.Unmarshal(raw, &tq) // kinds are checked: this can't fail
	limit, skip, msgs := tq.page()
	if len(msgs) > 0 {
		return rep422(msgs...)
	}
	out := []searchedTask{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.locR(q.p[0])
	if l == nil {
		return reply{status: http.StatusCreated, body: map[string]any{"tasks": out}}
	}
	for _, e := range l.added.e {
		if !l.liveAdded(e) {
			continue
		}
		c := l.contacts[e.id]
		for _, t := range s.related.tasks[c.ID] {
			if !tq.keeps(c, t) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, searchedTask{ID: t.ID, Title: t.Title, Body: t.Body, AssignedTo: t.AssignedTo,
				DueDate: t.DueDate, Completed: t.Completed, ContactID: t.ContactID, LocationID: l.id})
			if len(out) == limit {
				return reply{status: http.StatusCreated, body: map[string]any{"tasks": out}}
			}
		}
	}
	return reply{status: http.StatusCreated, body: map[string]any{"tasks": out}}
}

// ---- calendars ----

// calendar is the part of CalendarDTO the sandbox serves.
type calendar struct {
	ID           string `json:"id"`
	LocationID   string `json:"locationId"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	CalendarType string `json:"calendarType"`
	IsActive     bool   `json:"isActive"`
}

// calendarNames are every location's calendars.
var calendarNames = []string{"Discovery calls", "Onboarding", "Support"}

// legacyCalendarID is the one calendar id appointments were seeded with
// before calendars existed; loading a data file moves them onto the
// location's calendars (calendarFor), as a fresh seed would.
const legacyCalendarID = "YlWd2wuCAZQzh2cH1fVZ"

var calendarCache sync.Map // location id -> []calendar

// locationCalendars are the calendars of location locID: derived from the
// id alone (no draw from the seed's random stream, so seeded data is what
// it was), the same in every run.
func locationCalendars(locID string) []calendar {
	if v, ok := calendarCache.Load(locID); ok {
		return v.([]calendar)
	}
	cals := make([]calendar, len(calendarNames))
	for i, name := range calendarNames {
		r := rand.New(rand.NewPCG(hashString(locID), uint64(i)))
		cals[i] = calendar{ID: randID(r, 20), LocationID: locID, Name: name, Description: name + " (sandbox)",
			CalendarType: "event", IsActive: true}
	}
	v, _ := calendarCache.LoadOrStore(locID, cals)
	return v.([]calendar)
}

// calendarFor is the calendar appointment apptID of location locID is on.
func calendarFor(locID, apptID string) string {
	cals := locationCalendars(locID)
	return cals[hashString(apptID)%uint64(len(cals))].ID
}

// hCalendars is GET /calendars/?locationId=.
func (s *Server) hCalendars(q *call) reply {
	qv := q.r.URL.Query()
	loc := qv.Get("locationId")
	if loc == "" {
		return rep422("locationId should not be empty")
	}
	if rep := checkLocation(q.tok, loc); rep != nil {
		return *rep
	}
	cals := locationCalendars(loc)
	if g := qv.Get("groupId"); g != "" {
		cals = nil // no seeded calendar is in a group
	}
	return reply{status: http.StatusOK, body: map[string]any{"calendars": slices.Clone(cals)}}
}

// event is CalendarEventDTO.
type event struct {
	ID                string   `json:"id"`
	Address           string   `json:"address,omitempty"`
	Title             string   `json:"title"`
	CalendarID        string   `json:"calendarId"`
	LocationID        string   `json:"locationId"`
	ContactID         string   `json:"contactId"`
	GroupID           string   `json:"groupId"`
	AppointmentStatus string   `json:"appointmentStatus"`
	AssignedUserID    string   `json:"assignedUserId"`
	Users             []string `json:"users"`
	Notes             string   `json:"notes,omitempty"`
	StartTime         string   `json:"startTime"`
	EndTime           string   `json:"endTime"`
	DateAdded         string   `json:"dateAdded"`
	DateUpdated       string   `json:"dateUpdated"`

	startMs int64
}

// eventLayout is how events give instants: the file's example
// (2023-09-25T16:00:00+05:30), in UTC.
const eventLayout = "2006-01-02T15:04:05-07:00"

// apptTime reads an appointment's stored time (time.DateTime, UTC).
func apptTime(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(time.DateTime, s, time.UTC)
	return t, err == nil
}

func eventTime(s string) string {
	if t, ok := apptTime(s); ok {
		return t.Format(eventLayout)
	}
	return s
}

// eventsQuery is GET /calendars/events' query, checked.
type eventsQuery struct {
	loc, calendarID, userID, groupID string
	start, end                       int64 // ms, both inclusive
}

func parseEventsQuery(qv map[string][]string) (eventsQuery, []string) {
	get := func(k string) string {
		if v := qv[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	eq := eventsQuery{loc: get("locationId"), calendarID: get("calendarId"), userID: get("userId"), groupID: get("groupId")}
	var msgs []string
	if eq.loc == "" {
		msgs = append(msgs, "locationId should not be empty")
	}
	ms := func(name string) int64 {
		v, err := strconv.ParseInt(get(name), 10, 64)
		if err != nil || v < 0 {
			msgs = append(msgs, name+" must be a time in milliseconds")
		}
		return v
	}
	eq.start, eq.end = ms("startTime"), ms("endTime")
	if eq.calendarID == "" && eq.userID == "" && eq.groupID == "" {
		msgs = append(msgs, "Either of calendarId, userId or groupId is required")
	}
	if len(msgs) == 0 {
		switch {
		case eq.end < eq.start:
			msgs = append(msgs, "endTime must not be before startTime")
		case eq.end-eq.start > MaxEventsWindow.Milliseconds():
			msgs = append(msgs, "The range between startTime and endTime must not exceed "+
				strconv.Itoa(int(MaxEventsWindow/(24*time.Hour)))+" days")
		}
	}
	return eq, msgs
}

// hEvents is GET /calendars/events: the location's appointments that start
// in [startTime, endTime] on the calendar (or of the user), by start time.
func (s *Server) hEvents(q *call) reply {
	eq, msgs := parseEventsQuery(q.r.URL.Query())
	if len(msgs) > 0 {
		return rep422(msgs...)
	}
	if rep := checkLocation(q.tok, eq.loc); rep != nil {
		return *rep
	}
	out := []event{}
	if eq.groupID != "" {
		// no seeded calendar is in a group
		return reply{status: http.StatusOK, body: map[string]any{"events": out}}
	}
	s.mu.RLock()
	l := s.locR(eq.loc)
	if l != nil {
		for cid, list := range s.related.appointments {
			if l.contacts[cid] == nil {
				continue
			}
			for _, a := range list {
				if e, ok := eq.match(a); ok {
					out = append(out, e)
				}
			}
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b event) int {
		if a.startMs != b.startMs {
			return int(a.startMs - b.startMs)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return reply{status: http.StatusOK, body: map[string]any{"events": out}}
}

// match gives a as an event when it is one the query asks for.
func (eq eventsQuery) match(a *appointment) (event, bool) {
	if a.LocationID != eq.loc || (eq.calendarID != "" && a.CalendarID != eq.calendarID) {
		return event{}, false
	}
	if eq.userID != "" && a.AssignedUserID != eq.userID && !slices.Contains(a.Users, eq.userID) {
		return event{}, false
	}
	st, ok := apptTime(a.StartTime)
	if !ok || st.UnixMilli() < eq.start || st.UnixMilli() > eq.end {
		return event{}, false
	}
	users := a.Users
	if users == nil {
		users = []string{}
	}
	return event{ID: a.ID, Address: a.Address, Title: a.Title, CalendarID: a.CalendarID, LocationID: a.LocationID,
		ContactID: a.ContactID, GroupID: a.GroupID, AppointmentStatus: a.AppointmentStatus,
		AssignedUserID: a.AssignedUserID, Users: users, Notes: a.Notes, StartTime: eventTime(a.StartTime),
		EndTime: eventTime(a.EndTime), DateAdded: eventTime(a.DateAdded), DateUpdated: eventTime(a.DateUpdated),
		startMs: st.UnixMilli()}, true
}
