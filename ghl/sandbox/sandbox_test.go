package sandbox

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRoutes(t *testing.T) {
	e := start(t, Options{Contacts: 5, Rate: -1})
	c := e.must(e.upsert(map[string]any{"email": "route@example.com"}), 200).obj("contact")
	id := c["id"].(string)
	loc := e.s.LocationID()
	tests := []struct {
		method, path string
		body         any
		want         int
		route        string
	}{
		{"GET", "/contacts/?locationId=" + loc, nil, 200, "GET /contacts/"},
		{"GET", "/contacts?locationId=" + loc, nil, 200, "GET /contacts/"},
		{"POST", "/contacts/", map[string]any{"locationId": loc, "email": "r2@example.com"}, 201, "POST /contacts/"},
		{"POST", "/contacts", map[string]any{"locationId": loc, "email": "r3@example.com"}, 201, "POST /contacts/"},
		{"GET", "/contacts/" + id, nil, 200, "GET /contacts/{contactId}"},
		{"GET", "/contacts/" + id + "/", nil, 200, "GET /contacts/{contactId}"},
		{"PUT", "/contacts/" + id, map[string]any{"city": "Austin"}, 200, "PUT /contacts/{contactId}"},
		{"POST", "/contacts/search", map[string]any{"locationId": loc, "pageLimit": 10}, 200, "POST /contacts/search"},
		{"GET", "/contacts/business/nobiz?locationId=" + loc, nil, 200, "GET /contacts/business/{businessId}"},
		{"GET", "/contacts/" + id + "/tasks", nil, 200, "GET /contacts/{contactId}/tasks"},
		{"GET", "/contacts/" + id + "/notes", nil, 200, "GET /contacts/{contactId}/notes"},
		{"GET", "/contacts/" + id + "/appointments", nil, 200, "GET /contacts/{contactId}/appointments"},
		{"POST", "/contacts/" + id + "/tags", map[string]any{"tags": []string{"a"}}, 201, "POST /contacts/{contactId}/tags"},
		{"DELETE", "/contacts/" + id + "/tags", map[string]any{"tags": []string{"a"}}, 200, "DELETE /contacts/{contactId}/tags"},
		{"POST", "/contacts/bulk/tags/update/add", map[string]any{"locationId": loc, "contacts": []string{id}, "tags": []string{"b"}}, 201, "POST /contacts/bulk/tags/update/{type}"},
		{"POST", "/contacts/bulk/business", map[string]any{"locationId": loc, "ids": []string{id}, "businessId": "63b7ec34ea409a9a8bd2a4ff"}, 200, "POST /contacts/bulk/business"},
		{"GET", "/locations/" + loc + "/customFields", nil, 200, "GET /locations/{locationId}/customFields"},
		{"PATCH", "/contacts/" + id, nil, 404, "unmatched"},
		{"GET", "/nothing/here", nil, 404, "unmatched"},
		{"DELETE", "/contacts/" + id, nil, 200, "DELETE /contacts/{contactId}"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			e.s.ResetCounts()
			r := e.call(tc.method, tc.path, tc.body, nil)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if got := e.s.Counts().ByRoute[tc.route]; got != 1 {
				t.Errorf("Counts().ByRoute[%q] = %d, want 1 (%v)", tc.route, got, e.s.Counts().ByRoute)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	e := start(t, Options{})
	loc := e.s.LocationID()
	c := e.must(e.upsert(map[string]any{"email": "auth@example.com"}), 200).obj("contact")
	id := c["id"].(string)
	readonly, _ := e.s.IssueToken("", []string{"contacts.readonly"}, 0)
	other, _ := e.s.IssueToken("OtherLocation0000001", nil, 0)
	expired, _ := e.s.IssueToken("", nil, time.Nanosecond)
	tests := []struct {
		name, method, path, token string
		body                      any
		want                      int
		msg                       string
	}{
		{"no token", "GET", "/contacts/" + id, "-", nil, 401, msgTokenMissing},
		{"garbage token", "GET", "/contacts/" + id, "nope", nil, 401, msgTokenInvalid},
		{"expired token", "GET", "/contacts/" + id, expired, nil, 401, msgTokenExpired},
		{"readonly reads", "GET", "/contacts/" + id, readonly, nil, 200, ""},
		{"readonly cannot upsert", "POST", "/contacts/upsert", readonly, map[string]any{"locationId": loc, "email": "x@example.com"}, 403, msgScope},
		{"readonly cannot delete", "DELETE", "/contacts/" + id, readonly, nil, 403, msgScope},
		{"readonly cannot read custom fields", "GET", "/locations/" + loc + "/customFields", readonly, nil, 403, msgScope},
		{"other location lists", "GET", "/contacts/?limit=1&locationId=" + loc, other, nil, 403, msgLocation},
		{"other location custom fields", "GET", "/locations/" + loc + "/customFields", other, nil, 403, msgLocation},
		{"other location upserts", "POST", "/contacts/upsert", other, map[string]any{"locationId": loc, "email": "x@example.com"}, 403, msgLocation},
		{"other location reads by id", "GET", "/contacts/" + id, other, nil, 400, msgContactNotFound},
		{"preflight list", "GET", "/contacts/?limit=1&locationId=" + loc, "", nil, 200, ""},
		{"preflight custom fields", "GET", "/locations/" + loc + "/customFields", "", nil, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hdrs{}
			switch tc.token {
			case "":
			case "-":
				h["Authorization"] = ""
			default:
				h["Authorization"] = "Bearer " + tc.token
			}
			r := e.call(tc.method, tc.path, tc.body, h)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if tc.msg != "" && r.str("message") != tc.msg {
				t.Errorf("message %q, want %q", r.str("message"), tc.msg)
			}
			if tc.want == 401 && (r.str("error") != "Unauthorized" || r.body["statusCode"] != float64(401)) {
				t.Errorf("401 body is not UnauthorizedDTO: %s", r.raw)
			}
			if tc.want == 403 && r.body["statusCode"] != float64(403) {
				t.Errorf("403 body: %s", r.raw)
			}
		})
	}
}

func TestVersionHeader(t *testing.T) {
	e := start(t, Options{})
	path := "/contacts/?locationId=" + e.s.LocationID()
	tests := []struct {
		version string
		want    int
		msg     string
	}{
		{"", 400, msgVersionMissing},
		{"2021-07-28", 200, ""},
		{"2023-02-21", 200, ""},
		{"2019-01-01", 400, msgVersionInvalid},
	}
	for _, tc := range tests {
		t.Run("version="+tc.version, func(t *testing.T) {
			r := e.call("GET", path, nil, hdrs{"Version": tc.version, "x-sdk-version": "2.2.1"})
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if tc.msg != "" && (r.str("message") != tc.msg || r.body["statusCode"] != float64(400)) {
				t.Errorf("body %s, want BadRequestDTO with %q", r.raw, tc.msg)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	e := start(t, Options{})
	loc := e.s.LocationID()
	tests := []struct {
		name, method, path string
		body               any
		want               int
		msgs               []string // each must appear in the 422 message list
	}{
		{"create without locationId", "POST", "/contacts/", map[string]any{"email": "a@example.com"}, 422,
			[]string{"locationId should not be empty", "locationId must be a string"}},
		{"upsert without locationId", "POST", "/contacts/upsert", map[string]any{"email": "a@example.com"}, 422,
			[]string{"locationId should not be empty"}},
		{"additionalEmails refused", "POST", "/contacts/upsert", map[string]any{"locationId": loc, "additionalEmails": []string{"b@example.com"}}, 422,
			[]string{"property additionalEmails should not exist"}},
		{"wrong type", "POST", "/contacts/upsert", map[string]any{"locationId": loc, "firstName": 12, "dnd": "yes", "tags": "x"}, 422,
			[]string{"firstName must be a string", "dnd must be a boolean value", "tags must be an array"}},
		{"tags of numbers", "POST", "/contacts/upsert", map[string]any{"locationId": loc, "tags": []int{1}}, 422,
			[]string{"each value in tags must be a string"}},
		{"bad email", "POST", "/contacts/upsert", map[string]any{"locationId": loc, "email": "not-an-email"}, 422,
			[]string{"email must be an email"}},
		{"bad phone", "POST", "/contacts/upsert", map[string]any{"locationId": loc, "phone": "12"}, 422,
			[]string{"phone must be a valid phone number"}},
		{"locationId on PUT", "PUT", "/contacts/whatever", map[string]any{"locationId": loc}, 422,
			[]string{"property locationId should not exist"}},
		{"search without pageLimit", "POST", "/contacts/search", map[string]any{"locationId": loc}, 422,
			[]string{"pageLimit should not be empty"}},
		{"search without locationId", "POST", "/contacts/search", map[string]any{"pageLimit": 10}, 422,
			[]string{"locationId should not be empty"}},
		{"search pageLimit too big", "POST", "/contacts/search", map[string]any{"locationId": loc, "pageLimit": 501}, 422,
			[]string{"pageLimit must not be greater than 500"}},
		{"list without locationId", "GET", "/contacts/", nil, 422, []string{"locationId should not be empty"}},
		{"list limit too big", "GET", "/contacts/?limit=101&locationId=" + loc, nil, 422, []string{"limit must not be greater than 100"}},
		{"list limit not a number", "GET", "/contacts/?limit=ten&locationId=" + loc, nil, 422,
			[]string{"limit must be a number conforming to the specified constraints"}},
		{"task without title", "POST", "/contacts/x/tasks", map[string]any{"dueDate": "2025-01-01T00:00:00Z"}, 422,
			[]string{"title should not be empty", "completed must be a boolean value"}},
		{"malformed JSON", "POST", "/contacts/upsert", `{"locationId": `, 400, nil},
		{"bulk tags bad type", "POST", "/contacts/bulk/tags/update/toggle", map[string]any{"locationId": loc, "contacts": []string{}, "tags": []string{"a"}}, 422,
			[]string{"type must be one of the following values: add, remove"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(tc.method, tc.path, tc.body, nil)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if tc.want == 422 {
				if r.str("error") != "Unprocessable Entity" || r.body["statusCode"] != float64(422) {
					t.Errorf("not an UnprocessableDTO: %s", r.raw)
				}
				got := r.messages()
				for _, m := range tc.msgs {
					if !slices.Contains(got, m) {
						t.Errorf("messages %q lack %q", got, m)
					}
				}
			}
			if tc.want == 400 && r.body["statusCode"] != float64(400) {
				t.Errorf("not a BadRequestDTO: %s", r.raw)
			}
		})
	}
}

func TestUpsertDuplicateRule(t *testing.T) {
	tests := []struct {
		name      string
		rule      string
		body      map[string]any
		wantNew   bool
		wantWho   string // "A", "B" or "" (new)
		wantEmail string
		wantPhone string
	}{
		{"email first: conflict updates A, ignores phone", "email-phone",
			map[string]any{"email": "a@example.com", "phone": "+12122000002", "city": "Reno"}, false, "A", "a@example.com", "+12122000001"},
		{"phone first: conflict updates B, ignores email", "phone-email",
			map[string]any{"email": "a@example.com", "phone": "+12122000002", "city": "Reno"}, false, "B", "b@example.com", "+12122000002"},
		{"email case-insensitive", "email-phone",
			map[string]any{"email": "A@Example.COM"}, false, "A", "A@Example.COM", "+12122000001"},
		{"phone normalised to E.164", "phone-email",
			map[string]any{"phone": "(212) 200-0002"}, false, "B", "b@example.com", "+12122000002"},
		{"email only: phone match ignored", "email",
			map[string]any{"email": "new@example.com", "phone": "+12122000001"}, true, "", "new@example.com", "+12122000001"},
		{"no match creates", "email-phone",
			map[string]any{"email": "c@example.com", "phone": "+12122000003"}, true, "", "c@example.com", "+12122000003"},
		{"createNewIfDuplicateAllowed ignored when duplicates refused", "email-phone",
			map[string]any{"email": "a@example.com", "createNewIfDuplicateAllowed": true}, false, "A", "a@example.com", "+12122000001"},
		{"createNewIfDuplicateAllowed creates when duplicates allowed", "allow",
			map[string]any{"email": "a@example.com", "createNewIfDuplicateAllowed": true}, true, "", "a@example.com", ""},
		{"duplicates allowed, flag false: normal upsert", "allow",
			map[string]any{"email": "a@example.com"}, false, "A", "a@example.com", "+12122000001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, Options{DuplicateRule: tc.rule})
			a := e.must(e.upsert(map[string]any{"email": "a@example.com", "phone": "+12122000001"}), 200).obj("contact")
			b := e.must(e.upsert(map[string]any{"email": "b@example.com", "phone": "+12122000002"}), 200).obj("contact")
			r := e.must(e.upsert(tc.body), 200)
			c := r.obj("contact")
			if r.body["new"] != tc.wantNew {
				t.Errorf("new = %v, want %v", r.body["new"], tc.wantNew)
			}
			want := map[string]string{"A": a["id"].(string), "B": b["id"].(string)}[tc.wantWho]
			if tc.wantWho != "" && c["id"] != want {
				t.Errorf("updated %v, want %s (%s)", c["id"], tc.wantWho, want)
			}
			if tc.wantWho == "" && (c["id"] == a["id"] || c["id"] == b["id"]) {
				t.Errorf("updated an existing contact, want a new one")
			}
			got := e.must(e.call("GET", "/contacts/"+c["id"].(string), nil, nil), 200).obj("contact")
			if fmt.Sprint(got["email"]) != tc.wantEmail && !(tc.wantEmail == "" && got["email"] == nil) {
				t.Errorf("email %v, want %q", got["email"], tc.wantEmail)
			}
			if ph, _ := got["phone"].(string); ph != tc.wantPhone {
				t.Errorf("phone %q, want %q", ph, tc.wantPhone)
			}
		})
	}
}

func TestCreateDuplicate(t *testing.T) {
	e := start(t, Options{})
	loc := e.s.LocationID()
	first := e.must(e.call("POST", "/contacts/", map[string]any{"locationId": loc, "email": "dup@example.com"}, nil), 201).obj("contact")
	r := e.must(e.call("POST", "/contacts/", map[string]any{"locationId": loc, "email": "DUP@example.com"}, nil), 400)
	if r.str("message") != msgDuplicate || r.obj("meta")["contactId"] != first["id"] || r.obj("meta")["matchingField"] != "email" {
		t.Errorf("duplicate answer %s", r.raw)
	}
	// PUT moving another contact onto the same email is refused too.
	other := e.must(e.call("POST", "/contacts/", map[string]any{"locationId": loc, "email": "other@example.com"}, nil), 201).obj("contact")
	e.must(e.call("PUT", "/contacts/"+other["id"].(string), map[string]any{"email": "dup@example.com"}, nil), 400)
	// With duplicates allowed, create always creates.
	e2 := start(t, Options{DuplicateRule: "allow"})
	for range 2 {
		e2.must(e2.call("POST", "/contacts/", map[string]any{"locationId": loc, "email": "dup@example.com"}, nil), 201)
	}
}

func TestTagsAndFields(t *testing.T) {
	e := start(t, Options{})
	loc := e.s.LocationID()
	fields := e.must(e.call("GET", "/locations/"+loc+"/customFields", nil, nil), 200).list("customFields")
	if len(fields) < 5 {
		t.Fatalf("%d custom fields, want at least 5", len(fields))
	}
	byKey := map[string]string{}
	types := map[string]bool{}
	for _, f := range fields {
		m := f.(map[string]any)
		byKey[m["fieldKey"].(string)] = m["id"].(string)
		types[m["dataType"].(string)] = true
	}
	for _, dt := range []string{"TEXT", "NUMERICAL", "DATE", "MULTIPLE_OPTIONS", "SINGLE_OPTIONS"} {
		if !types[dt] {
			t.Errorf("no %s custom field", dt)
		}
	}
	c := e.must(e.upsert(map[string]any{"email": "tags@example.com", "tags": []string{"One", "two", "one"},
		"customFields": []map[string]any{
			{"id": byKey["contact.lifecycle_stage"], "field_value": "Lead"},
			{"key": "contact.lead_score", "field_value": "42"},
			{"id": byKey["contact.interests"], "key": "interests", "field_value": []string{"SMS"}},
		}}), 200).obj("contact")
	id := c["id"].(string)
	if got := strs(c["tags"]); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("tags %q, want [one two]", got)
	}
	cfs := map[string]string{}
	for _, v := range c["customFields"].([]any) {
		m := v.(map[string]any)
		raw := fmt.Sprint(m["value"])
		cfs[m["id"].(string)] = raw
		if _, ok := m["field_value"]; ok {
			t.Errorf("custom field read back with field_value: %v", m)
		}
	}
	if cfs[byKey["contact.lifecycle_stage"]] != "Lead" || cfs[byKey["contact.lead_score"]] != "42" || cfs[byKey["contact.interests"]] != "[SMS]" {
		t.Errorf("custom fields read back %v", cfs)
	}
	// Tags in an upsert or update replace.
	c = e.must(e.upsert(map[string]any{"email": "tags@example.com", "tags": []string{"three"}}), 200).obj("contact")
	if got := strs(c["tags"]); !slices.Equal(got, []string{"three"}) {
		t.Errorf("after upsert tags %q, want [three]", got)
	}
	c = e.must(e.call("PUT", "/contacts/"+id, map[string]any{"tags": []string{"four"}}, nil), 200).obj("contact")
	if got := strs(c["tags"]); !slices.Equal(got, []string{"four"}) {
		t.Errorf("after PUT tags %q, want [four]", got)
	}
	// The tags endpoints add and remove.
	r := e.must(e.call("POST", "/contacts/"+id+"/tags", map[string]any{"tags": []string{"five"}}, nil), 201)
	if got := strs(r.body["tags"]); !slices.Equal(got, []string{"four", "five"}) {
		t.Errorf("after add %q", got)
	}
	r = e.must(e.call("DELETE", "/contacts/"+id+"/tags", map[string]any{"tags": []string{"four"}}, nil), 200)
	if got := strs(r.body["tags"]); !slices.Equal(got, []string{"five"}) {
		t.Errorf("after remove %q", got)
	}
	r = e.must(e.call("POST", "/contacts/bulk/tags/update/add", map[string]any{"locationId": loc,
		"contacts": []string{id, "abcdef"}, "tags": []string{"six"}}, nil), 201)
	if r.body["errorCount"] != float64(1) || r.body["succeded"] != false {
		t.Errorf("bulk add: %s", r.raw)
	}
	c = e.must(e.call("GET", "/contacts/"+id, nil, nil), 200).obj("contact")
	if got := strs(c["tags"]); !slices.Equal(got, []string{"five", "six"}) {
		t.Errorf("after bulk add %q", got)
	}
	e.must(e.call("POST", "/contacts/bulk/tags/update/remove", map[string]any{"locationId": loc,
		"contacts": []string{id}, "tags": []string{}, "removeAllTags": true}, nil), 201)
	c = e.must(e.call("GET", "/contacts/"+id, nil, nil), 200).obj("contact")
	if len(c["tags"].([]any)) != 0 {
		t.Errorf("after remove all: %v", c["tags"])
	}
}

func TestDatesChangeOnUpdate(t *testing.T) {
	e := start(t, Options{})
	t0 := time.Now().Add(time.Hour).Truncate(time.Second)
	now := t0
	e.s.mu.Lock()
	e.s.now = func() time.Time { return now }
	e.s.mu.Unlock()
	c := e.must(e.upsert(map[string]any{"email": "d@example.com"}), 200).obj("contact")
	if c["dateAdded"] != t0.UTC().Format(timeLayout) || c["dateUpdated"] != c["dateAdded"] {
		t.Fatalf("dates %v %v", c["dateAdded"], c["dateUpdated"])
	}
	now = now.Add(1500 * time.Millisecond)
	c = e.must(e.upsert(map[string]any{"email": "d@example.com", "city": "Reno"}), 200).obj("contact")
	if c["dateAdded"] != t0.UTC().Format(timeLayout) || c["dateUpdated"] != t0.Add(1500*time.Millisecond).UTC().Format(timeLayout) {
		t.Errorf("after update: dates %v %v", c["dateAdded"], c["dateUpdated"])
	}
}

func TestListPaging(t *testing.T) {
	e := start(t, Options{Contacts: 250, Seed: 3, Rate: -1})
	loc := e.s.LocationID()
	seen := map[string]bool{}
	var lastKey string
	q := url.Values{"locationId": {loc}, "limit": {"100"}}
	pages := 0
	for {
		r := e.must(e.call("GET", "/contacts/?"+q.Encode(), nil, nil), 200)
		pages++
		meta := r.obj("meta")
		if meta["total"] != float64(250) || r.body["count"] != float64(250) {
			t.Fatalf("total %v count %v, want 250", meta["total"], r.body["count"])
		}
		for _, v := range r.list("contacts") {
			c := v.(map[string]any)
			key := c["dateAdded"].(string) + c["id"].(string)
			if key <= lastKey {
				t.Fatalf("order broken at %s", key)
			}
			lastKey = key
			if seen[c["id"].(string)] {
				t.Fatalf("contact %v twice", c["id"])
			}
			seen[c["id"].(string)] = true
		}
		next, _ := meta["nextPageUrl"].(string)
		if next == "" {
			if meta["startAfterId"] != nil || meta["nextPage"] != nil {
				t.Errorf("last page still names a cursor: %v", meta)
			}
			break
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		q = u.Query()
		if q.Get("startAfterId") != meta["startAfterId"] || q.Get("startAfter") != strconv.FormatFloat(meta["startAfter"].(float64), 'f', 0, 64) {
			t.Errorf("nextPageUrl %s disagrees with meta %v", next, meta)
		}
	}
	if len(seen) != 250 || pages != 3 {
		t.Errorf("read %d contacts in %d pages, want 250 in 3", len(seen), pages)
	}
}

func TestSearchIncremental(t *testing.T) {
	e := start(t, Options{Contacts: 300, Seed: 5, Rate: -1})
	loc := e.s.LocationID()
	since := "2024-01-01T00:00:00.000Z"
	sinceMs, _ := parseMillis(since)
	var want int
	e.s.mu.RLock()
	for _, c := range e.s.locs[loc].contacts {
		if c.updatedMs >= sinceMs {
			want++
		}
	}
	e.s.mu.RUnlock()
	req := map[string]any{"locationId": loc, "pageLimit": 40,
		"filters": []map[string]any{{"field": "dateUpdated", "operator": "gte", "value": since}},
		"sort":    []map[string]any{{"field": "dateUpdated", "direction": "asc"}}}
	export := func(req map[string]any) (ids []string, cursor []any) {
		for {
			r := e.must(e.call("POST", "/contacts/search", req, nil), 200)
			if r.str("traceId") == "" {
				t.Errorf("no traceId")
			}
			list := r.list("contacts")
			for _, v := range list {
				c := v.(map[string]any)
				ids = append(ids, c["id"].(string))
				cursor = c["searchAfter"].([]any)
			}
			if len(list) < 40 {
				return ids, cursor
			}
			req["searchAfter"] = cursor
		}
	}
	ids, cursor := export(req)
	if len(ids) != want || want == 0 {
		t.Fatalf("exported %d, want %d", len(ids), want)
	}
	// total is the whole query's, whatever the cursor.
	r := e.must(e.call("POST", "/contacts/search", req, nil), 200)
	if r.body["total"] != float64(want) {
		t.Errorf("total %v, want %d", r.body["total"], want)
	}
	// An update moves the contact past the cursor: the next incremental run
	// sees exactly it.
	e.must(e.call("PUT", "/contacts/"+ids[0], map[string]any{"city": "Boise"}, nil), 200)
	req["searchAfter"] = cursor
	again, _ := export(req)
	if !slices.Equal(again, []string{ids[0]}) {
		t.Errorf("incremental run read %v, want [%s]", again, ids[0])
	}
	// Page-based paging and a filter on another field.
	r = e.must(e.call("POST", "/contacts/search", map[string]any{"locationId": loc, "pageLimit": 5, "page": 2,
		"filters": []map[string]any{{"field": "email", "operator": "eq", "value": "nobody@nowhere.example"}}}, nil), 200)
	if r.body["total"] != float64(0) || len(r.list("contacts")) != 0 {
		t.Errorf("filter on email: %s", r.raw)
	}
}

func TestBusinessListing(t *testing.T) {
	e := start(t, Options{Rate: -1})
	loc := e.s.LocationID()
	var ids []string
	for i := range 7 {
		c := e.must(e.upsert(map[string]any{"email": fmt.Sprintf("b%d@example.com", i)}), 200).obj("contact")
		ids = append(ids, c["id"].(string))
	}
	biz := "63b7ec34ea409a9a8bd2a4ff"
	r := e.must(e.call("POST", "/contacts/bulk/business", map[string]any{"locationId": loc, "ids": append(ids[:5:5], "missing"), "businessId": biz}, nil), 200)
	if len(r.list("ids")) != 5 || r.body["success"] != true {
		t.Errorf("bulk business: %s", r.raw)
	}
	var got []string
	var lastKey string
	for skip := 0; ; skip += 2 {
		r := e.must(e.call("GET", fmt.Sprintf("/contacts/business/%s?locationId=%s&limit=2&skip=%d", biz, loc, skip), nil, nil), 200)
		if r.body["count"] != float64(5) {
			t.Errorf("count %v, want 5", r.body["count"])
		}
		for _, v := range r.list("contacts") {
			c := v.(map[string]any)
			got = append(got, c["id"].(string))
			if key := c["dateAdded"].(string) + c["id"].(string); key <= lastKey {
				t.Errorf("business listing out of order at %s", key)
			} else {
				lastKey = key
			}
		}
		if len(r.list("contacts")) < 2 {
			break
		}
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(ids[:5])); !slices.Equal(got, want) {
		t.Errorf("business listing %v, want %v", got, ids[:5])
	}
	e.must(e.call("POST", "/contacts/bulk/business", map[string]any{"locationId": loc, "ids": ids[:1], "businessId": nil}, nil), 200)
	r = e.must(e.call("GET", "/contacts/business/"+biz+"?locationId="+loc, nil, nil), 200)
	if r.body["count"] != float64(4) {
		t.Errorf("after removal count %v, want 4", r.body["count"])
	}
}

func TestTasksNotesAppointments(t *testing.T) {
	e := start(t, Options{Contacts: 60, Seed: 9, Rate: -1})
	id := e.must(e.upsert(map[string]any{"email": "related@example.com"}), 200).obj("contact")["id"].(string)
	base := "/contacts/" + id
	tk := e.must(e.call("POST", base+"/tasks", map[string]any{"title": "Call", "dueDate": "2025-03-01T10:00:00Z", "completed": false}, nil), 201).obj("task")
	tid := tk["id"].(string)
	if tk["dueDate"] != "2025-03-01T10:00:00.000Z" || tk["contactId"] != id {
		t.Errorf("task %v", tk)
	}
	e.must(e.call("PUT", base+"/tasks/"+tid, map[string]any{"title": "Call back"}, nil), 200)
	done := e.must(e.call("PUT", base+"/tasks/"+tid+"/completed", map[string]any{"completed": true}, nil), 200).obj("task")
	if done["completed"] != true || done["title"] != "Call back" {
		t.Errorf("completed task %v", done)
	}
	if got := e.must(e.call("GET", base+"/tasks/"+tid, nil, nil), 200).obj("task"); got["title"] != "Call back" {
		t.Errorf("get task %v", got)
	}
	if n := len(e.must(e.call("GET", base+"/tasks", nil, nil), 200).list("tasks")); n != 1 {
		t.Errorf("%d tasks, want 1", n)
	}
	if r := e.must(e.call("DELETE", base+"/tasks/"+tid, nil, nil), 200); r.body["succeded"] != true {
		t.Errorf("delete task %s", r.raw)
	}
	e.must(e.call("GET", base+"/tasks/"+tid, nil, nil), 400)

	nt := e.must(e.call("POST", base+"/notes", map[string]any{"body": "hello"}, nil), 201).obj("note")
	nid := nt["id"].(string)
	e.must(e.call("PUT", base+"/notes/"+nid, map[string]any{"body": "hello again"}, nil), 200)
	if got := e.must(e.call("GET", base+"/notes/"+nid, nil, nil), 200).obj("note"); got["body"] != "hello again" {
		t.Errorf("note %v", got)
	}
	e.must(e.call("DELETE", base+"/notes/"+nid, nil, nil), 200)
	if n := len(e.must(e.call("GET", base+"/notes", nil, nil), 200).list("notes")); n != 0 {
		t.Errorf("%d notes after delete", n)
	}
	// Seeded contacts have appointments, notes and tasks.
	var appts, notes, tasks int
	e.s.mu.RLock()
	for cid := range e.s.locs[e.s.LocationID()].contacts {
		appts += len(e.s.related.appointments[cid])
		notes += len(e.s.related.notes[cid])
		tasks += len(e.s.related.tasks[cid])
		if len(e.s.related.appointments[cid]) > 0 {
			ev := e.must(e.call("GET", "/contacts/"+cid+"/appointments", nil, nil), 200).list("events")
			if len(ev) == 0 || ev[0].(map[string]any)["contactId"] != cid {
				t.Errorf("appointments of %s: %v", cid, ev)
			}
		}
	}
	e.s.mu.RUnlock()
	if appts == 0 || notes == 0 || tasks == 0 {
		t.Errorf("seed gave %d appointments, %d notes, %d tasks", appts, notes, tasks)
	}
	// Deleting the contact takes its children.
	e.must(e.call("DELETE", base, nil, nil), 200)
	e.must(e.call("GET", base+"/notes", nil, nil), 400)
}

func TestRateLimit(t *testing.T) {
	e := start(t, Options{Rate: 3, Interval: time.Hour, Daily: 1000})
	path := "/contacts/?limit=1&locationId=" + e.s.LocationID()
	for i := range 3 {
		r := e.must(e.call("GET", path, nil, nil), 200)
		h := r.header
		if h.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) || h.Get("X-RateLimit-Max") != "3" ||
			h.Get("X-RateLimit-Interval-Milliseconds") != "3600000" || h.Get("X-RateLimit-Limit-Daily") != "1000" ||
			h.Get("X-RateLimit-Daily-Remaining") != strconv.Itoa(999-i) {
			t.Errorf("request %d headers %v", i, h)
		}
	}
	r := e.must(e.call("GET", path, nil, nil), 429)
	if r.header.Get("Retry-After") == "" || r.header.Get("X-RateLimit-Remaining") != "0" || r.header.Get("X-RateLimit-Daily-Remaining") == "0" {
		t.Errorf("burst 429 headers %v", r.header)
	}
	// Another location's token has its own quota.
	other, _ := e.s.IssueToken("OtherLocation0000001", nil, 0)
	e.must(e.call("GET", "/contacts/?locationId=OtherLocation0000001", nil, hdrs{"Authorization": "Bearer " + other}), 200)
	if got := e.s.Counts().RateLimited; got != 1 {
		t.Errorf("Counts().RateLimited = %d, want 1", got)
	}

	d := start(t, Options{Rate: 100, Daily: 2})
	path = "/contacts/?limit=1&locationId=" + d.s.LocationID()
	d.must(d.call("GET", path, nil, nil), 200)
	d.must(d.call("GET", path, nil, nil), 200)
	r = d.must(d.call("GET", path, nil, nil), 429)
	if r.header.Get("X-RateLimit-Daily-Remaining") != "0" || r.header.Get("X-RateLimit-Remaining") == "0" {
		t.Errorf("daily 429 not told apart by headers: %v", r.header)
	}
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 3600 {
		t.Errorf("daily Retry-After %d, want about a day", ra)
	}
	// X-RateLimit-Daily-Reset: milliseconds until the daily window rolls over.
	if ms, err := strconv.ParseInt(r.header.Get("X-RateLimit-Daily-Reset"), 10, 64); err != nil || ms < 3600_000 || ms > 24*3600_000 {
		t.Errorf("X-RateLimit-Daily-Reset %q, want the milliseconds to the window's end (about a day)", r.header.Get("X-RateLimit-Daily-Reset"))
	}
}

func TestLimiterWindows(t *testing.T) {
	l := newLimiter(2, 10*time.Second, 3, time.Minute)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at    time.Duration
		ok    bool
		daily bool
	}{
		{0, true, false}, {time.Second, true, false}, {2 * time.Second, false, false},
		{10 * time.Second, true, false}, {11 * time.Second, false, true}, {61 * time.Second, true, false},
	}
	for i, st := range steps {
		got := l.take("app", "k", t0.Add(st.at))
		if got.ok != st.ok || got.daily != st.daily {
			t.Errorf("step %d at %v: ok=%v daily=%v, want %v %v", i, st.at, got.ok, got.daily, st.ok, st.daily)
		}
	}
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    FaultSpec
		wantErr string
	}{
		{"", FaultSpec{}, ""},
		{"none", FaultSpec{}, ""},
		{"5xx=0.05,drop-before=0.02,drop-after=0.02,latency=20ms,seed=7",
			FaultSpec{Err5xx: 0.05, DropBefore: 0.02, DropAfter: 0.02, Latency: 20 * time.Millisecond, Seed: 7, seedPresent: true}, ""},
		{"422-after=10%,latency=5ms-50ms", FaultSpec{Fail422: 0.1, Latency: 5 * time.Millisecond, LatencyMax: 50 * time.Millisecond, Seed: 1}, ""},
		{"5xx=2", FaultSpec{}, "between 0 and 1"},
		{"5xx=0.6,drop-after=0.6", FaultSpec{}, "at most 1"},
		{"flaky=1", FaultSpec{}, "unknown key"},
		{"5xx", FaultSpec{}, "not key=value"},
		{"latency=fast", FaultSpec{}, "latency"},
		{"location=zz:5xx=1,location=aa:daily=spent,location=zz:daily=spent,location=mm:5xx=40%",
			FaultSpec{Seed: 1, Locations: []LocationFault{{ID: "aa", DailySpent: true}, {ID: "mm", Err5xx: 0.4}, {ID: "zz", Err5xx: 1, DailySpent: true}}}, ""},
		{"location=aa", FaultSpec{}, "ID:5xx=SHARE"},
		{"location=:5xx=1", FaultSpec{}, "ID:5xx=SHARE"},
		{"location=aa:5xx=1.5", FaultSpec{}, "between 0 and 1"},
		{"location=aa:daily=0", FaultSpec{}, "spent"},
		{"location=aa:drop=1", FaultSpec{}, "unknown location fault"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFaults(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if tc.want.Active() {
				again, err := ParseFaults(got.String())
				if err != nil || again.String() != got.String() {
					t.Errorf("String %q does not round-trip: %v", got.String(), err)
				}
			}
		})
	}
}

// outcomes sends n searches one at a time and records each one's fate.
func outcomes(e *env, n int) []string {
	var out []string
	for range n {
		// A write: 422-after leaves reads alone.
		r := e.upsert(map[string]any{"email": "replay@example.com"})
		if r.err != nil {
			out = append(out, "dropped")
		} else {
			out = append(out, strconv.Itoa(r.status))
		}
	}
	return out
}

func TestFaultsReplay(t *testing.T) {
	spec, err := ParseFaults("5xx=0.3,drop-before=0.2,422-after=0.1,seed=42")
	if err != nil {
		t.Fatal(err)
	}
	a := outcomes(start(t, Options{Faults: spec, Rate: -1}), 40)
	b := outcomes(start(t, Options{Faults: spec, Rate: -1}), 40)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different runs:\n%v\n%v", a, b)
	}
	kinds := map[string]bool{}
	for _, o := range a {
		kinds[o] = true
	}
	for _, k := range []string{"200", "dropped", "422"} {
		if !kinds[k] {
			t.Errorf("no %q in %v", k, a)
		}
	}
	if !kinds["500"] && !kinds["502"] && !kinds["503"] {
		t.Errorf("no 5xx in %v", a)
	}
	spec.Seed = 43
	if c := outcomes(start(t, Options{Faults: spec, Rate: -1}), 40); slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same faults")
	}
}

func TestFaultsAppliedAnyway(t *testing.T) {
	tests := []struct {
		spec    string
		dropped bool
		status  int
	}{
		{"drop-after=1", true, 0},
		{"422-after=1", false, 422},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			spec, err := ParseFaults(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			e := start(t, Options{Faults: spec})
			r := e.upsert(map[string]any{"email": "ghost@example.com"})
			if tc.dropped != (r.err != nil) || (!tc.dropped && r.status != tc.status) {
				t.Fatalf("answer %d err %v, want dropped=%v status %d", r.status, r.err, tc.dropped, tc.status)
			}
			e.s.mu.RLock()
			_, ok := e.s.locs[e.s.LocationID()].byEmail["ghost@example.com"]
			e.s.mu.RUnlock()
			if !ok {
				t.Errorf("the contact was not created, but the fault is meant to come after applying")
			}
			if e.s.Counts().FaultsTotal() != 1 {
				t.Errorf("faults counted %v", e.s.Counts().Faults)
			}
		})
	}
	spec, _ := ParseFaults("drop-before=1")
	e := start(t, Options{Faults: spec})
	if r := e.upsert(map[string]any{"email": "never@example.com"}); r.err == nil {
		t.Fatalf("drop-before answered %d", r.status)
	}
	e.s.mu.RLock()
	n := len(e.s.locs[e.s.LocationID()].contacts)
	e.s.mu.RUnlock()
	if n != 0 {
		t.Errorf("drop-before applied the request")
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	s1, err := New(Options{DataPath: path, Contacts: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	base, err := s1.Start()
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := s1.IssueToken("", nil, 0)
	e := &env{t: t, s: s1, base: base, token: tok, hc: start(t, Options{}).hc}
	c := e.must(e.upsert(map[string]any{"email": "keep@example.com", "tags": []string{"kept"}}), 200).obj("contact")
	id := c["id"].(string)
	e.must(e.call("POST", "/contacts/"+id+"/notes", map[string]any{"body": "remember me"}, nil), 201)
	e.must(e.call("POST", "/contacts/"+id+"/tasks", map[string]any{"title": "t", "dueDate": "2025-01-01T00:00:00Z", "completed": false}, nil), 201)
	var gone string
	for cid := range s1.locs[s1.LocationID()].contacts {
		if cid != id {
			gone = cid
			break
		}
	}
	e.must(e.call("DELETE", "/contacts/"+gone, nil, nil), 200)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := New(Options{DataPath: path, Contacts: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	base, err = s2.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	e.s, e.base = s2, base // the old token still works
	got := e.must(e.call("GET", "/contacts/"+id, nil, nil), 200).obj("contact")
	if got["email"] != "keep@example.com" || !slices.Equal(strs(got["tags"]), []string{"kept"}) || got["dateUpdated"] != c["dateUpdated"] {
		t.Errorf("after restart %v", got)
	}
	if n := len(e.must(e.call("GET", "/contacts/"+id+"/notes", nil, nil), 200).list("notes")); n != 1 {
		t.Errorf("%d notes after restart", n)
	}
	if n := len(e.must(e.call("GET", "/contacts/"+id+"/tasks", nil, nil), 200).list("tasks")); n != 1 {
		t.Errorf("%d tasks after restart", n)
	}
	e.must(e.call("GET", "/contacts/"+gone, nil, nil), 400)
	r := e.must(e.call("GET", "/contacts/?locationId="+s2.LocationID(), nil, nil), 200)
	if total := r.obj("meta")["total"]; total != float64(20) { // 20 seeded + 1 - 1, not seeded again
		t.Errorf("total after restart %v, want 20", total)
	}
	// A file that is not a sandbox's is refused.
	if _, err := New(Options{DataPath: filepath.Join(t.TempDir(), "x.db")}); err != nil {
		t.Fatalf("new file: %v", err)
	}
}

func TestSeedDeterminism(t *testing.T) {
	dump := func(seed int64) string {
		e := start(t, Options{Contacts: 150, Seed: seed, Rate: -1})
		var sb strings.Builder
		q := "/contacts/?limit=100&locationId=" + e.s.LocationID()
		for {
			r := e.must(e.call("GET", q, nil, nil), 200)
			b, _ := json.Marshal(r.body["contacts"])
			sb.Write(b)
			next, _ := r.obj("meta")["nextPageUrl"].(string)
			if next == "" {
				break
			}
			u, _ := url.Parse(next)
			q = "/contacts/?" + u.RawQuery
		}
		e.s.mu.RLock()
		for _, c := range e.s.locs[e.s.LocationID()].added.e {
			fmt.Fprint(&sb, len(e.s.related.tasks[c.id]), len(e.s.related.notes[c.id]), len(e.s.related.appointments[c.id]))
		}
		e.s.mu.RUnlock()
		return sb.String()
	}
	a, b, c := dump(7), dump(7), dump(8)
	if a != b {
		t.Errorf("seed 7 twice gave different data")
	}
	if a == c {
		t.Errorf("seeds 7 and 8 gave the same data")
	}
}

func TestOAuth(t *testing.T) {
	e := start(t, Options{})
	form := func(v url.Values) resp {
		return e.call("POST", "/oauth/token", v.Encode(), hdrs{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "", "Version": ""})
	}
	// Consent: a redirect straight back with a code.
	r := e.call("GET", "/oauth/chooselocation?"+url.Values{"response_type": {"code"}, "client_id": {DefaultClientID},
		"redirect_uri": {"http://127.0.0.1:9/callback"}, "scope": {"contacts.readonly contacts.write"}, "state": {"xyz"}}.Encode(), nil, hdrs{"Authorization": ""})
	if r.status != 302 {
		t.Fatalf("chooselocation %d %s", r.status, r.raw)
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	code := loc.Query().Get("code")
	if loc.Path != "/callback" || code == "" || loc.Query().Get("state") != "xyz" {
		t.Fatalf("redirect %s", loc)
	}
	creds := url.Values{"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, x := range creds {
			v[k] = x
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tok := e.must(form(with("grant_type", "authorization_code", "code", code, "user_type", "Location", "redirect_uri", "http://127.0.0.1:9/callback")), 200)
	for _, k := range []string{"access_token", "refresh_token", "scope", "userType", "locationId", "companyId", "userId"} {
		if tok.str(k) == "" {
			t.Errorf("token answer lacks %s: %s", k, tok.raw)
		}
	}
	if tok.str("token_type") != "Bearer" || tok.body["expires_in"] != float64(86399) || tok.str("scope") != "contacts.readonly contacts.write" {
		t.Errorf("token answer %s", tok.raw)
	}
	// The code is single-use.
	if r := form(with("grant_type", "authorization_code", "code", code)); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("code reuse: %d %s", r.status, r.raw)
	}
	// The access token works for its scopes.
	e.must(e.call("GET", "/contacts/?locationId="+e.s.LocationID(), nil, hdrs{"Authorization": "Bearer " + tok.str("access_token")}), 200)
	e.must(e.call("GET", "/locations/"+e.s.LocationID()+"/customFields", nil, hdrs{"Authorization": "Bearer " + tok.str("access_token")}), 403)
	// Refresh rotates: a new refresh token, the old one dead.
	ref := e.must(form(with("grant_type", "refresh_token", "refresh_token", tok.str("refresh_token"))), 200)
	if ref.str("refresh_token") == tok.str("refresh_token") || ref.str("access_token") == tok.str("access_token") {
		t.Errorf("refresh did not rotate: %s", ref.raw)
	}
	if r := form(with("grant_type", "refresh_token", "refresh_token", tok.str("refresh_token"))); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("old refresh token: %d %s", r.status, r.raw)
	}
	e.must(form(with("grant_type", "refresh_token", "refresh_token", ref.str("refresh_token"))), 200)
	// Bad client, missing fields.
	bad := with("grant_type", "refresh_token", "refresh_token", "x")
	bad.Set("client_secret", "wrong")
	if r := form(bad); r.status != 401 {
		t.Errorf("wrong secret: %d %s", r.status, r.raw)
	}
	if r := form(url.Values{"grant_type": {"refresh_token"}}); r.status != 422 || !slices.Contains(r.messages(), "client_id should not be empty") {
		t.Errorf("missing client: %d %s", r.status, r.raw)
	}
	// A Company token buys a Location token.
	r = e.call("GET", "/oauth/chooselocation?response_type=code&client_id="+DefaultClientID+"&redirect_uri=http://127.0.0.1:9/cb&scope=contacts.readonly+oauth.write", nil, hdrs{"Authorization": ""})
	loc, _ = url.Parse(r.header.Get("Location"))
	comp := e.must(form(with("grant_type", "authorization_code", "code", loc.Query().Get("code"), "user_type", "Company")), 200)
	if comp.str("userType") != "Company" || comp.str("locationId") != "" {
		t.Fatalf("company token %s", comp.raw)
	}
	lt := e.must(e.call("POST", "/oauth/locationToken", url.Values{"companyId": {comp.str("companyId")}, "locationId": {e.s.LocationID()}}.Encode(),
		hdrs{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer " + comp.str("access_token")}), 200)
	e.must(e.call("GET", "/contacts/?locationId="+e.s.LocationID(), nil, hdrs{"Authorization": "Bearer " + lt.str("access_token")}), 200)
	// A Company token cannot read contacts itself.
	e.must(e.call("GET", "/contacts/?locationId="+e.s.LocationID(), nil, hdrs{"Authorization": "Bearer " + comp.str("access_token")}), 403)
}

func TestCountsWrites(t *testing.T) {
	e := start(t, Options{Contacts: 10, Rate: -1})
	e.s.ResetCounts()
	loc := e.s.LocationID()
	e.must(e.call("GET", "/contacts/?locationId="+loc, nil, nil), 200)
	e.must(e.call("POST", "/contacts/search", map[string]any{"locationId": loc, "pageLimit": 5}, nil), 200)
	if c := e.s.Counts(); c.Writes != 0 || c.Total != 2 || c.ByMethod["POST"] != 1 || c.ByStatus[200] != 2 {
		t.Errorf("after reads: %+v", c)
	}
	e.must(e.upsert(map[string]any{"email": "w@example.com"}), 200)
	if c := e.s.Counts(); c.Writes != 1 || c.ByRoute["POST /contacts/upsert"] != 1 {
		t.Errorf("after a write: %+v", c)
	}
}
