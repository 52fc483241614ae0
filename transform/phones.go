package transform

import (
	"fmt"
	"strings"

	"github.com/ghlbulk/ghlbulk/record"
)

// rowRegion is the phone region of the row being mapped: its
// phone_region_column's country (a name or an ISO code, through
// NormalizeCountry) when that is a region libphonenumber knows, else the
// mapping's phone_region. A French number on a row whose Country/Region is
// France is read as French, whatever the file's default.
func (st *state) rowRegion() string {
	g := st.m.regionCol
	if g.kind == kindNone || g.col < 0 || g.col >= len(st.raw) {
		return st.m.spec.phoneRegion
	}
	if r := NormalizeCountry(st.raw[g.col]); validRegion(r) {
		return r
	}
	return st.m.spec.phoneRegion
}

// normalizeIn is normalize with the row's phone region.
func (st *state) normalizeIn(how, v string) (string, error) {
	if how == "phone" {
		return NormalizePhone(v, st.region)
	}
	return normalize(how, v, st.m.spec)
}

// dropInvalid decides whether the contact field what's invalid value
// (err) is left out rather than rejecting the row: the email or phone
// field when invalid_phone is drop. Whether the row keeps its contact is
// told at its end (keepDropped), once both are known.
func (st *state) dropInvalid(what, v string, err error) bool {
	if st.m.spec.invalidPhone != "drop" || (what != "phone" && what != "email") {
		return false
	}
	st.dropped = append(st.dropped, droppedField{name: what, why: fmt.Sprintf("%s %q: %v", what, strings.TrimSpace(v), err)})
	return true
}

type droppedField struct{ name, why string }

// keepDropped settles a row that had an invalid email or phone left out:
// it keeps its contact when the other is there and valid (saying so in
// r.Dropped, for the run's counter and warning), and is rejected with the
// invalid value's reason when that was all it had.
func (st *state) keepDropped(r *record.Row) {
	for _, d := range st.dropped {
		other := r.Contact.Email
		col := "phone"
		if d.name == "email" {
			other, col = r.Contact.Phone, "email"
		}
		if other == nil {
			st.fail(st.fieldColumn(col), fmt.Errorf("%s", d.why))
			continue
		}
		r.Dropped = append(r.Dropped, record.Dropped{Field: d.name,
			Why: d.why + " (left out: the contact is kept with its " + map[string]string{"phone": "email", "email": "phone"}[d.name] + ")"})
	}
	st.dropped = st.dropped[:0]
}

// fieldColumn is the column a contact field is read from (its name when
// it is a value or an expression).
func (st *state) fieldColumn(name string) string {
	for _, f := range st.m.fields {
		if f.name == name {
			return sourceName(f.get, name)
		}
	}
	return name
}
