package match_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ghlbulk/ghlbulk/jobs/conflict"
	"github.com/ghlbulk/ghlbulk/jobs/predict"
	"github.com/ghlbulk/ghlbulk/record"
)

// validate's prediction and import's conflict screen call the same rows
// conflicts, with the same two contacts, under the default rule; and the
// same rows takeovers (#14), of the same contact.
func TestPredictAndScreenAgree(t *testing.T) {
	ctx := context.Background()
	location := [][3]string{{"A", "ann@x.io", "+12125550101"}, {"B", "bob@x.io", "+12125550102"}, {"C", "", "+12125550103"}}
	rows := [][2]string{
		{"ann@x.io", "+12125550102"}, // A's email, B's phone
		{"ann@x.io", "+12125550101"},
		{"cy@x.io", "+12125550103"}, // C by phone
		{"bob@x.io", "+12125550103"},
		{"new@x.io", "+12125550199"},
		{"", "+12125550102"},
		{"dan@x.io", ""},
		{"zed@x.io", "+12125550101"}, // A's phone, another email: a takeover
		{"zed@x.io", "1-212-555-0101"},
	}
	for i, r := range rows {
		t.Run(fmt.Sprintf("%s %s", r[0], r[1]), func(t *testing.T) {
			// Fresh indexes per row: the two record a row's effect
			// differently (the prediction moves a changed email), which
			// is theirs to decide; the rule is shared.
			x, err := conflict.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			idx := predict.NewIndex(len(location))
			for _, c := range location {
				idx.Add(c[0], c[1], c[2])
				if err := x.Add(ctx, c[0], c[1], c[2]); err != nil {
					t.Fatal(err)
				}
			}
			v, err := x.Judge(ctx, r[0], r[1], "US", "row 1")
			if err != nil {
				t.Fatal(err)
			}
			rec := record.Row{File: "in.csv", Row: int64(i + 1), Key: "k" + fmt.Sprint(i)}
			if r[0] != "" {
				rec.Contact.Email = &r[0]
			}
			if r[1] != "" {
				rec.Contact.Phone = &r[1]
			}
			d := predict.New(idx, predict.Options{}).Judge(&rec)
			isConflict := d.Action == predict.Conflict
			if v.Stopped() != isConflict || (v.Conflict && (v.First != d.ContactID || v.Other != d.OtherContactID)) ||
				(v.Takeover && v.Owner.Contact != d.ContactID) {
				t.Errorf("screen %+v, prediction %s %s/%s", v, d.Action, d.ContactID, d.OtherContactID)
			}
		})
	}
}
