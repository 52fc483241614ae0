package pipeline

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWriteRejects(t *testing.T) {
	tests := []struct {
		name    string
		headers [][]string
		rejects []RejectRecord
		want    [][]string
	}{
		{
			name:    "one file",
			headers: [][]string{{"email", "phone"}},
			rejects: []RejectRecord{{File: "a.csv", Row: 2, Raw: []string{"x", "1,2\n3"}, Header: []string{"email", "phone"}, Reason: `phone "1,2\n3": not a number`}},
			want:    [][]string{{"email", "phone", "_row", "_file", "_reason"}, {"x", "1,2\n3", "2", "a.csv", `phone "1,2\n3": not a number`}},
		},
		{
			name:    "none",
			headers: [][]string{{"email"}},
			want:    [][]string{{"email", "_row", "_file", "_reason"}},
		},
		{
			name:    "two headers",
			headers: [][]string{{"email", "phone"}, {"phone", "name"}},
			rejects: []RejectRecord{
				{File: "a.csv", Row: 1, Raw: []string{"e", "p"}, Header: []string{"email", "phone"}, Reason: "r1"},
				{File: "b.csv", Row: 7, Raw: []string{"p2", "n2"}, Header: []string{"phone", "name"}, Reason: "422 Unprocessable Entity: bad"},
			},
			want: [][]string{
				{"email", "phone", "name", "_row", "_file", "_reason"},
				{"e", "p", "", "1", "a.csv", "r1"},
				{"", "p2", "n2", "7", "b.csv", "422 Unprocessable Entity: bad"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "rejects.csv")
			os.WriteFile(path, []byte("stale"), 0o644)
			n, err := WriteRejects(path, tc.headers, sliceRejects(tc.rejects))
			if err != nil || n != len(tc.rejects) {
				t.Fatalf("WriteRejects = %d, %v", n, err)
			}
			f, _ := os.Open(path)
			defer f.Close()
			got, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

func TestWriteRejectsFailureKeepsOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rejects.csv")
	os.WriteFile(path, []byte("old\n"), 0o644)
	boom := errors.New("boom")
	_, err := WriteRejects(path, [][]string{{"a"}}, func(yield func(RejectRecord, error) bool) {
		if yield(RejectRecord{Row: 1, Raw: []string{"x"}}, nil) {
			yield(RejectRecord{}, boom)
		}
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("old file replaced by %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temp file left: %v", ents)
	}
}
