package transform

import (
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// TestPhoneRegionAndDrop: a row's country sets its phone region, and an
// invalid phone (or email) costs the row that value, not the contact,
// unless invalid_phone: reject.
func TestPhoneRegionAndDrop(t *testing.T) {
	header := []string{"Email", "Phone", "Country/Region"}
	rows := [][]string{
		{"marie@example.fr", "01 42 68 53 00", "France"},
		{"hans@example.de", "030 1234567", "DE"},
		{"ann@example.com", "(212) 555-0148", ""},
		{"pierre@example.fr", "12", "France"},
		{"", "12", "France"},
		{"not-an-email", "020 7946 0958", "United Kingdom"},
		{"", "01 42 68 53 00", "Atlantis"},
	}
	const mapping = "version: 1\ndefaults:\n  phone_region: US\n  phone_region_column: Country/Region\n%s" +
		"fields:\n  email: Email\n  phone: Phone\n  country: Country/Region\n"
	tests := []struct {
		name, extra string
		want        []string // per row: phone|email|dropped, or "reject: ..."
	}{
		{"drop", "", []string{
			"+33142685300|marie@example.fr|",
			"+49301234567|hans@example.de|",
			"+12125550148|ann@example.com|",
			`|pierre@example.fr|phone "12": not a valid number for region FR (left out: the contact is kept with its email)`,
			`reject: phone "12": not a valid number for region FR`,
			`+442079460958||email "not-an-email": not a valid email address (left out: the contact is kept with its phone)`,
			`reject: phone "01 42 68 53 00": not a valid number for region US`,
		}},
		{"reject", "  invalid_phone: reject\n", []string{
			"+33142685300|marie@example.fr|",
			"+49301234567|hans@example.de|",
			"+12125550148|ann@example.com|",
			`reject: phone "12": not a valid number for region FR`,
			`reject: phone "12": not a valid number for region FR`,
			`reject: email "not-an-email": not a valid email address`,
			`reject: phone "01 42 68 53 00": not a valid number for region US`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compile(t, strings.Replace(mapping, "%s", tt.extra, 1), header)
			out := m.Apply(stringRecord(t, header, rows), "f.csv", 1)
			for i, r := range out {
				var got string
				if r.Err != nil {
					got = "reject: " + r.Err.(*RowError).Reason()
				} else {
					got = deref(r.Contact.Phone) + "|" + deref(r.Contact.Email) + "|" + droppedWhys(r.Dropped)
				}
				if got != tt.want[i] {
					t.Errorf("row %d = %s\n        want %s", i+1, got, tt.want[i])
				}
			}
		})
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func droppedWhys(ds []record.Dropped) string {
	var w []string
	for _, d := range ds {
		w = append(w, d.Why)
	}
	return strings.Join(w, ";")
}
