package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ghlbulk/ghlbulk/ghl/spec"
)

// kind is the JSON type a DTO property must have.
type kind uint8

const (
	kAny kind = iota
	kString
	kBool
	kNumber
	kArray
	kObject
	kStringOrObject // dateOfBirth: "object" in the file, a string in its example and in practice
	kNullableString // businessId of ContactsBusinessUpdate
)

// prop is one property of a request DTO.
type prop struct {
	name      string
	kind      kind
	items     kind // for kArray: the items' kind (kAny when the file gives none)
	maxLength int  // for kArray of strings: each item's maxLength (0 = none)
}

// dto is a request body schema from contacts.json, reduced to what the
// sandbox checks: property kinds, required properties, and the whitelist
// (NestJS's forbidNonWhitelisted: an unknown property is a 422).
type dto struct {
	name     string
	props    []prop
	byName   map[string]int
	required []string
	open     bool // unknown properties allowed (SearchBodyV2DTO, which the file leaves empty)
}

// dtoNames are the request bodies the sandbox validates.
var dtoNames = []string{
	"CreateContactDto", "UpsertContactDto", "UpdateContactDto",
	"CreateTaskParams", "UpdateTaskBody", "UpdateTaskStatusParams",
	"NotesDTO", "UpdateNoteDTO", "TagsDTO", "UpdateTagsDTO", "ContactsBusinessUpdate",
}

type schemaJSON struct {
	Type       string                `json:"type"`
	Required   []string              `json:"required"`
	Properties map[string]propSchema `json:"properties"`
}

type propSchema struct {
	Type     string          `json:"type"`
	Ref      string          `json:"$ref"`
	Nullable bool            `json:"nullable"`
	Items    json.RawMessage `json:"items"`
}

// loadDTOs reads the request schemas from the embedded contacts.json (and
// the tasks search's from locations.json).
func loadDTOs() (map[string]*dto, error) {
	out := make(map[string]*dto, len(dtoNames)+2)
	if err := loadFileDTOs("apps/contacts.json", dtoNames, out); err != nil {
		return nil, err
	}
	if err := loadFileDTOs("apps/locations.json", []string{"TaskSearchParamsDto"}, out); err != nil {
		return nil, err
	}
	if err := loadFileDTOs("apps/calendars.json", []string{"AppointmentCreateSchema", "AppointmentEditSchema",
		"DeleteAppointmentSchema"}, out); err != nil {
		return nil, err
	}
	out["SearchBodyV2DTO"] = searchDTO()
	return out, nil
}

// loadFileDTOs adds the schemas names of the embedded file to out.
func loadFileDTOs(file string, names []string, out map[string]*dto) error {
	raw, err := spec.FS.ReadFile(file)
	if err != nil {
		return fmt.Errorf("sandbox: read %s: %w", file, err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("sandbox: parse %s: %w", file, err)
	}
	// Property order: the file's, which json.Unmarshal into a map loses, so
	// read the keys again with a token decoder.
	for _, name := range names {
		sraw, ok := doc.Components.Schemas[name]
		if !ok {
			return fmt.Errorf("sandbox: %s has no schema %s", file, name)
		}
		var sj schemaJSON
		if err := json.Unmarshal(sraw, &sj); err != nil {
			return fmt.Errorf("sandbox: schema %s: %w", name, err)
		}
		order, err := propertyOrder(sraw)
		if err != nil {
			return fmt.Errorf("sandbox: schema %s: %w", name, err)
		}
		d := &dto{name: name, byName: map[string]int{}, required: sj.Required}
		for _, pn := range order {
			ps := sj.Properties[pn]
			p := prop{name: pn, kind: kindOf(ps.Type, ps.Ref)}
			if ps.Nullable && p.kind == kString {
				p.kind = kNullableString
			}
			if pn == "dateOfBirth" {
				p.kind = kStringOrObject
			}
			if p.kind == kArray && len(ps.Items) > 0 {
				var it struct {
					Type      string `json:"type"`
					Ref       string `json:"$ref"`
					MaxLength int    `json:"maxLength"`
				}
				if json.Unmarshal(ps.Items, &it) == nil {
					p.items = kindOf(it.Type, it.Ref)
					p.maxLength = it.MaxLength
					if it.Type == "" && it.Ref == "" {
						p.items = kObject // anyOf of custom field objects
					}
				}
			}
			d.byName[pn] = len(d.props)
			d.props = append(d.props, p)
		}
		out[name] = d
	}
	return nil
}

// searchDTO is the body of POST /contacts/search as the API accepts it; the
// file's SearchBodyV2DTO has no properties (DEVIATIONS.md).
func searchDTO() *dto {
	d := &dto{name: "SearchBodyV2DTO", byName: map[string]int{}, open: true,
		required: []string{"locationId", "pageLimit"}}
	for _, p := range []prop{
		{name: "locationId", kind: kString},
		{name: "pageLimit", kind: kNumber},
		{name: "page", kind: kNumber},
		{name: "searchAfter", kind: kArray},
		{name: "query", kind: kString},
		{name: "filters", kind: kArray, items: kObject},
		{name: "sort", kind: kArray, items: kObject},
	} {
		d.byName[p.name] = len(d.props)
		d.props = append(d.props, p)
	}
	return d
}

func kindOf(typ, ref string) kind {
	switch typ {
	case "string":
		return kString
	case "boolean":
		return kBool
	case "number", "integer":
		return kNumber
	case "array":
		return kArray
	case "object":
		return kObject
	}
	if ref != "" {
		return kObject
	}
	return kAny
}

// propertyOrder lists the keys of a schema's "properties" in file order.
func propertyOrder(schema []byte) ([]string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(schema, &top); err != nil {
		return nil, err
	}
	props, ok := top["properties"]
	if !ok {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(props))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// jsonKind is the kind of a raw JSON value by its first byte.
func jsonKind(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	switch c := v[0]; {
	case c == '"':
		return 's'
	case c == 't' || c == 'f':
		return 'b'
	case c == 'n':
		return 'n'
	case c == '[':
		return 'a'
	case c == '{':
		return 'o'
	default:
		return 'd' // digit or '-'
	}
}

// check validates fields against d in the manner of class-validator and
// returns its messages (none when valid). Unknown properties come first,
// alphabetically; then each property in the file's order.
func (d *dto) check(fields map[string]json.RawMessage) []string {
	var msgs []string
	if !d.open {
		var unknown []string
		for k := range fields {
			if _, ok := d.byName[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		slices.Sort(unknown)
		for _, k := range unknown {
			msgs = append(msgs, "property "+k+" should not exist")
		}
	}
	for _, p := range d.props {
		v, present := fields[p.name]
		k := byte(0)
		if present {
			k = jsonKind(v)
		}
		if !present || k == 'n' {
			if slices.Contains(d.required, p.name) && p.kind != kNullableString {
				msgs = append(msgs, missingMessages(p)...)
			}
			continue
		}
		msgs = append(msgs, typeMessages(p, v, k)...)
	}
	return msgs
}

func missingMessages(p prop) []string {
	switch p.kind {
	case kString, kNullableString:
		return []string{p.name + " should not be empty", p.name + " must be a string"}
	case kNumber:
		return []string{p.name + " should not be empty", p.name + " must be a number conforming to the specified constraints"}
	case kBool:
		return []string{p.name + " must be a boolean value"}
	case kArray:
		return []string{p.name + " should not be empty", p.name + " must be an array"}
	default:
		return []string{p.name + " should not be empty"}
	}
}

// typeMessages are class-validator's messages for a present, non-null
// value v (of JSON kind k) that does not suit p.
func typeMessages(p prop, v json.RawMessage, k byte) []string {
	switch p.kind {
	case kString, kNullableString:
		return stringMessages(p, v, k)
	case kArray:
		return arrayMessages(p, v, k)
	}
	if want, ok := kindChecks[p.kind]; ok && strings.IndexByte(want.accept, k) < 0 {
		return []string{fmt.Sprintf(want.msg, p.name)}
	}
	return nil
}

// kindChecks are the property kinds checked by the value's JSON kind
// alone: the JSON kinds each accepts, and the message (with the property's
// name) for any other.
var kindChecks = map[kind]struct{ accept, msg string }{
	kBool:           {"b", "%s must be a boolean value"},
	kNumber:         {"d", "%s must be a number conforming to the specified constraints"},
	kObject:         {"o", "nested property %s must be either object or array"},
	kStringOrObject: {"so", "%s must be a valid date"},
}

// stringMessages checks a string property; locationId must also not be
// blank.
func stringMessages(p prop, v json.RawMessage, k byte) []string {
	if k != 's' {
		return []string{p.name + " must be a string"}
	}
	if p.name == "locationId" {
		var s string
		if json.Unmarshal(v, &s) == nil && strings.TrimSpace(s) == "" {
			return []string{p.name + " should not be empty"}
		}
	}
	return nil
}

// arrayMessages checks an array property and then its items, stopping at
// the first item that does not suit.
func arrayMessages(p prop, v json.RawMessage, k byte) []string {
	if k != 'a' {
		return []string{p.name + " must be an array"}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return []string{p.name + " must be an array"}
	}
	for _, it := range items {
		if msgs := itemMessages(p, it); msgs != nil {
			return msgs
		}
	}
	return nil
}

func itemMessages(p prop, it json.RawMessage) []string {
	ik := jsonKind(it)
	switch p.items {
	case kString:
		if ik != 's' {
			return []string{"each value in " + p.name + " must be a string"}
		}
		if p.maxLength > 0 {
			var s string
			if json.Unmarshal(it, &s) == nil && len([]rune(s)) > p.maxLength {
				return []string{fmt.Sprintf("each value in %s must be shorter than or equal to %d characters", p.name, p.maxLength)}
			}
		}
	case kObject:
		if ik != 'o' {
			return []string{"each value in nested property " + p.name + " must be either object or array"}
		}
	}
	return nil
}
