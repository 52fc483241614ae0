package pipeline

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestRejectSpill round-trips a dry run's rejects through the scratch file:
// in order, byte for byte (a Latin-1 byte, an empty value, a long value),
// each with its file's header, and no file left behind in TMPDIR.
func TestRejectSpill(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	headers := map[string][]string{"a.csv": {"email", "name"}, "b.csv": {"phone"}}
	cases := []struct {
		name string
		in   []RejectRecord
	}{
		{"none", nil},
		{"one", []RejectRecord{{File: "a.csv", Row: 2, Raw: []string{"x@", "Ana"}, Reason: "email: not valid"}}},
		{"bytes as read", []RejectRecord{
			{File: "a.csv", Row: 7, Raw: []string{"caf\xe9", ""}, Reason: "no email or phone"},
			{File: "b.csv", Row: 1 << 40, Raw: []string{strings.Repeat("9", 70000)}, Reason: "phone: too long"},
			{File: "a.csv", Row: 9, Raw: nil, Reason: "empty row"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s rejectSpill
			defer s.Close()
			for _, r := range tc.in {
				s.add(r)
			}
			var got []RejectRecord
			for r, err := range s.all(headers) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r)
			}
			if len(got) != len(tc.in) {
				t.Fatalf("got %d rejects back, want %d", len(got), len(tc.in))
			}
			for i, want := range tc.in {
				want.Header = headers[want.File]
				if want.Raw == nil {
					want.Raw = []string{}
				}
				if !reflect.DeepEqual(got[i], want) {
					t.Errorf("reject %d = %+v, want %+v", i, got[i], want)
				}
			}
			s.Close()
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("scratch files left in TMPDIR: %v", left)
			}
		})
	}
}
