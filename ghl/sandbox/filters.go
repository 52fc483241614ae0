package sandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// pred is a compiled search filter.
type pred func(*contact) bool

// rangeBounds is what the top-level filters say about the sort field's
// range (inclusive ms), so that an indexed search starts at the right
// place. only is true when the filters are nothing but such ranges, so that
// the total can be counted from index positions.
type rangeBounds struct {
	hasLo, hasHi bool
	lo, hi       int64
	only         bool
}

type filterJSON struct {
	Field    string            `json:"field"`
	Operator string            `json:"operator"`
	Value    json.RawMessage   `json:"value"`
	Group    string            `json:"group"`
	Filters  []json.RawMessage `json:"filters"`
}

var stringGetters = map[string]func(*contact) string{
	"id":          func(c *contact) string { return c.ID },
	"firstName":   func(c *contact) string { return c.FirstName },
	"lastName":    func(c *contact) string { return c.LastName },
	"name":        func(c *contact) string { return c.Name },
	"contactName": func(c *contact) string { return c.Name },
	"email":       func(c *contact) string { return c.Email },
	"phone":       func(c *contact) string { return c.Phone },
	"companyName": func(c *contact) string { return c.CompanyName },
	"source":      func(c *contact) string { return c.Source },
	"type":        func(c *contact) string { return c.Type },
	"city":        func(c *contact) string { return c.City },
	"state":       func(c *contact) string { return c.State },
	"country":     func(c *contact) string { return c.Country },
	"postalCode":  func(c *contact) string { return c.PostalCode },
	"address":     func(c *contact) string { return c.Address1 },
	"address1":    func(c *contact) string { return c.Address1 },
	"website":     func(c *contact) string { return c.Website },
	"assignedTo":  func(c *contact) string { return c.AssignedTo },
	"businessId":  func(c *contact) string { return c.BusinessID },
	"timezone":    func(c *contact) string { return c.Timezone },
	"gender":      func(c *contact) string { return c.Gender },
}

var dateGetters = map[string]func(*contact) (int64, bool){
	"dateAdded":   func(c *contact) (int64, bool) { return c.addedMs, true },
	"dateUpdated": func(c *contact) (int64, bool) { return c.updatedMs, true },
	"dateOfBirth": func(c *contact) (int64, bool) {
		if c.DateOfBirth == "" {
			return 0, false
		}
		return parseMillis(c.DateOfBirth)
	},
}

// customValue is the text of a contact's custom field id ("" if unset).
func customValue(c *contact, id string) string {
	for _, v := range c.CustomFields {
		if v.ID == id {
			if s, ok := str(v.Value); ok {
				return s
			}
			return string(v.Value)
		}
	}
	return ""
}

func compileFilters(raw []json.RawMessage, sortField string) (pred, rangeBounds, error) {
	b := rangeBounds{only: true}
	var ps []pred
	for i, r := range raw {
		var f filterJSON
		if err := json.Unmarshal(r, &f); err != nil {
			return nil, b, fmt.Errorf("filters.%d must be {field, operator, value} or {group, filters}", i)
		}
		p, err := compileFilter(f, fmt.Sprintf("filters.%d", i))
		if err != nil {
			return nil, b, err
		}
		ps = append(ps, p)
		if f.Group == "" && f.Field == sortField && dateGetters[f.Field] != nil {
			if lo, hi, ok := boundsOf(f); ok {
				if lo != nil && (!b.hasLo || *lo > b.lo) {
					b.hasLo, b.lo = true, *lo
				}
				if hi != nil && (!b.hasHi || *hi < b.hi) {
					b.hasHi, b.hi = true, *hi
				}
				continue
			}
		}
		b.only = false
	}
	return and(ps), b, nil
}

func and(ps []pred) pred {
	if len(ps) == 0 {
		return func(*contact) bool { return true }
	}
	return func(c *contact) bool {
		for _, p := range ps {
			if !p(c) {
				return false
			}
		}
		return true
	}
}

// boundsOf is the inclusive range a date filter allows.
func boundsOf(f filterJSON) (lo, hi *int64, ok bool) {
	set := func(op string, raw json.RawMessage) bool {
		ms, good := parseInstant(raw)
		if !good {
			return false
		}
		switch op {
		case "gt":
			v := ms + 1
			lo = &v
		case "gte":
			lo = &ms
		case "lt":
			v := ms - 1
			hi = &v
		case "lte":
			hi = &ms
		case "eq":
			v := ms
			lo, hi = &v, &ms
		default:
			return false
		}
		return true
	}
	if f.Operator == "range" {
		var m map[string]json.RawMessage
		if json.Unmarshal(f.Value, &m) != nil || len(m) == 0 {
			return nil, nil, false
		}
		for op, v := range m {
			if !set(op, v) {
				return nil, nil, false
			}
		}
		return lo, hi, true
	}
	if !set(f.Operator, f.Value) {
		return nil, nil, false
	}
	return lo, hi, true
}

// compileFilter compiles one entry of "filters": a group of filters or a
// test of one field. at names it in error messages ("filters.0.filters.2").
func compileFilter(f filterJSON, at string) (pred, error) {
	if f.Group != "" || f.Filters != nil {
		return compileGroup(f, at)
	}
	return compileTest(f, at)
}

// compileGroup is {group, filters}: its filters joined by AND (the default)
// or OR. The filters are checked before the group's name, as the API does.
func compileGroup(f filterJSON, at string) (pred, error) {
	var ps []pred
	for i, r := range f.Filters {
		var sub filterJSON
		if err := json.Unmarshal(r, &sub); err != nil {
			return nil, fmt.Errorf("%s.filters.%d must be {field, operator, value} or {group, filters}", at, i)
		}
		p, err := compileFilter(sub, fmt.Sprintf("%s.filters.%d", at, i))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	switch strings.ToUpper(f.Group) {
	case "", "AND":
		return and(ps), nil
	case "OR":
		return or(ps), nil
	}
	return nil, fmt.Errorf("%s.group must be one of the following values: AND, OR", at)
}

func or(ps []pred) pred {
	return func(c *contact) bool {
		for _, p := range ps {
			if p(c) {
				return true
			}
		}
		return false
	}
}

func not(p pred) pred { return func(c *contact) bool { return !p(c) } }

// comparisons are the operators that compare a field with the filter's
// value; true marks the negated ones (not_eq, not_contains).
var comparisons = map[string]bool{
	"eq": false, "not_eq": true, "contains": false, "not_contains": true,
	"gt": false, "gte": false, "lt": false, "lte": false, "range": false,
}

// compileTest is {field, operator, value}. A negated operator compiles as
// its positive form, and the result is inverted.
func compileTest(f filterJSON, at string) (pred, error) {
	switch f.Operator {
	case "exists":
		return presence(f.Field, at)
	case "not_exists":
		has, err := presence(f.Field, at)
		if err != nil {
			return nil, err
		}
		return not(has), nil
	}
	neg, ok := comparisons[f.Operator]
	if !ok {
		return nil, fmt.Errorf("%s.operator must be one of the following values: eq, not_eq, contains, not_contains, exists, not_exists, range, gt, gte, lt, lte", at)
	}
	p, err := comparer(f.Field)(f, at)
	if err != nil {
		return nil, err
	}
	if neg {
		p = not(p)
	}
	return p, nil
}

// comparer is how a comparison on field compiles: dates, tags and dnd have
// their own rules; every other field is compared as text.
func comparer(field string) func(f filterJSON, at string) (pred, error) {
	switch {
	case dateGetters[field] != nil:
		return compareDate
	case field == "tags":
		return compareTags
	case field == "dnd":
		return compareDND
	}
	return compareString
}

// compareDate tests a date field against an instant or a range; not_eq
// yields the eq test (which compileTest inverts).
func compareDate(f filterJSON, at string) (pred, error) {
	get := dateGetters[f.Field]
	op := f.Operator
	if op == "contains" || op == "not_contains" {
		return nil, fmt.Errorf("%s: operator %s does not apply to the date %s", at, op, f.Field)
	}
	if op == "not_eq" {
		f.Operator = "eq"
	}
	lo, hi, ok := boundsOf(f)
	if !ok {
		return nil, fmt.Errorf("%s.value must be epoch milliseconds or an RFC 3339 instant (range: {gt, gte, lt, lte})", at)
	}
	return func(c *contact) bool {
		ms, ok := get(c)
		return ok && (lo == nil || ms >= *lo) && (hi == nil || ms <= *hi)
	}, nil
}

// compareTags is true when the contact has any of the value's tags.
func compareTags(f filterJSON, at string) (pred, error) {
	want, err := stringList(f.Value)
	if err != nil || len(want) == 0 {
		return nil, fmt.Errorf("%s.value must be a tag or a list of tags", at)
	}
	switch f.Operator {
	case "eq", "not_eq", "contains", "not_contains":
	default:
		return nil, fmt.Errorf("%s: operator %s does not apply to tags", at, f.Operator)
	}
	want = normTags(want)
	return func(c *contact) bool {
		for _, w := range want {
			if slices.Contains(c.Tags, w) {
				return true
			}
		}
		return false
	}, nil
}

func compareDND(f filterJSON, at string) (pred, error) {
	var want bool
	if json.Unmarshal(f.Value, &want) != nil || (f.Operator != "eq" && f.Operator != "not_eq") {
		return nil, fmt.Errorf("%s: dnd takes eq/not_eq with a boolean", at)
	}
	return func(c *contact) bool { return c.DND == want }, nil
}

// compareString tests a text field (or custom field) case-insensitively:
// eq against any of the value's strings, contains for any substring.
func compareString(f filterJSON, at string) (pred, error) {
	get, err := stringGetter(f.Field, at)
	if err != nil {
		return nil, err
	}
	want, err := stringList(f.Value)
	if err != nil || len(want) == 0 {
		return nil, fmt.Errorf("%s.value must be a string or a list of strings", at)
	}
	want = wantedText(f.Field, want)
	switch f.Operator {
	case "eq", "not_eq":
		return func(c *contact) bool { return slices.Contains(want, strings.ToLower(get(c))) }, nil
	case "contains", "not_contains":
		return func(c *contact) bool {
			v := strings.ToLower(get(c))
			for _, w := range want {
				if strings.Contains(v, w) {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, fmt.Errorf("%s: operator %s applies to dates only", at, f.Operator)
}

// wantedText lower-cases the values a text filter looks for (in place) and
// gives phone numbers in the E.164 form contacts store them in.
func wantedText(field string, want []string) []string {
	for i := range want {
		want[i] = strings.ToLower(want[i])
	}
	if field != "phone" {
		return want
	}
	for i := range want {
		if n, ok := normPhone(want[i], ""); ok && n != "" {
			want[i] = n
		}
	}
	return want
}

func stringGetter(field, at string) (func(*contact) string, error) {
	if g := stringGetters[field]; g != nil {
		return g, nil
	}
	for _, pre := range []string{"customFields.", "customField."} {
		if id, ok := strings.CutPrefix(field, pre); ok && id != "" {
			return func(c *contact) string { return customValue(c, id) }, nil
		}
	}
	return nil, fmt.Errorf("%s.field %q is not searchable", at, field)
}

func presence(field, at string) (pred, error) {
	switch {
	case field == "tags":
		return func(c *contact) bool { return len(c.Tags) > 0 }, nil
	case dateGetters[field] != nil:
		g := dateGetters[field]
		return func(c *contact) bool { _, ok := g(c); return ok }, nil
	}
	g, err := stringGetter(field, at)
	if err != nil {
		return nil, err
	}
	return func(c *contact) bool { return g(c) != "" }, nil
}

func stringList(raw json.RawMessage) ([]string, error) {
	switch jsonKind(raw) {
	case 's':
		s, _ := str(raw)
		return []string{s}, nil
	case 'a':
		var xs []string
		if err := json.Unmarshal(raw, &xs); err != nil {
			return nil, err
		}
		return xs, nil
	case 'd', 'b':
		return []string{string(raw)}, nil
	}
	return nil, fmt.Errorf("not a string")
}
