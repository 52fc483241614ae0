// Package transform turns source rows into HighLevel contacts, following a
// mapping file (YAML). LoadMapping reads and lints the file; Spec.Compile
// checks it against an input's header and the location's custom fields and
// compiles its expressions once; Mapping.Apply maps an arrow.Record to one
// Row per source row, each either a contact to write or a reject with its
// reason.
//
// A mapping file:
//
//	version: 1
//	key: [email, phone]              # match key: the first a row has (default)
//	duplicates: merge                # a row repeating an earlier row's key: merge (default) or report
//	source_key: "Record ID"          # the source system's id, kept in the ID map
//	defaults: { phone_region: US, timezone: America/New_York }
//	optional_columns: ["Message"]    # may be missing from a file: read as blank
//	fields:
//	  firstName: "First Name"        # a column (normalised as a name)
//	  email: { column: "Email" }     # normalised: trimmed, lower-cased, checked
//	  source: { value: "HubSpot import" }
//	  name: { expr: 'trim(col["First Name"] + " " + col["Last Name"])' }
//	  businessId: "Company ID"       # set after the upsert (POST /contacts/bulk/business)
//	custom_fields:
//	  lifecycle_stage: "Lifecycle Stage"   # fieldKey, with or without "contact."
//	  plan_tier:                     # option fields take only their options
//	    column: "Tier"
//	    normalize: { premium: Pro }  # a map: source value -> value written
//	    type: SINGLE_OPTIONS         # what import --create-fields creates it as
//	    options: [Free, Pro]
//	tags:
//	  - { split: "Tags", sep: ";" }
//	  - { value: imported }
//	  - { value: lead, when: 'col["Lifecycle Stage"] == "lead"' }
//	notes:
//	  - { column: "Notes", title: "Imported note" }
//	tasks:
//	  - title: Follow up
//	    due: 'add_days(col["Create Date"], 7)'
//	    when: 'lower(col["Notes"]) contains "follow up"'
//
// A blank value never sets a field, so an import never blanks what a
// contact already has.
//
// duplicates says what a row whose match key repeats an earlier row's of
// the same input is. merge (the default): it is written on top of the
// earlier row's contact, its non-blank values winning, so the file is one
// contact per key. report: it is a duplicate to be reported, not merged;
// `ghlbulk validate` lists it in its plan as a duplicate of the earlier row
// either way, saying which. (Import itself writes every row as it comes;
// the setting is for the tools that judge a file before it is imported.)
//
// Floor 2 (docs/design.md): imports ghl and record.
package transform

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ghlbulk/ghlbulk/ghl"
)

type srcKind int

const (
	kindNone srcKind = iota
	kindColumn
	kindValue
	kindExpr
	kindSplit // tags only: a column split into several tags
)

// valueSpec says where one value comes from.
type valueSpec struct {
	kind      srcKind
	text      string            // the column name, the constant or the expression
	normalize string            // "" means the target's default
	remap     map[string]string // normalize: as a map: source value (lower-cased) -> value written
	def       string            // used when the value is blank
	line, col int
}

func (v valueSpec) set() bool { return v.kind != kindNone }

type fieldSpec struct {
	name      string
	v         valueSpec
	create    createSpec // custom fields: how --create-fields makes it when the location lacks it
	line, col int
}

// createSpec is a custom field's type: (and options:, name:), what
// --create-fields creates it as when the location lacks it.
type createSpec struct {
	typ     string   // a HighLevel dataType ("" when not given)
	options []string // for the option types
	name    string   // the display name ("" : from the key)
	line    int
	col     int
}

type keyPart struct {
	kind      string // email, phone, source_key or column
	column    string
	line, col int
}

type tagSpec struct {
	v         valueSpec
	sep       string
	prefix    string
	when      valueSpec
	line, col int
}

type noteSpec struct {
	body, title, when valueSpec
	deletedIf         valueSpec // a contacts mapping's deleted: (a notes mapping's is relNoteSpec.deleted)
	bareTitle         bool      // title given as a bare scalar: a constant (notes files lint it)
	line, col         int
}

type taskSpec struct {
	title, body, due, when valueSpec
	// completedBy and deletedIf are a contacts mapping's completed: and
	// deleted: (a tasks mapping's are relTaskSpec's).
	completedBy, deletedIf valueSpec
	line, col              int
}

// Spec is a mapping file, read and linted but not yet checked against an
// input's header.
type Spec struct {
	file        string
	key         []keyPart
	duplicates  Duplicates
	sourceKey   valueSpec
	phoneRegion string
	loc         *time.Location
	dateOrder   DateOrder // defaults: date_order: how numeric dates are read
	// regionColumn (defaults: phone_region_column) is the column whose
	// country sets a row's phone region; phoneRegion when blank or unknown.
	regionColumn valueSpec
	// invalidPhone (defaults: invalid_phone) is what a row with an invalid
	// phone becomes: "drop" (kept without the phone when it has a valid
	// email, and the reverse) or "reject" (the whole row, as before).
	invalidPhone string
	optional     map[string]bool
	fields       []fieldSpec
	custom       []fieldSpec
	tags         []tagSpec
	notes        []noteSpec
	tasks        []taskSpec
}

// contactFields are the UpsertContactDto fields a mapping may set.
var contactFields = []string{
	"firstName", "lastName", "name", "email", "phone", "gender", "address1", "city", "state",
	"postalCode", "website", "timezone", "dnd", "source", "dateOfBirth", "country", "companyName", "assignedTo",
	"businessId", // not an upsert field: attached with POST /contacts/bulk/business after the upsert
}

// FieldTypes are the custom field dataTypes --create-fields can create
// (CreateCustomFieldsDTO's; files can't be imported, so no FILE_UPLOAD).
var FieldTypes = []string{"TEXT", "LARGE_TEXT", "NUMERICAL", "PHONE", "MONETORY", "CHECKBOX", "SINGLE_OPTIONS",
	"MULTIPLE_OPTIONS", "DATE", "TEXTBOX_LIST", "RADIO", "EMAIL"}

// optionTypes are the dataTypes whose values must be one of the field's
// options.
var optionTypes = []string{"CHECKBOX", "SINGLE_OPTIONS", "MULTIPLE_OPTIONS", "RADIO"}

// refusedFields explain why a field can't be mapped.
var refusedFields = map[string]string{
	"createNewIfDuplicateAllowed": "never mapped: import matches existing contacts by the location's duplicate rule so that a re-run updates rather than duplicates",
	"additionalEmails":            "not supported: an upsert replaces a contact's additional emails wholesale, losing what is there; map one address to email",
	"tags":                        "tags go in the top-level tags: list (they are added, never replaced)",
	"customFields":                "custom fields go in the top-level custom_fields: section, by their key",
	"locationId":                  "the location comes from --location or GHL_LOCATION_ID, not the mapping",
	"dndSettings":                 "not supported: per-channel DND can't be imported; map dnd (true/false) instead",
}

var normalizers = []string{"none", "trim", "lower", "upper", "name", "email", "phone", "date", "day", "country"}

var topKeys = []string{"version", "key", "duplicates", "source_key", "defaults", "optional_columns", "fields", "custom_fields", "tags", "notes", "tasks"}

type parser struct {
	file  string
	lints []Lint
}

func (p *parser) lint(n *yaml.Node, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	p.lints = append(p.lints, Lint{File: p.file, Line: line, Column: col, What: fmt.Sprintf(format, args...)})
}

// LoadMapping reads a mapping file. Every problem it finds is reported at
// once, as a *LintError.
func LoadMapping(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	return ParseMapping(path, data)
}

// ParseMapping is LoadMapping on bytes already read; name is used in
// messages.
func ParseMapping(name string, data []byte) (*Spec, error) {
	root, err := decodeMapping(name, data, "a mapping file is a YAML mapping with version: 1 and fields:")
	if err != nil {
		return nil, err
	}
	p := &parser{file: name}
	s := newSpec(name)
	s.duplicates = DuplicatesMerge
	p.eachKey(root, topKeys, func(k, v *yaml.Node) { p.contactsTopKey(k, v, s) })
	p.lintVersion(root)
	p.lintContactsMissing(root, s)
	if err := p.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeMapping reads a mapping file's YAML and returns its top-level
// mapping node; a file that is not YAML, or not a mapping (notMapping says
// what it should be), is a *LintError. Both parsers start here.
func decodeMapping(name string, data []byte, notMapping string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, &LintError{Lints: []Lint{{File: name, Line: 1, Column: 1, What: strings.Join(te.Errors, "; ")}}}
		}
		line := 1
		fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &line)
		return nil, &LintError{Lints: []Lint{{File: name, Line: line, Column: 1, What: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &LintError{Lints: []Lint{{File: name, Line: doc.Line, Column: doc.Column, What: notMapping}}}
	}
	return doc.Content[0], nil
}

// newSpec is a Spec with the defaults every mapping starts from.
func newSpec(name string) *Spec {
	return &Spec{file: name, phoneRegion: "US", loc: time.UTC, optional: map[string]bool{}, invalidPhone: "drop"}
}

// sharedTopKey reads the top-level keys both kinds of mapping have
// (version, source_key, defaults, optional_columns) into s, and reports
// whether k was one of them. sourceKeyFix ends the lint of a source_key
// that is not a column.
func (p *parser) sharedTopKey(k, v *yaml.Node, s *Spec, sourceKeyFix string) bool {
	switch k.Value {
	case "version":
		if v.Value != "1" {
			p.lint(v, "version %q: must be 1", v.Value)
		}
	case "source_key":
		s.sourceKey = p.value(v, kindColumn, false)
		if s.sourceKey.kind != kindColumn && s.sourceKey.set() {
			p.lint(v, "source_key: must name a column%s", sourceKeyFix)
		}
	case "defaults":
		p.defaults(v, s)
	case "optional_columns":
		for _, c := range p.strings(v) {
			s.optional[c] = true
		}
	default:
		return false
	}
	return true
}

// contactsTopKey reads one top-level key of a contacts mapping into s.
func (p *parser) contactsTopKey(k, v *yaml.Node, s *Spec) {
	if p.sharedTopKey(k, v, s, "") {
		return
	}
	switch k.Value {
	case "key":
		s.key = p.keyParts(v)
	case "duplicates":
		s.duplicates = p.duplicates(v)
	case "fields":
		s.fields = p.fieldSpecs(v, false)
	case "custom_fields":
		s.custom = p.fieldSpecs(v, true)
	case "tags":
		s.tags = p.tagSpecs(v)
	case "notes":
		s.notes = p.noteSpecs(v)
	case "tasks":
		s.tasks = p.taskSpecs(v)
	}
}

// lintVersion asks for the version: every mapping starts with.
func (p *parser) lintVersion(root *yaml.Node) {
	if !hasKey(root, "version") {
		p.lint(root, "no version (add version: 1 at the top)")
	}
}

// lintContactsMissing lints what a contacts mapping lacks (fields, the
// source_key its key uses) and fills in the default key.
func (p *parser) lintContactsMissing(root *yaml.Node, s *Spec) {
	if len(s.fields) == 0 && len(s.custom) == 0 {
		p.lint(root, "no fields: nothing would be imported (add fields: with at least email or phone)")
	}
	if len(s.key) == 0 {
		s.key = []keyPart{{kind: "email"}, {kind: "phone"}}
	}
	for _, kp := range s.key {
		if kp.kind == "source_key" && !s.sourceKey.set() {
			p.lint(&yaml.Node{Line: kp.line, Column: kp.col}, "key: source_key is used but no source_key: column is named (add source_key: \"<column>\")")
		}
	}
}

// err is every lint found, in file order, as one *LintError; nil when the
// file is clean.
func (p *parser) err() error {
	if len(p.lints) == 0 {
		return nil
	}
	e := &LintError{Lints: p.lints}
	e.sort()
	return e
}

// hasKey reports whether mapping node n has key k.
func hasKey(n *yaml.Node, k string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return true
		}
	}
	return false
}

// eachKey walks a mapping node, reporting unknown and repeated keys.
func (p *parser) eachKey(n *yaml.Node, allowed []string, fn func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.lint(n, "expected a mapping of %s", quoteList(allowed))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if allowed != nil && !contains(allowed, k.Value) {
			p.lint(k, "unknown key %q%s", k.Value, didYouMean(k.Value, allowed, "allowed: "+quoteList(allowed)))
			continue
		}
		if seen[k.Value] {
			p.lint(k, "%q given twice (keep one)", k.Value)
			continue
		}
		seen[k.Value] = true
		fn(k, v)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func (p *parser) strings(n *yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				p.lint(c, "expected a column name")
				continue
			}
			out = append(out, c.Value)
		}
		return out
	}
	p.lint(n, "expected a column name or a list of them")
	return nil
}

func (p *parser) keyParts(n *yaml.Node) []keyPart {
	var items []*yaml.Node
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	} else {
		items = []*yaml.Node{n}
	}
	var out []keyPart
	for _, it := range items {
		switch {
		case it.Kind == yaml.ScalarNode && (it.Value == "email" || it.Value == "phone" || it.Value == "source_key"):
			out = append(out, keyPart{kind: it.Value, line: it.Line, col: it.Column})
		case it.Kind == yaml.MappingNode:
			p.eachKey(it, []string{"column"}, func(k, v *yaml.Node) {
				out = append(out, keyPart{kind: "column", column: v.Value, line: v.Line, col: v.Column})
			})
		default:
			p.lint(it, "key %q: must be email, phone, source_key or {column: \"<name>\"}", it.Value)
		}
	}
	return out
}

// Duplicates is the mapping's duplicates: setting, what a row whose match
// key repeats an earlier row's of the input is.
type Duplicates string

// The duplicates: values.
const (
	// DuplicatesMerge: the row is merged into the earlier one (written on
	// top of its contact). The default.
	DuplicatesMerge Duplicates = "merge"
	// DuplicatesReport: the row is reported as a duplicate, not merged.
	DuplicatesReport Duplicates = "report"
)

var duplicatesValues = []string{string(DuplicatesMerge), string(DuplicatesReport)}

func (p *parser) duplicates(n *yaml.Node) Duplicates {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.lint(n, "duplicates: must be merge or report (merge, the default, writes a repeated key on top of the earlier row; report lists it)")
		return DuplicatesMerge
	}
	v := strings.ToLower(strings.TrimSpace(n.Value))
	if !contains(duplicatesValues, v) {
		p.lint(n, "duplicates %q: must be merge or report%s", n.Value, didYouMean(v, duplicatesValues, "merge, the default, writes a repeated key on top of the earlier row; report lists it"))
		return DuplicatesMerge
	}
	return Duplicates(v)
}

// value reads where a value comes from. A scalar means the scalar kind
// (a column for fields, a constant for titles, an expression for when and
// due); a mapping names one of column, value or expr, with normalize and
// default.
func (p *parser) value(n *yaml.Node, scalar srcKind, allowNormalize bool) valueSpec {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			p.lint(n, "no value (give a column name or {column|value|expr: ...})")
			return valueSpec{}
		}
		return valueSpec{kind: scalar, text: n.Value, line: n.Line, col: n.Column}
	}
	allowed := []string{"column", "value", "expr", "default"}
	if allowNormalize {
		allowed = append(allowed, "normalize")
	}
	var v valueSpec
	sources := 0
	p.eachKey(n, allowed, func(k, val *yaml.Node) {
		if k.Value == "normalize" && val.Kind == yaml.MappingNode {
			v.remap = p.remap(val)
			return
		}
		if val.Kind != yaml.ScalarNode {
			p.lint(val, "%s: expected text", k.Value)
			return
		}
		switch k.Value {
		case "column", "value", "expr":
			sources++
			v.kind = map[string]srcKind{"column": kindColumn, "value": kindValue, "expr": kindExpr}[k.Value]
			v.text, v.line, v.col = val.Value, val.Line, val.Column
		case "normalize":
			if !contains(normalizers, val.Value) {
				p.lint(val, "unknown normalizer %q%s", val.Value, didYouMean(val.Value, normalizers, "allowed: "+quoteList(normalizers)))
			}
			v.normalize = val.Value
		case "default":
			v.def = val.Value
		}
	})
	if n.Kind == yaml.MappingNode && sources != 1 {
		p.lint(n, "give exactly one of column, value or expr")
		return valueSpec{}
	}
	if v.kind == kindColumn && strings.TrimSpace(v.text) == "" {
		p.lint(n, "blank column name")
	}
	return v
}

// remap reads normalize: given as a map, source value -> value to write
// (matched ignoring case and surrounding blanks).
func (p *parser) remap(n *yaml.Node) map[string]string {
	out := map[string]string{}
	p.eachKey(n, nil, func(k, v *yaml.Node) {
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			p.lint(v, "normalize: %q: expected the value to write instead", k.Value)
			return
		}
		out[strings.ToLower(strings.TrimSpace(k.Value))] = v.Value
	})
	return out
}

// customCreate takes a custom field's type:, options: and name: out of its
// mapping node (the rest is read as a value), linting an unknown type.
func (p *parser) customCreate(v *yaml.Node) (createSpec, *yaml.Node) {
	var cs createSpec
	if v.Kind != yaml.MappingNode {
		return cs, v
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Line: v.Line, Column: v.Column}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		switch k.Value {
		case "type":
			cs.typ, cs.line, cs.col = strings.ToUpper(strings.TrimSpace(val.Value)), val.Line, val.Column
			if !contains(FieldTypes, cs.typ) {
				p.lint(val, "type %q: not a custom field type%s", val.Value, didYouMean(cs.typ, FieldTypes, "types: "+strings.Join(FieldTypes, ", ")))
			}
		case "options":
			cs.options = p.strings(val)
		case "name":
			cs.name = strings.TrimSpace(val.Value)
		default:
			rest.Content = append(rest.Content, k, val)
		}
	}
	if len(cs.options) > 0 && !contains(optionTypes, cs.typ) {
		p.lint(v, "options: only go with type: %s", strings.Join(optionTypes, ", "))
	}
	return cs, rest
}

func (p *parser) fieldSpecs(n *yaml.Node, custom bool) []fieldSpec {
	var out []fieldSpec
	p.eachKey(n, nil, func(k, v *yaml.Node) {
		var cs createSpec
		if custom {
			cs, v = p.customCreate(v)
		}
		if !custom {
			if why, ok := refusedFields[k.Value]; ok {
				p.lint(k, "field %q: %s", k.Value, why)
				return
			}
			if !contains(contactFields, k.Value) {
				p.lint(k, "unknown contact field %q%s", k.Value, didYouMean(k.Value, contactFields, "fields are: "+strings.Join(contactFields, ", ")+"; custom fields go under custom_fields:"))
				return
			}
		}
		vs := p.value(v, kindColumn, true)
		if vs.remap != nil && !custom {
			p.lint(v, "field %q: normalize: as a map goes with custom_fields: (here, name a normalizer: %s)", k.Value, strings.Join(normalizers, ", "))
		}
		if vs.set() {
			out = append(out, fieldSpec{name: k.Value, v: vs, create: cs, line: k.Line, col: k.Column})
		}
	})
	return out
}

func (p *parser) seq(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.lint(n, "%s: expected a list (each item starting with \"- \")", what)
		return nil
	}
	return n.Content
}

func (p *parser) tagSpecs(n *yaml.Node) []tagSpec {
	var out []tagSpec
	for _, it := range p.seq(n, "tags") {
		t := tagSpec{line: it.Line, col: it.Column}
		if it.Kind == yaml.ScalarNode {
			t.v = valueSpec{kind: kindValue, text: it.Value, line: it.Line, col: it.Column}
			out = append(out, t)
			continue
		}
		sources := 0
		p.eachKey(it, []string{"column", "split", "value", "expr", "sep", "prefix", "when"}, func(k, v *yaml.Node) {
			switch k.Value {
			case "column", "split", "value", "expr":
				sources++
				kind := map[string]srcKind{"column": kindColumn, "split": kindSplit, "value": kindValue, "expr": kindExpr}[k.Value]
				t.v = valueSpec{kind: kind, text: v.Value, line: v.Line, col: v.Column}
			case "sep":
				t.sep = v.Value
			case "prefix":
				t.prefix = v.Value
			case "when":
				t.when = valueSpec{kind: kindExpr, text: v.Value, line: v.Line, col: v.Column}
			}
		})
		if it.Kind == yaml.MappingNode && sources != 1 {
			p.lint(it, "a tag needs exactly one of value, column, split or expr")
			continue
		}
		if t.sep != "" && t.v.kind != kindSplit {
			p.lint(it, "sep only goes with split")
		}
		if t.v.kind == kindSplit && t.sep == "" {
			t.sep = ","
		}
		out = append(out, t)
	}
	return out
}

func (p *parser) noteSpecs(n *yaml.Node) []noteSpec {
	var out []noteSpec
	for _, it := range p.seq(n, "notes") {
		ns := noteSpec{line: it.Line, col: it.Column}
		if it.Kind == yaml.ScalarNode {
			ns.body = valueSpec{kind: kindColumn, text: it.Value, line: it.Line, col: it.Column}
			out = append(out, ns)
			continue
		}
		sources := 0
		p.eachKey(it, []string{"column", "value", "expr", "title", "when", "deleted"}, func(k, v *yaml.Node) {
			switch k.Value {
			case "column", "value", "expr":
				sources++
				kind := map[string]srcKind{"column": kindColumn, "value": kindValue, "expr": kindExpr}[k.Value]
				ns.body = valueSpec{kind: kind, text: v.Value, line: v.Line, col: v.Column}
			case "title":
				ns.title = p.value(v, kindValue, false)
				ns.bareTitle = v.Kind == yaml.ScalarNode
			case "when":
				ns.when = valueSpec{kind: kindExpr, text: v.Value, line: v.Line, col: v.Column}
			case "deleted":
				ns.deletedIf = valueSpec{kind: kindExpr, text: v.Value, line: v.Line, col: v.Column}
			}
		})
		if sources != 1 {
			p.lint(it, "a note needs exactly one of column, value or expr for its body")
			continue
		}
		out = append(out, ns)
	}
	return out
}

func (p *parser) taskSpecs(n *yaml.Node) []taskSpec {
	var out []taskSpec
	for _, it := range p.seq(n, "tasks") {
		ts := taskSpec{line: it.Line, col: it.Column}
		p.eachKey(it, []string{"title", "body", "due", "when", "completed", "deleted"}, func(k, v *yaml.Node) {
			switch k.Value {
			case "title":
				ts.title = p.value(v, kindValue, false)
			case "body":
				ts.body = p.value(v, kindValue, false)
			case "due":
				ts.due = p.value(v, kindExpr, false)
			case "when":
				ts.when = valueSpec{kind: kindExpr, text: v.Value, line: v.Line, col: v.Column}
			case "completed":
				ts.completedBy = p.value(v, kindExpr, false)
			case "deleted":
				ts.deletedIf = valueSpec{kind: kindExpr, text: v.Value, line: v.Line, col: v.Column}
			}
		})
		if it.Kind != yaml.MappingNode {
			continue
		}
		if !ts.title.set() {
			p.lint(it, "a task needs a title")
			continue
		}
		if !ts.due.set() {
			p.lint(it, "a task needs a due date (due: an expression, e.g. 'add_days(col[\"Create Date\"], 7)')")
			continue
		}
		out = append(out, ts)
	}
	return out
}

// CustomFieldKeys lists the custom field keys the mapping uses, as written
// (with or without "contact."), sorted. Empty means GET customFields need
// not be called.
func (s *Spec) CustomFieldKeys() []string {
	var out []string
	for _, f := range s.custom {
		out = append(out, f.name)
	}
	sort.Strings(out)
	return out
}

// FieldToCreate is a custom field the mapping types (type:) that the
// location lacks: what --create-fields creates.
type FieldToCreate struct {
	Key      string // fieldKey without "contact."
	Name     string // display name
	DataType string
	Options  []string
}

// MissingCustomFields lists the mapping's custom fields the location's
// definitions (defs) lack, in mapping order, with what the mapping says
// to create them as; a missing field without a type: is a *LintError
// asking for one.
func (s *Spec) MissingCustomFields(defs []ghl.CustomField) ([]FieldToCreate, error) {
	have := map[string]bool{}
	for _, f := range defs {
		if f.Model == "" || f.Model == "contact" {
			have[strings.TrimPrefix(f.FieldKey, "contact.")] = true
		}
	}
	var out []FieldToCreate
	var lints []Lint
	for _, f := range s.custom {
		k := strings.TrimPrefix(f.name, "contact.")
		if have[k] {
			continue
		}
		have[k] = true // mapped twice: created once (Compile lints the repeat)
		if f.create.typ == "" {
			lints = append(lints, Lint{File: s.file, Line: f.line, Column: f.col,
				What: fmt.Sprintf("custom field %q: the location has no such field and the mapping gives no type: to create it as (add type: one of %s)", f.name, strings.Join(FieldTypes, ", "))})
			continue
		}
		name := f.create.name
		if name == "" {
			name = displayName(k)
		}
		out = append(out, FieldToCreate{Key: k, Name: name, DataType: f.create.typ, Options: f.create.options})
	}
	if len(lints) > 0 {
		return nil, &LintError{Lints: lints}
	}
	return out, nil
}

// displayName is a field key as a name: "lifecycle_stage" -> "Lifecycle Stage".
func displayName(key string) string {
	words := strings.FieldsFunc(key, func(r rune) bool { return r == '_' || r == '-' || r == '.' || r == ' ' })
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// NeedsCustomFields reports whether Compile needs the location's custom
// field definitions.
func (s *Spec) NeedsCustomFields() bool { return len(s.custom) > 0 }

// File is the mapping file's name as given.
func (s *Spec) File() string { return s.file }

// defaultKeys are the keys defaults: may have.
var defaultKeys = []string{"phone_region", "timezone", "date_order", "phone_region_column", "invalid_phone"}

// moreDefaults reads the defaults: keys past phone_region and timezone.
func (p *parser) moreDefaults(k, v *yaml.Node, s *Spec) {
	switch k.Value {
	case "date_order":
		o, ok := ParseDateOrderName(v.Value)
		if !ok {
			p.lint(v, "date_order %q: must be DMY (13/01/1990), MDY (01/13/1990) or YMD (1990-01-13)", v.Value)
		}
		s.dateOrder = o
	case "phone_region_column":
		if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
			p.lint(v, "phone_region_column: must be a column name (the country column, e.g. \"Country/Region\")")
			return
		}
		s.regionColumn = valueSpec{kind: kindColumn, text: v.Value, line: v.Line, col: v.Column}
	case "invalid_phone":
		switch v.Value {
		case "drop", "reject":
			s.invalidPhone = v.Value
		default:
			p.lint(v, "invalid_phone %q: must be drop (keep the contact without the phone when it has an email) or reject (reject the row)", v.Value)
		}
	}
}
