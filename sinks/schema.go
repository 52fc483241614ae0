package sinks

// The export's file schema: one Arrow schema per entity, with the API's
// field names as column names, so that the Parquet and CSV writers (and any
// reader) see the same columns.
//
// Logical types, chosen so DuckDB, Spark, BigQuery and Snowflake load them
// as such:
//   - times (dateAdded, dateUpdated, dueDate, startTime, ...) are
//     timestamp[ms, UTC]; a value that does not parse is null;
//   - tags, additionalEmails and appointment users are list<string>;
//   - dnd is a bool and dndSettings a struct per channel (Call, Email, SMS,
//     WhatsApp, GMB, FB), each struct<status, message, code>, so
//     `dndSettings.Email.status` is a plain column path;
//   - customFields is the raw [{id, value}] JSON as the API sent it, and
//     each custom field defined for the location also gets a typed column
//     named after its fieldKey with non-alphanumerics turned into "_"
//     ("contact.pincode" -> "contact_pincode"): NUMERICAL and MONETORY are
//     double, DATE is timestamp[ms, UTC], MULTIPLE_OPTIONS and CHECKBOX are
//     list<string>, anything else is string. A field added in HighLevel
//     later adds a column; it never changes an existing one.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/ghlbulk/ghlbulk/ghl"
)

// SchemaVersion is written into manifest.json and each file's metadata. It
// changes when a column changes type or meaning; adding a column (a new
// custom field) does not change it.
const SchemaVersion = 1

// Entity names, which are also the export files' base names.
const (
	EntityContacts     = "contacts"
	EntityTasks        = "tasks"
	EntityNotes        = "notes"
	EntityAppointments = "appointments"
	EntityDeleted      = "deleted"
)

// Timestamp is the type of every time column.
var Timestamp = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

// StringList is the type of tags and the other string lists.
var StringList = arrow.ListOf(arrow.BinaryTypes.String)

// DNDChannels are the channels of DndSettingsSchema, in the API's order.
var DNDChannels = []string{"Call", "Email", "SMS", "WhatsApp", "GMB", "FB"}

var dndSettingType = arrow.StructOf(
	arrow.Field{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "message", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "code", Type: arrow.BinaryTypes.String, Nullable: true},
)

// DNDSettingsType is struct<Call: struct<status,message,code>, Email: ..., ...>.
var DNDSettingsType = func() *arrow.StructType {
	fs := make([]arrow.Field, len(DNDChannels))
	for i, ch := range DNDChannels {
		fs[i] = arrow.Field{Name: ch, Type: dndSettingType, Nullable: true}
	}
	return arrow.StructOf(fs...)
}()

func str(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true}
}
func ts(name string) arrow.Field { return arrow.Field{Name: name, Type: Timestamp, Nullable: true} }
func flag(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.FixedWidthTypes.Boolean}
}
func list(name string) arrow.Field { return arrow.Field{Name: name, Type: StringList, Nullable: true} }

// contactBase are the contact columns before the typed custom fields.
var contactBase = []arrow.Field{
	{Name: "id", Type: arrow.BinaryTypes.String},
	str("locationId"), str("businessId"),
	str("firstName"), str("lastName"), str("name"),
	str("email"), str("phone"), str("companyName"),
	str("type"), str("source"), str("assignedTo"),
	str("address1"), str("city"), str("state"), str("country"), str("postalCode"),
	str("website"), str("timezone"), str("dateOfBirth"),
	flag("dnd"),
	{Name: "dndSettings", Type: DNDSettingsType, Nullable: true},
	list("tags"), list("additionalEmails"),
	ts("dateAdded"), ts("dateUpdated"),
	str("customFields"),
}

// CustomColumn is one custom field's typed column.
type CustomColumn struct {
	ID       string
	FieldKey string
	Column   string
	DataType string // HighLevel's dataType, e.g. NUMERICAL
	Type     arrow.DataType
}

// ContactSchema is the contacts file's schema for one location's custom
// field definitions.
type ContactSchema struct {
	Schema *arrow.Schema
	Custom []CustomColumn
	byID   map[string]int // custom field id -> index in Custom
}

// NewContactSchema builds the contacts schema. fields are the location's
// custom field definitions (GET /locations/{id}/customFields); those whose
// model is not "contact" are skipped. The order of fields is kept, so the
// same definitions give the same schema.
func NewContactSchema(fields []ghl.CustomField) *ContactSchema {
	cs := &ContactSchema{byID: map[string]int{}}
	used := map[string]bool{}
	for _, f := range contactBase {
		used[strings.ToLower(f.Name)] = true
	}
	all := append([]arrow.Field(nil), contactBase...)
	for _, f := range fields {
		if f.ID == "" || (f.Model != "" && f.Model != "contact") {
			continue
		}
		if _, dup := cs.byID[f.ID]; dup {
			continue
		}
		key := f.FieldKey
		if key == "" {
			key = "contact." + f.Name
		}
		col := columnName(key)
		base := col
		for n := 2; used[strings.ToLower(col)]; n++ {
			col = fmt.Sprintf("%s_%d", base, n)
		}
		used[strings.ToLower(col)] = true
		cc := CustomColumn{ID: f.ID, FieldKey: f.FieldKey, Column: col, DataType: strings.ToUpper(f.DataType), Type: customType(f.DataType)}
		cs.byID[f.ID] = len(cs.Custom)
		cs.Custom = append(cs.Custom, cc)
		all = append(all, arrow.Field{Name: col, Type: cc.Type, Nullable: true})
	}
	md := arrow.NewMetadata([]string{"ghlbulk.schema_version", "ghlbulk.entity"}, []string{strconv.Itoa(SchemaVersion), EntityContacts})
	cs.Schema = arrow.NewSchema(all, &md)
	return cs
}

// columnName turns a fieldKey into a column name every warehouse accepts:
// letters, digits and "_", not starting with a digit.
func columnName(key string) string {
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "cf_" + s
	}
	return s
}

func customType(dataType string) arrow.DataType {
	switch strings.ToUpper(dataType) {
	case "NUMERICAL", "MONETORY", "MONETARY":
		return arrow.PrimitiveTypes.Float64
	case "DATE":
		return Timestamp
	case "MULTIPLE_OPTIONS", "CHECKBOX":
		return StringList
	default:
		return arrow.BinaryTypes.String
	}
}

func entitySchema(entity string, fs ...arrow.Field) *arrow.Schema {
	md := arrow.NewMetadata([]string{"ghlbulk.schema_version", "ghlbulk.entity"}, []string{strconv.Itoa(SchemaVersion), entity})
	return arrow.NewSchema(fs, &md)
}

// TaskSchema, NoteSchema, AppointmentSchema and DeletedSchema are the
// related-record files' schemas; each row carries its contactId.
var (
	TaskSchema = entitySchema(EntityTasks,
		arrow.Field{Name: "id", Type: arrow.BinaryTypes.String}, str("contactId"),
		str("title"), str("body"), str("assignedTo"), ts("dueDate"), flag("completed"))
	NoteSchema = entitySchema(EntityNotes,
		arrow.Field{Name: "id", Type: arrow.BinaryTypes.String}, str("contactId"),
		str("title"), str("body"), str("userId"), str("color"), flag("pinned"), ts("dateAdded"))
	AppointmentSchema = entitySchema(EntityAppointments,
		arrow.Field{Name: "id", Type: arrow.BinaryTypes.String}, str("contactId"), str("locationId"),
		str("calendarId"), str("groupId"), str("title"), str("status"), str("appointmentStatus"),
		str("assignedUserId"), list("users"), str("address"), str("notes"),
		ts("startTime"), ts("endTime"), ts("dateAdded"), ts("dateUpdated"))
	// DeletedSchema lists what an incremental run found deleted: contacts
	// and (entity, contactId) their tasks, notes and appointments. entity
	// and contactId came after id and detectedAt, and are added after them
	// so that a reader of the first two columns reads them where it did.
	DeletedSchema = entitySchema(EntityDeleted,
		arrow.Field{Name: "id", Type: arrow.BinaryTypes.String}, ts("detectedAt"),
		arrow.Field{Name: "entity", Type: arrow.BinaryTypes.String}, str("contactId"))
)

// ParseTime reads the time formats HighLevel answers with: RFC 3339 (with
// or without fraction or zone), "2006-01-02 15:04:05", a bare date, or Unix
// milliseconds. Times without a zone are taken as UTC.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	if ms, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(ms) && !math.IsInf(ms, 0) && math.Abs(ms) < 1e16 {
		return time.UnixMilli(int64(ms)).UTC(), true
	}
	return time.Time{}, false
}

func appendTime(b *array.TimestampBuilder, s string) {
	if t, ok := ParseTime(s); ok {
		b.Append(arrow.Timestamp(t.UnixMilli()))
		return
	}
	b.AppendNull()
}

func appendStr(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
		return
	}
	b.Append(s)
}

func appendList(b *array.ListBuilder, vs []string) {
	if vs == nil {
		b.AppendNull()
		return
	}
	b.Append(true)
	vb := b.ValueBuilder().(*array.StringBuilder)
	for _, v := range vs {
		vb.Append(v)
	}
}

func appendDND(b *array.StructBuilder, d ghl.DNDSettings) {
	if len(d) == 0 {
		b.AppendNull()
		return
	}
	b.Append(true)
	for i, ch := range DNDChannels {
		cb := b.FieldBuilder(i).(*array.StructBuilder)
		s, ok := d[ch]
		if !ok {
			cb.AppendNull()
			continue
		}
		cb.Append(true)
		appendStr(cb.FieldBuilder(0).(*array.StringBuilder), s.Status)
		appendStr(cb.FieldBuilder(1).(*array.StringBuilder), s.Message)
		appendStr(cb.FieldBuilder(2).(*array.StringBuilder), s.Code)
	}
}

// ContactsRecord converts contacts into one record of cs.Schema. The caller
// releases it.
func ContactsRecord(mem memory.Allocator, cs *ContactSchema, contacts []ghl.Contact) arrow.Record {
	b := array.NewRecordBuilder(mem, cs.Schema)
	defer b.Release()
	b.Reserve(len(contacts))
	s := func(i int) *array.StringBuilder { return b.Field(i).(*array.StringBuilder) }
	n := len(contactBase)
	vals := make([]json.RawMessage, len(cs.Custom))
	for _, c := range contacts {
		b.Field(0).(*array.StringBuilder).Append(c.ID)
		for i, v := range []string{c.LocationID, c.BusinessID, c.FirstName, c.LastName, c.Name, c.Email, c.Phone,
			c.CompanyName, c.Type, c.Source, c.AssignedTo, c.Address1, c.City, c.State, c.Country, c.PostalCode,
			c.Website, c.Timezone, c.DateOfBirth} {
			appendStr(s(1+i), v)
		}
		b.Field(20).(*array.BooleanBuilder).Append(c.DND)
		appendDND(b.Field(21).(*array.StructBuilder), c.DNDSettings)
		appendList(b.Field(22).(*array.ListBuilder), c.Tags)
		appendList(b.Field(23).(*array.ListBuilder), c.AdditionalEmails)
		appendTime(b.Field(24).(*array.TimestampBuilder), c.DateAdded)
		appendTime(b.Field(25).(*array.TimestampBuilder), c.DateUpdated)
		if c.CustomFields == nil {
			s(26).AppendNull()
		} else if raw, err := json.Marshal(c.CustomFields); err == nil {
			s(26).Append(string(raw))
		} else {
			s(26).AppendNull()
		}
		clear(vals)
		for _, f := range c.CustomFields {
			if i, ok := cs.byID[f.ID]; ok {
				vals[i] = f.Value
			}
		}
		for i, cc := range cs.Custom {
			appendCustom(b.Field(n+i), cc, vals[i])
		}
	}
	return b.NewRecord()
}

// appendCustom appends one custom field value converted to its column's
// type; a value that does not convert is null (the raw value is still in
// the customFields column).
func appendCustom(fb array.Builder, cc CustomColumn, raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		fb.AppendNull()
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		fb.AppendNull()
		return
	}
	switch b := fb.(type) {
	case *array.Float64Builder:
		appendNumber(b, v)
	case *array.TimestampBuilder:
		appendCustomTime(b, v)
	case *array.ListBuilder:
		appendCustomList(b, v)
	case *array.StringBuilder:
		if x, ok := v.(string); ok {
			b.Append(x)
			return
		}
		b.Append(scalarString(v))
	default:
		fb.AppendNull()
	}
}

// appendNumber appends a number, or a string holding one (thousands
// commas allowed); anything else, NaN and infinities are null.
func appendNumber(b *array.Float64Builder, v any) {
	switch x := v.(type) {
	case float64:
		b.Append(x)
	case string:
		f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(x), ",", ""), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			b.AppendNull()
			return
		}
		b.Append(f)
	default:
		b.AppendNull()
	}
}

// appendCustomTime appends epoch milliseconds (null past ±1e16, which no
// date reaches) or a date string as appendTime reads it; anything else is
// null.
func appendCustomTime(b *array.TimestampBuilder, v any) {
	switch x := v.(type) {
	case float64:
		if math.Abs(x) >= 1e16 {
			b.AppendNull()
			return
		}
		b.Append(arrow.Timestamp(int64(x)))
	case string:
		appendTime(b, x)
	default:
		b.AppendNull()
	}
}

// appendCustomList appends a JSON array as a list of its values as text;
// a single value is a list of one, and an empty string is null.
func appendCustomList(b *array.ListBuilder, v any) {
	switch x := v.(type) {
	case []any:
		vs := make([]string, 0, len(x))
		for _, e := range x {
			vs = append(vs, scalarString(e))
		}
		appendList(b, vs)
	case string:
		if x == "" {
			b.AppendNull()
			return
		}
		appendList(b, []string{x})
	default:
		appendList(b, []string{scalarString(x)})
	}
}

// scalarString renders a decoded JSON value as text: strings as they are,
// anything else as compact JSON.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

// TasksRecord converts tasks into one record of TaskSchema. A task without
// a contactId takes contactID.
func TasksRecord(mem memory.Allocator, tasks []ghl.Task) arrow.Record {
	b := array.NewRecordBuilder(mem, TaskSchema)
	defer b.Release()
	for _, t := range tasks {
		b.Field(0).(*array.StringBuilder).Append(t.ID)
		appendStr(b.Field(1).(*array.StringBuilder), t.ContactID)
		appendStr(b.Field(2).(*array.StringBuilder), t.Title)
		appendStr(b.Field(3).(*array.StringBuilder), t.Body)
		appendStr(b.Field(4).(*array.StringBuilder), t.AssignedTo)
		appendTime(b.Field(5).(*array.TimestampBuilder), t.DueDate)
		b.Field(6).(*array.BooleanBuilder).Append(t.Completed)
	}
	return b.NewRecord()
}

// NotesRecord converts notes into one record of NoteSchema.
func NotesRecord(mem memory.Allocator, notes []ghl.Note) arrow.Record {
	b := array.NewRecordBuilder(mem, NoteSchema)
	defer b.Release()
	for _, n := range notes {
		b.Field(0).(*array.StringBuilder).Append(n.ID)
		appendStr(b.Field(1).(*array.StringBuilder), n.ContactID)
		appendStr(b.Field(2).(*array.StringBuilder), n.Title)
		appendStr(b.Field(3).(*array.StringBuilder), n.Body)
		appendStr(b.Field(4).(*array.StringBuilder), n.UserID)
		appendStr(b.Field(5).(*array.StringBuilder), n.Color)
		b.Field(6).(*array.BooleanBuilder).Append(n.Pinned)
		appendTime(b.Field(7).(*array.TimestampBuilder), n.DateAdded)
	}
	return b.NewRecord()
}

// AppointmentsRecord converts appointments into one record of
// AppointmentSchema.
func AppointmentsRecord(mem memory.Allocator, appts []ghl.Appointment) arrow.Record {
	b := array.NewRecordBuilder(mem, AppointmentSchema)
	defer b.Release()
	for _, a := range appts {
		b.Field(0).(*array.StringBuilder).Append(a.ID)
		for i, v := range []string{a.ContactID, a.LocationID, a.CalendarID, a.GroupID, a.Title, a.Status,
			a.AppointmentStatus, a.AssignedUserID} {
			appendStr(b.Field(1+i).(*array.StringBuilder), v)
		}
		appendList(b.Field(9).(*array.ListBuilder), a.Users)
		appendStr(b.Field(10).(*array.StringBuilder), a.Address)
		appendStr(b.Field(11).(*array.StringBuilder), a.Notes)
		appendTime(b.Field(12).(*array.TimestampBuilder), a.StartTime)
		appendTime(b.Field(13).(*array.TimestampBuilder), a.EndTime)
		appendTime(b.Field(14).(*array.TimestampBuilder), a.DateAdded)
		appendTime(b.Field(15).(*array.TimestampBuilder), a.DateUpdated)
	}
	return b.NewRecord()
}

// Deleted is one row of the deleted file: a record of Entity found gone.
type Deleted struct {
	Entity    string // contacts, tasks, notes or appointments
	ID        string
	ContactID string // the record's contact; "" for a contact
}

// DeletedRecord is one record of DeletedSchema: rows found deleted at t.
func DeletedRecord(mem memory.Allocator, rows []Deleted, t time.Time) arrow.Record {
	b := array.NewRecordBuilder(mem, DeletedSchema)
	defer b.Release()
	for _, d := range rows {
		b.Field(0).(*array.StringBuilder).Append(d.ID)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(t.UTC().UnixMilli()))
		b.Field(2).(*array.StringBuilder).Append(d.Entity)
		appendStr(b.Field(3).(*array.StringBuilder), d.ContactID)
	}
	return b.NewRecord()
}
