package ghl

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ListContactsParams are the query of GET /contacts/. StartAfter and
// StartAfterID are the cursor pair (dateAdded in ms and the id of the last
// contact read); both zero means the first page.
type ListContactsParams struct {
	LocationID   string
	Limit        int // ≤ 100; 0 lets the API choose (20)
	Query        string
	StartAfter   int64
	StartAfterID string
	// Seen is how many contacts were read before this cursor. It is never
	// sent; the iterator carries it in NextParams so that a listing resumed
	// from a checkpoint can still tell a premature end (ErrShortPage).
	Seen int
}

// BusinessContactsParams are the query of GET /contacts/business/{id}.
type BusinessContactsParams struct {
	LocationID string
	Limit      int
	Skip       int
	Query      string
}

// ContactsPage is one page of GET /contacts/ or GET /contacts/business/{id}.
// The official file says {contacts, count}; the live API also answers a
// meta block (ContactsMetaSchema) on GET /contacts/, so both are read.
type ContactsPage struct {
	Contacts []Contact `json:"contacts"`
	Meta     ListMeta  `json:"meta"`
	Count    int       `json:"count"`
	// Total is the listing's total as best known: meta.total, else a
	// top-level total, else count. Zero when the answer gave none.
	Total int `json:"-"`

	// NextParams resumes a GET /contacts/ listing after this page (the
	// cursor from meta, Seen advanced). Zero StartAfterID and StartAfter
	// when the answer named no next page.
	NextParams ListContactsParams `json:"-"`
	// NextBusinessParams resumes a business listing after this page (Skip
	// advanced by the contacts on it).
	NextBusinessParams BusinessContactsParams `json:"-"`
	// Last reports that the answer named no page after this one (no next
	// cursor, or fewer contacts than the limit asked). A checkpoint of a
	// last page's next params still resumes after it, never at the start.
	Last bool `json:"-"`
}

// contactsPageWire adds the top-level total some answers carry.
type contactsPageWire struct {
	ContactsPage
	Meta  *ListMeta `json:"meta"`
	Total *float64  `json:"total"`
	Count *float64  `json:"count"`
}

func (w *contactsPageWire) page() *ContactsPage {
	p := w.ContactsPage
	if w.Meta != nil {
		p.Meta = *w.Meta
	}
	if w.Count != nil {
		p.Count = int(*w.Count)
	}
	switch {
	case w.Meta != nil && w.Meta.Total > 0:
		p.Total = w.Meta.Total
	case w.Total != nil:
		p.Total = int(*w.Total)
	case w.Count != nil:
		p.Total = int(*w.Count)
	}
	if p.Contacts == nil {
		p.Contacts = []Contact{}
	}
	return &p
}

type contactEnvelope struct {
	Contact *Contact `json:"contact"`
}

// GetContact is GET /contacts/{id}.
func (c *Client) GetContact(ctx context.Context, id string) (*Contact, error) {
	if err := requireID("contact id", id); err != nil {
		return nil, err
	}
	var out contactEnvelope
	path := "/contacts/" + seg(id)
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.contact(http.MethodGet, path)
}

// contact insists the envelope held a contact: a 2xx without one is as
// unreadable as a truncated body.
func (e contactEnvelope) contact(method, path string) (*Contact, error) {
	if e.Contact == nil {
		return nil, &DecodeError{Method: method, Path: path, StatusCode: http.StatusOK, Err: errMissing("contact")}
	}
	return e.Contact, nil
}

func errMissing(field string) error { return fmt.Errorf("answer has no %q", field) }

// CreateContact is POST /contacts/. It fails with 400 on a duplicate when
// the location forbids them; UpsertContact is the safer write.
func (c *Client) CreateContact(ctx context.Context, req UpsertContactRequest) (*Contact, error) {
	var out contactEnvelope
	const path = "/contacts/"
	if err := c.do(ctx, http.MethodPost, path, nil, req, &out); err != nil {
		return nil, err
	}
	return out.contact(http.MethodPost, path)
}

// updateContactBody is UpdateContactDto: the upsert fields less
// locationId, gender and companyName, which UpdateContactDto does not have
// and the API refuses on a PUT ("property companyName should not exist").
// The shallower nil pointers shadow the embedded fields, and omitempty
// drops them.
type updateContactBody struct {
	UpsertContactRequest
	LocationID  *struct{} `json:"locationId,omitempty"`
	Gender      *struct{} `json:"gender,omitempty"`
	CompanyName *struct{} `json:"companyName,omitempty"`
}

// UpdateContact is PUT /contacts/{id}. req.LocationID, Gender and
// CompanyName are not sent: only the upsert can set them. Tags in req
// replace all of the contact's tags; use AddTags to add.
func (c *Client) UpdateContact(ctx context.Context, id string, req UpdateContactRequest) (*Contact, error) {
	if err := requireID("contact id", id); err != nil {
		return nil, err
	}
	var out contactEnvelope
	path := "/contacts/" + seg(id)
	if err := c.do(ctx, http.MethodPut, path, nil, updateContactBody{UpsertContactRequest: req}, &out); err != nil {
		return nil, err
	}
	return out.contact(http.MethodPut, path)
}

// DeleteContact is DELETE /contacts/{id}.
func (c *Client) DeleteContact(ctx context.Context, id string) error {
	if err := requireID("contact id", id); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, "/contacts/"+seg(id), nil, nil, nil)
}

// UpsertContact is POST /contacts/upsert: it updates the contact matched by
// email or phone (by the location's duplicate rule) or creates one; New
// tells which.
func (c *Client) UpsertContact(ctx context.Context, req UpsertContactRequest) (*UpsertContactResponse, error) {
	var out UpsertContactResponse
	const path = "/contacts/upsert"
	if err := c.do(ctx, http.MethodPost, path, nil, req, &out); err != nil {
		return nil, err
	}
	if out.Contact.ID == "" {
		return nil, &DecodeError{Method: http.MethodPost, Path: path, StatusCode: http.StatusOK, Err: errMissing("contact.id")}
	}
	return &out, nil
}

// SearchContacts is POST /contacts/search. req.LocationID and req.PageLimit
// are required by the API (422 otherwise).
func (c *Client) SearchContacts(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	var out SearchResponse
	if err := c.do(ctx, http.MethodPost, "/contacts/search", nil, req, &out); err != nil {
		return nil, err
	}
	if out.Contacts == nil {
		out.Contacts = []SearchContact{}
	}
	// An empty page keeps the cursor it was asked with, so resuming from
	// it re-asks the same (empty) tail rather than restarting at page one.
	out.Next = req
	out.Next.Seen = req.Seen + len(out.Contacts)
	if n := len(out.Contacts); n > 0 {
		out.Next.Page = 0 // searchAfter and page don't mix
		out.Next.SearchAfter = out.Contacts[n-1].SearchAfter
	}
	out.Last = len(out.Contacts) == 0 || len(out.Next.SearchAfter) == 0 ||
		(req.PageLimit > 0 && len(out.Contacts) < req.PageLimit)
	return &out, nil
}

// ListContacts is GET /contacts/ (deprecated by HighLevel in favour of
// search, but the one listing that pages by a stable cursor).
func (c *Client) ListContacts(ctx context.Context, p ListContactsParams) (*ContactsPage, error) {
	q := url.Values{}
	q.Set("locationId", p.LocationID)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Query != "" {
		q.Set("query", p.Query)
	}
	if p.StartAfterID != "" {
		q.Set("startAfterId", p.StartAfterID)
	}
	if p.StartAfter != 0 {
		q.Set("startAfter", strconv.FormatInt(p.StartAfter, 10))
	}
	var w contactsPageWire
	if err := c.do(ctx, http.MethodGet, "/contacts/", q, nil, &w); err != nil {
		return nil, err
	}
	page := w.page()
	page.NextParams = p
	page.NextParams.Seen = p.Seen + len(page.Contacts)
	after, id := nextCursor(page.Meta)
	page.Last = id == "" || len(page.Contacts) == 0 || (p.Limit > 0 && len(page.Contacts) < p.Limit)
	if id == "" && len(page.Contacts) > 0 {
		// No next page named: the cursor HighLevel would have given is the
		// last contact's dateAdded and id. Keeping it (rather than a zero
		// cursor, which means "from the start") makes a checkpoint taken at
		// the last page resume past it.
		after, id = cursorOf(page.Contacts[len(page.Contacts)-1])
	}
	if id != "" {
		page.NextParams.StartAfter, page.NextParams.StartAfterID = after, id
	}
	return page, nil
}

// cursorOf is the startAfter/startAfterId pair that follows contact k:
// dateAdded in Unix milliseconds and the id.
func cursorOf(k Contact) (int64, string) {
	t, err := time.Parse(time.RFC3339Nano, k.DateAdded)
	if err != nil {
		return 0, ""
	}
	return t.UnixMilli(), k.ID
}

// nextCursor reads the cursor pair from meta, falling back to the query of
// meta.nextPageUrl, where HighLevel is known to put it when the fields are
// absent.
func nextCursor(m ListMeta) (int64, string) {
	after, id := int64(m.StartAfter), m.StartAfterID
	if id == "" && m.NextPageURL != "" {
		if u, err := url.Parse(m.NextPageURL); err == nil {
			q := u.Query()
			id = q.Get("startAfterId")
			if v, err := strconv.ParseFloat(q.Get("startAfter"), 64); err == nil {
				after = int64(v)
			}
		}
	}
	if id == "" {
		after = 0
	}
	return after, id
}

// ListBusinessContacts is GET /contacts/business/{businessId}, paged by
// skip/limit.
func (c *Client) ListBusinessContacts(ctx context.Context, businessID string, p BusinessContactsParams) (*ContactsPage, error) {
	if err := requireID("business id", businessID); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("locationId", p.LocationID)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Skip > 0 {
		q.Set("skip", strconv.Itoa(p.Skip))
	}
	if p.Query != "" {
		q.Set("query", p.Query)
	}
	var w contactsPageWire
	if err := c.do(ctx, http.MethodGet, "/contacts/business/"+seg(businessID), q, nil, &w); err != nil {
		return nil, err
	}
	page := w.page()
	page.NextBusinessParams = p
	page.NextBusinessParams.Skip = p.Skip + len(page.Contacts)
	page.Last = len(page.Contacts) == 0 || (p.Limit > 0 && len(page.Contacts) < p.Limit)
	return page, nil
}

// ListAppointments is GET /contacts/{id}/appointments.
func (c *Client) ListAppointments(ctx context.Context, contactID string) ([]Appointment, error) {
	if err := requireID("contact id", contactID); err != nil {
		return nil, err
	}
	var out struct {
		Events []Appointment `json:"events"`
	}
	if err := c.do(ctx, http.MethodGet, "/contacts/"+seg(contactID)+"/appointments", nil, nil, &out); err != nil {
		return nil, err
	}
	if out.Events == nil {
		out.Events = []Appointment{}
	}
	return out.Events, nil
}

type tagsBody struct {
	Tags []string `json:"tags"`
}

// AddTags is POST /contacts/{id}/tags; it adds to the contact's tags and
// answers the tags as the API reports them.
func (c *Client) AddTags(ctx context.Context, contactID string, tags []string) ([]string, error) {
	return c.tags(ctx, http.MethodPost, contactID, tags)
}

// RemoveTags is DELETE /contacts/{id}/tags (with a body).
func (c *Client) RemoveTags(ctx context.Context, contactID string, tags []string) ([]string, error) {
	return c.tags(ctx, http.MethodDelete, contactID, tags)
}

func (c *Client) tags(ctx context.Context, method, contactID string, tags []string) ([]string, error) {
	if err := requireID("contact id", contactID); err != nil {
		return nil, err
	}
	if tags == nil {
		tags = []string{} // the API requires the array, even empty
	}
	var out tagsBody
	if err := c.do(ctx, method, "/contacts/"+seg(contactID)+"/tags", nil, tagsBody{Tags: tags}, &out); err != nil {
		return nil, err
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return out.Tags, nil
}

// BulkTags is POST /contacts/bulk/tags/update/{op}, op being "add" or
// "remove". Per-contact failures are in the response, not the error.
func (c *Client) BulkTags(ctx context.Context, op string, req BulkTagsRequest) (*BulkTagsResponse, error) {
	if op != "add" && op != "remove" {
		return nil, fmt.Errorf("%w: bulk tags op %q: must be add or remove", ErrInvalidArgument, op)
	}
	if req.Contacts == nil {
		req.Contacts = []string{}
	}
	if req.Tags == nil {
		req.Tags = []string{}
	}
	var out BulkTagsResponse
	if err := c.do(ctx, http.MethodPost, "/contacts/bulk/tags/update/"+op, nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BulkBusiness is POST /contacts/bulk/business: it puts the contacts in
// req.BusinessID, or takes them out of any business when it is nil.
func (c *Client) BulkBusiness(ctx context.Context, req BulkBusinessRequest) (*BulkBusinessResponse, error) {
	if req.IDs == nil {
		req.IDs = []string{}
	}
	var out BulkBusinessResponse
	if err := c.do(ctx, http.MethodPost, "/contacts/bulk/business", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListCustomFields is GET /locations/{locationId}/customFields, all models.
func (c *Client) ListCustomFields(ctx context.Context, locationID string) ([]CustomField, error) {
	if err := requireID("location id", locationID); err != nil {
		return nil, err
	}
	var out struct {
		CustomFields []CustomField `json:"customFields"`
	}
	if err := c.do(ctx, http.MethodGet, "/locations/"+seg(locationID)+"/customFields", nil, nil, &out); err != nil {
		return nil, err
	}
	if out.CustomFields == nil {
		out.CustomFields = []CustomField{}
	}
	return out.CustomFields, nil
}

// CreateCustomField is POST /locations/{locationId}/customFields (scope
// locations/customFields.write): it creates one custom field definition.
func (c *Client) CreateCustomField(ctx context.Context, locationID string, req CreateCustomFieldRequest) (*CustomField, error) {
	if err := requireID("location id", locationID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Name) == "" || req.DataType == "" {
		return nil, fmt.Errorf("%w: a custom field needs a name and a dataType", ErrInvalidArgument)
	}
	var out struct {
		CustomField CustomField `json:"customField"`
	}
	if err := c.do(ctx, http.MethodPost, "/locations/"+seg(locationID)+"/customFields", nil, req, &out); err != nil {
		return nil, err
	}
	return &out.CustomField, nil
}
