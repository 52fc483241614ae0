package transform

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/record"
)

// Kinds of mapping file, as its kind: says. A file without kind: is a
// contacts mapping (LoadMapping); notes and tasks mappings are read by
// LoadRelatedMapping.
const (
	KindContacts = "contacts"
	KindNotes    = "notes"
	KindTasks    = "tasks"
)

var relatedTopKeys = []string{"version", "kind", "contact", "source_key", "defaults", "optional_columns", "notes", "tasks"}

// contactsOnlyKeys are a contacts mapping's keys, and why a notes or tasks
// mapping has none.
var contactsOnlyKeys = map[string]string{
	"key":           "the contact is found in the ID map through contact:, not matched by key",
	"duplicates":    "each row is one note or task",
	"fields":        "it writes on contacts that exist; their fields come from a contacts mapping",
	"custom_fields": "it writes on contacts that exist; their custom fields come from a contacts mapping",
	"tags":          "tags come from a contacts mapping",
}

var matchModes = []string{"source_key", "key", "email", "phone"}

type contactSpec struct {
	v         valueSpec
	match     []string
	line, col int
}

type relTaskSpec struct {
	taskSpec
	completed, deleted  valueSpec
	bareTitle, bareBody bool
}

// relNoteSpec is a notes mapping's note: a contacts mapping's, and its
// deleted: condition.
type relNoteSpec struct {
	noteSpec
	deleted valueSpec
}

// A notes or tasks mapping maps a CRM's notes or tasks export, whose rows
// name their contact by the CRM's id, to notes or tasks on the contacts a
// contacts import wrote. The contact is found in the ID map that import
// wrote (--id-map): by the map's source_key column (the default), or by its
// key column.
//
//	version: 1
//	kind: tasks                        # or notes
//	contact: "WhoId"                   # the column naming the contact: its CRM id
//	# contact: { column: "Email", match: email }   # or matched on the map's key column
//	source_key: "Id"                   # the row's own id (optional): identifies it in later exports
//	defaults: { timezone: America/New_York }
//	optional_columns: ["Description"]
//	tasks:
//	  - title: { column: "Subject" }   # as in a contacts mapping, a bare title is a constant
//	    body: { column: "Description" }
//	    due: 'coalesce(col["ActivityDate"], col["CreatedDate"])'
//	    completed: 'col["Status"] == "Completed"'   # optional
//
// A notes mapping has notes: instead, exactly as a contacts mapping's
// (a bare item is the body's column; column, value or expr, title, when).
// match is one of source_key, key (the map's key as it is, such as
// "email:a@b.c"), email (the value as an email address) or phone (as a
// phone number, read in defaults' phone_region), or a list of them tried in
// order. A row whose contact the map does not hold is a reject; a row whose
// items' when: are all false has nothing to write and is left unchanged.
//
// RelatedSpec is such a mapping, read and linted but not yet checked
// against an input's header.
type RelatedSpec struct {
	spec    *Spec // file, defaults, optional columns and source_key
	kind    string
	contact contactSpec
	notes   []relNoteSpec
	tasks   []relTaskSpec
}

// MappingKind reads the kind: of a mapping file: KindContacts when it has
// none. It reads nothing else; a file it can't read or parse gives an error
// and is for LoadMapping to explain.
func MappingKind(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return KindContacts, nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "kind" {
			return strings.TrimSpace(root.Content[i+1].Value), nil
		}
	}
	return KindContacts, nil
}

// LoadRelatedMapping reads a notes or tasks mapping. kind is what the run
// asks for (KindNotes or KindTasks; "" takes the file's). Every problem is
// reported at once, as a *LintError.
func LoadRelatedMapping(path, kind string) (*RelatedSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	return ParseRelatedMapping(path, data, kind)
}

// ParseRelatedMapping is LoadRelatedMapping on bytes already read; name is
// used in messages.
func ParseRelatedMapping(name string, data []byte, kind string) (*RelatedSpec, error) {
	root, err := decodeMapping(name, data, fmt.Sprintf("a %s mapping file is a YAML mapping with version: 1, kind: %s, contact: and %s:", orKind(kind), orKind(kind), orKind(kind)))
	if err != nil {
		return nil, err
	}
	r := &relatedParser{parser: &parser{file: name}, asked: kind, s: &RelatedSpec{spec: newSpec(name)}}
	r.eachKey(root, nil, r.topKey)
	if r.kindNode == nil && !r.sawContact && hasAnyKey(root, contactsOnlyKeys) {
		return nil, contactsMappingGiven(name, root, kind)
	}
	r.lintVersion(root)
	r.lintMissing(root)
	if err := r.err(); err != nil {
		return nil, err
	}
	return r.s, nil
}

// relatedParser reads one notes or tasks mapping: what the run asked for,
// and the top-level nodes the checks after the walk need.
type relatedParser struct {
	*parser
	asked                          string // the --kind asked for; "" takes the file's
	s                              *RelatedSpec
	kindNode, notesNode, tasksNode *yaml.Node
	sawContact                     bool
}

// topKey reads one top-level key of a notes or tasks mapping.
func (r *relatedParser) topKey(k, v *yaml.Node) {
	if r.sharedTopKey(k, v, r.s.spec, " (the row's own id in the source CRM)") {
		return
	}
	switch k.Value {
	case "kind":
		r.kindNode = v
		r.readKind(v)
	case "contact":
		r.sawContact = true
		r.s.contact = r.contactSpec(v)
	case "notes":
		r.notesNode = k
		r.s.notes = r.relNoteSpecs(v)
	case "tasks":
		r.tasksNode = k
		r.s.tasks = r.relTaskSpecs(v)
	default:
		if why, ok := contactsOnlyKeys[k.Value]; ok {
			r.lint(k, "%s: not in a %s mapping: %s", k.Value, orKind(r.asked), why)
			return
		}
		r.lint(k, "unknown key %q%s", k.Value, didYouMean(k.Value, relatedTopKeys, "allowed: "+quoteList(relatedTopKeys)))
	}
}

// readKind takes kind: notes or tasks; kind: contacts is the wrong tool.
func (r *relatedParser) readKind(v *yaml.Node) {
	switch v.Value {
	case KindNotes, KindTasks:
		r.s.kind = v.Value
	case KindContacts:
		r.lint(v, "kind: contacts is a contacts mapping (import it without --kind)")
	default:
		r.lint(v, "kind %q: must be notes or tasks%s", v.Value, didYouMean(v.Value, []string{KindNotes, KindTasks}, ""))
	}
}

// contactsMappingGiven is the one lint for a contacts mapping passed where
// a notes or tasks mapping was wanted: saying that beats listing
// everything it lacks.
func contactsMappingGiven(name string, root *yaml.Node, kind string) error {
	such := ""
	if kind != "" {
		such = ", such as mappings/hubspot-" + kind + ".yaml"
	}
	return &LintError{Lints: []Lint{{File: name, Line: root.Line, Column: root.Column,
		What: fmt.Sprintf("a contacts mapping (no kind:, and contact fields), not a %s mapping (use one with kind: %s and contact:%s)", orKind(kind), orKind(kind), such)}}}
}

// lintMissing lints what the walk did not find: kind: (and whether it is
// the one asked for), contact:, and the one list of items the kind
// writes. It settles s.kind: the file's, else the one asked for.
func (r *relatedParser) lintMissing(root *yaml.Node) {
	s, kind := r.s, r.asked
	switch {
	case r.kindNode == nil:
		r.lint(root, "no kind: (add kind: %s at the top; a mapping without kind: is a contacts mapping, for ghlbulk import without --kind)", orKind(kind))
	case s.kind != "" && kind != "" && s.kind != kind:
		r.lint(r.kindNode, "kind: %s, but %s were asked for (run with --kind %s, or use a kind: %s mapping)", s.kind, kind, s.kind, kind)
	}
	s.kind = cmp.Or(s.kind, kind)
	if !r.sawContact {
		r.lint(root, "no contact: (name the column holding the contact's id in the source CRM, e.g. contact: \"WhoId\"; it is looked up in the ID map)")
	}
	r.lintItems(root, s.kind)
}

// lintItems checks that a notes mapping has notes: and no tasks:, and a
// tasks mapping the reverse.
func (r *relatedParser) lintItems(root *yaml.Node, want string) {
	switch want {
	case KindNotes:
		if r.tasksNode != nil {
			r.lint(r.tasksNode, "tasks: a notes mapping writes notes only (tasks go in a kind: tasks mapping)")
		}
		if r.notesNode == nil {
			r.lint(root, "no notes: nothing would be written (add notes: with the column of the note's body)")
		}
	case KindTasks:
		if r.notesNode != nil {
			r.lint(r.notesNode, "notes: a tasks mapping writes tasks only (notes go in a kind: notes mapping)")
		}
		if r.tasksNode == nil {
			r.lint(root, "no tasks: nothing would be written (add tasks: with a title and a due date)")
		}
	}
}

func hasAnyKey(n *yaml.Node, keys map[string]string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if _, ok := keys[n.Content[i].Value]; ok {
			return true
		}
	}
	return false
}

func orKind(kind string) string {
	if kind == "" {
		return "notes or tasks"
	}
	return kind
}

// defaults reads defaults: (phone_region, timezone) into s.
func (p *parser) defaults(n *yaml.Node, s *Spec) {
	p.eachKey(n, defaultKeys, func(k, v *yaml.Node) {
		switch k.Value {
		default:
			p.moreDefaults(k, v, s)
		case "phone_region":
			r := strings.ToUpper(strings.TrimSpace(v.Value))
			if !validRegion(r) {
				p.lint(v, "phone_region %q: not a region libphonenumber knows (use an ISO 3166 code such as US, GB, DE)", v.Value)
			}
			s.phoneRegion = r
		case "timezone":
			loc, err := time.LoadLocation(v.Value)
			if err != nil {
				p.lint(v, "timezone %q: unknown (use an IANA name such as America/New_York)", v.Value)
			} else {
				s.loc = loc
			}
		}
	})
}

// contactSpec reads contact:, a value (a bare scalar is a column) with an
// optional match: (how the value is looked up in the ID map).
func (p *parser) contactSpec(n *yaml.Node) contactSpec {
	cs := contactSpec{line: n.Line, col: n.Column, match: []string{"source_key"}}
	if n.Kind == yaml.MappingNode {
		rest := &yaml.Node{Kind: yaml.MappingNode, Tag: n.Tag, Line: n.Line, Column: n.Column}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "match" {
				cs.match = p.matchModes(v)
				continue
			}
			rest.Content = append(rest.Content, k, v)
		}
		n = rest
	}
	cs.v = p.value(n, kindColumn, true)
	return cs
}

func (p *parser) matchModes(n *yaml.Node) []string {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		p.lint(n, "match: expected one of %s, or a list of them", quoteList(matchModes))
		return nil
	}
	var out []string
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || !contains(matchModes, it.Value) {
			p.lint(it, "match %q: must be %s%s", it.Value, quoteList(matchModes), didYouMean(it.Value, matchModes, ""))
			continue
		}
		if !contains(out, it.Value) {
			out = append(out, it.Value)
		}
	}
	if len(out) == 0 && len(p.lints) == 0 {
		p.lint(n, "match: empty (give source_key, key, email or phone)")
	}
	return out
}

// relNoteSpecs reads notes: as a contacts mapping's, plus deleted: (an
// expression, as when: is), taken out of each item before the contacts
// mapping's reader sees it.
func (p *parser) relNoteSpecs(n *yaml.Node) []relNoteSpec {
	var deleted []valueSpec
	if n.Kind == yaml.SequenceNode {
		stripped := *n
		stripped.Content = make([]*yaml.Node, len(n.Content))
		for i, it := range n.Content {
			stripped.Content[i], deleted = it, append(deleted, valueSpec{})
			if it.Kind != yaml.MappingNode {
				continue
			}
			rest := *it
			rest.Content = nil
			for j := 0; j+1 < len(it.Content); j += 2 {
				if k, v := it.Content[j], it.Content[j+1]; k.Value == "deleted" {
					deleted[i] = valueSpec{kind: kindExpr, text: v.Value, line: v.Line, col: v.Column}
					continue
				}
				rest.Content = append(rest.Content, it.Content[j], it.Content[j+1])
			}
			stripped.Content[i] = &rest
		}
		n = &stripped
	}
	notes := p.noteSpecs(n)
	out := make([]relNoteSpec, len(notes))
	for i, ns := range notes {
		out[i].noteSpec = ns
		if len(notes) == len(deleted) { // else a note was linted away: the run stops anyway
			out[i].deleted = deleted[i]
		}
	}
	return out
}

// relTaskSpecs reads tasks: as a contacts mapping's, plus completed: (a
// bare scalar is an expression, as when: and due: are) and deleted: (an
// expression).
func (p *parser) relTaskSpecs(n *yaml.Node) []relTaskSpec {
	var out []relTaskSpec
	for _, it := range p.seq(n, "tasks") {
		ts := relTaskSpec{taskSpec: taskSpec{line: it.Line, col: it.Column}}
		p.eachKey(it, []string{"title", "body", "due", "when", "completed", "deleted"}, func(k, v *yaml.Node) {
			switch k.Value {
			case "title":
				ts.title = p.value(v, kindValue, false)
				ts.bareTitle = v.Kind == yaml.ScalarNode
			case "body":
				ts.body = p.value(v, kindValue, false)
				ts.bareBody = v.Kind == yaml.ScalarNode
			case "due":
				ts.due = p.value(v, kindExpr, false)
			case "when":
				ts.when = valueSpec{kind: kindExpr, text: v.Value, line: v.Line, col: v.Column}
			case "completed":
				ts.completed = p.value(v, kindExpr, false)
			case "deleted":
				ts.deleted = valueSpec{kind: kindExpr, text: v.Value, line: v.Line, col: v.Column}
			}
		})
		if it.Kind != yaml.MappingNode {
			continue
		}
		if !ts.title.set() {
			p.lint(it, "a task needs a title (title: { column: \"Subject\" })")
			continue
		}
		if !ts.due.set() {
			p.lint(it, "a task needs a due date (due: an expression, e.g. 'col[\"Due date\"]')")
			continue
		}
		out = append(out, ts)
	}
	return out
}

// Kind is KindNotes or KindTasks.
func (s *RelatedSpec) Kind() string { return s.kind }

// File is the mapping file's name as given.
func (s *RelatedSpec) File() string { return s.spec.file }

// relTask is a compiled task item of a tasks mapping.
type relTask struct {
	compiledTask
	completed    getter
	hasCompleted bool
	deleted      *vm.Program
}

// relNote is a compiled note item of a notes mapping.
type relNote struct {
	compiledNote
	deleted *vm.Program
}

// RelatedMapping is a notes or tasks mapping compiled against one input's
// header, with the ID map its contacts are found in. Apply must be given a
// file's batches in order (as an import reads them); a file read again from
// its first row is counted afresh.
type RelatedMapping struct {
	m           *Mapping // header, spec, expression columns
	kind        string
	ids         *IDMap
	contact     getter
	contactName string // the contact's source, for messages
	match       []string
	notes       []relNote
	noteSource  string // the first note's body source, for messages
	tasks       []relTask
	taskSource  string

	mu    sync.Mutex
	files map[string]*occurrences // by file
}

// occurrences counts, for the rows of one file read so far that have no
// source_key, the rows with each (contact, content): the second of two
// equal notes for one contact is a note of its own.
type occurrences struct {
	next int64 // the row after the last one read
	seen map[[16]byte]int
}

// Compile checks the mapping against an input's header (every column it
// names must be there, or listed in optional_columns) and compiles its
// expressions. Every problem is reported at once, as a *LintError.
func (s *RelatedSpec) Compile(header []string, ids *IDMap) (*RelatedMapping, error) {
	if ids == nil {
		return nil, errors.New("a notes or tasks mapping needs the ID map of the contacts import")
	}
	c := &compiler{spec: s.spec, header: header, colIdx: make(map[string]int, len(header)), used: map[int]bool{}}
	for i, h := range header {
		if _, dup := c.colIdx[h]; !dup {
			c.colIdx[h] = i
		}
	}
	m := &Mapping{spec: s.spec, header: header}
	rm := &RelatedMapping{m: m, kind: s.kind, ids: ids, match: s.contact.match, files: map[string]*occurrences{}}
	rm.contact = c.getter(s.contact.v, "trim")
	rm.contactName = sourceName(rm.contact, "contact")
	if s.spec.sourceKey.set() {
		m.sourceKey = c.getter(s.spec.sourceKey, "trim")
	}
	for i, n := range s.notes {
		if n.bareTitle {
			c.notAColumn(n.title, "note title")
		}
		c.needsSourceKey(s.spec, n.deleted)
		cn := relNote{compiledNote: compiledNote{body: c.getter(n.body, "none"), when: c.when(n.when)}, deleted: c.when(n.deleted)}
		if n.title.set() {
			cn.title = c.getter(n.title, "trim")
		}
		if i == 0 {
			rm.noteSource = sourceName(cn.body, "the note's body")
		}
		rm.notes = append(rm.notes, cn)
	}
	for i, t := range s.tasks {
		if t.bareTitle {
			c.notAColumn(t.title, "task title")
		}
		if t.bareBody {
			c.notAColumn(t.body, "task body")
		}
		c.needsSourceKey(s.spec, t.deleted)
		ct := relTask{compiledTask: c.task(t.taskSpec), deleted: c.when(t.deleted)}
		if t.completed.set() {
			ct.completed, ct.hasCompleted = c.getter(t.completed, "bool"), true
		}
		if i == 0 {
			rm.taskSource = sourceName(ct.title, "the task's title")
		}
		rm.tasks = append(rm.tasks, ct)
	}
	if err := c.finish(m, header); err != nil {
		return nil, err
	}
	return rm, nil
}

// needsSourceKey refuses a deleted: in a mapping without source_key: the
// record to delete is the one an earlier import wrote for the same
// source_key.
func (c *compiler) needsSourceKey(s *Spec, deleted valueSpec) {
	if deleted.set() && !s.sourceKey.set() {
		c.lintAt(deleted.line, deleted.col, "deleted: needs source_key: (the record deleted is the one written for the row's source_key; add source_key: with the column of the row's own id)")
	}
}

// notAColumn refuses a bare constant that is also a column of the file: in
// a file of notes or tasks it is almost always meant as the column.
func (c *compiler) notAColumn(v valueSpec, what string) {
	if v.kind != kindValue {
		return
	}
	if _, ok := c.colIdx[v.text]; ok {
		c.lintAt(v.line, v.col, "%s %q is the text %q, and also a column of the file (write { column: %q } for the column's values, or { value: %q } for the text)", what, v.text, v.text, v.text, v.text)
	}
}

// Kind is KindNotes or KindTasks.
func (rm *RelatedMapping) Kind() string { return rm.kind }

// Header is the input header the mapping was compiled for.
func (rm *RelatedMapping) Header() []string { return rm.m.header }

// A notes or tasks file's row, mapped, is a record.Row: notes or tasks
// to write on an existing contact (ContactID, from the ID map; "" for a
// reject or a skipped row), or a reject (Err set).
//
// Row.Key is "id:<contact id>" (rows for one contact are written one after
// another), Row.SourceKey the row's own source_key, Row.Notes or Row.Tasks
// what to write, and Row.Hash identifies the row: its contact, content and
// identity (the source_key, or for a row without one, how many rows before
// it in the file had the same contact and content). Contact and Tags stay
// empty. A row whose items' when: are all false has Key "skip:" and
// nothing to write. A reject's Hash is that of its reason, so that a row
// rejected for a contact the ID map lacked is judged again once the map has
// it.
// SkipKey is the Key of a row that has nothing to write.
const SkipKey = "skip:"

// Apply maps every row of rec, in order (see Mapping.Apply for rec's
// shape).
func (rm *RelatedMapping) Apply(rec arrow.Record, file string, firstRow int64) []record.Row {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	m := rm.m
	n := int(rec.NumRows())
	rows := make([]record.Row, n)
	occ := rm.files[file]
	if occ == nil || firstRow < occ.next {
		occ = &occurrences{seen: map[[16]byte]int{}}
		rm.files[file] = occ
	}
	occ.next = firstRow + int64(n)
	st := m.newState(file)
	ncol := len(m.header)
	if int(rec.NumCols()) < ncol {
		for i := range rows {
			r := &rows[i]
			r.File, r.Row = file, firstRow+int64(i)
			rm.reject(r, "", fmt.Errorf("record has %d columns, the header %d", rec.NumCols(), ncol))
		}
		return rows
	}
	readers := make([]colReader, ncol)
	for i := 0; i < ncol; i++ {
		readers[i] = readerFor(rec.Column(i))
	}
	var marker *array.String
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
		rows[i].ContactID = rm.row(st, r, mark, occ)
	}
	return rows
}

func (rm *RelatedMapping) reject(r *record.Row, col string, err error) {
	r.Err = &RowError{File: r.File, Row: r.Row, Column: col, Err: err}
	sum := sha256.Sum256([]byte("reject\x00" + err.Error()))
	r.Hash = hex.EncodeToString(sum[:])
}

// row maps one row into r and returns its contact id ("" for a reject or
// a row with nothing to write).
func (rm *RelatedMapping) row(st *state, r *record.Row, mark string, occ *occurrences) string {
	m := rm.m
	st.raw, st.errs, st.errCol, st.rowNum = r.Raw, st.errs[:0], "", r.Row
	empty := true
	for _, v := range r.Raw {
		if strings.TrimSpace(v) != "" {
			empty = false
			break
		}
	}
	if empty {
		rm.reject(r, "", ErrEmptyRow)
		return ""
	}
	if mark != "" {
		rm.reject(r, "", errors.New(mark))
		return ""
	}
	for c, v := range r.Raw {
		if !utf8.ValidString(v) {
			rm.reject(r, m.header[c], fmt.Errorf("column %q: not valid UTF-8 (save the file as UTF-8)", m.header[c]))
			return ""
		}
	}
	if st.col != nil {
		for _, c := range m.envCols {
			st.col[m.header[c]] = r.Raw[c]
		}
		st.env["row"] = r.Row
	}
	var skipped bool
	switch rm.kind {
	case KindNotes:
		skipped = rm.applyNotes(st, r)
	case KindTasks:
		skipped = rm.applyTasks(st, r)
	}
	if len(r.Notes)+len(r.Tasks)+len(r.Deletes) == 0 && len(st.errs) == 0 {
		if skipped {
			r.Key = SkipKey
			sum := sha256.Sum256([]byte("skip"))
			r.Hash = hex.EncodeToString(sum[:])
			return ""
		}
		switch rm.kind {
		case KindNotes:
			st.fail(rm.noteSource, fmt.Errorf("no note: %s is blank", rm.noteSource))
		case KindTasks:
			st.fail(rm.taskSource, fmt.Errorf("no task: %s is blank", rm.taskSource))
		}
	}
	id := rm.resolve(st)
	if m.sourceKey.kind != kindNone {
		r.SourceKey, _ = st.value("source_key", m.sourceKey)
	}
	if len(st.errs) > 0 {
		rm.reject(r, st.errCol, append(problems(nil), st.errs...))
		return ""
	}
	if r.SourceKey == "" {
		r.Items, r.Deletes = nil, nil // nothing to know them by
	}
	r.Key = "id:" + id
	r.Hash = rm.hash(r, id, occ)
	return id
}

// resolve finds the row's contact in the ID map; a problem is recorded on
// st and gives "".
func (rm *RelatedMapping) resolve(st *state) string {
	before := len(st.errs)
	v, ok := st.value("contact", rm.contact)
	if !ok {
		if len(st.errs) == before { // blank, not a failed expression
			st.fail(rm.contactName, fmt.Errorf("no contact: %s is blank", rm.contactName))
		}
		return ""
	}
	var tried []string
	for _, how := range rm.match {
		col, lk := "source_key", v
		switch how {
		case "key":
			col = "key"
		case "email":
			e, err := NormalizeEmail(v)
			if err != nil {
				continue
			}
			col, lk = "key", "email:"+e
		case "phone":
			p, err := NormalizePhone(v, rm.m.spec.phoneRegion)
			if err != nil {
				continue
			}
			col, lk = "key", "phone:"+p
		}
		ids := rm.ids.Lookup(col, lk)
		switch len(ids) {
		case 0:
			if lk != v {
				tried = append(tried, lk)
			}
			continue
		case 1:
			return ids[0]
		}
		st.fail(rm.contactName, fmt.Errorf("contact %q (%s) is %d contacts in the ID map %s (%s): rewrite the map from one contacts import",
			v, rm.contactName, len(ids), rm.ids.Path(), strings.Join(ids, ", ")))
		return ""
	}
	msg := fmt.Sprintf("contact %q (%s) is not in the ID map %s", v, rm.contactName, rm.ids.Path())
	if len(tried) > 0 {
		msg += " (looked up as " + strings.Join(tried, ", ") + ")"
	}
	if strings.ContainsAny(v, ";,") {
		msg += "; it looks like a list, and a row attaches to one contact"
	}
	st.fail(rm.contactName, errors.New(msg))
	return ""
}

// applyNotes adds the row's notes; skipped reports a note left out by its
// when:.
func (rm *RelatedMapping) applyNotes(st *state, r *record.Row) (skipped bool) {
	for i, n := range rm.notes {
		if n.deleted != nil && st.cond("note deleted", n.deleted) {
			r.Deletes = append(r.Deletes, i)
			continue
		}
		if n.when != nil && !st.cond("note", n.when) {
			skipped = true
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
	return skipped
}

// applyTasks adds the row's tasks; skipped reports a task left out by its
// when:.
func (rm *RelatedMapping) applyTasks(st *state, r *record.Row) (skipped bool) {
	for i, t := range rm.tasks {
		if t.deleted != nil && st.cond("task deleted", t.deleted) {
			r.Deletes = append(r.Deletes, i)
			continue
		}
		if t.when != nil && !st.cond("task", t.when) {
			skipped = true
			continue
		}
		title, ok := st.value("task title", t.title)
		if !ok {
			continue
		}
		what := fmt.Sprintf("task %q due", title)
		due, ok := st.raw1(what, t.due)
		if !ok {
			st.fail(sourceName(t.due, what), fmt.Errorf("%s: no due date", what))
			continue
		}
		tm, err := ParseDateOrder(due, rm.m.spec.loc, rm.m.spec.dateOrder)
		if err != nil {
			st.fail(sourceName(t.due, what), fmt.Errorf("%s %q: %w", what, due, err))
			continue
		}
		task := ghl.TaskInput{Title: title, DueDate: tm.UTC().Format(time.RFC3339)}
		if t.hasBody {
			body, _ := st.raw1("task body", t.body)
			task.Body = strings.TrimSpace(body)
		}
		if t.hasCompleted {
			if v, ok := st.value("task completed", t.completed); ok {
				task.Completed = v == "true"
			}
		}
		r.Tasks = append(r.Tasks, task)
		r.Items = append(r.Items, i)
	}
	return skipped
}

// hash identifies a row to be written: kind, contact, content, then its
// identity (the source_key, or the count of earlier rows of the file with
// the same contact and content). Length-prefixed, so no value can imitate
// a separator.
func (rm *RelatedMapping) hash(r *record.Row, contactID string, occ *occurrences) string {
	var b []byte
	put := func(vs ...string) {
		for _, v := range vs {
			b = strconv.AppendInt(b, int64(len(v)), 10)
			b = append(b, ':')
			b = append(b, v...)
		}
	}
	put(rm.kind, contactID)
	for _, n := range r.Notes {
		put("note", n.Title, n.Body)
	}
	for _, t := range r.Tasks {
		put("task", t.Title, t.Body, t.DueDate, strconv.FormatBool(t.Completed))
	}
	for _, n := range r.Deletes {
		put("deleted", strconv.Itoa(n))
	}
	content := sha256.Sum256(b)
	if r.SourceKey != "" {
		put("source_key", r.SourceKey)
	} else {
		var k [16]byte
		copy(k[:], content[:16])
		put("occurrence", strconv.Itoa(occ.seen[k]))
		occ.seen[k]++
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
