package transform

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/expr-lang/expr/vm"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/record"
)

// Apply's rows are record.Rows: what the engine hands its sinks, so that
// nothing converts one into the other.

// RowError says why a row was rejected:
// `row 1284: phone "555-01": not a valid number for region US`.
type RowError struct {
	File   string
	Row    int64
	Column string // the source column (or the target, for a computed value); "" for the whole row
	Err    error
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// Reason is the error without the row number, for a rejects file that has
// its own _row column.
func (e *RowError) Reason() string { return e.Err.Error() }

// Reasons a row is rejected as a whole.
var (
	ErrEmptyRow = errors.New("empty row")
	ErrNoKey    = errors.New("no email or phone")
)

// problems joins a row's problems with "; " so a reason stays on one line.
type problems []error

func (p problems) Error() string {
	s := make([]string, len(p))
	for i, e := range p {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (p problems) Unwrap() []error { return p }

// state is what one Apply call reuses from row to row.
type state struct {
	m       *Mapping
	vm      vm.VM
	env     map[string]any
	col     map[string]string
	buf     []byte
	pairs   []kv
	sorted  []string // hash's sorted copy of a row's tags
	errs    problems
	errCol  string
	file    string
	rowNum  int64
	raw     []string
	missing []bool
	region  string         // the row's phone region (rowRegion)
	dropped []droppedField // invalid emails or phones left out (dropInvalid)
}

type kv struct{ k, v string }

// Apply maps every row of rec, in order. rec's first len(header) columns
// are the header's, in order; a last column named ErrorColumn, if there,
// marks rows the source could not read cleanly. Columns may be strings or
// typed (integers, floats, booleans, timestamps, dates, lists of strings).
func (m *Mapping) Apply(rec arrow.Record, file string, firstRow int64) []record.Row {
	n := int(rec.NumRows())
	rows := make([]record.Row, n)
	st := m.newState(file)
	ncol := len(m.header)
	readers := make([]colReader, ncol)
	var marker *array.String
	if int(rec.NumCols()) < ncol {
		for i := range rows {
			rows[i] = record.Row{File: file, Row: firstRow + int64(i)}
			rows[i].Err = &RowError{File: file, Row: rows[i].Row, Err: fmt.Errorf("record has %d columns, the header %d", rec.NumCols(), ncol)}
		}
		return rows
	}
	for i := 0; i < ncol; i++ {
		readers[i] = readerFor(rec.Column(i))
	}
	if int(rec.NumCols()) > ncol && rec.ColumnName(int(rec.NumCols())-1) == ErrorColumn {
		marker, _ = rec.Column(int(rec.NumCols()) - 1).(*array.String)
	}
	for i := 0; i < n; i++ {
		r := &rows[i]
		r.File, r.Row = file, firstRow+int64(i)
		r.Raw = st.readRaw(readers, i)
		mark := ""
		if marker != nil && marker.IsValid(i) {
			mark = marker.Value(i)
		}
		st.row(r, mark)
	}
	return rows
}

// readRaw copies row i's values out of arrow memory, in one allocation.
func (st *state) readRaw(readers []colReader, i int) []string {
	st.buf = st.buf[:0]
	ends := make([]int, len(readers))
	for c, rd := range readers {
		st.buf = rd(st.buf, i)
		ends[c] = len(st.buf)
	}
	all := string(st.buf)
	raw := make([]string, len(readers))
	start := 0
	for c, e := range ends {
		raw[c] = all[start:e]
		start = e
	}
	return raw
}

func (st *state) fail(column string, err error) {
	if len(st.errs) == 0 {
		st.errCol = column
	}
	st.errs = append(st.errs, err)
}

func (st *state) row(r *record.Row, mark string) {
	m := st.m
	st.raw, st.errs, st.errCol, st.rowNum = r.Raw, st.errs[:0], "", r.Row
	st.dropped = st.dropped[:0]
	reject := func(col string, err error) {
		r.Err = &RowError{File: r.File, Row: r.Row, Column: col, Err: err}
	}
	empty := true
	for _, v := range r.Raw {
		if strings.TrimSpace(v) != "" {
			empty = false
			break
		}
	}
	if empty {
		reject("", ErrEmptyRow)
		return
	}
	if mark != "" {
		reject("", errors.New(mark))
		return
	}
	for c, v := range r.Raw {
		if !utf8.ValidString(v) {
			reject(m.header[c], fmt.Errorf("column %q: not valid UTF-8 (save the file as UTF-8)", m.header[c]))
			return
		}
	}
	if st.col != nil {
		for _, c := range m.envCols {
			st.col[m.header[c]] = r.Raw[c]
		}
		st.env["row"] = r.Row
	}

	st.region = st.rowRegion()
	c := &r.Contact
	for _, f := range m.fields {
		v, ok := st.value(f.name, f.get)
		if !ok {
			continue
		}
		if err := setField(c, f.name, v); err != nil {
			st.fail(sourceName(f.get, f.name), fmt.Errorf("%s %q: %w", f.name, v, err))
		}
	}
	for _, f := range m.custom {
		v, ok := st.value(f.key, f.get)
		if !ok {
			continue
		}
		fv, err := customValue(f, v)
		if err != nil {
			st.fail(sourceName(f.get, f.key), fmt.Errorf("custom field %s: %w", f.fieldKey, err))
			continue
		}
		c.CustomFields = append(c.CustomFields, ghl.CustomFieldInput{ID: f.id, Key: f.fieldKey, FieldValue: fv})
	}
	st.keepDropped(r)
	if m.sourceKey.kind != kindNone {
		r.SourceKey, _ = st.value("source_key", m.sourceKey)
	}
	st.tags(r)
	st.notes(r)
	st.tasks(r)
	if len(st.errs) > 0 {
		reject(st.errCol, append(problems(nil), st.errs...))
		return
	}
	r.Key = st.key(r)
	if r.Key == "" {
		reject("", st.noKeyError())
		return
	}
	r.Hash = st.hash(r)
}

func sourceName(g getter, target string) string {
	if g.kind == kindColumn || g.kind == kindSplit {
		return g.column
	}
	return target
}

// raw is a getter's value before normalisation; ok is false when blank.
func (st *state) raw1(what string, g getter) (string, bool) {
	var v string
	switch g.kind {
	case kindColumn, kindSplit:
		if g.col >= 0 {
			v = st.raw[g.col]
		}
	case kindValue:
		v = g.text
	case kindExpr:
		out, err := st.vm.Run(g.prog, st.env)
		if err != nil {
			st.fail(what, fmt.Errorf("%s: expression failed: %v", what, err))
			return "", false
		}
		v = stringOf(out)
	}
	if strings.TrimSpace(v) == "" {
		if g.def == "" {
			return "", false
		}
		v = g.def
	}
	return v, true
}

// value is a getter's normalised value. A blank value is not set (ok
// false); a value the normaliser refuses is recorded as the row's problem.
func (st *state) value(what string, g getter) (string, bool) {
	v, ok := st.raw1(what, g)
	if !ok {
		return "", false
	}
	out, err := st.normalizeIn(g.normalize, v)
	if err != nil && st.dropInvalid(what, v, err) {
		return "", false
	}
	if err != nil {
		st.fail(sourceName(g, what), fmt.Errorf("%s %q: %w", what, strings.TrimSpace(v), err))
		return "", false
	}
	if strings.TrimSpace(out) == "" {
		return "", false
	}
	return out, true
}

func normalize(how, v string, s *Spec) (string, error) {
	switch how {
	case "none":
		return v, nil
	case "", "trim":
		return strings.TrimSpace(v), nil
	case "lower":
		return strings.ToLower(strings.TrimSpace(v)), nil
	case "upper":
		return strings.ToUpper(strings.TrimSpace(v)), nil
	case "name":
		return NormalizeName(v), nil
	case "email":
		return NormalizeEmail(v)
	case "phone":
		return NormalizePhone(v, s.phoneRegion)
	case "country":
		return NormalizeCountry(v), nil
	case "date", "day":
		t, err := ParseDateOrder(v, s.loc, s.dateOrder)
		if err != nil {
			return "", err
		}
		if how == "day" {
			return formatDay(t), nil
		}
		return formatTime(t), nil
	case "bool":
		b, err := parseBool(v)
		if err != nil {
			return "", err
		}
		return strconv.FormatBool(b), nil
	case "number":
		f, err := parseNumber(v)
		if err != nil {
			return "", err
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	return strings.TrimSpace(v), nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "t", "yes", "y", "1", "on":
		return true, nil
	case "false", "f", "no", "n", "0", "off":
		return false, nil
	}
	return false, errors.New("not true or false")
}

func parseNumber(v string) (float64, error) {
	s := strings.TrimSpace(v)
	s = strings.TrimLeft(s, "$€£")
	s = strings.ReplaceAll(s, ",", "")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	return f, nil
}

// setField sets one contact field from its (normalised) text: the time
// zone must be an IANA name and dnd a boolean; the others are text as is.
func setField(c *ghl.UpsertContactRequest, name, v string) error {
	switch name {
	case "timezone":
		if _, err := time.LoadLocation(v); err != nil {
			return errors.New("not an IANA time zone (e.g. America/New_York)")
		}
		c.Timezone = &v
		return nil
	case "dnd":
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		c.DND = &b
		return nil
	}
	field := textField(c, name)
	if field == nil {
		return fmt.Errorf("unknown field")
	}
	*field = &v
	return nil
}

// textField is where a text field of c lives; nil for a name that is not
// one.
func textField(c *ghl.UpsertContactRequest, name string) **string {
	switch name {
	case "firstName":
		return &c.FirstName
	case "lastName":
		return &c.LastName
	case "name":
		return &c.Name
	case "email":
		return &c.Email
	case "phone":
		return &c.Phone
	case "gender":
		return &c.Gender
	case "address1":
		return &c.Address1
	case "city":
		return &c.City
	case "state":
		return &c.State
	case "postalCode":
		return &c.PostalCode
	case "website":
		return &c.Website
	case "source":
		return &c.Source
	case "dateOfBirth":
		return &c.DateOfBirth
	case "country":
		return &c.Country
	case "companyName":
		return &c.CompanyName
	case "assignedTo":
		return &c.AssignedTo
	case "businessId":
		return &c.BusinessID
	}
	return nil
}

// customValue types a custom field's value by its dataType; the values of
// an option field (after its normalize: map) must be among its options.
func customValue(f compiledCustom, v string) (any, error) {
	switch strings.ToUpper(f.dataType) {
	case "NUMERICAL", "MONETORY", "MONETARY":
		n, err := parseNumber(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", v, err)
		}
		return n, nil
	case "MULTIPLE_OPTIONS", "CHECKBOX":
		sep := ","
		if strings.Contains(v, ";") {
			sep = ";"
		}
		var out []string
		for _, p := range splitList(v, sep) {
			o, err := f.option(p)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
		return out, nil
	case "SINGLE_OPTIONS", "RADIO":
		return f.option(v)
	}
	return f.remapped(v), nil
}

// remapped is v through the field's normalize: map (v itself when the map
// does not name it).
func (f compiledCustom) remapped(v string) string {
	if to, ok := f.remap[strings.ToLower(strings.TrimSpace(v))]; ok {
		return to
	}
	return v
}

// option is v (through normalize:) as one of the field's options, spelled
// as the field spells it; a value outside them is an error naming them. A
// field whose options are not known (none listed) takes any value.
func (f compiledCustom) option(v string) (string, error) {
	v = strings.TrimSpace(f.remapped(v))
	if len(f.options) == 0 {
		return v, nil
	}
	for _, o := range f.options {
		if strings.EqualFold(o, v) {
			return o, nil
		}
	}
	return "", fmt.Errorf("%q is not one of: %s (map it to one with normalize: {%q: \"<option>\"})", v, strings.Join(f.options, ", "), strings.ToLower(v))
}

// splitList splits on sep, trims, and drops blanks. A JSON array of
// strings (how list columns read as text) gives its elements.
func splitList(v, sep string) []string {
	if xs, ok := jsonList(v); ok {
		return xs
	}
	return trimAll(strings.Split(strings.TrimSpace(v), sep))
}

// jsonList reads a JSON array of strings, which is how a list column
// reads as text, into its trimmed, non-blank elements.
func jsonList(v string) ([]string, bool) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "[") || !strings.HasSuffix(v, "]") {
		return nil, false
	}
	var xs []string
	if json.Unmarshal([]byte(v), &xs) != nil {
		return nil, false
	}
	return trimAll(xs), true
}

func trimAll(xs []string) []string {
	out := xs[:0]
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (st *state) cond(what string, p *vm.Program) bool {
	if p == nil {
		return true
	}
	out, err := st.vm.Run(p, st.env)
	if err != nil {
		st.fail(what, fmt.Errorf("%s: condition failed: %v", what, err))
		return false
	}
	b, _ := out.(bool)
	return b
}

func (st *state) tags(r *record.Row) {
	for _, t := range st.m.tags {
		if !st.cond("tag", t.when) {
			continue
		}
		var got []string
		if t.get.kind == kindExpr {
			out, err := st.vm.Run(t.get.prog, st.env)
			if err != nil {
				st.fail("tag", fmt.Errorf("tag: expression failed: %v", err))
				continue
			}
			got = trimAll(append([]string(nil), stringsOf(out)...))
		} else {
			v, ok := st.raw1("tag", t.get)
			if !ok {
				continue
			}
			switch xs, isList := jsonList(v); {
			case t.get.kind == kindSplit:
				got = splitList(v, t.sep)
			case isList: // a Parquet list<string> column: a tag per element
				got = xs
			default:
				got = []string{strings.TrimSpace(v)}
			}
		}
		for _, g := range got {
			tag := t.prefix + g
			if !containsString(r.Tags, tag) {
				r.Tags = append(r.Tags, tag)
			}
		}
	}
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// notes adds the row's notes, each with its position in the notes: list
// (Row.Items: what identifies it with the contact's key), or the position
// to Row.Deletes when its deleted: holds.
func (st *state) notes(r *record.Row) {
	for i, n := range st.m.notes {
		if n.deletedIf != nil && st.cond("note deleted", n.deletedIf) {
			r.Deletes = append(r.Deletes, i)
			continue
		}
		if !st.cond("note", n.when) {
			continue
		}
		body, ok := st.raw1("note", n.body)
		if !ok {
			continue
		}
		note := ghl.NoteInput{Body: strings.TrimSpace(body)}
		if n.title.kind != kindNone {
			note.Title, _ = st.value("note title", n.title)
		}
		r.Notes = append(r.Notes, note)
		r.Items = append(r.Items, i)
	}
}

// tasks adds the row's tasks as notes adds its notes (deleted: to
// Row.TaskDeletes).
func (st *state) tasks(r *record.Row) {
	for i, t := range st.m.tasks {
		if t.deletedIf != nil && st.cond("task deleted", t.deletedIf) {
			r.TaskDeletes = append(r.TaskDeletes, i)
			continue
		}
		if !st.cond("task", t.when) {
			continue
		}
		title, ok := st.value("task title", t.title)
		if !ok {
			continue // no title, no task
		}
		what := fmt.Sprintf("task %q due", title)
		due, ok := st.raw1(what, t.due)
		if !ok {
			st.fail(what, fmt.Errorf("%s: no due date", what))
			continue
		}
		tm, err := ParseDateOrder(due, st.m.spec.loc, st.m.spec.dateOrder)
		if err != nil {
			st.fail(sourceName(t.due, what), fmt.Errorf("%s %q: %w", what, due, err))
			continue
		}
		task := ghl.TaskInput{Title: title, DueDate: tm.UTC().Format(time.RFC3339)}
		if t.hasBody {
			task.Body, _ = st.raw1("task body", t.body)
			task.Body = strings.TrimSpace(task.Body)
		}
		if t.hasCompletedBy {
			if v, ok := st.value("task completed", t.completedBy); ok {
				task.Completed = v == "true"
			}
		}
		r.Tasks = append(r.Tasks, task)
		r.Items = append(r.Items, i)
	}
}

func (st *state) key(r *record.Row) string {
	c := &r.Contact
	for _, k := range st.m.key {
		switch k.kind {
		case "email":
			if c.Email != nil {
				return "email:" + *c.Email
			}
		case "phone":
			if c.Phone != nil {
				return "phone:" + *c.Phone
			}
		case "source_key":
			if r.SourceKey != "" {
				return "key:" + r.SourceKey
			}
		case "column":
			if k.get.col >= 0 {
				if v := strings.TrimSpace(r.Raw[k.get.col]); v != "" {
					return "key:" + v
				}
			}
		}
	}
	return ""
}

func (st *state) noKeyError() error {
	var names []string
	for _, k := range st.m.key {
		switch k.kind {
		case "column":
			names = append(names, k.get.column)
		case "source_key":
			names = append(names, st.m.sourceKey.column)
		default:
			names = append(names, k.kind)
		}
	}
	if len(names) == 2 && names[0] == "email" && names[1] == "phone" {
		return ErrNoKey
	}
	if len(names) == 1 {
		return noKeyError("no " + names[0])
	}
	return noKeyError("no " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1])
}

// noKeyError is ErrNoKey worded for the mapping's own key list.
type noKeyError string

func (e noKeyError) Error() string        { return string(e) }
func (e noKeyError) Is(target error) bool { return target == ErrNoKey }

// hash is sha256 over a canonical text of what would be written: contact
// fields by name, custom fields by id, tags sorted, notes and tasks in
// order. Length-prefixed, so no value can imitate a separator.
func (st *state) hash(r *record.Row) string {
	b := st.buf[:0]
	c := &r.Contact
	pairs := st.pairs[:0]
	add := func(k string, p *string) {
		if p != nil {
			pairs = append(pairs, kv{k, *p})
		}
	}
	add("address1", c.Address1)
	add("assignedTo", c.AssignedTo)
	add("businessId", c.BusinessID)
	add("city", c.City)
	add("companyName", c.CompanyName)
	add("country", c.Country)
	add("dateOfBirth", c.DateOfBirth)
	if c.DND != nil {
		pairs = append(pairs, kv{"dnd", strconv.FormatBool(*c.DND)})
	}
	add("email", c.Email)
	add("firstName", c.FirstName)
	add("gender", c.Gender)
	add("lastName", c.LastName)
	add("name", c.Name)
	add("phone", c.Phone)
	add("postalCode", c.PostalCode)
	add("source", c.Source)
	add("state", c.State)
	add("timezone", c.Timezone)
	add("website", c.Website)
	for _, p := range pairs {
		b = appendHashed(b, p.k, p.v)
	}
	st.pairs = pairs
	b = hashCustomFields(b, c.CustomFields)
	// The tags sorted, in the state's own slice: the row's order is the
	// order they are sent in, and a copy per row was a tenth of the hash.
	tags := append(st.sorted[:0], r.Tags...)
	if !slices.IsSorted(tags) {
		slices.Sort(tags)
	}
	for _, t := range tags {
		b = appendHashed(b, "tag", t)
	}
	st.sorted = tags
	b = hashRelated(b, r)
	st.buf = b
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// appendHashed appends one length-prefixed key and value to the hashed
// text: `len(k):k len(v):v`.
func appendHashed(b []byte, k, v string) []byte {
	b = strconv.AppendInt(b, int64(len(k)), 10)
	b = append(b, ':')
	b = append(b, k...)
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, ':')
	return append(b, v...)
}

// hashCustomFields appends the custom fields by id, values as JSON.
func hashCustomFields(b []byte, fields []ghl.CustomFieldInput) []byte {
	if len(fields) == 0 {
		return b
	}
	cfs := slices.Clone(fields)
	sort.Slice(cfs, func(i, j int) bool { return cfs[i].ID < cfs[j].ID })
	for _, f := range cfs {
		v, _ := json.Marshal(f.FieldValue)
		b = appendHashed(b, "cf:"+f.ID, string(v))
	}
	return b
}

// hashRelated appends the row's notes and tasks in order, then the
// positions it deletes.
func hashRelated(b []byte, r *record.Row) []byte {
	for _, n := range r.Notes {
		b = appendHashed(b, "note", n.Title)
		b = appendHashed(b, "", n.Body)
	}
	for _, t := range r.Tasks {
		b = appendHashed(b, "task", t.Title)
		b = appendHashed(b, "", t.Body)
		b = appendHashed(b, "", t.DueDate)
		if t.Completed { // only when set: the hash of a row without stays as it was
			b = appendHashed(b, "completed", "true")
		}
	}
	for _, n := range r.Deletes {
		b = appendHashed(b, "deleted note", strconv.Itoa(n))
	}
	for _, n := range r.TaskDeletes {
		b = appendHashed(b, "deleted task", strconv.Itoa(n))
	}
	return b
}

// newState is the per-batch evaluation state of file's rows: with the
// expression environment when the mapping has expressions.
func (m *Mapping) newState(file string) *state {
	st := &state{m: m, file: file}
	if m.hasExpr {
		st.col = make(map[string]string, len(m.envCols))
		st.env = newEnv()
		st.env["col"] = st.col
		st.env["file"] = file
		for _, i := range m.envCols {
			st.col[m.header[i]] = ""
		}
	}
	return st
}
