package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ---- tasks ----

func (s *Server) hTasks(q *call) reply {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	out := slices.Clone(s.related.tasks[q.p[0]])
	if out == nil {
		out = []*task{}
	}
	return reply{status: http.StatusOK, body: map[string]any{"tasks": out}}
}

func (s *Server) hTaskGet(q *call) reply {
	return childGet(s, q, s.related.tasks, func(t *task) string { return t.ID }, "task", msgTaskNotFound)
}

// taskFields applies a validated CreateTaskParams/UpdateTaskBody to t.
func taskFields(t *task, fields map[string]json.RawMessage) []string {
	if v, ok := str(fields["title"]); ok {
		t.Title = v
	}
	if v, ok := str(fields["body"]); ok {
		t.Body = v
	}
	if v, ok := str(fields["assignedTo"]); ok {
		t.AssignedTo = v
	}
	if raw, ok := fields["completed"]; ok && jsonKind(raw) == 'b' {
		_ = json.Unmarshal(raw, &t.Completed)
	}
	if v, ok := str(fields["dueDate"]); ok {
		ts, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return []string{"dueDate must be a valid ISO 8601 date string"}
		}
		t.DueDate = ts.UTC().Format(timeLayout)
	}
	return nil
}

func (s *Server) hTaskCreate(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("CreateTaskParams", fields); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	t := &task{ID: s.newID(), ContactID: q.p[0]}
	if msgs := taskFields(t, fields); msgs != nil {
		return rep422(msgs...)
	}
	s.related.tasks[t.ContactID] = append(s.related.tasks[t.ContactID], t)
	s.persistChild("task", t.ID, t.ContactID, t)
	s.webhook("TaskCreate", q.tok.LocationID, t)
	return reply{status: http.StatusCreated, body: map[string]any{"task": t}}
}

// editTask replaces task p[1] of contact p[0] with edit's result.
func (s *Server) editTask(q *call, dto string, edit func(t *task, fields map[string]json.RawMessage) []string) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate(dto, fields); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	list := s.related.tasks[q.p[0]]
	i := slices.IndexFunc(list, func(t *task) bool { return t.ID == q.p[1] })
	if i < 0 {
		return rep400(msgTaskNotFound)
	}
	t := *list[i]
	if msgs := edit(&t, fields); msgs != nil {
		return rep422(msgs...)
	}
	if t.Completed && !list[i].Completed {
		s.webhook("TaskComplete", q.tok.LocationID, &t)
	}
	list = slices.Clone(list)
	list[i] = &t
	s.related.tasks[q.p[0]] = list
	s.persistChild("task", t.ID, t.ContactID, &t)
	return reply{status: http.StatusOK, body: map[string]any{"task": &t}}
}

func (s *Server) hTaskUpdate(q *call) reply { return s.editTask(q, "UpdateTaskBody", taskFields) }

func (s *Server) hTaskCompleted(q *call) reply {
	return s.editTask(q, "UpdateTaskStatusParams", func(t *task, fields map[string]json.RawMessage) []string {
		_ = json.Unmarshal(fields["completed"], &t.Completed)
		return nil
	})
}

func (s *Server) hTaskDelete(q *call) reply {
	return childDelete(s, q, s.related.tasks, func(t *task) string { return t.ID }, "task", msgTaskNotFound)
}

// ---- notes ----

func (s *Server) hNotes(q *call) reply {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	// newest first, as the API lists them
	list := s.related.notes[q.p[0]]
	out := make([]*note, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i])
	}
	return reply{status: http.StatusOK, body: map[string]any{"notes": out}}
}

func (s *Server) hNoteGet(q *call) reply {
	return childGet(s, q, s.related.notes, func(n *note) string { return n.ID }, "note", msgNoteNotFound)
}

func noteFields(n *note, fields map[string]json.RawMessage) {
	if v, ok := str(fields["body"]); ok {
		n.Body = v
	}
	if v, ok := str(fields["userId"]); ok {
		n.UserID = v
	}
	if v, ok := str(fields["title"]); ok {
		n.Title = v
	}
	if v, ok := str(fields["color"]); ok {
		n.Color = v
	}
	if raw, ok := fields["pinned"]; ok && jsonKind(raw) == 'b' {
		_ = json.Unmarshal(raw, &n.Pinned)
	}
}

func (s *Server) hNoteCreate(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("NotesDTO", fields); rep != nil {
		return *rep
	}
	if v, _ := str(fields["body"]); strings.TrimSpace(v) == "" {
		return rep422("body should not be empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	n := &note{ID: s.newID(), ContactID: q.p[0], DateAdded: fmtMillis(s.stamp())}
	noteFields(n, fields)
	s.related.notes[n.ContactID] = append(s.related.notes[n.ContactID], n)
	s.persistChild("note", n.ID, n.ContactID, n)
	s.webhook("NoteCreate", q.tok.LocationID, n)
	return reply{status: http.StatusCreated, body: map[string]any{"note": n}}
}

func (s *Server) hNoteUpdate(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("UpdateNoteDTO", fields); rep != nil {
		return *rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	list := s.related.notes[q.p[0]]
	i := slices.IndexFunc(list, func(n *note) bool { return n.ID == q.p[1] })
	if i < 0 {
		return rep400(msgNoteNotFound)
	}
	n := *list[i]
	noteFields(&n, fields)
	list = slices.Clone(list)
	list[i] = &n
	s.related.notes[q.p[0]] = list
	s.persistChild("note", n.ID, n.ContactID, &n)
	s.webhook("NoteUpdate", q.tok.LocationID, &n)
	return reply{status: http.StatusOK, body: map[string]any{"note": &n}}
}

func (s *Server) hNoteDelete(q *call) reply {
	return childDelete(s, q, s.related.notes, func(n *note) string { return n.ID }, "note", msgNoteNotFound)
}

// childGet answers the GET of a contact's note or task (kind) by id.
func childGet[T any](s *Server, q *call, related map[string][]*T, id func(*T) string, kind, notFound string) reply {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	list := related[q.p[0]]
	if i := slices.IndexFunc(list, func(v *T) bool { return id(v) == q.p[1] }); i >= 0 {
		return reply{status: http.StatusOK, body: map[string]any{kind: list[i]}}
	}
	return rep400(notFound)
}

// childDelete answers the DELETE of a contact's note or task (kind).
func childDelete[T any](s *Server, q *call, related map[string][]*T, id func(*T) string, kind, notFound string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	list := related[q.p[0]]
	i := slices.IndexFunc(list, func(v *T) bool { return id(v) == q.p[1] })
	if i < 0 {
		return rep400(notFound)
	}
	s.webhook(map[string]string{"task": "TaskDelete", "note": "NoteDelete"}[kind], q.tok.LocationID, list[i])
	related[q.p[0]] = slices.Delete(slices.Clone(list), i, i+1)
	if s.db != nil {
		s.db.del(kind, q.p[1])
	}
	return reply{status: http.StatusOK, body: succeeded{true}}
}

func (s *Server) persistChild(kind, id, parent string, v any) {
	if s.db != nil {
		s.db.put(kind, id, parent, v)
	}
}

// ---- appointments ----

func (s *Server) hAppointments(q *call) reply {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, c := s.contactOf(q.tok, q.p[0]); c == nil {
		return rep400(msgContactNotFound)
	}
	out := slices.Clone(s.related.appointments[q.p[0]])
	if out == nil {
		out = []*appointment{}
	}
	return reply{status: http.StatusOK, body: map[string]any{"events": out}}
}

// ---- tags ----

func (s *Server) hTagsAdd(q *call) reply    { return s.editTags(q, true, http.StatusCreated) }
func (s *Server) hTagsRemove(q *call) reply { return s.editTags(q, false, http.StatusOK) }

func (s *Server) editTags(q *call, add bool, status int) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("TagsDTO", fields); rep != nil {
		return *rep
	}
	var tags []string
	_ = json.Unmarshal(fields["tags"], &tags)
	tags = normTags(tags)
	s.mu.Lock()
	defer s.mu.Unlock()
	l, old := s.contactOf(q.tok, q.p[0])
	if old == nil {
		return rep400(msgContactNotFound)
	}
	next, changed := tagsAfter(old.Tags, tags, add, false)
	if changed {
		c := old.clone()
		c.Tags = next
		s.touch(l, c)
	}
	return reply{status: status, body: map[string]any{"tags": next}}
}

// tagsAfter is tags with change added or removed (all removed if all).
func tagsAfter(tags, change []string, add, all bool) ([]string, bool) {
	if all {
		return []string{}, len(tags) > 0
	}
	out := slices.Clone(tags)
	if out == nil {
		out = []string{}
	}
	changed := false
	for _, t := range change {
		i := slices.Index(out, t)
		switch {
		case add && i < 0:
			out = append(out, t)
			changed = true
		case !add && i >= 0:
			out = slices.Delete(out, i, i+1)
			changed = true
		}
	}
	return out, changed
}

// maxBulkContacts is the largest bulk request the sandbox takes; the real
// limit is not documented (DEVIATIONS.md).
const maxBulkContacts = 1000

type bulkTagItem struct {
	ContactID   string   `json:"contactId"`
	Message     string   `json:"message"`
	Type        string   `json:"type"`
	OldTags     []string `json:"oldTags,omitempty"`
	TagsAdded   []string `json:"tagsAdded,omitempty"`
	TagsRemoved []string `json:"tagsRemoved,omitempty"`
}

// hBulkTags is POST /contacts/bulk/tags/update/{type}.
func (s *Server) hBulkTags(q *call) reply {
	typ := q.p[0]
	if typ != "add" && typ != "remove" {
		return rep422("type must be one of the following values: add, remove")
	}
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("UpdateTagsDTO", fields); rep != nil {
		return *rep
	}
	var req struct {
		Contacts      []string `json:"contacts"`
		Tags          []string `json:"tags"`
		LocationID    string   `json:"locationId"`
		RemoveAllTags bool     `json:"removeAllTags"`
	}
	raw, _ := json.Marshal(fields)
	_ = json.Unmarshal(raw, &req)
	if rep := checkLocation(q.tok, req.LocationID); rep != nil {
		return *rep
	}
	if len(req.Contacts) > maxBulkContacts {
		return rep422("contacts must contain no more than 1000 elements")
	}
	if req.RemoveAllTags && typ != "remove" {
		return rep422("removeAllTags can only be used with the remove type")
	}
	tags := normTags(req.Tags)
	if len(tags) == 0 && !req.RemoveAllTags {
		return rep422("tags should not be empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.loc(req.LocationID)
	out := struct {
		Succeeded  bool          `json:"succeded"`
		ErrorCount int           `json:"errorCount"`
		Responses  []bulkTagItem `json:"responses"`
	}{Responses: []bulkTagItem{}}
	for _, id := range req.Contacts {
		old := l.contacts[id]
		if old == nil {
			msg := "contact not found"
			if len(id) != 20 {
				msg = "contact id is not a valid firebase id"
			} else if s.otherLocationHas(id, l.id) {
				msg = "contact does not belong to location"
			}
			out.ErrorCount++
			out.Responses = append(out.Responses, bulkTagItem{ContactID: id, Message: msg, Type: "error"})
			continue
		}
		next, changed := tagsAfter(old.Tags, tags, typ == "add", req.RemoveAllTags)
		item := bulkTagItem{ContactID: id, Message: "Tags updated", Type: "success", OldTags: old.Tags,
			TagsAdded: []string{}, TagsRemoved: []string{}}
		for _, t := range next {
			if !slices.Contains(old.Tags, t) {
				item.TagsAdded = append(item.TagsAdded, t)
			}
		}
		for _, t := range old.Tags {
			if !slices.Contains(next, t) {
				item.TagsRemoved = append(item.TagsRemoved, t)
			}
		}
		if changed {
			c := old.clone()
			c.Tags = next
			s.touch(l, c)
		}
		out.Responses = append(out.Responses, item)
	}
	out.Succeeded = out.ErrorCount == 0
	return reply{status: http.StatusCreated, body: out}
}

// otherLocationHas reports whether a location other than loc holds contact
// id. Call with a lock held.
func (s *Server) otherLocationHas(id, loc string) bool {
	for lid, l := range s.locs {
		if lid != loc && l.contacts[id] != nil {
			return true
		}
	}
	return false
}

// hBulkBusiness is POST /contacts/bulk/business.
func (s *Server) hBulkBusiness(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("ContactsBusinessUpdate", fields); rep != nil {
		return *rep
	}
	if _, ok := fields["businessId"]; !ok {
		return rep422("businessId must be a string or null")
	}
	var req struct {
		LocationID string   `json:"locationId"`
		IDs        []string `json:"ids"`
		BusinessID *string  `json:"businessId"`
	}
	raw, _ := json.Marshal(fields)
	_ = json.Unmarshal(raw, &req)
	if rep := checkLocation(q.tok, req.LocationID); rep != nil {
		return *rep
	}
	if len(req.IDs) > maxBulkContacts {
		return rep422("ids must contain no more than 1000 elements")
	}
	bid := ""
	if req.BusinessID != nil {
		bid = strings.TrimSpace(*req.BusinessID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.loc(req.LocationID)
	done := []string{}
	for _, id := range req.IDs {
		old := l.contacts[id]
		if old == nil {
			continue
		}
		done = append(done, id)
		if old.BusinessID == bid {
			continue
		}
		c := old.clone()
		c.BusinessID = bid
		s.touch(l, c)
	}
	return reply{status: http.StatusOK, body: map[string]any{"success": true, "ids": done}}
}

// ---- custom fields ----

// hCustomFields is GET /locations/{locationId}/customFields.
func (s *Server) hCustomFields(q *call) reply {
	if rep := checkLocation(q.tok, q.p[0]); rep != nil {
		return *rep
	}
	model := q.r.URL.Query().Get("model")
	switch model {
	case "", "contact", "all":
	case "opportunity":
	default:
		return rep422("model must be one of the following values: contact, opportunity, all")
	}
	s.mu.Lock() // first use of a location creates its definitions
	l := s.loc(q.p[0])
	out := []*customField{}
	for _, f := range l.fields {
		if model == "opportunity" && f.Model != "opportunity" {
			continue
		}
		out = append(out, f)
	}
	s.mu.Unlock()
	return reply{status: http.StatusOK, body: map[string]any{"customFields": out}}
}
