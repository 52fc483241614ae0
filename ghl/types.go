// Package ghl is a client for HighLevel's API v2 (Contacts and what hangs off
// a contact), typed from the official OpenAPI files in shared/ghl-api.
//
// The client does no retrying and no pacing of its own: those belong to the
// layers above it (see package ghl/pace), so that a retry is always a
// decision made with the whole run in view.
//
// Floor 1 (docs/design.md): imports none of ghlbulk's packages; every other package may import it.
package ghl

import "encoding/json"

// APIVersion is the value of the Version header every request carries.
const APIVersion = "2021-07-28"

// DefaultBaseURL is HighLevel's production API.
const DefaultBaseURL = "https://services.leadconnectorhq.com"

// Contact is GetContectByIdSchema (sic) of contacts.json, as GET
// /contacts/{id}, upsert and the listings return it.
type Contact struct {
	ID               string             `json:"id,omitempty"`
	LocationID       string             `json:"locationId,omitempty"`
	Name             string             `json:"name,omitempty"`
	FirstName        string             `json:"firstName,omitempty"`
	LastName         string             `json:"lastName,omitempty"`
	Email            string             `json:"email,omitempty"`
	Phone            string             `json:"phone,omitempty"`
	CompanyName      string             `json:"companyName,omitempty"`
	Timezone         string             `json:"timezone,omitempty"`
	DND              bool               `json:"dnd,omitempty"`
	DNDSettings      DNDSettings        `json:"dndSettings,omitempty"`
	Type             string             `json:"type,omitempty"`
	Source           string             `json:"source,omitempty"`
	AssignedTo       string             `json:"assignedTo,omitempty"`
	Address1         string             `json:"address1,omitempty"`
	City             string             `json:"city,omitempty"`
	State            string             `json:"state,omitempty"`
	Country          string             `json:"country,omitempty"`
	PostalCode       string             `json:"postalCode,omitempty"`
	Website          string             `json:"website,omitempty"`
	Tags             []string           `json:"tags"`
	DateOfBirth      string             `json:"dateOfBirth,omitempty"`
	DateAdded        string             `json:"dateAdded,omitempty"`
	DateUpdated      string             `json:"dateUpdated,omitempty"`
	BusinessID       string             `json:"businessId,omitempty"`
	CustomFields     []CustomFieldValue `json:"customFields"`
	AdditionalEmails []string           `json:"additionalEmails,omitempty"`
}

// DNDSettings is DndSettingsSchema: per channel, a status of active,
// inactive or permanent.
type DNDSettings map[string]DNDSetting

// DNDSetting is DndSettingSchema.
type DNDSetting struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
}

// CustomFieldValue is how a contact's custom field is read back: {id, value}.
// The value's JSON type depends on the field (string, number, list).
type CustomFieldValue struct {
	ID    string          `json:"id"`
	Value json.RawMessage `json:"value,omitempty"`
}

// CustomFieldInput is how a custom field is written: {id, key, field_value}.
type CustomFieldInput struct {
	ID         string `json:"id,omitempty"`
	Key        string `json:"key,omitempty"`
	FieldValue any    `json:"field_value"`
}

// UpsertContactRequest is UpsertContactDto; also used for create. Pointer
// fields distinguish "leave alone" (nil, omitted) from a value.
type UpsertContactRequest struct {
	LocationID   string             `json:"locationId"`
	FirstName    *string            `json:"firstName,omitempty"`
	LastName     *string            `json:"lastName,omitempty"`
	Name         *string            `json:"name,omitempty"`
	Email        *string            `json:"email,omitempty"`
	Phone        *string            `json:"phone,omitempty"`
	Gender       *string            `json:"gender,omitempty"`
	Address1     *string            `json:"address1,omitempty"`
	City         *string            `json:"city,omitempty"`
	State        *string            `json:"state,omitempty"`
	PostalCode   *string            `json:"postalCode,omitempty"`
	Website      *string            `json:"website,omitempty"`
	Timezone     *string            `json:"timezone,omitempty"`
	DND          *bool              `json:"dnd,omitempty"`
	DNDSettings  DNDSettings        `json:"dndSettings,omitempty"`
	Tags         []string           `json:"tags,omitempty"`
	CustomFields []CustomFieldInput `json:"customFields,omitempty"`
	Source       *string            `json:"source,omitempty"`
	DateOfBirth  *string            `json:"dateOfBirth,omitempty"`
	Country      *string            `json:"country,omitempty"`
	CompanyName  *string            `json:"companyName,omitempty"`
	AssignedTo   *string            `json:"assignedTo,omitempty"`
	// BusinessID is not sent: UpsertContactDto has no businessId. An
	// import attaches it after the upsert (POST /contacts/bulk/business).
	BusinessID *string `json:"-"`
}

// UpdateContactRequest is UpdateContactDto: the upsert fields less locationId.
type UpdateContactRequest = UpsertContactRequest

// UpsertContactResponse is UpsertContactsSuccessfulResponseDto.
type UpsertContactResponse struct {
	New     bool    `json:"new"`
	Contact Contact `json:"contact"`
	TraceID string  `json:"traceId,omitempty"`
}

// Task is TaskSchema.
type Task struct {
	ID         string `json:"id,omitempty"`
	Title      string `json:"title"`
	Body       string `json:"body,omitempty"`
	AssignedTo string `json:"assignedTo,omitempty"`
	DueDate    string `json:"dueDate"`
	Completed  bool   `json:"completed"`
	ContactID  string `json:"contactId,omitempty"`
}

// TaskInput is CreateTaskParams / UpdateTaskBody.
type TaskInput struct {
	Title      string `json:"title"`
	Body       string `json:"body,omitempty"`
	DueDate    string `json:"dueDate"`
	Completed  bool   `json:"completed"`
	AssignedTo string `json:"assignedTo,omitempty"`
}

// Note is GetNoteSchema.
type Note struct {
	ID        string `json:"id,omitempty"`
	Body      string `json:"body"`
	UserID    string `json:"userId,omitempty"`
	DateAdded string `json:"dateAdded,omitempty"`
	ContactID string `json:"contactId,omitempty"`
	Title     string `json:"title,omitempty"`
	Color     string `json:"color,omitempty"`
	Pinned    bool   `json:"pinned,omitempty"`
}

// NoteInput is NotesDTO / UpdateNoteDTO.
type NoteInput struct {
	Body   string `json:"body"`
	UserID string `json:"userId,omitempty"`
	Title  string `json:"title,omitempty"`
	Color  string `json:"color,omitempty"`
	Pinned bool   `json:"pinned,omitempty"`
}

// Appointment is GetEventSchema, as GET /contacts/{id}/appointments returns it.
type Appointment struct {
	ID                string   `json:"id"`
	CalendarID        string   `json:"calendarId,omitempty"`
	Status            string   `json:"status,omitempty"`
	Title             string   `json:"title,omitempty"`
	AssignedUserID    string   `json:"assignedUserId,omitempty"`
	Notes             string   `json:"notes,omitempty"`
	StartTime         string   `json:"startTime,omitempty"`
	EndTime           string   `json:"endTime,omitempty"`
	Address           string   `json:"address,omitempty"`
	LocationID        string   `json:"locationId,omitempty"`
	ContactID         string   `json:"contactId,omitempty"`
	GroupID           string   `json:"groupId,omitempty"`
	AppointmentStatus string   `json:"appointmentStatus,omitempty"`
	Users             []string `json:"users,omitempty"`
	DateAdded         string   `json:"dateAdded,omitempty"`
	DateUpdated       string   `json:"dateUpdated,omitempty"`
}

// CustomField is a location's custom field definition (locations.json
// CustomFieldSchema). FieldKey reads "contact.pincode".
type CustomField struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	FieldKey        string   `json:"fieldKey"`
	Placeholder     string   `json:"placeholder,omitempty"`
	DataType        string   `json:"dataType"`
	Position        float64  `json:"position,omitempty"`
	PicklistOptions []string `json:"picklistOptions,omitempty"`
	LocationID      string   `json:"locationId,omitempty"`
	Model           string   `json:"model,omitempty"`
}

// CreateCustomFieldRequest is CreateCustomFieldsDTO (locations.json) with
// fieldKey (accepted live, undocumented) and options, the choices of the
// option types (SINGLE_OPTIONS, MULTIPLE_OPTIONS, CHECKBOX, RADIO).
type CreateCustomFieldRequest struct {
	Name        string   `json:"name"`
	DataType    string   `json:"dataType"`
	FieldKey    string   `json:"fieldKey,omitempty"` // "contact.nps_score"
	Placeholder string   `json:"placeholder,omitempty"`
	Model       string   `json:"model,omitempty"` // "contact" (the default) or "opportunity"
	Options     []string `json:"options,omitempty"`
}

// BulkTagsRequest is UpdateTagsDTO, for POST /contacts/bulk/tags/update/{type}
// where type is "add" or "remove".
type BulkTagsRequest struct {
	Contacts      []string `json:"contacts"`
	Tags          []string `json:"tags"`
	LocationID    string   `json:"locationId"`
	RemoveAllTags bool     `json:"removeAllTags,omitempty"`
}

// BulkTagsResponse is UpdateTagsResponseDTO (the API spells it "succeded").
type BulkTagsResponse struct {
	Succeeded  bool                   `json:"succeded"`
	ErrorCount int                    `json:"errorCount"`
	Responses  []BulkTagsResponseItem `json:"responses"`
}

// BulkTagsResponseItem is one contact's outcome in a bulk tag update.
type BulkTagsResponseItem struct {
	ContactID   string   `json:"contactId"`
	Message     string   `json:"message,omitempty"`
	Type        string   `json:"type"` // "success" or "error"
	OldTags     []string `json:"oldTags,omitempty"`
	TagsAdded   []string `json:"tagsAdded,omitempty"`
	TagsRemoved []string `json:"tagsRemoved,omitempty"`
}

// BulkBusinessRequest is ContactsBusinessUpdate. A nil BusinessID removes
// the contacts from their business.
type BulkBusinessRequest struct {
	LocationID string   `json:"locationId"`
	IDs        []string `json:"ids"`
	BusinessID *string  `json:"businessId"`
}

// BulkBusinessResponse is ContactsBulkUpateResponse (sic).
type BulkBusinessResponse struct {
	Success bool     `json:"success"`
	IDs     []string `json:"ids"`
}

// ListMeta is ContactsMetaSchema, the meta block of GET /contacts/.
type ListMeta struct {
	Total        int     `json:"total"`
	NextPageURL  string  `json:"nextPageUrl,omitempty"`
	StartAfterID string  `json:"startAfterId,omitempty"`
	StartAfter   float64 `json:"startAfter,omitempty"`
	CurrentPage  int     `json:"currentPage,omitempty"`
	NextPage     *int    `json:"nextPage,omitempty"`
	PrevPage     *int    `json:"prevPage,omitempty"`
}

// SearchFilter is one {field, operator, value} of POST /contacts/search.
type SearchFilter struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// SearchSort is one {field, direction} of POST /contacts/search.
type SearchSort struct {
	Field     string `json:"field"`
	Direction string `json:"direction"` // asc or desc
}

// SearchRequest is the body of POST /contacts/search, which the official file
// leaves empty (see ghl/sandbox/DEVIATIONS.md).
type SearchRequest struct {
	LocationID  string         `json:"locationId"`
	PageLimit   int            `json:"pageLimit"`
	Page        int            `json:"page,omitempty"`
	SearchAfter []any          `json:"searchAfter,omitempty"`
	Query       string         `json:"query,omitempty"`
	Filters     []SearchFilter `json:"filters,omitempty"`
	Sort        []SearchSort   `json:"sort,omitempty"`
	// Seen is how many contacts were read before SearchAfter. It is never
	// sent; SearchPages carries it in Next so a resumed search can still
	// tell a premature end (ErrShortPage).
	Seen int `json:"-"`
}

// SearchResponse is what POST /contacts/search answers. Each contact carries
// searchAfter, the cursor for the page after it.
type SearchResponse struct {
	Contacts []SearchContact `json:"contacts"`
	Total    int             `json:"total"`
	TraceID  string          `json:"traceId,omitempty"`
	// Next is the request that resumes after this page: the cursor of its
	// last contact in SearchAfter, Page cleared, Seen advanced. Set by the
	// client, never by the API; an export checkpoints it per page.
	Next SearchRequest `json:"-"`
	// Last reports that no page follows this one (empty or short page, or
	// no cursor on its last contact). Set by the client.
	Last bool `json:"-"`
}

// SearchContact is a contact in a search answer, with its searchAfter cursor.
type SearchContact struct {
	Contact
	SearchAfter []any `json:"searchAfter,omitempty"`
}
