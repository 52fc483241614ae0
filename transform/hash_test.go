package transform

import (
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/record"
)

// TestHashPinned pins the content hash of a few rows: states on disk keep
// it as each row's content, so a change to how it is computed must leave
// every digest as it was, or every existing state's rows would look
// changed and be written again.
func TestHashPinned(t *testing.T) {
	s := func(v string) *string { return &v }
	yes := true
	cases := []struct {
		name string
		row  record.Row
		want string
	}{
		{"empty", record.Row{}, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"fields and tags", record.Row{
			Contact: ghl.UpsertContactRequest{FirstName: s("Ana"), LastName: s("López"), Email: s("ana@example.com"),
				Phone: s("+14155550100"), City: s("Zürich"), DND: &yes},
			Tags: []string{"vip", "b", "a", "stage:lead"},
		}, "4335e8332a7784fddd29e67acc048dd539ba1158265503f3fa8971b9eddd07e4"},
		{"custom fields, notes, tasks, deletes", record.Row{
			Contact: ghl.UpsertContactRequest{Email: s("x@example.com"), CustomFields: []ghl.CustomFieldInput{
				{ID: "zz", FieldValue: "text \"quoted\" <b>"}, {ID: "aa", FieldValue: 42}, {ID: "mm", FieldValue: []string{"x", "y"}}}},
			Notes:       []ghl.NoteInput{{Title: "t", Body: "note body"}},
			Tasks:       []ghl.TaskInput{{Title: "Call", Body: "b", DueDate: "2026-12-01T00:00:00Z", Completed: true}, {Title: "Two"}},
			Deletes:     []int{1},
			TaskDeletes: []int{0, 2},
		}, "baedcd8226fbde5eb136eb8c8c1be191fc76eb13af10757862ec7421d56a2c65"},
	}
	st := &state{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tags := append([]string(nil), tc.row.Tags...)
			for range 2 { // twice: the state's reused buffers change nothing
				if got := st.hash(&tc.row); got != tc.want {
					t.Errorf("hash = %s, want %s", got, tc.want)
				}
			}
			for i := range tags {
				if tc.row.Tags[i] != tags[i] {
					t.Fatalf("hash reordered the row's tags: %v", tc.row.Tags)
				}
			}
		})
	}
}
