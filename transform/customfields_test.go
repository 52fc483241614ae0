package transform

import (
	"reflect"
	"strings"
	"testing"
)

// Option fields take only their options (spelled as the field spells
// them), a normalize: map translates source values first, and businessId
// is a contact field (kept off the upsert's JSON).
func TestCustomFieldOptions(t *testing.T) {
	mapping := `version: 1
fields:
  email: Email
  businessId: Company
custom_fields:
  lifecycle_stage:
    column: Stage
    normalize: { salesqualifiedlead: SQL, "Marketing Qualified": mql }
  interests: { column: Interests, normalize: { cooking: Food } }
`
	header := []string{"Email", "Stage", "Interests", "Company"}
	tests := []struct {
		name, stage, interests string
		wantErr                string // "" : the row is written
		wantStage              any
		wantInterests          any
	}{
		{"option", "customer", "", "", "Customer", nil},
		{"mapped", "salesqualifiedlead", "", "", "SQL", nil},
		{"mapped ignoring case", " marketing qualified ", "", "", "MQL", nil},
		{"not an option", "bogus-stage", "", `custom field contact.lifecycle_stage: "bogus-stage" is not one of: Lead, MQL, SQL, Customer, Churned`, nil, nil},
		{"multi mapped", "", "golf; cooking", "", nil, []string{"Golf", "Food"}},
		{"multi not an option", "", "golf;chess", `custom field contact.interests: "chess" is not one of: Golf, Travel, Food`, nil, nil},
	}
	m := compile(t, mapping, header)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := stringRecord(t, header, [][]string{{"a@b.co", tt.stage, tt.interests, "biz_1"}})
			defer rec.Release()
			r := m.Apply(rec, "f.csv", 1)[0]
			if tt.wantErr != "" {
				if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", r.Err, tt.wantErr)
				}
				return
			}
			if r.Err != nil {
				t.Fatalf("rejected: %v", r.Err)
			}
			got := map[string]any{}
			for _, f := range r.Contact.CustomFields {
				got[f.Key] = f.FieldValue
			}
			if tt.wantStage != nil && !reflect.DeepEqual(got["contact.lifecycle_stage"], tt.wantStage) {
				t.Errorf("lifecycle_stage = %#v, want %#v", got["contact.lifecycle_stage"], tt.wantStage)
			}
			if tt.wantInterests != nil && !reflect.DeepEqual(got["contact.interests"], tt.wantInterests) {
				t.Errorf("interests = %#v, want %#v", got["contact.interests"], tt.wantInterests)
			}
			if r.Contact.BusinessID == nil || *r.Contact.BusinessID != "biz_1" {
				t.Errorf("BusinessID = %v, want biz_1", r.Contact.BusinessID)
			}
		})
	}
}

// A custom field the location lacks is created as its type: says; one
// without a type: is a lint asking for it.
func TestMissingCustomFields(t *testing.T) {
	spec, err := ParseMapping("m.yaml", []byte(`version: 1
fields: { email: Email }
custom_fields:
  lifecycle_stage: Stage
  contact.deal_stage: { column: Deal, type: single_options, options: [Open, Won, Lost] }
  nps_score: { column: NPS, type: NUMERICAL, name: "NPS" }
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := spec.MissingCustomFields(sandboxFields)
	if err != nil {
		t.Fatal(err)
	}
	want := []FieldToCreate{
		{Key: "deal_stage", Name: "Deal Stage", DataType: "SINGLE_OPTIONS", Options: []string{"Open", "Won", "Lost"}},
		{Key: "nps_score", Name: "NPS", DataType: "NUMERICAL"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MissingCustomFields = %+v, want %+v", got, want)
	}

	spec, err = ParseMapping("m.yaml", []byte("version: 1\nfields: { email: Email }\ncustom_fields:\n  nps: NPS\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spec.MissingCustomFields(sandboxFields); err == nil || !strings.Contains(err.Error(), "no type:") {
		t.Errorf("untyped missing field: err = %v, want a lint asking for type:", err)
	}
}

func TestCustomFieldLints(t *testing.T) {
	tests := []struct{ name, custom, want string }{
		{"unknown type", "{ column: A, type: STRING }", `type "STRING": not a custom field type`},
		{"options without an option type", "{ column: A, type: TEXT, options: [x] }", "options: only go with type:"},
		{"type without a source", "{ type: TEXT }", "give exactly one of column, value or expr"},
		{"normalize map value not text", "{ column: A, normalize: { a: [b] } }", "expected the value to write instead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMapping("m.yaml", []byte("version: 1\nfields: { email: Email }\ncustom_fields:\n  x: "+tt.custom+"\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	_, err := ParseMapping("m.yaml", []byte("version: 1\nfields:\n  email: { column: Email, normalize: { a: b } }\n"))
	if err == nil || !strings.Contains(err.Error(), "goes with custom_fields") {
		t.Errorf("normalize map on a contact field: err = %v", err)
	}
}
