package transform

import (
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr/vm"
	"github.com/nyaruka/phonenumbers"

	"github.com/ghlbulk/ghlbulk/ghl"
)

// ErrorColumn is the last column of a CSV source's records, non-null when
// the row could not be read cleanly (see sources.ErrorColumn).
const ErrorColumn = "_error"

// getter is a compiled valueSpec.
type getter struct {
	kind      srcKind
	col       int // column index; -1 for an optional column the file lacks
	column    string
	text      string // constant
	prog      *vm.Program
	normalize string
	def       string
}

type compiledField struct {
	name string
	get  getter
}

type compiledCustom struct {
	key      string // as written in the mapping
	id       string
	fieldKey string
	dataType string
	options  []string
	remap    map[string]string // normalize: as a map
	get      getter
}

type compiledKey struct {
	kind string
	get  getter
}

type compiledTag struct {
	get    getter
	sep    string
	prefix string
	when   *vm.Program
}

type compiledNote struct {
	body, title getter
	when        *vm.Program
	deletedIf   *vm.Program // a contacts mapping's deleted:
}

type compiledTask struct {
	title, body, due getter
	hasBody          bool
	when             *vm.Program
	// A contacts mapping's completed: and deleted: (a tasks mapping's
	// are relTask's).
	completedBy    getter
	hasCompletedBy bool
	deletedIf      *vm.Program
}

// Mapping is a Spec compiled against one input's header and the location's
// custom fields. It is safe for concurrent use by several goroutines.
type Mapping struct {
	spec      *Spec
	header    []string
	fields    []compiledField
	custom    []compiledCustom
	key       []compiledKey
	sourceKey getter
	tags      []compiledTag
	notes     []compiledNote
	tasks     []compiledTask
	envCols   []int // columns expressions read (all when an expression indexes col dynamically)
	hasExpr   bool
	regionCol getter // defaults: phone_region_column
}

type compiler struct {
	spec    *Spec
	header  []string
	colIdx  map[string]int
	lints   []Lint
	used    map[int]bool
	allCols bool
	exprs   int
}

func (c *compiler) lintAt(line, col int, format string, args ...any) {
	c.lints = append(c.lints, Lint{File: c.spec.file, Line: line, Column: col, What: fmt.Sprintf(format, args...)})
}

func (c *compiler) needCol(name string) { c.used[c.colIdx[name]] = true }

func (c *compiler) getter(v valueSpec, norm string) getter {
	g := getter{kind: v.kind, col: -1, normalize: norm, def: v.def}
	if v.normalize != "" {
		g.normalize = v.normalize
	}
	switch v.kind {
	case kindColumn, kindSplit:
		g.column = v.text
		if i, ok := c.colIdx[v.text]; ok {
			g.col = i
		} else if !c.spec.optional[v.text] {
			c.lintAt(v.line, v.col, "unknown column %q%s", v.text, didYouMean(v.text, c.header, "not in the file's header; list it under optional_columns: if it may be missing"))
		}
	case kindValue:
		g.text = v.text
	case kindExpr:
		c.exprs++
		g.prog = c.compileExpr(v, "any")
	}
	return g
}

func (c *compiler) when(v valueSpec) *vm.Program {
	if !v.set() {
		return nil
	}
	c.exprs++
	return c.compileExpr(v, "bool")
}

// Compile checks the mapping against an input's header (every column it
// names must be there, or listed in optional_columns) and the location's
// custom field definitions, and compiles its expressions. Every problem is
// reported at once, as a *LintError with the mapping's line numbers.
func (s *Spec) Compile(header []string, fields []ghl.CustomField) (*Mapping, error) {
	c := &compiler{spec: s, header: header, colIdx: make(map[string]int, len(header)), used: map[int]bool{}}
	for i, h := range header {
		if _, dup := c.colIdx[h]; !dup {
			c.colIdx[h] = i
		}
	}
	m := &Mapping{spec: s, header: header}
	for _, f := range s.fields {
		m.fields = append(m.fields, compiledField{name: f.name, get: c.getter(f.v, defaultNormalizer(f.name))})
	}
	if s.sourceKey.set() {
		m.sourceKey = c.getter(s.sourceKey, "trim")
	}
	if s.regionColumn.set() {
		m.regionCol = c.getter(s.regionColumn, "country")
	}
	m.key = c.keys(s)
	m.custom = c.customFields(s.custom, fields)
	c.items(m, s)
	if err := c.finish(m, header); err != nil {
		return nil, err
	}
	return m, nil
}

// keys compiles the match key, linting an email or phone key part the
// mapping sets no field for, and a default key (email, phone) with
// neither.
func (c *compiler) keys(s *Spec) []compiledKey {
	var out []compiledKey
	for _, kp := range s.key {
		switch kp.kind {
		case "email", "phone":
			if kp.line > 0 && !s.hasField(kp.kind) {
				c.lintAt(kp.line, kp.col, "key %s: the mapping sets no %s field (map one under fields:, or drop it from key:)", kp.kind, kp.kind)
			}
			out = append(out, compiledKey{kind: kp.kind})
		case "source_key":
			out = append(out, compiledKey{kind: "source_key"})
		case "column":
			out = append(out, compiledKey{kind: "column", get: c.getter(valueSpec{kind: kindColumn, text: kp.column, line: kp.line, col: kp.col}, "trim")})
		}
	}
	if len(s.key) > 0 && s.key[0].line == 0 && !s.hasField("email") && !s.hasField("phone") {
		c.lintAt(1, 1, "no email or phone field, so no row could be matched (map email or phone under fields:, or name a key: column)")
	}
	return out
}

// customFields matches the mapping's custom_fields: to the location's
// definitions by fieldKey (with or without "contact."), linting an unknown
// one (naming the known ones) and one mapped twice.
func (c *compiler) customFields(specs []fieldSpec, defs []ghl.CustomField) []compiledCustom {
	byKey := map[string]ghl.CustomField{}
	var known []string
	for _, f := range defs {
		k := strings.TrimPrefix(f.FieldKey, "contact.")
		byKey[k] = f
		known = append(known, f.FieldKey)
	}
	sort.Strings(known)
	var out []compiledCustom
	seen := map[string]bool{}
	for _, f := range specs {
		k := strings.TrimPrefix(f.name, "contact.")
		def, ok := byKey[k]
		if !ok {
			hint := "the location has no custom fields"
			if len(known) > 0 {
				hint = "the location's custom fields are: " + strings.Join(known, ", ")
			}
			hint += "; or give it a type: and import with --create-fields"
			c.lintAt(f.line, f.col, "unknown custom field %q%s", f.name, didYouMean("contact."+k, known, hint))
			continue
		}
		if seen[k] {
			c.lintAt(f.line, f.col, "custom field %q mapped twice (keep one)", f.name)
			continue
		}
		seen[k] = true
		out = append(out, compiledCustom{
			key: f.name, id: def.ID, fieldKey: def.FieldKey, dataType: def.DataType, options: def.PicklistOptions,
			remap: f.v.remap, get: c.getter(f.v, customNormalizer(def.DataType)),
		})
	}
	return out
}

// items compiles the tags, notes and tasks a row may add.
func (c *compiler) items(m *Mapping, s *Spec) {
	for _, t := range s.tags {
		m.tags = append(m.tags, compiledTag{get: c.getter(t.v, "trim"), sep: t.sep, prefix: t.prefix, when: c.when(t.when)})
	}
	for _, n := range s.notes {
		cn := compiledNote{body: c.getter(n.body, "none"), when: c.when(n.when), deletedIf: c.when(n.deletedIf)}
		if n.title.set() {
			cn.title = c.getter(n.title, "trim")
		}
		m.notes = append(m.notes, cn)
	}
	for _, t := range s.tasks {
		m.tasks = append(m.tasks, c.task(t))
	}
}

// task compiles one task.
func (c *compiler) task(t taskSpec) compiledTask {
	ct := compiledTask{title: c.getter(t.title, "trim"), due: c.getter(t.due, "date"), when: c.when(t.when), hasBody: t.body.set()}
	if t.body.set() {
		ct.body = c.getter(t.body, "none")
	}
	if t.completedBy.set() {
		ct.completedBy, ct.hasCompletedBy = c.getter(t.completedBy, "bool"), true
	}
	ct.deletedIf = c.when(t.deletedIf)
	return ct
}

// finish reports the lints, if any, and otherwise gives m the columns its
// expressions read.
func (c *compiler) finish(m *Mapping, header []string) error {
	if len(c.lints) > 0 {
		e := &LintError{Lints: c.lints}
		e.sort()
		return e
	}
	m.hasExpr = c.exprs > 0
	if c.allCols {
		for i := range header {
			m.envCols = append(m.envCols, i)
		}
	} else {
		for i := range c.used {
			m.envCols = append(m.envCols, i)
		}
		sort.Ints(m.envCols)
	}
	return nil
}

func (s *Spec) hasField(name string) bool {
	for _, f := range s.fields {
		if f.name == name {
			return true
		}
	}
	return false
}

// NeedsCustomFields reports whether the mapping sets custom fields.
func (m *Mapping) NeedsCustomFields() bool { return len(m.custom) > 0 }

// Duplicates is the mapping's duplicates: setting (DuplicatesMerge when
// the file does not say).
func (m *Mapping) Duplicates() Duplicates { return m.spec.Duplicates() }

// Duplicates is the mapping's duplicates: setting (DuplicatesMerge when
// the file does not say).
func (s *Spec) Duplicates() Duplicates {
	if s.duplicates == "" {
		return DuplicatesMerge
	}
	return s.duplicates
}

// Header is the input header the mapping was compiled for.
func (m *Mapping) Header() []string { return m.header }

func defaultNormalizer(field string) string {
	switch field {
	case "email":
		return "email"
	case "phone":
		return "phone"
	case "firstName", "lastName", "name", "companyName":
		return "name"
	case "dateOfBirth":
		return "day"
	case "country":
		return "country"
	case "dnd":
		return "bool"
	}
	return "trim"
}

func customNormalizer(dataType string) string {
	switch strings.ToUpper(dataType) {
	case "DATE":
		return "day"
	case "NUMERICAL", "MONETORY", "MONETARY":
		return "number"
	case "PHONE":
		return "phone"
	case "EMAIL":
		return "email"
	}
	return "trim"
}

func validRegion(r string) bool { return phonenumbers.GetSupportedRegions()[r] }
