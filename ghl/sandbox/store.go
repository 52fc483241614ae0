package sandbox

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// timeLayout is how the API writes instants: RFC 3339, milliseconds, UTC.
const timeLayout = "2006-01-02T15:04:05.000Z"

func fmtMillis(ms int64) string {
	if ms < 0 || ms >= maxFastMillis {
		return time.UnixMilli(ms).UTC().Format(timeLayout)
	}
	var b [24]byte
	return string(appendMillis(b[:0], ms))
}

// maxFastMillis is 10000-01-01T00:00:00Z: below it (and from 1970 on)
// appendMillis writes what time.Format(timeLayout) would, without the
// general formatter (seeding a million contacts formats two million times).
const maxFastMillis = 253402300800000

// appendMillis appends ms (0 <= ms < maxFastMillis) in timeLayout.
func appendMillis(b []byte, ms int64) []byte {
	days := ms / 86400000
	rem := ms % 86400000
	// civil_from_days (Howard Hinnant), days since 1970-01-01.
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	b = append2(append2(b, int(y/100)), int(y%100))
	b = append(b, '-')
	b = append2(b, int(m))
	b = append(b, '-')
	b = append2(b, int(d))
	b = append(b, 'T')
	b = append2(b, int(rem/3600000))
	b = append(b, ':')
	b = append2(b, int(rem/60000%60))
	b = append(b, ':')
	b = append2(b, int(rem/1000%60))
	b = append(b, '.')
	msec := int(rem % 1000)
	b = append(b, byte('0'+msec/100), byte('0'+msec/10%10), byte('0'+msec%10))
	return append(b, 'Z')
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func parseMillis(s string) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

// contact is a stored contact and, as is, its JSON form
// (GetContectByIdSchema). A published *contact is never modified: writers
// clone it, change the clone and swap the pointer, so a reader may encode a
// contact it got under the read lock after releasing the lock.
type contact struct {
	ID               string         `json:"id"`
	LocationID       string         `json:"locationId"`
	Name             string         `json:"name,omitempty"`
	FirstName        string         `json:"firstName,omitempty"`
	LastName         string         `json:"lastName,omitempty"`
	Email            string         `json:"email,omitempty"`
	Phone            string         `json:"phone,omitempty"`
	CompanyName      string         `json:"companyName,omitempty"`
	Gender           string         `json:"gender,omitempty"`
	Timezone         string         `json:"timezone,omitempty"`
	DND              bool           `json:"dnd"`
	DNDSettings      map[string]any `json:"dndSettings,omitempty"`
	Type             string         `json:"type"`
	Source           string         `json:"source,omitempty"`
	AssignedTo       string         `json:"assignedTo,omitempty"`
	Address1         string         `json:"address1,omitempty"`
	City             string         `json:"city,omitempty"`
	State            string         `json:"state,omitempty"`
	Country          string         `json:"country,omitempty"`
	PostalCode       string         `json:"postalCode,omitempty"`
	Website          string         `json:"website,omitempty"`
	Tags             []string       `json:"tags"`
	DateOfBirth      string         `json:"dateOfBirth,omitempty"`
	DateAdded        string         `json:"dateAdded"`
	DateUpdated      string         `json:"dateUpdated"`
	BusinessID       string         `json:"businessId,omitempty"`
	CustomFields     []cfValue      `json:"customFields"`
	AdditionalEmails []string       `json:"additionalEmails,omitempty"`

	addedMs, updatedMs int64
}

// cfValue is a custom field as read back: {id, value}.
type cfValue struct {
	ID    string          `json:"id"`
	Value json.RawMessage `json:"value"`
}

func (c *contact) clone() *contact {
	n := *c
	return &n
}

// contactView is a contact as the API sends it: with the lower-cased
// copies the real API derives (emailLowerCase, firstNameLowerCase, ...; see
// GetContectByIdSchema), which clients match on.
type contactView struct {
	plainContact
	EmailLowerCase     string `json:"emailLowerCase,omitempty"`
	FirstNameLowerCase string `json:"firstNameLowerCase,omitempty"`
	LastNameLowerCase  string `json:"lastNameLowerCase,omitempty"`
	FullNameLowerCase  string `json:"fullNameLowerCase,omitempty"`
}

// plainContact has no MarshalJSON, so embedding it adds no recursion.
type plainContact contact

func (c *contact) view() contactView {
	return contactView{plainContact(*c), strings.ToLower(c.Email), strings.ToLower(c.FirstName),
		strings.ToLower(c.LastName), strings.ToLower(c.fullName())}
}

// MarshalJSON sends the contact as the API does (see contactView).
func (c contact) MarshalJSON() ([]byte, error) { return json.Marshal(c.view()) }

// name is what the API shows as the contact's name.
func (c *contact) fullName() string {
	return strings.TrimSpace(c.FirstName + " " + c.LastName)
}

// task is TaskSchema.
type task struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Body       string `json:"body,omitempty"`
	AssignedTo string `json:"assignedTo,omitempty"`
	DueDate    string `json:"dueDate"`
	Completed  bool   `json:"completed"`
	ContactID  string `json:"contactId"`
}

// note is GetNoteSchema.
type note struct {
	ID        string `json:"id"`
	Body      string `json:"body"`
	UserID    string `json:"userId,omitempty"`
	DateAdded string `json:"dateAdded"`
	ContactID string `json:"contactId"`
	Title     string `json:"title,omitempty"`
	Color     string `json:"color,omitempty"`
	Pinned    bool   `json:"pinned"`
}

// appointment is GetEventSchema.
type appointment struct {
	ID                string   `json:"id"`
	CalendarID        string   `json:"calendarId"`
	Status            string   `json:"status"`
	Title             string   `json:"title"`
	AssignedUserID    string   `json:"assignedUserId,omitempty"`
	Notes             string   `json:"notes,omitempty"`
	StartTime         string   `json:"startTime"`
	EndTime           string   `json:"endTime"`
	Address           string   `json:"address,omitempty"`
	LocationID        string   `json:"locationId"`
	ContactID         string   `json:"contactId"`
	GroupID           string   `json:"groupId,omitempty"`
	AppointmentStatus string   `json:"appointmentStatus"`
	Users             []string `json:"users"`
	DateAdded         string   `json:"dateAdded"`
	DateUpdated       string   `json:"dateUpdated"`
}

// customField is a location's custom field definition (locations.json
// CustomFieldSchema).
type customField struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	FieldKey        string   `json:"fieldKey"`
	Placeholder     string   `json:"placeholder"`
	DataType        string   `json:"dataType"`
	Position        int      `json:"position"`
	PicklistOptions []string `json:"picklistOptions,omitempty"`
	LocationID      string   `json:"locationId"`
	Model           string   `json:"model"`
}

// ientry is one entry of a sorted index: a timestamp and a contact id.
type ientry struct {
	ms int64
	id string
}

func (a ientry) less(b ientry) bool {
	return a.ms < b.ms || (a.ms == b.ms && a.id < b.id)
}

// index keeps a location's contacts sorted by (timestamp, id). It is
// append-mostly: the server's clock never goes back, so a new entry lands at
// the tail. An entry whose contact was deleted or re-stamped stays behind as
// stale until compact.
type index struct {
	e     []ientry
	stale int
}

// add inserts e, normally at the end.
func (x *index) add(e ientry) {
	i := len(x.e)
	for i > 0 && e.less(x.e[i-1]) {
		i--
	}
	x.e = slices.Insert(x.e, i, e)
}

// after is the position of the first entry strictly after k.
func (x *index) after(k ientry) int {
	lo, hi := 0, len(x.e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k.less(x.e[m]) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// atOrAfter is the position of the first entry with ms >= ms.
func (x *index) atOrAfter(ms int64) int {
	lo, hi := 0, len(x.e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.e[m].ms < ms {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// compact drops stale entries. Call with the write lock held.
func (x *index) compact(live func(ientry) bool) {
	if x.stale == 0 {
		return
	}
	x.e = slices.DeleteFunc(x.e, func(e ientry) bool { return !live(e) })
	x.stale = 0
}

// location is everything stored for one location. Guarded by Server.mu.
type location struct {
	id       string
	contacts map[string]*contact
	// byEmail and byPhone hold the oldest contact with that (lower-cased)
	// email or E.164 phone; more holds the others when duplicates exist.
	byEmail, byPhone map[string]string
	moreEmail        map[string][]string
	morePhone        map[string][]string
	added, updated   index
	business         map[string]map[string]struct{}
	fields           []*customField
	fieldByID        map[string]*customField
	fieldByKey       map[string]*customField
}

func newLocation(id string, sizeHint int) *location {
	return &location{
		id:         id,
		contacts:   make(map[string]*contact, sizeHint),
		byEmail:    make(map[string]string, sizeHint),
		byPhone:    make(map[string]string, sizeHint),
		moreEmail:  map[string][]string{},
		morePhone:  map[string][]string{},
		business:   map[string]map[string]struct{}{},
		fieldByID:  map[string]*customField{},
		fieldByKey: map[string]*customField{},
	}
}

func (l *location) liveAdded(e ientry) bool {
	c, ok := l.contacts[e.id]
	return ok && c.addedMs == e.ms
}

func (l *location) liveUpdated(e ientry) bool {
	c, ok := l.contacts[e.id]
	return ok && c.updatedMs == e.ms
}

func (l *location) compact() {
	l.added.compact(l.liveAdded)
	l.updated.compact(l.liveUpdated)
}

func (l *location) needsCompact() bool { return l.added.stale > 0 || l.updated.stale > 0 }

func emailKey(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func addKey(primary map[string]string, more map[string][]string, k, id string) {
	if k == "" {
		return
	}
	if _, ok := primary[k]; !ok {
		primary[k] = id
		return
	}
	more[k] = append(more[k], id)
}

func removeKey(primary map[string]string, more map[string][]string, k, id string) {
	if k == "" {
		return
	}
	if primary[k] == id {
		if rest := more[k]; len(rest) > 0 {
			primary[k] = rest[0]
			if len(rest) == 1 {
				delete(more, k)
			} else {
				more[k] = rest[1:]
			}
		} else {
			delete(primary, k)
		}
		return
	}
	if rest, ok := more[k]; ok {
		rest = slices.DeleteFunc(slices.Clone(rest), func(s string) bool { return s == id })
		if len(rest) == 0 {
			delete(more, k)
		} else {
			more[k] = rest
		}
	}
}

// put stores c (new or a replacement for the contact with its id) and keeps
// the indexes right. Call with the write lock held.
func (l *location) put(c *contact) {
	old := l.contacts[c.ID]
	if old != nil {
		if ok, nk := emailKey(old.Email), emailKey(c.Email); ok != nk {
			removeKey(l.byEmail, l.moreEmail, ok, c.ID)
			addKey(l.byEmail, l.moreEmail, nk, c.ID)
		}
		if old.Phone != c.Phone {
			removeKey(l.byPhone, l.morePhone, old.Phone, c.ID)
			addKey(l.byPhone, l.morePhone, c.Phone, c.ID)
		}
		if old.BusinessID != c.BusinessID {
			l.unlinkBusiness(old.BusinessID, c.ID)
			l.linkBusiness(c.BusinessID, c.ID)
		}
		if old.updatedMs != c.updatedMs {
			l.updated.stale++
			l.updated.add(ientry{c.updatedMs, c.ID})
		}
		l.contacts[c.ID] = c
		return
	}
	l.contacts[c.ID] = c
	addKey(l.byEmail, l.moreEmail, emailKey(c.Email), c.ID)
	addKey(l.byPhone, l.morePhone, c.Phone, c.ID)
	l.linkBusiness(c.BusinessID, c.ID)
	l.added.add(ientry{c.addedMs, c.ID})
	l.updated.add(ientry{c.updatedMs, c.ID})
}

// remove deletes the contact with id. Call with the write lock held.
func (l *location) remove(id string) *contact {
	c := l.contacts[id]
	if c == nil {
		return nil
	}
	delete(l.contacts, id)
	removeKey(l.byEmail, l.moreEmail, emailKey(c.Email), id)
	removeKey(l.byPhone, l.morePhone, c.Phone, id)
	l.unlinkBusiness(c.BusinessID, id)
	l.added.stale++
	l.updated.stale++
	return c
}

func (l *location) linkBusiness(bid, id string) {
	if bid == "" {
		return
	}
	m := l.business[bid]
	if m == nil {
		m = map[string]struct{}{}
		l.business[bid] = m
	}
	m[id] = struct{}{}
}

func (l *location) unlinkBusiness(bid, id string) {
	if bid == "" {
		return
	}
	if m := l.business[bid]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(l.business, bid)
		}
	}
}

// relatedRecords holds the related records of contacts (notes, tasks, appointments), by contact id. Guarded by Server.mu.
type relatedRecords struct {
	tasks        map[string][]*task
	notes        map[string][]*note
	appointments map[string][]*appointment
}
