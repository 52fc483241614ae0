package ghl

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CalendarsAPIVersion is the Version header calendars.json declares for
// GET /calendars/ and GET /calendars/events (the rest of the API is
// APIVersion).
const CalendarsAPIVersion = "2021-04-15"

// MaxEventsWindow is the widest window one GET /calendars/events request
// is sent for. Neither calendars.json nor HighLevel's tracker states a
// limit, and none was found in third-party reports (issue 13); 31 days is
// a choice on the safe side: a month per request and calendar is still
// few requests (three years are 36 per calendar), and the sandbox refuses
// a wider window with 422 so that a caller tiles windows from the start.
const MaxEventsWindow = 31 * 24 * time.Hour

// Calendar is the part of CalendarDTO an export needs.
type Calendar struct {
	ID           string `json:"id"`
	LocationID   string `json:"locationId"`
	Name         string `json:"name"`
	GroupID      string `json:"groupId,omitempty"`
	CalendarType string `json:"calendarType,omitempty"`
	IsActive     *bool  `json:"isActive,omitempty"` // nil: not said (the file's default is true)
}

// CalendarEventsParams select one calendar's events in [Start, End).
type CalendarEventsParams struct {
	LocationID string
	CalendarID string
	Start, End time.Time // End - Start at most MaxEventsWindow
}

// ListCalendars is GET /calendars/?locationId= (scope calendars.readonly):
// every calendar of the location, drafts included (showDrafted defaults to
// true).
func (c *Client) ListCalendars(ctx context.Context, locationID string) ([]Calendar, error) {
	if err := requireID("location id", locationID); err != nil {
		return nil, err
	}
	q := url.Values{"locationId": {locationID}}
	var out struct {
		Calendars []Calendar `json:"calendars"`
	}
	if err := c.send(ctx, CalendarsAPIVersion, http.MethodGet, "/calendars/", q, nil, &out); err != nil {
		return nil, err
	}
	if out.Calendars == nil {
		out.Calendars = []Calendar{}
	}
	return out.Calendars, nil
}

// ListCalendarEvents is GET /calendars/events (scope
// calendars/events.readonly): the calendar's appointments in [p.Start,
// p.End). The API's endTime is inclusive (the file's example ends at
// ...999 ms), so End is sent less one millisecond: windows tiled end to
// start don't overlap. The listing doesn't page. An event that starts
// before a window and ends in it may come back in both (the sandbox
// selects by start; the API's rule is not documented): key events by ID.
func (c *Client) ListCalendarEvents(ctx context.Context, p CalendarEventsParams) ([]Appointment, error) {
	if err := requireID("location id", p.LocationID); err != nil {
		return nil, err
	}
	if err := requireID("calendar id", p.CalendarID); err != nil {
		return nil, err
	}
	if !p.End.After(p.Start) || p.End.Sub(p.Start) > MaxEventsWindow {
		return nil, fmt.Errorf("%w: events window %s to %s: the end must be after the start and at most %s later (ghl.MaxEventsWindow)",
			ErrInvalidArgument, p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339), MaxEventsWindow)
	}
	q := url.Values{
		"locationId": {p.LocationID},
		"calendarId": {p.CalendarID},
		"startTime":  {strconv.FormatInt(p.Start.UnixMilli(), 10)},
		"endTime":    {strconv.FormatInt(p.End.UnixMilli()-1, 10)},
	}
	var out struct {
		Events []Appointment `json:"events"`
	}
	if err := c.send(ctx, CalendarsAPIVersion, http.MethodGet, "/calendars/events", q, nil, &out); err != nil {
		return nil, err
	}
	if out.Events == nil {
		out.Events = []Appointment{}
	}
	return out.Events, nil
}
