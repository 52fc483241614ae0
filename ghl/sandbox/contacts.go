package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// dupRule is a location's "Allow Duplicate Contact" setting.
type dupRule struct {
	allow bool     // duplicates allowed
	order []string // fields an upsert matches on, in priority order
}

func parseRule(s string) (dupRule, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "email-phone":
		return dupRule{order: []string{"email", "phone"}}, nil
	case "phone-email":
		return dupRule{order: []string{"phone", "email"}}, nil
	case "email":
		return dupRule{order: []string{"email"}}, nil
	case "phone":
		return dupRule{order: []string{"phone"}}, nil
	case "allow":
		return dupRule{allow: true, order: []string{"email", "phone"}}, nil
	}
	return dupRule{}, fmt.Errorf("sandbox: duplicate rule %q: must be email-phone, phone-email, email, phone or allow", s)
}

func (s *Server) rule() dupRule {
	r, _ := parseRule(s.opt.DuplicateRule) // checked in New
	return r
}

// ---- input ----

// patch is a validated contact write: the body's fields with email, phone,
// tags, custom fields and date of birth already normalised.
type patch struct {
	fields       map[string]json.RawMessage
	email, phone *string
	tags         *[]string
	cfs          []cfValue // value nil = clear
	dob          *string
}

// textFields are the plain text fields of a write, each with where it
// lives in a contact.
var textFields = []struct {
	name string
	at   func(*contact) *string
}{
	{"firstName", func(c *contact) *string { return &c.FirstName }},
	{"lastName", func(c *contact) *string { return &c.LastName }},
	{"name", func(c *contact) *string { return &c.Name }},
	{"gender", func(c *contact) *string { return &c.Gender }},
	{"address1", func(c *contact) *string { return &c.Address1 }},
	{"city", func(c *contact) *string { return &c.City }},
	{"state", func(c *contact) *string { return &c.State }},
	{"postalCode", func(c *contact) *string { return &c.PostalCode }},
	{"website", func(c *contact) *string { return &c.Website }},
	{"timezone", func(c *contact) *string { return &c.Timezone }},
	{"source", func(c *contact) *string { return &c.Source }},
	{"country", func(c *contact) *string { return &c.Country }},
	{"companyName", func(c *contact) *string { return &c.CompanyName }},
	{"assignedTo", func(c *contact) *string { return &c.AssignedTo }},
}

func str(raw json.RawMessage) (string, bool) {
	if raw == nil || jsonKind(raw) != 's' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// parsePatch checks what the DTO check can't (email, phone, dates) and
// normalises. Call with a lock held (it reads l's custom fields).
func parsePatch(l *location, fields map[string]json.RawMessage, country string) (*patch, []string) {
	p := &patch{fields: fields}
	var msgs []string
	if v, ok := str(fields["country"]); ok && v != "" {
		country = v
	}
	if v, ok := str(fields["email"]); ok {
		v = strings.TrimSpace(v)
		if v != "" && !validEmail(v) {
			msgs = append(msgs, "email must be an email")
		}
		p.email = &v
	}
	if v, ok := str(fields["phone"]); ok {
		n, good := normPhone(v, country)
		if !good {
			msgs = append(msgs, "phone must be a valid phone number")
		}
		p.phone = &n
	}
	if raw, ok := fields["tags"]; ok && jsonKind(raw) == 'a' {
		var tags []string
		_ = json.Unmarshal(raw, &tags)
		t := normTags(tags)
		p.tags = &t
	}
	if raw, ok := fields["dateOfBirth"]; ok && jsonKind(raw) != 'n' {
		v, _ := str(raw)
		d, good := normDate(v)
		if !good {
			msgs = append(msgs, "dateOfBirth must be a valid date (YYYY-MM-DD, MM/DD/YYYY and the like)")
		}
		p.dob = &d
	}
	if raw, ok := fields["customFields"]; ok && jsonKind(raw) == 'a' {
		cfs, cfMsgs := parseCustomFields(l, raw)
		p.cfs = cfs
		msgs = append(msgs, cfMsgs...)
	}
	return p, msgs
}

// parseCustomFields reads a write's customFields, found by id or by key,
// each value given its definition's type. Fields the location does not
// define are dropped, as the API does.
func parseCustomFields(l *location, raw json.RawMessage) ([]cfValue, []string) {
	var in []struct {
		ID         string          `json:"id"`
		Key        string          `json:"key"`
		FieldValue json.RawMessage `json:"field_value"`
		Value      json.RawMessage `json:"value"`
	}
	var out []cfValue
	var msgs []string
	if err := json.Unmarshal(raw, &in); err != nil {
		msgs = append(msgs, "customFields must be an array of {id, key, field_value}")
	}
	for _, cf := range in {
		def := l.fieldByID[cf.ID]
		if def == nil && cf.Key != "" {
			def = l.fieldByKey[strings.TrimPrefix(cf.Key, "contact.")]
		}
		if def == nil {
			continue
		}
		v := cf.FieldValue
		if v == nil {
			v = cf.Value
		}
		nv, err := coerceField(def, v)
		if err != "" {
			msgs = append(msgs, err)
			continue
		}
		out = append(out, cfValue{ID: def.ID, Value: nv})
	}
	return out, msgs
}

func validEmail(e string) bool {
	if strings.ContainsAny(e, " \t\r\n,;<>") {
		return false
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || strings.Contains(domain, "@") {
		return false
	}
	dot := strings.LastIndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-2
}

// normPhone is the E.164 form of a phone number ("" for ""), reading
// numbers without a country code as of country (default US).
func normPhone(raw, country string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", true
	}
	if len(raw) >= 9 && len(raw) <= 16 && raw[0] == '+' && raw[1] != '0' {
		fast := true
		for i := 1; i < len(raw); i++ {
			if raw[i] < '0' || raw[i] > '9' {
				fast = false
				break
			}
		}
		if fast {
			return raw, true
		}
	}
	region := strings.ToUpper(country)
	if len(region) != 2 {
		region = "US"
	}
	num, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// normTags lower-cases, trims and de-duplicates tags, keeping their order.
func normTags(in []string) []string {
	out := make([]string, 0, len(in))
	for _, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

var dobLayouts = []string{"2006/01/02", "01/02/2006", "2006-01-02", "01-02-2006", "2006.01.02", "01.02.2006", "2006_01_02", "01_02_2006"}

// normDate reads a date of birth in one of the formats UpsertContactDto
// lists and gives it as the API returns it.
func normDate(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", true
	}
	for _, l := range dobLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.Format(timeLayout), true
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC().Truncate(24 * time.Hour).Format(timeLayout), true
	}
	return "", false
}

// coerceField gives a custom field value its definition's JSON type; nil
// means "clear it".
func coerceField(def *customField, v json.RawMessage) (json.RawMessage, string) {
	k := jsonKind(v)
	if k == 0 || k == 'n' {
		return nil, ""
	}
	switch def.DataType {
	case "NUMERICAL", "MONETORY":
		switch k {
		case 'd':
			return v, ""
		case 's':
			s, _ := str(v)
			if strings.TrimSpace(s) == "" {
				return nil, ""
			}
			if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				b, _ := json.Marshal(f)
				return b, ""
			}
		}
		return nil, "customFields." + def.FieldKey + " must be a number"
	case "MULTIPLE_OPTIONS", "CHECKBOX":
		switch k {
		case 'a':
			var xs []string
			if json.Unmarshal(v, &xs) != nil {
				return nil, "customFields." + def.FieldKey + " must be an array of strings"
			}
			b, _ := json.Marshal(xs)
			return b, ""
		case 's':
			s, _ := str(v)
			if s == "" {
				return nil, ""
			}
			b, _ := json.Marshal([]string{s})
			return b, ""
		}
		return nil, "customFields." + def.FieldKey + " must be an array of strings"
	default:
		switch k {
		case 's':
			s, _ := str(v)
			if s == "" {
				return nil, ""
			}
			return v, ""
		case 'd', 'b':
			b, _ := json.Marshal(string(v))
			return b, ""
		}
		return nil, "customFields." + def.FieldKey + " must be a string"
	}
}

// apply writes p onto c, a fresh clone (or new contact) owned by the caller.
// skip names a field ("email" or "phone") to leave alone.
func (p *patch) apply(c *contact, skip string) {
	nameSet, partSet := p.applyText(c)
	settleName(c, nameSet, partSet)
	if p.email != nil && skip != "email" {
		c.Email = *p.email
	}
	if p.phone != nil && skip != "phone" {
		c.Phone = *p.phone
	}
	p.applyDND(c)
	if p.tags != nil {
		c.Tags = *p.tags
	}
	if p.dob != nil {
		c.DateOfBirth = *p.dob
	}
	if len(p.cfs) > 0 {
		c.CustomFields = mergeCustomFields(c.CustomFields, p.cfs)
	}
}

// applyText sets the text fields the write gives as strings, trimmed, and
// says whether it set the name and whether it set first or last name.
func (p *patch) applyText(c *contact) (nameSet, partSet bool) {
	for _, f := range textFields {
		v, ok := str(p.fields[f.name])
		if !ok {
			continue
		}
		*f.at(c) = strings.TrimSpace(v)
		switch f.name {
		case "firstName", "lastName":
			partSet = true
		case "name":
			nameSet = true
		}
	}
	return nameSet, partSet
}

// settleName keeps the name and its parts in step: a name written alone
// fills first and last name when the contact has neither; otherwise the
// name follows the parts (or is made from them when it is empty).
func settleName(c *contact, nameSet, partSet bool) {
	if nameSet && !partSet && c.FirstName == "" && c.LastName == "" && c.Name != "" {
		first, last, _ := strings.Cut(c.Name, " ")
		c.FirstName, c.LastName = first, strings.TrimSpace(last)
	}
	if !nameSet && (partSet || c.Name == "") {
		c.Name = c.fullName()
	}
}

// applyDND sets dnd when given as a boolean and dndSettings when given as
// an object; anything else is left as it was.
func (p *patch) applyDND(c *contact) {
	if raw, ok := p.fields["dnd"]; ok && jsonKind(raw) == 'b' {
		_ = json.Unmarshal(raw, &c.DND)
	}
	if raw, ok := p.fields["dndSettings"]; ok && jsonKind(raw) == 'o' {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			c.DNDSettings = m
		}
	}
}

// mergeCustomFields is have with set written over it, in a new slice: a
// value replaces the field's, a nil value removes it, a new field goes last.
func mergeCustomFields(have, set []cfValue) []cfValue {
	out := make([]cfValue, 0, len(have)+len(set))
	out = append(out, have...)
	for _, v := range set {
		i := slices.IndexFunc(out, func(x cfValue) bool { return x.ID == v.ID })
		switch {
		case v.Value == nil && i >= 0:
			out = slices.Delete(out, i, i+1)
		case v.Value == nil:
		case i >= 0:
			out[i] = v
		default:
			out = append(out, v)
		}
	}
	return out
}

// ---- duplicates ----

// match finds the contact the rule's fields point at, in priority order:
// the first match, the field it matched on, and the other field if it
// points at a different contact (which an upsert then ignores).
func (l *location) match(r dupRule, email, phone string, self string) (c *contact, on string, conflict string) {
	for _, f := range r.order {
		var id string
		switch f {
		case "email":
			if email != "" {
				id = l.byEmail[emailKey(email)]
				if id == self {
					id = otherThan(l.moreEmail[emailKey(email)], self)
				}
			}
		case "phone":
			if phone != "" {
				id = l.byPhone[phone]
				if id == self {
					id = otherThan(l.morePhone[phone], self)
				}
			}
		}
		if id == "" {
			continue
		}
		if c == nil {
			c, on = l.contacts[id], f
			continue
		}
		if id != c.ID {
			conflict = f
		}
	}
	return c, on, conflict
}

func otherThan(ids []string, self string) string {
	for _, id := range ids {
		if id != self {
			return id
		}
	}
	return ""
}

func duplicateReply(c *contact, field string) reply {
	return reply{status: http.StatusBadRequest, body: map[string]any{
		"statusCode": 400,
		"message":    msgDuplicate,
		"meta":       map[string]any{"contactName": c.Name, "contactId": c.ID, "matchingField": field},
		"traceId":    traceID(),
	}}
}

// ---- handlers: one contact ----

type contactBody struct {
	Contact *contact `json:"contact"`
}

// hCreate is POST /contacts/.
func (s *Server) hCreate(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("CreateContactDto", fields); rep != nil {
		return *rep
	}
	locID, _ := str(fields["locationId"])
	if rep := checkLocation(q.tok, locID); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.loc(locID)
	p, msgs := parsePatch(l, fields, "")
	if len(msgs) > 0 {
		return rep422(msgs...)
	}
	r := s.rule()
	if !r.allow {
		if dup, on, _ := l.match(r, deref(p.email), deref(p.phone), ""); dup != nil {
			return duplicateReply(dup, on)
		}
	}
	c := s.newContact(l, p)
	return reply{status: http.StatusCreated, body: contactBody{c}}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// newContact creates a contact from p. Call with the write lock held.
func (s *Server) newContact(l *location, p *patch) *contact {
	ms := s.stamp()
	id := s.newID()
	for l.contacts[id] != nil {
		id = s.newID()
	}
	c := &contact{ID: id, LocationID: l.id, Type: "lead", Tags: []string{}, CustomFields: []cfValue{},
		addedMs: ms, updatedMs: ms, DateAdded: fmtMillis(ms), DateUpdated: fmtMillis(ms)}
	p.apply(c, "")
	if c.Source == "" {
		c.Source = "public api"
	}
	l.put(c)
	s.persistContact(c)
	s.webhook("ContactCreate", l.id, c)
	return c
}

// touch stamps c (a clone) as updated now and stores it. Call with the
// write lock held.
func (s *Server) touch(l *location, c *contact) {
	ms := s.stamp()
	c.updatedMs, c.DateUpdated = ms, fmtMillis(ms)
	old := l.contacts[c.ID]
	l.put(c)
	s.persistContact(c)
	s.contactChanged(l.id, old, c)
}

// hUpsert is POST /contacts/upsert.
func (s *Server) hUpsert(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("UpsertContactDto", fields); rep != nil {
		return *rep
	}
	locID, _ := str(fields["locationId"])
	if rep := checkLocation(q.tok, locID); rep != nil {
		return *rep
	}
	createNew := false
	if raw, ok := fields["createNewIfDuplicateAllowed"]; ok {
		_ = json.Unmarshal(raw, &createNew)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.loc(locID)
	p, msgs := parsePatch(l, fields, "")
	if len(msgs) > 0 {
		return rep422(msgs...)
	}
	r := s.rule()
	var found *contact
	var conflict string
	// Scenario 1 of createNewIfDuplicateAllowed: only where the location
	// allows duplicates does true skip the search. Otherwise it is ignored.
	if !(createNew && r.allow) {
		found, _, conflict = l.match(r, deref(p.email), deref(p.phone), "")
	}
	if found == nil {
		c := s.newContact(l, p)
		return reply{status: http.StatusOK, body: upsertBody{New: true, Contact: c, TraceID: traceID()}}
	}
	c := found.clone()
	p.apply(c, conflict)
	s.touch(l, c)
	return reply{status: http.StatusOK, body: upsertBody{New: false, Contact: c, TraceID: traceID()}}
}

type upsertBody struct {
	New     bool     `json:"new"`
	Contact *contact `json:"contact"`
	TraceID string   `json:"traceId"`
}

// contactOf finds contact id in the token's location. Call with a lock held.
func (s *Server) contactOf(t *token, id string) (*location, *contact) {
	l := s.locs[t.LocationID]
	if l == nil {
		return nil, nil
	}
	return l, l.contacts[id]
}

// hGet is GET /contacts/{contactId}.
func (s *Server) hGet(q *call) reply {
	s.mu.RLock()
	_, c := s.contactOf(q.tok, q.p[0])
	s.mu.RUnlock()
	if c == nil {
		return rep400(msgContactNotFound)
	}
	return reply{status: http.StatusOK, body: contactBody{c}}
}

// hUpdate is PUT /contacts/{contactId}.
func (s *Server) hUpdate(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("UpdateContactDto", fields); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, old := s.contactOf(q.tok, q.p[0])
	if old == nil {
		return rep400(msgContactNotFound)
	}
	p, msgs := parsePatch(l, fields, old.Country)
	if len(msgs) > 0 {
		return rep422(msgs...)
	}
	r := s.rule()
	if !r.allow {
		em, ph := "", ""
		if p.email != nil && emailKey(*p.email) != emailKey(old.Email) {
			em = *p.email
		}
		if p.phone != nil && *p.phone != old.Phone {
			ph = *p.phone
		}
		if dup, on, _ := l.match(r, em, ph, old.ID); dup != nil {
			return duplicateReply(dup, on)
		}
	}
	c := old.clone()
	p.apply(c, "")
	s.touch(l, c)
	return reply{status: http.StatusOK, body: struct {
		Succeeded bool     `json:"succeded"`
		Contact   *contact `json:"contact"`
	}{true, c}}
}

type succeeded struct {
	Succeeded bool `json:"succeded"`
}

// hDelete is DELETE /contacts/{contactId}.
func (s *Server) hDelete(q *call) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, c := s.contactOf(q.tok, q.p[0])
	if c == nil {
		return rep400(msgContactNotFound)
	}
	l.remove(c.ID)
	s.webhook("ContactDelete", l.id, c)
	delete(s.related.tasks, c.ID)
	delete(s.related.notes, c.ID)
	delete(s.related.appointments, c.ID)
	if s.db != nil {
		s.db.del("contact", c.ID)
		s.db.delChildren(c.ID)
	}
	return reply{status: http.StatusOK, body: succeeded{true}}
}

func (s *Server) persistContact(c *contact) {
	if s.db != nil {
		s.db.put("contact", c.ID, c.LocationID, c)
	}
}
