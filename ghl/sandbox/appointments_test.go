package sandbox

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestAppointmentWrites(t *testing.T) {
	rec := &hookRecorder{seen: map[string]bool{}}
	hooks := httptest.NewServer(rec)
	defer hooks.Close()
	e := start(t, Options{Rate: -1, Webhooks: WebhookOptions{URL: hooks.URL, MaxWait: 10 * time.Millisecond}})
	loc := e.s.LocationID()
	cid := e.must(e.upsert(map[string]any{"email": "appt@example.com"}), 200).obj("contact")["id"].(string)
	cal := locationCalendars(loc)[0].ID
	book := map[string]any{"locationId": loc, "contactId": cid, "calendarId": cal, "startTime": "2030-01-02T10:00:00+01:00"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range book {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		msg    string
	}{
		{"no calendar", with("calendarId", nil), 422, "calendarId should not be empty"},
		{"unknown property", with("colour", "red"), 422, "property colour should not exist"},
		{"bad status", with("appointmentStatus", "maybe"), 422, "appointmentStatus must be one of the following values: new, confirmed, cancelled, showed, noshow, invalid"},
		{"another location's calendar", with("calendarId", "nope"), 422, "calendarId must be a calendar of the location"},
		{"bad start", with("startTime", "tomorrow"), 422, "startTime must be a valid ISO 8601 date string"},
		{"end before start", with("endTime", "2030-01-02T08:00:00+01:00"), 422, "endTime must not be before startTime"},
		{"unknown contact", with("contactId", "nobody"), 400, msgContactNotFound},
		{"another location", with("locationId", "elsewhere"), 403, msgLocation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.must(e.call("POST", "/calendars/events/appointments", tc.body, nil), tc.status)
			if !slices.Contains(r.messages(), tc.msg) && r.str("message") != tc.msg {
				t.Errorf("messages %v, want %q", r.messages(), tc.msg)
			}
		})
	}

	a := e.must(e.call("POST", "/calendars/events/appointments", book, nil), 200)
	id := a.str("id")
	if a.str("startTime") != "2030-01-02T09:00:00+00:00" || a.str("endTime") != "2030-01-02T09:30:00+00:00" || a.str("contactId") != cid {
		t.Errorf("created %s", a.raw)
	}
	moved := e.must(e.call("PUT", "/calendars/events/appointments/"+id, map[string]any{"startTime": "2030-01-03T09:00:00Z"}, nil), 200)
	if moved.str("endTime") != "2030-01-03T09:30:00+00:00" {
		t.Errorf("moved %s: the length should be kept", moved.raw)
	}
	e.must(e.call("PUT", "/calendars/events/appointments/"+id, map[string]any{"contactId": cid}, nil), 422)
	e.must(e.call("PUT", "/calendars/events/appointments/nope", map[string]any{"title": "x"}, nil), 400)
	if d := e.must(e.call("DELETE", "/calendars/events/"+id, map[string]any{}, nil), 201); d.body["succeeded"] != true {
		t.Errorf("delete answered %s", d.raw)
	}
	e.must(e.call("DELETE", "/calendars/events/"+id, map[string]any{}, nil), 400)

	// Without calendars/events.write: 403 before anything changes.
	ro, err := e.s.IssueToken("", []string{"contacts.readonly", scEvents}, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.token = ro
	e.must(e.call("POST", "/calendars/events/appointments", book, nil), 403)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.s.WebhooksIdle(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rec.got {
		var body struct {
			Appointment struct{ ID, ContactID, StartTime string }
		}
		_ = json.Unmarshal(r.body, &body)
		if r.envelope.Type == "ContactCreate" {
			continue
		}
		got = append(got, r.envelope.Type+" "+body.Appointment.StartTime)
		if body.Appointment.ID != id || body.Appointment.ContactID != cid {
			t.Errorf("%s carries %s", r.envelope.Type, r.body)
		}
	}
	slices.Sort(got)
	want := []string{"AppointmentCreate 2030-01-02T09:00:00+00:00", "AppointmentDelete 2030-01-03T09:00:00+00:00",
		"AppointmentUpdate 2030-01-03T09:00:00+00:00"}
	if !slices.Equal(got, want) {
		t.Errorf("webhooks %v, want %v", got, want)
	}
}

func TestSeedRelatedMix(t *testing.T) {
	for _, bad := range []string{"tasks", "tasks=x", "calls=1", "notes=-1"} {
		if _, err := ParseRelatedMix(bad); err == nil {
			t.Errorf("ParseRelatedMix(%q): no error", bad)
		}
	}
	m, err := ParseRelatedMix("tasks=1,notes=1,appointments=0.5")
	if err != nil {
		t.Fatal(err)
	}
	const n = 4000
	s, err := New(Options{Contacts: n, Seed: 3, Related: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var tasks, notes, appts int
	for _, l := range s.related.tasks {
		tasks += len(l)
	}
	for _, l := range s.related.notes {
		notes += len(l)
	}
	for _, l := range s.related.appointments {
		appts += len(l)
	}
	if tasks != n || notes != n || appts < n*45/100 || appts > n*55/100 {
		t.Errorf("%d contacts seeded %d tasks, %d notes, %d appointments; want %d, %d, about %d", n, tasks, notes, appts, n, n, n/2)
	}
}
