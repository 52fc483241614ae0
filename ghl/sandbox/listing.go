package sandbox

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rlockCompacted takes the read lock with location id's indexes free of
// stale entries, so that positions count contacts. It returns nil (still
// holding the read lock) when the location has no data. The caller
// releases the read lock.
func (s *Server) rlockCompacted(id string) *location {
	for {
		s.mu.RLock()
		l := s.locs[id]
		if l == nil || !l.needsCompact() {
			return l
		}
		s.mu.RUnlock()
		s.mu.Lock()
		if l := s.locs[id]; l != nil {
			l.compact()
		}
		s.mu.Unlock()
	}
}

// queryNumber reads an optional numeric query parameter.
func queryNumber(v url.Values, name string) (float64, bool, string) {
	raw := v.Get(name)
	if raw == "" {
		return 0, false, ""
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, name + " must be a number conforming to the specified constraints"
	}
	return f, true, ""
}

// matchesQuery is the free-text "query" of the listings: a case-insensitive
// substring of the name, email, phone or company.
func matchesQuery(c *contact, q string) bool {
	if q == "" {
		return true
	}
	for _, f := range []string{c.Name, c.FirstName, c.LastName, c.Email, c.Phone, c.CompanyName} {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, q)
	return len(digits) >= 4 && strings.Contains(c.Phone, digits)
}

// listMeta is ContactsMetaSchema.
type listMeta struct {
	Total        int     `json:"total"`
	NextPageURL  *string `json:"nextPageUrl"`
	StartAfterID *string `json:"startAfterId"`
	StartAfter   *int64  `json:"startAfter"`
	CurrentPage  int     `json:"currentPage"`
	NextPage     *int    `json:"nextPage"`
	PrevPage     *int    `json:"prevPage"`
}

type listBody struct {
	Contacts []*contact `json:"contacts"`
	Count    int        `json:"count"`
	Meta     *listMeta  `json:"meta,omitempty"`
}

// hList is GET /contacts/: contacts by dateAdded, then id, ascending, paged
// by the cursor startAfter (dateAdded in ms) + startAfterId.
func (s *Server) hList(q *call) reply {
	v := q.r.URL.Query()
	locID := v.Get("locationId")
	if locID == "" {
		return rep422("locationId should not be empty", "locationId must be a string")
	}
	if rep := checkLocation(q.tok, locID); rep != nil {
		return *rep
	}
	lq, msgs := parseListQuery(v)
	if len(msgs) > 0 {
		return rep422(msgs...)
	}

	l := s.rlockCompacted(locID)
	defer s.mu.RUnlock()
	body := listBody{Contacts: []*contact{}, Meta: &listMeta{CurrentPage: 1}}
	if l == nil {
		return reply{status: http.StatusOK, body: body}
	}
	pos := lq.startPos(l)
	total, before := countMatches(l, lq.query, pos)
	var more bool
	body.Contacts, more = listPage(l, pos, lq.limit, lq.query)
	m := body.Meta
	m.Total = total
	body.Count = total
	m.CurrentPage = before/lq.limit + 1
	if before > 0 {
		pp := max(m.CurrentPage-1, 1)
		m.PrevPage = &pp
	}
	if more {
		last := body.Contacts[len(body.Contacts)-1]
		np := m.CurrentPage + 1
		m.NextPage = &np
		m.StartAfterID, m.StartAfter = &last.ID, &last.addedMs
		u := baseURL(q.r) + "/contacts/?" + lq.next(locID, last).Encode()
		m.NextPageURL = &u
	}
	return reply{status: http.StatusOK, body: body}
}

// listQuery is GET /contacts/'s query, checked.
type listQuery struct {
	limit      int
	startAfter float64 // dateAdded in ms, when hasAfter
	hasAfter   bool
	afterID    string // startAfterId
	query      string // lower-cased and trimmed
	rawQuery   string // as sent, for the next page's URL
}

func parseListQuery(v url.Values) (listQuery, []string) {
	var msgs []string
	limit, msg := queryLimit(v)
	if msg != "" {
		msgs = append(msgs, msg)
	}
	startAfter, hasAfter, msg := queryNumber(v, "startAfter")
	if _, ok := finiteMillis(startAfter); msg == "" && !ok {
		msg = "startAfter must be a number conforming to the specified constraints"
	}
	if msg != "" {
		msgs = append(msgs, msg)
	}
	return listQuery{limit: limit, startAfter: startAfter, hasAfter: hasAfter, afterID: v.Get("startAfterId"),
		query: strings.ToLower(strings.TrimSpace(v.Get("query"))), rawQuery: v.Get("query")}, msgs
}

// queryLimit reads the listings' optional limit: 20 unless given, at most
// MaxListLimit. A non-empty string is the 422 message.
func queryLimit(v url.Values) (int, string) {
	f, ok, msg := queryNumber(v, "limit")
	switch {
	case msg != "":
		return 20, msg
	case !ok:
		return 20, ""
	case f > MaxListLimit:
		return 20, fmt.Sprintf("limit must not be greater than %d", MaxListLimit)
	case f < 1:
		return 20, "limit must not be less than 1"
	}
	return int(f), ""
}

// startPos is the position in the dateAdded index after the cursor: after
// (startAfter, startAfterId), after all of startAfter's instant when only
// it is given, or after the contact startAfterId names (0 if unknown).
func (lq listQuery) startPos(l *location) int {
	switch {
	case lq.hasAfter && lq.afterID != "":
		return l.added.after(ientry{int64(lq.startAfter), lq.afterID})
	case lq.hasAfter:
		return l.added.after(ientry{int64(lq.startAfter), "\xff"})
	case lq.afterID != "":
		if c := l.contacts[lq.afterID]; c != nil {
			return l.added.after(ientry{c.addedMs, c.ID})
		}
	}
	return 0
}

// countMatches is how many contacts match query in all, and how many of
// them come before position pos.
func countMatches(l *location, query string, pos int) (total, before int) {
	if query == "" {
		return len(l.added.e), pos
	}
	for i, e := range l.added.e {
		if matchesQuery(l.contacts[e.id], query) {
			total++
			if i < pos {
				before++
			}
		}
	}
	return total, before
}

// listPage is up to limit contacts matching query from position pos on,
// and whether another follows.
func listPage(l *location, pos, limit int, query string) ([]*contact, bool) {
	page := []*contact{}
	for i := pos; i < len(l.added.e); i++ {
		c := l.contacts[l.added.e[i].id]
		if !matchesQuery(c, query) {
			continue
		}
		if len(page) == limit {
			return page, true
		}
		page = append(page, c)
	}
	return page, false
}

// next is the query of the page after last.
func (lq listQuery) next(locID string, last *contact) url.Values {
	nv := url.Values{}
	nv.Set("locationId", locID)
	nv.Set("startAfter", strconv.FormatInt(last.addedMs, 10))
	nv.Set("startAfterId", last.ID)
	nv.Set("limit", strconv.Itoa(lq.limit))
	if lq.query != "" {
		nv.Set("query", lq.rawQuery)
	}
	return nv
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// hBusiness is GET /contacts/business/{businessId}, paged by skip/limit in
// dateAdded order.
func (s *Server) hBusiness(q *call) reply {
	v := q.r.URL.Query()
	locID := v.Get("locationId")
	if locID == "" {
		return rep422("locationId should not be empty", "locationId must be a string")
	}
	if rep := checkLocation(q.tok, locID); rep != nil {
		return *rep
	}
	var msgs []string
	skip := 0
	limit, msg := queryLimit(v)
	if msg != "" {
		msgs = append(msgs, msg)
	}
	if f, ok, msg := queryNumber(v, "skip"); msg != "" {
		msgs = append(msgs, msg)
	} else if ok {
		if f < 0 {
			msgs = append(msgs, "skip must not be less than 0")
		} else {
			skip = int(min(f, 1<<53)) // beyond int64, int(f) is undefined (and was negative)
		}
	}
	if len(msgs) > 0 {
		return rep422(msgs...)
	}
	query := strings.ToLower(strings.TrimSpace(v.Get("query")))
	s.mu.RLock()
	var all []*contact
	if l := s.locs[locID]; l != nil {
		for id := range l.business[q.p[0]] {
			if c := l.contacts[id]; c != nil && matchesQuery(c, query) {
				all = append(all, c)
			}
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b *contact) int {
		return cmp.Or(cmp.Compare(a.addedMs, b.addedMs), strings.Compare(a.ID, b.ID))
	})
	body := listBody{Contacts: []*contact{}, Count: len(all)}
	if skip < len(all) {
		body.Contacts = all[skip:min(len(all), skip+limit)]
	}
	return reply{status: http.StatusOK, body: body}
}

// ---- search ----

// searchHit is a contact in a search answer, with its cursor.
type searchHit struct {
	contactView
	SearchAfter []any `json:"searchAfter"`
}

type searchBody struct {
	Contacts []searchHit `json:"contacts"`
	Total    int         `json:"total"`
	TraceID  string      `json:"traceId"`
}

// maxSearchWindow is how deep page-based search goes (page * pageLimit);
// deeper pages need searchAfter, as in Elasticsearch.
const maxSearchWindow = 10000

// sortKey is one contact's place in a search order.
type sortKey struct {
	ms  int64  // date sorts
	s   string // other sorts
	id  string
	str bool
}

func (a sortKey) cmp(b sortKey) int {
	if a.str {
		return cmp.Or(strings.Compare(a.s, b.s), strings.Compare(a.id, b.id))
	}
	return cmp.Or(cmp.Compare(a.ms, b.ms), strings.Compare(a.id, b.id))
}

func (k sortKey) cursor() []any {
	if k.str {
		return []any{k.s, k.id}
	}
	return []any{k.ms, k.id}
}

// hSearch is POST /contacts/search.
func (s *Server) hSearch(q *call) reply {
	fields, rep := readBody(q)
	if rep != nil {
		return *rep
	}
	if rep := s.validate("SearchBodyV2DTO", fields); rep != nil {
		return *rep
	}
	req, rep := decodeSearch(fields)
	if rep != nil {
		return *rep
	}
	if rep := checkLocation(q.tok, req.LocationID); rep != nil {
		return *rep
	}
	// The window is checked in float64 before anything becomes an int: a
	// page such as 2^63-1 would overflow page*pageLimit (or the int
	// conversion itself) and slip through as page 1.
	if len(req.SearchAfter) == 0 && max(1, req.Page)*req.PageLimit > maxSearchWindow {
		return rep422(fmt.Sprintf("page * pageLimit must not be greater than %d; use searchAfter to go deeper", maxSearchWindow))
	}
	sq, rep := compileSearch(req)
	if rep != nil {
		return *rep
	}
	return s.search(req.LocationID, sq)
}

// searchRequest is the body of POST /contacts/search as the sandbox reads
// it.
type searchRequest struct {
	LocationID  string            `json:"locationId"`
	PageLimit   float64           `json:"pageLimit"`
	Page        float64           `json:"page"`
	SearchAfter []json.RawMessage `json:"searchAfter"`
	Query       string            `json:"query"`
	Filters     []json.RawMessage `json:"filters"`
	Sort        []struct {
		Field     string `json:"field"`
		Direction string `json:"direction"`
	} `json:"sort"`
}

// decodeSearch reads a validated body and checks its paging.
func decodeSearch(fields map[string]json.RawMessage) (searchRequest, *reply) {
	var req searchRequest
	raw, _ := json.Marshal(fields)
	if err := json.Unmarshal(raw, &req); err != nil {
		return req, refuse422("body does not match the search schema: " + err.Error())
	}
	var msgs []string
	switch {
	case req.PageLimit > MaxSearchPageLimit:
		msgs = append(msgs, fmt.Sprintf("pageLimit must not be greater than %d", MaxSearchPageLimit))
	case req.PageLimit < 1:
		msgs = append(msgs, "pageLimit must not be less than 1")
	case req.PageLimit != math.Trunc(req.PageLimit):
		msgs = append(msgs, "pageLimit must be an integer number")
	}
	if _, ok := fields["page"]; ok && (req.Page < 1 || req.Page != math.Trunc(req.Page)) {
		msgs = append(msgs, "page must not be less than 1")
	}
	if len(msgs) > 0 {
		return req, refuse422(msgs...)
	}
	return req, nil
}

// refuse422 is rep422 for the steps that return a *reply.
func refuse422(msgs ...string) *reply {
	rep := rep422(msgs...)
	return &rep
}

// searchQuery is a search request compiled: what to keep, in which order,
// and from where.
type searchQuery struct {
	field     string // the sort field
	desc      bool
	keep      func(*contact) bool // the filters and the free-text query
	bounds    rangeBounds         // the filters' range on a date sort field
	countable bool                // the total follows from index positions
	after     *sortKey            // searchAfter's cursor, or nil
	skip      int                 // contacts before the page, without a cursor
	limit     int
}

// compileSearch checks the sort, compiles the filters and reads the
// cursor, in that order.
func compileSearch(req searchRequest) (searchQuery, *reply) {
	field, desc, rep := req.order()
	if rep != nil {
		return searchQuery{}, rep
	}
	pred, bounds, err := compileFilters(req.Filters, field)
	if err != nil {
		return searchQuery{}, refuse422(err.Error())
	}
	query := strings.ToLower(strings.TrimSpace(req.Query))
	sq := searchQuery{field: field, desc: desc, bounds: bounds, limit: int(req.PageLimit),
		keep:      func(c *contact) bool { return pred(c) && matchesQuery(c, query) },
		countable: bounds.only && query == "",
	}
	if len(req.SearchAfter) == 0 {
		// The page is clamped so that converting it is defined.
		page := int(min(max(1, req.Page), maxSearchWindow))
		sq.skip = (page - 1) * sq.limit
		return sq, nil
	}
	// With searchAfter the page is ignored (Elasticsearch's search_after
	// starts from the cursor).
	k, err := parseSearchAfter(req.SearchAfter, field)
	if err != nil {
		return searchQuery{}, refuse422(err.Error())
	}
	sq.after = &k
	return sq, nil
}

// order is the search's sort: one field (dateAdded unless given) and its
// direction.
func (req *searchRequest) order() (field string, desc bool, rep *reply) {
	if len(req.Sort) > 1 {
		return "", false, refuse422("sort supports one field")
	}
	if len(req.Sort) == 0 {
		return "dateAdded", false, nil
	}
	field = req.Sort[0].Field
	switch strings.ToLower(req.Sort[0].Direction) {
	case "", "asc":
	case "desc":
		desc = true
	default:
		return "", false, refuse422("sort.direction must be one of the following values: asc, desc")
	}
	if _, ok := sortFields[field]; !ok {
		return "", false, refuse422("sort.field " + field + " is not sortable; sortable fields: " + strings.Join(sortFieldNames(), ", "))
	}
	return field, desc, nil
}

// search runs sq on location locID: through the date index when the sort
// field has one, by a scan otherwise.
func (s *Server) search(locID string, sq searchQuery) reply {
	l := s.rlockCompacted(locID)
	defer s.mu.RUnlock()
	body := searchBody{Contacts: []searchHit{}, TraceID: traceID()}
	if l == nil {
		return reply{status: http.StatusOK, body: body}
	}
	if ix := l.indexFor(sq.field); ix != nil {
		s.searchIndexed(l, ix, sq.field, sq.desc, sq.bounds, sq.keep, sq.countable, sq.after, sq.skip, sq.limit, &body)
	} else {
		s.searchScan(l, sq.field, sq.desc, sq.keep, sq.after, sq.skip, sq.limit, &body)
	}
	return reply{status: http.StatusOK, body: body}
}

func (l *location) indexFor(field string) *index {
	switch field {
	case "dateAdded":
		return &l.added
	case "dateUpdated":
		return &l.updated
	}
	return nil
}

// searchIndexed walks a date index from the cursor. When the filters are
// only a range on the index's own field (countable), the total comes from
// positions; otherwise from a pass over the range.
func (s *Server) searchIndexed(l *location, ix *index, field string, desc bool, b rangeBounds, keep func(*contact) bool, countable bool, after *sortKey, skip, limit int, body *searchBody) {
	lo, hi := 0, len(ix.e)
	if b.hasLo {
		lo = ix.atOrAfter(b.lo)
	}
	if b.hasHi {
		hi = ix.atOrAfter(b.hi + 1)
	}
	if hi < lo {
		hi = lo
	}
	if countable {
		body.Total = hi - lo
	} else {
		for i := lo; i < hi; i++ {
			if keep(l.contacts[ix.e[i].id]) {
				body.Total++
			}
		}
	}
	key := func(c *contact) sortKey {
		if field == "dateUpdated" {
			return sortKey{ms: c.updatedMs, id: c.ID}
		}
		return sortKey{ms: c.addedMs, id: c.ID}
	}
	emit := func(c *contact) bool {
		if !keep(c) {
			return true
		}
		if skip > 0 {
			skip--
			return true
		}
		body.Contacts = append(body.Contacts, searchHit{c.view(), key(c).cursor()})
		return len(body.Contacts) < limit
	}
	if !desc {
		start := lo
		if after != nil {
			start = max(start, ix.after(ientry{after.ms, after.id}))
		}
		for i := start; i < hi; i++ {
			if !emit(l.contacts[ix.e[i].id]) {
				return
			}
		}
		return
	}
	end := hi
	if after != nil {
		// entries strictly before the cursor
		end = min(end, ix.after(ientry{after.ms, after.id}))
		if end > 0 && ix.e[end-1].ms == after.ms && ix.e[end-1].id == after.id {
			end--
		}
	}
	for i := end - 1; i >= lo; i-- {
		if !emit(l.contacts[ix.e[i].id]) {
			return
		}
	}
}

// searchScan sorts all matches by a field no index keeps.
func (s *Server) searchScan(l *location, field string, desc bool, keep func(*contact) bool, after *sortKey, skip, limit int, body *searchBody) {
	get := sortFields[field]
	type hit struct {
		c *contact
		k sortKey
	}
	var hits []hit
	for _, c := range l.contacts {
		if keep(c) {
			hits = append(hits, hit{c, sortKey{s: strings.ToLower(get(c)), id: c.ID, str: true}})
		}
	}
	body.Total = len(hits)
	slices.SortFunc(hits, func(a, b hit) int {
		if desc {
			return b.k.cmp(a.k)
		}
		return a.k.cmp(b.k)
	})
	i := 0
	if after != nil {
		i, _ = slices.BinarySearchFunc(hits, *after, func(h hit, k sortKey) int {
			if desc {
				return k.cmp(h.k)
			}
			return h.k.cmp(k)
		})
		if i < len(hits) && hits[i].k.cmp(*after) == 0 {
			i++
		}
	}
	i += skip
	for ; i < len(hits) && len(body.Contacts) < limit; i++ {
		body.Contacts = append(body.Contacts, searchHit{hits[i].c.view(), hits[i].k.cursor()})
	}
}

func parseSearchAfter(raw []json.RawMessage, field string) (sortKey, error) {
	bad := fmt.Errorf("searchAfter must be [sortValue, id] as the previous page's last contact gave it")
	if len(raw) != 2 {
		return sortKey{}, bad
	}
	var id string
	if json.Unmarshal(raw[1], &id) != nil {
		return sortKey{}, bad
	}
	if field == "dateAdded" || field == "dateUpdated" {
		ms, ok := parseInstant(raw[0])
		if !ok {
			return sortKey{}, bad
		}
		return sortKey{ms: ms, id: id}, nil
	}
	var sv string
	if json.Unmarshal(raw[0], &sv) != nil {
		return sortKey{}, bad
	}
	return sortKey{s: strings.ToLower(sv), id: id, str: true}, nil
}

// parseInstant reads epoch milliseconds (number or numeric string), an RFC
// 3339 instant or a date.
func parseInstant(raw json.RawMessage) (int64, bool) {
	switch jsonKind(raw) {
	case 'd':
		var f float64
		if json.Unmarshal(raw, &f) != nil {
			return 0, false
		}
		return finiteMillis(f)
	case 's':
		s, _ := str(raw)
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return finiteMillis(f)
		}
		if ms, ok := parseMillis(s); ok {
			return ms, true
		}
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// maxInstantMs bounds epoch milliseconds: ±8.64e15 is JavaScript's Date
// range (year ±275760), what the live API (Node) can represent at all.
const maxInstantMs = 8.64e15

// finiteMillis takes f as epoch ms when it is a number a date can have:
// "NaN" and "Infinity" parse as floats, and converting them (or anything
// beyond int64) to int64 is undefined, so they are refused, not wrapped
// into some cursor.
func finiteMillis(f float64) (int64, bool) {
	if math.IsNaN(f) || math.Abs(f) > maxInstantMs {
		return 0, false
	}
	return int64(f), true
}

// sortFields are the fields search can order by, beyond the two dates.
var sortFields = map[string]func(*contact) string{
	"dateAdded":   nil,
	"dateUpdated": nil,
	"firstName":   func(c *contact) string { return c.FirstName },
	"lastName":    func(c *contact) string { return c.LastName },
	"email":       func(c *contact) string { return c.Email },
	"companyName": func(c *contact) string { return c.CompanyName },
	"businessId":  func(c *contact) string { return c.BusinessID },
}

func sortFieldNames() []string {
	var out []string
	for k := range sortFields {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
