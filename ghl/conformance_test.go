package ghl_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// TestConformance calls every client method against the sandbox behind
// the spec-validating middleware.
func TestConformance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	sb, err := sandbox.New(sandbox.Options{Seed: 7, Contacts: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	loc := sb.LocationID()
	tok, err := sb.IssueToken(loc, []string{"contacts.readonly", "contacts.write", "locations/customFields.readonly",
		"locations/tasks.readonly", "calendars.readonly", "calendars/events.readonly", "calendars/events.write"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[exchange]bool{}
	var mu sync.Mutex // the handler runs on the server's goroutines
	record := func(e exchange) { mu.Lock(); covered[e] = true; mu.Unlock() }
	srv := httptest.NewServer(validating(t.Errorf, loadSpec(t), sb.Handler(), record))
	defer srv.Close()
	hc := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}),
		Base:   srv.Client().Transport,
	}}
	c := ghl.New(srv.URL, hc)
	str := func(s string) *string { return &s }

	// Contacts: create, read, update, upsert twice.
	created, err := c.CreateContact(ctx, ghl.UpsertContactRequest{
		LocationID: loc, FirstName: str("Ada"), LastName: str("Lovelace"), Email: str("ada@example.com"), Tags: []string{"seed"},
	})
	must(t, "CreateContact", err)
	got, err := c.GetContact(ctx, created.ID)
	must(t, "GetContact", err)
	if got.Email != "ada@example.com" {
		t.Errorf("GetContact email = %q", got.Email)
	}
	upd, err := c.UpdateContact(ctx, created.ID, ghl.UpdateContactRequest{City: str("London")})
	must(t, "UpdateContact", err)
	if upd.City != "London" {
		t.Errorf("UpdateContact city = %q", upd.City)
	}
	up1, err := c.UpsertContact(ctx, ghl.UpsertContactRequest{LocationID: loc, Email: str("grace@example.com"), FirstName: str("Grace")})
	must(t, "UpsertContact", err)
	up2, err := c.UpsertContact(ctx, ghl.UpsertContactRequest{LocationID: loc, Email: str("grace@example.com"), LastName: str("Hopper")})
	must(t, "UpsertContact again", err)
	if !up1.New || up2.New || up1.Contact.ID != up2.Contact.ID {
		t.Errorf("upserts: first new=%v, second new=%v, ids %s %s", up1.New, up2.New, up1.Contact.ID, up2.Contact.ID)
	}

	// A 422 comes back as *APIError with the messages.
	_, err = c.UpsertContact(ctx, ghl.UpsertContactRequest{LocationID: loc, Email: str("not an email")})
	if !ghl.IsUnprocessable(err) && ghl.StatusCode(err) != http.StatusBadRequest {
		t.Errorf("bad email: err = %v, want a 422 or 400 *APIError", err)
	}

	// Listings: every style over more than one page.
	n := 0
	pages := 0
	var listed []string
	for page, err := range c.ContactPages(ctx, ghl.ListContactsParams{LocationID: loc, Limit: 50}) {
		must(t, "ContactPages", err)
		n += len(page.Contacts)
		pages++
		for _, k := range page.Contacts {
			listed = append(listed, k.ID)
		}
	}
	if pages < 2 || n < 120 {
		t.Errorf("ContactPages: %d contacts in %d pages", n, pages)
	}
	n, pages = 0, 0
	for page, err := range c.SearchPages(ctx, ghl.SearchRequest{LocationID: loc, PageLimit: 50}) {
		must(t, "SearchPages", err)
		n += len(page.Contacts)
		pages++
	}
	if pages < 2 || n < 120 {
		t.Errorf("SearchPages: %d contacts in %d pages", n, pages)
	}
	res, err := c.SearchContacts(ctx, ghl.SearchRequest{LocationID: loc, PageLimit: 10,
		Filters: []ghl.SearchFilter{{Field: "email", Operator: "eq", Value: "ada@example.com"}}})
	must(t, "SearchContacts", err)
	if len(res.Contacts) != 1 || res.Contacts[0].ID != created.ID {
		t.Errorf("search by email: %+v", res.Contacts)
	}

	// Business: put three contacts in one, list them two at a time.
	var ids []string
	for page, err := range c.ContactPages(ctx, ghl.ListContactsParams{LocationID: loc, Limit: 3}) {
		must(t, "ContactPages", err)
		for _, k := range page.Contacts {
			ids = append(ids, k.ID)
		}
		break
	}
	const business = "bizConformance01"
	bb, err := c.BulkBusiness(ctx, ghl.BulkBusinessRequest{LocationID: loc, IDs: ids, BusinessID: str(business)})
	must(t, "BulkBusiness", err)
	if !bb.Success {
		t.Errorf("BulkBusiness: %+v", bb)
	}
	n = 0
	for page, err := range c.BusinessContactPages(ctx, business, ghl.BusinessContactsParams{LocationID: loc, Limit: 2}) {
		must(t, "BusinessContactPages", err)
		n += len(page.Contacts)
	}
	if n != len(ids) {
		t.Errorf("business listing: %d contacts, want %d", n, len(ids))
	}

	// Tasks.
	task, err := c.CreateTask(ctx, created.ID, ghl.TaskInput{Title: "Call", DueDate: "2030-01-02T10:00:00Z"})
	must(t, "CreateTask", err)
	_, err = c.GetTask(ctx, created.ID, task.ID)
	must(t, "GetTask", err)
	_, err = c.UpdateTask(ctx, created.ID, task.ID, ghl.TaskInput{Title: "Call back", DueDate: "2030-01-03T10:00:00Z"})
	must(t, "UpdateTask", err)
	done, err := c.CompleteTask(ctx, created.ID, task.ID, true)
	must(t, "CompleteTask", err)
	if !done.Completed {
		t.Error("CompleteTask: not completed")
	}
	tasks, err := c.ListTasks(ctx, created.ID)
	must(t, "ListTasks", err)
	if len(tasks) != 1 {
		t.Errorf("ListTasks: %d", len(tasks))
	}
	must(t, "DeleteTask", c.DeleteTask(ctx, created.ID, task.ID))

	// Notes.
	note, err := c.CreateNote(ctx, created.ID, ghl.NoteInput{Body: "met at the conference"})
	must(t, "CreateNote", err)
	_, err = c.GetNote(ctx, created.ID, note.ID)
	must(t, "GetNote", err)
	_, err = c.UpdateNote(ctx, created.ID, note.ID, ghl.NoteInput{Body: "met at the conference, twice"})
	must(t, "UpdateNote", err)
	notes, err := c.ListNotes(ctx, created.ID)
	must(t, "ListNotes", err)
	if len(notes) != 1 {
		t.Errorf("ListNotes: %d", len(notes))
	}
	must(t, "DeleteNote", c.DeleteNote(ctx, created.ID, note.ID))

	// Appointments: some seeded contacts have them (the seed is fixed, so
	// which ones is too); look until one does.
	found := false
	for _, id := range listed[:min(len(listed), 30)] {
		appts, err := c.ListAppointments(ctx, id)
		must(t, "ListAppointments", err)
		if len(appts) > 0 {
			found = true
			if appts[0].ID == "" || appts[0].ContactID != id {
				t.Errorf("appointment of %s: %+v", id, appts[0])
			}
			break
		}
	}
	if !found {
		t.Error("no seeded contact among the first 30 has appointments")
	}

	// Location-wide listings: tasks by skip/limit, events per calendar
	// and window.
	nTasks, taskPages := 0, 0
	for page, err := range c.LocationTaskPages(ctx, loc, ghl.TaskSearchParams{Limit: 10}) {
		must(t, "LocationTaskPages", err)
		taskPages++
		for _, tk := range page.Tasks {
			nTasks++
			if tk.ID == "" || tk.ContactID == "" {
				t.Errorf("searched task without id or contact: %+v", tk)
			}
		}
	}
	if taskPages < 2 || nTasks < 11 {
		t.Errorf("LocationTaskPages: %d tasks in %d pages", nTasks, taskPages)
	}
	cals, err := c.ListCalendars(ctx, loc)
	must(t, "ListCalendars", err)
	if len(cals) == 0 {
		t.Fatal("ListCalendars: none")
	}
	nEvents := 0
	end := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	// One year (a request per calendar and window; the sandbox allows 100
	// per 10 s).
	for start := end.AddDate(-1, 0, 0); start.Before(end); start = start.Add(ghl.MaxEventsWindow) {
		for _, cal := range cals {
			evs, err := c.ListCalendarEvents(ctx, ghl.CalendarEventsParams{LocationID: loc, CalendarID: cal.ID,
				Start: start, End: start.Add(ghl.MaxEventsWindow)})
			must(t, "ListCalendarEvents", err)
			for _, ev := range evs {
				if ev.CalendarID != cal.ID || ev.ContactID == "" {
					t.Errorf("event on calendar %s: %+v", cal.ID, ev)
				}
			}
			nEvents += len(evs)
		}
	}
	if nEvents == 0 {
		t.Error("ListCalendarEvents: no seeded event in a year")
	}
	appointmentWrites(ctx, t, c, loc, cals[0].ID, created.ID)

	// Tags, one contact and in bulk.
	tags, err := c.AddTags(ctx, created.ID, []string{"vip", "london"})
	must(t, "AddTags", err)
	if !contains(tags, "vip") {
		t.Errorf("AddTags: %v", tags)
	}
	tags, err = c.RemoveTags(ctx, created.ID, []string{"vip"})
	must(t, "RemoveTags", err)
	if contains(tags, "vip") {
		t.Errorf("RemoveTags: %v", tags)
	}
	bt, err := c.BulkTags(ctx, "add", ghl.BulkTagsRequest{LocationID: loc, Contacts: ids, Tags: []string{"bulk"}})
	must(t, "BulkTags add", err)
	if bt.ErrorCount != 0 || len(bt.Responses) != len(ids) {
		t.Errorf("BulkTags add: %+v", bt)
	}
	_, err = c.BulkTags(ctx, "remove", ghl.BulkTagsRequest{LocationID: loc, Contacts: ids, Tags: []string{"bulk"}})
	must(t, "BulkTags remove", err)

	fields, err := c.ListCustomFields(ctx, loc)
	must(t, "ListCustomFields", err)
	if len(fields) == 0 {
		t.Error("ListCustomFields: none")
	}

	must(t, "DeleteContact", c.DeleteContact(ctx, created.ID))
	if _, err := c.GetContact(ctx, created.ID); err == nil {
		t.Error("GetContact after delete: no error")
	} else {
		var ae *ghl.APIError
		if !errors.As(err, &ae) {
			t.Errorf("GetContact after delete: %v (%T)", err, err)
		}
	}

	// Every operation the client has was exercised.
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []exchange{
		{"GET", "/contacts/{contactId}"}, {"GET", "/contacts/"}, {"POST", "/contacts/"},
		{"PUT", "/contacts/{contactId}"}, {"DELETE", "/contacts/{contactId}"}, {"POST", "/contacts/upsert"},
		{"POST", "/contacts/search"}, {"GET", "/contacts/business/{businessId}"},
		{"GET", "/contacts/{contactId}/tasks"}, {"POST", "/contacts/{contactId}/tasks"},
		{"GET", "/contacts/{contactId}/tasks/{taskId}"}, {"PUT", "/contacts/{contactId}/tasks/{taskId}"},
		{"PUT", "/contacts/{contactId}/tasks/{taskId}/completed"}, {"DELETE", "/contacts/{contactId}/tasks/{taskId}"},
		{"GET", "/contacts/{contactId}/notes"}, {"POST", "/contacts/{contactId}/notes"},
		{"GET", "/contacts/{contactId}/notes/{id}"}, {"PUT", "/contacts/{contactId}/notes/{id}"},
		{"DELETE", "/contacts/{contactId}/notes/{id}"}, {"GET", "/contacts/{contactId}/appointments"},
		{"POST", "/contacts/{contactId}/tags"}, {"DELETE", "/contacts/{contactId}/tags"},
		{"POST", "/contacts/bulk/tags/update/{type}"}, {"POST", "/contacts/bulk/business"},
		{"GET", "/locations/{locationId}/customFields"}, {"POST", "/locations/{locationId}/tasks/search"},
		{"GET", "/calendars/"}, {"GET", "/calendars/events"},
		{"POST", "/calendars/events/appointments"}, {"PUT", "/calendars/events/appointments/{eventId}"},
		{"DELETE", "/calendars/events/{eventId}"},
	} {
		if !covered[want] {
			t.Errorf("not exercised: %s %s", want.method, want.route)
		}
	}
}

// appointmentWrites books an appointment for contact cid, moves it (its
// length kept), sees it in the calendar's events, and deletes it.
func appointmentWrites(ctx context.Context, t *testing.T, c *ghl.Client, loc, calID, cid string) {
	t.Helper()
	a, err := c.CreateAppointment(ctx, ghl.AppointmentInput{LocationID: loc, ContactID: cid, CalendarID: calID,
		StartTime: "2025-03-03T10:00:00+01:00", EndTime: "2025-03-03T10:45:00+01:00", Title: "Kick-off"})
	must(t, "CreateAppointment", err)
	if a.ID == "" || a.ContactID != cid || a.CalendarID != calID || a.StartTime != "2025-03-03T09:00:00+00:00" {
		t.Errorf("CreateAppointment: %+v", a)
	}
	moved, err := c.UpdateAppointment(ctx, a.ID, ghl.AppointmentInput{StartTime: "2025-03-05T14:00:00Z"})
	must(t, "UpdateAppointment", err)
	if moved.StartTime != "2025-03-05T14:00:00+00:00" || moved.EndTime != "2025-03-05T14:45:00+00:00" {
		t.Errorf("UpdateAppointment: %s to %s, want 14:00 to 14:45 (length kept)", moved.StartTime, moved.EndTime)
	}
	day := time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)
	evs, err := c.ListCalendarEvents(ctx, ghl.CalendarEventsParams{LocationID: loc, CalendarID: calID, Start: day, End: day.AddDate(0, 0, 1)})
	must(t, "ListCalendarEvents after the move", err)
	if !slices.ContainsFunc(evs, func(e ghl.Appointment) bool { return e.ID == a.ID }) {
		t.Errorf("the moved appointment %s is not among the day's events %+v", a.ID, evs)
	}
	must(t, "DeleteAppointment", c.DeleteAppointment(ctx, a.ID))
	var ae *ghl.APIError
	if err := c.DeleteAppointment(ctx, a.ID); !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest {
		t.Errorf("DeleteAppointment again: %v, want a 400", err)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
