package transform

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// summary is a row as the golden files show it.
type summary struct {
	Row       int64    `json:"row"`
	Reject    string   `json:"reject,omitempty"`
	Column    string   `json:"column,omitempty"`
	Key       string   `json:"key,omitempty"`
	SourceKey string   `json:"sourceKey,omitempty"`
	Contact   any      `json:"contact,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Notes     any      `json:"notes,omitempty"`
	Tasks     any      `json:"tasks,omitempty"`
	Hash      string   `json:"hash,omitempty"`
}

func TestPresets(t *testing.T) {
	tests := []struct {
		mapping, sample string
		rejects         int
	}{
		{"hubspot.yaml", "hubspot-contacts.csv", 0},
		{"salesforce.yaml", "salesforce-contacts.csv", 0},
		{"mailchimp.yaml", "mailchimp-audience.csv", 0},
		{"generic.yaml", "dirty.csv", 6},
	}
	for _, tt := range tests {
		t.Run(tt.mapping, func(t *testing.T) {
			spec, err := LoadMapping(filepath.Join("..", "mappings", tt.mapping))
			if err != nil {
				t.Fatalf("LoadMapping: %v", err)
			}
			header, rows := readCSV(t, filepath.Join("..", "samples", tt.sample))
			m, err := spec.Compile(header, sandboxFields)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			rec := stringRecord(t, header, rows)
			defer rec.Release()
			out := m.Apply(rec, tt.sample, 1)
			if len(out) != len(rows) {
				t.Fatalf("%d rows out for %d in", len(out), len(rows))
			}
			var sums []summary
			rejects := 0
			for _, r := range out {
				s := summary{Row: r.Row}
				if r.Err != nil {
					rejects++
					s.Reject = r.Err.Error()
					s.Column = r.Err.(*RowError).Column
				} else {
					s.Key, s.SourceKey, s.Contact, s.Tags, s.Hash = r.Key, r.SourceKey, r.Contact, r.Tags, r.Hash
					if len(r.Notes) > 0 {
						s.Notes = r.Notes
					}
					if len(r.Tasks) > 0 {
						s.Tasks = r.Tasks
					}
				}
				sums = append(sums, s)
			}
			if rejects != tt.rejects {
				for _, s := range sums {
					if s.Reject != "" {
						t.Log(s.Reject)
					}
				}
				t.Errorf("%d rejects, want %d", rejects, tt.rejects)
			}
			got, _ := json.MarshalIndent(sums, "", "  ")
			golden := filepath.Join("testdata", strings.TrimSuffix(tt.mapping, ".yaml")+".golden.json")
			if *update {
				os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(want) != string(got)+"\n" {
				t.Errorf("output differs from %s (go test -run TestPresets -update to accept); got:\n%s", golden, got)
			}
		})
	}
}
