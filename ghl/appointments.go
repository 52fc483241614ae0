package ghl

import (
	"context"
	"net/http"
)

// AppointmentInput is AppointmentCreateSchema (LocationID, ContactID,
// CalendarID and StartTime required) and, for an update, AppointmentEditSchema
// (every field optional; LocationID and ContactID are not sent: the edit
// schema has neither). Times are ISO 8601 with an offset.
type AppointmentInput struct {
	CalendarID        string `json:"calendarId,omitempty"`
	LocationID        string `json:"locationId,omitempty"`
	ContactID         string `json:"contactId,omitempty"`
	StartTime         string `json:"startTime,omitempty"`
	EndTime           string `json:"endTime,omitempty"`
	Title             string `json:"title,omitempty"`
	AppointmentStatus string `json:"appointmentStatus,omitempty"`
	AssignedUserID    string `json:"assignedUserId,omitempty"`
	Address           string `json:"address,omitempty"`
	// IgnoreFreeSlotValidation books outside the calendar's free slots
	// (an import of past appointments needs it on the real API).
	IgnoreFreeSlotValidation bool `json:"ignoreFreeSlotValidation,omitempty"`
}

// CreateAppointment is POST /calendars/events/appointments (scope
// calendars/events.write). The answer is the appointment itself
// (AppointmentSchemaResponse), not wrapped.
func (c *Client) CreateAppointment(ctx context.Context, in AppointmentInput) (*Appointment, error) {
	for _, f := range []struct{ what, id string }{{"location id", in.LocationID}, {"contact id", in.ContactID},
		{"calendar id", in.CalendarID}, {"start time", in.StartTime}} {
		if err := requireID(f.what, f.id); err != nil {
			return nil, err
		}
	}
	var out Appointment
	if err := c.send(ctx, CalendarsAPIVersion, http.MethodPost, "/calendars/events/appointments", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateAppointment is PUT /calendars/events/appointments/{eventId}: the
// fields set in in change (a new StartTime without EndTime moves the
// appointment and keeps its length on the sandbox).
func (c *Client) UpdateAppointment(ctx context.Context, eventID string, in AppointmentInput) (*Appointment, error) {
	if err := requireID("event id", eventID); err != nil {
		return nil, err
	}
	in.LocationID, in.ContactID = "", "" // not in AppointmentEditSchema: the API refuses them
	var out Appointment
	if err := c.send(ctx, CalendarsAPIVersion, http.MethodPut, "/calendars/events/appointments/"+seg(eventID), nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAppointment is DELETE /calendars/events/{eventId}, with the empty
// body the file requires (DeleteAppointmentSchema); the API answers 201.
func (c *Client) DeleteAppointment(ctx context.Context, eventID string) error {
	if err := requireID("event id", eventID); err != nil {
		return err
	}
	return c.send(ctx, CalendarsAPIVersion, http.MethodDelete, "/calendars/events/"+seg(eventID), nil, struct{}{}, nil)
}
