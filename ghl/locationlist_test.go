package ghl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// listScopes are what the location-wide listings need, besides writing the
// fixtures.
var listScopes = []string{"contacts.readonly", "contacts.write", "locations/tasks.readonly", "calendars.readonly", "calendars/events.readonly"}

// sandboxClient is a client with a token of scopes on a sandbox without a
// burst limit (fixtures take thousands of requests).
func sandboxClient(t *testing.T, opt sandbox.Options, scopes []string) (*ghl.Client, *sandbox.Server, string) {
	t.Helper()
	opt.Rate = -1
	sb, err := sandbox.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	tok, err := sb.IssueToken("", scopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}),
		Base:   srv.Client().Transport,
	}}
	return ghl.New(srv.URL, hc), sb, srv.URL
}

// TestLocationTaskPages pages through 1,234 tasks: full pages, one short
// last page, every task once, and a resume from a page's Next.
func TestLocationTaskPages(t *testing.T) {
	ctx := context.Background()
	c, sb, _ := sandboxClient(t, sandbox.Options{}, listScopes)
	loc := sb.LocationID()
	const nTasks, nContacts = 1234, 40
	want := map[string]string{} // task id -> contact id
	for i := range nContacts {
		email := fmt.Sprintf("t%d@example.com", i)
		k, err := c.CreateContact(ctx, ghl.UpsertContactRequest{LocationID: loc, Email: &email})
		must(t, "CreateContact", err)
		for j := i; j < nTasks; j += nContacts {
			tk, err := c.CreateTask(ctx, k.ID, ghl.TaskInput{Title: fmt.Sprintf("task %d", j), DueDate: "2030-01-02T10:00:00Z"})
			must(t, "CreateTask", err)
			want[tk.ID] = k.ID
		}
	}
	tests := []struct {
		limit     int
		wantPages int
		lastLen   int
	}{
		{0, 3, 234},   // 0 = MaxTaskSearchLimit (500)
		{100, 13, 34}, // 12 full pages and a short one
		{617, 0, 0},   // over the max: refused before sending
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("limit ", tt.limit), func(t *testing.T) {
			seen := map[string]bool{}
			var pages []*ghl.TaskSearchPage
			for page, err := range c.LocationTaskPages(ctx, loc, ghl.TaskSearchParams{Limit: tt.limit}) {
				if tt.wantPages == 0 {
					if !errors.Is(err, ghl.ErrInvalidArgument) {
						t.Fatalf("limit %d: err = %v, want ErrInvalidArgument", tt.limit, err)
					}
					return
				}
				must(t, "LocationTaskPages", err)
				pages = append(pages, page)
				for _, tk := range page.Tasks {
					if seen[tk.ID] {
						t.Errorf("task %s twice", tk.ID)
					}
					seen[tk.ID] = true
					if want[tk.ID] != tk.ContactID {
						t.Errorf("task %s: contact %q, want %q", tk.ID, tk.ContactID, want[tk.ID])
					}
				}
			}
			if len(pages) != tt.wantPages || len(seen) != nTasks {
				t.Fatalf("%d tasks in %d pages, want %d in %d", len(seen), len(pages), nTasks, tt.wantPages)
			}
			last := pages[len(pages)-1]
			if !last.Last || len(last.Tasks) != tt.lastLen || last.Next.Skip != nTasks {
				t.Errorf("last page: last=%v, %d tasks, next skip %d", last.Last, len(last.Tasks), last.Next.Skip)
			}
			// Resuming from the first page's Next gives the rest.
			n := len(pages[0].Tasks)
			for page, err := range c.LocationTaskPages(ctx, loc, pages[0].Next) {
				must(t, "resume", err)
				n += len(page.Tasks)
			}
			if n != nTasks {
				t.Errorf("resumed: %d tasks, want %d", n, nTasks)
			}
		})
	}
}

// TestCalendarEventWindows reads every seeded appointment once through
// calendars and tiled windows, and the windows the API refuses.
func TestCalendarEventWindows(t *testing.T) {
	ctx := context.Background()
	c, sb, _ := sandboxClient(t, sandbox.Options{Seed: 3, Contacts: 300}, listScopes)
	loc := sb.LocationID()
	// What the per-contact endpoint gives is the reference.
	want := map[string]ghl.Appointment{}
	for page, err := range c.ContactPages(ctx, ghl.ListContactsParams{LocationID: loc, Limit: 100}) {
		must(t, "ContactPages", err)
		for _, k := range page.Contacts {
			as, err := c.ListAppointments(ctx, k.ID)
			must(t, "ListAppointments", err)
			for _, a := range as {
				want[a.ID] = a
			}
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d seeded appointments", len(want))
	}
	cals, err := c.ListCalendars(ctx, loc)
	must(t, "ListCalendars", err)
	got := map[string]ghl.Appointment{}
	perCal := map[string]int{}
	end := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	for start := end.AddDate(-4, 0, 0); start.Before(end); start = start.Add(ghl.MaxEventsWindow) {
		for _, cal := range cals {
			evs, err := c.ListCalendarEvents(ctx, ghl.CalendarEventsParams{LocationID: loc, CalendarID: cal.ID,
				Start: start, End: start.Add(ghl.MaxEventsWindow)})
			must(t, "ListCalendarEvents", err)
			for _, e := range evs {
				if _, dup := got[e.ID]; dup {
					t.Errorf("event %s in two windows", e.ID)
				}
				got[e.ID] = e
				perCal[cal.ID]++
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d events through calendars, %d through contacts", len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if g.ContactID != w.ContactID || g.CalendarID != w.CalendarID || g.Title != w.Title {
			t.Errorf("event %s: %+v, per contact %+v", id, g, w)
		}
	}
	if len(perCal) < 2 {
		t.Errorf("events on %d calendars, want them spread: %v", len(perCal), perCal)
	}

	// Windows the client refuses before sending.
	for _, w := range []struct{ start, end time.Time }{
		{end, end},
		{end, end.Add(-time.Hour)},
		{end, end.Add(ghl.MaxEventsWindow + time.Millisecond)},
	} {
		_, err := c.ListCalendarEvents(ctx, ghl.CalendarEventsParams{LocationID: loc, CalendarID: cals[0].ID, Start: w.start, End: w.end})
		if !errors.Is(err, ghl.ErrInvalidArgument) {
			t.Errorf("window %s..%s: err = %v, want ErrInvalidArgument", w.start, w.end, err)
		}
	}
}

// TestLocationListingsRefused: what the sandbox answers a raw request
// outside the API's limits or without the scope.
func TestLocationListingsRefused(t *testing.T) {
	_, sb, base := sandboxClient(t, sandbox.Options{}, listScopes)
	loc := sb.LocationID()
	only := func(scopes ...string) string {
		tok, err := sb.IssueToken("", scopes, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	all := only(listScopes...)
	day := int64(24 * time.Hour / time.Millisecond)
	events := func(span int64) string {
		return fmt.Sprintf("/calendars/events?locationId=%s&calendarId=x&startTime=1700000000000&endTime=%d", loc, 1700000000000+span)
	}
	tests := []struct {
		name, method, path, version, body, token string
		status                                   int
		want                                     string
	}{
		{"limit over the max", "POST", "/locations/" + loc + "/tasks/search", "2021-07-28", `{"limit":501}`, all, 422, "limit must not be greater than 500"},
		{"limit at the max", "POST", "/locations/" + loc + "/tasks/search", "2021-07-28", `{"limit":500}`, all, 201, `"tasks":[]`},
		{"unknown property", "POST", "/locations/" + loc + "/tasks/search", "2021-07-28", `{"page":2}`, all, 422, "property page should not exist"},
		{"other location", "POST", "/locations/elsewhere/tasks/search", "2021-07-28", `{}`, all, 403, "does not have access to this location"},
		{"tasks without scope", "POST", "/locations/" + loc + "/tasks/search", "2021-07-28", `{}`, only("contacts.readonly"), 403, "not authorized for this scope"},
		{"calendars without scope", "GET", "/calendars/?locationId=" + loc, "2021-04-15", "", only("calendars/events.readonly"), 403, "not authorized for this scope"},
		{"events without scope", "GET", events(day), "2021-04-15", "", only("calendars.readonly"), 403, "not authorized for this scope"},
		{"no token", "GET", events(day), "2021-04-15", "", "", 401, "access token is missing"},
		{"window at the max", "GET", events(31 * day), "2021-04-15", "", all, 200, `"events":[]`},
		{"window over the max", "GET", events(31*day + 1), "2021-04-15", "", all, 422, "must not exceed 31 days"},
		{"window backwards", "GET", events(-1), "2021-04-15", "", all, 422, "endTime must not be before startTime"},
		{"no calendar, user or group", "GET", "/calendars/events?locationId=" + loc + "&startTime=1&endTime=2", "2021-04-15", "", all, 422, "Either of calendarId, userId or groupId is required"},
		{"calendars Version", "GET", "/calendars/?locationId=" + loc, "2021-04-15", "", all, 200, `"calendars":[`},
		{"calendars Version elsewhere", "GET", "/contacts/?locationId=" + loc, "2021-04-15", "", all, 400, "Version header is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Version", tt.version)
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(res.Body)
			if res.StatusCode != tt.status || !strings.Contains(b.String(), tt.want) {
				t.Errorf("%d %s, want %d with %q", res.StatusCode, b.String(), tt.status, tt.want)
			}
		})
	}
}

// TestChildrenKeepDateUpdated: a task, a note or a tasks search leaves the
// contact's dateUpdated alone (an export's incremental cursor reads it).
func TestChildrenKeepDateUpdated(t *testing.T) {
	ctx := context.Background()
	c, sb, _ := sandboxClient(t, sandbox.Options{}, listScopes)
	email := "keep@example.com"
	k, err := c.CreateContact(ctx, ghl.UpsertContactRequest{LocationID: sb.LocationID(), Email: &email})
	must(t, "CreateContact", err)
	if k.DateUpdated == "" {
		t.Fatal("created contact has no dateUpdated")
	}
	time.Sleep(5 * time.Millisecond) // so a stamp would differ
	tk, err := c.CreateTask(ctx, k.ID, ghl.TaskInput{Title: "call", DueDate: "2030-01-02T10:00:00Z"})
	must(t, "CreateTask", err)
	_, err = c.CompleteTask(ctx, k.ID, tk.ID, true)
	must(t, "CompleteTask", err)
	_, err = c.CreateNote(ctx, k.ID, ghl.NoteInput{Body: "hello"})
	must(t, "CreateNote", err)
	_, err = c.SearchLocationTasks(ctx, sb.LocationID(), ghl.TaskSearchParams{})
	must(t, "SearchLocationTasks", err)
	got, err := c.GetContact(ctx, k.ID)
	must(t, "GetContact", err)
	if got.DateUpdated != k.DateUpdated {
		t.Errorf("dateUpdated %s, was %s", got.DateUpdated, k.DateUpdated)
	}
}
