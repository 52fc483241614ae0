package sinks

import (
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// DecideSource is what the run and the planner both act on: each journal
// state with each row gives one request kind, or none.
func TestDecideSource(t *testing.T) {
	done := record.SourceEntry{RemoteID: "r1", Written: "h1", State: record.SourceDone}
	pendingCreate := record.SourceEntry{Op: record.OpCreate, Want: "h1", State: record.SourcePending}
	pendingUpdate := record.SourceEntry{RemoteID: "r1", Written: "h0", Want: "h1", Op: record.OpUpdate, State: record.SourcePending}
	pendingDelete := record.SourceEntry{RemoteID: "r1", Written: "h1", Op: record.OpDelete, State: record.SourcePending}
	deleted := record.SourceEntry{RemoteID: "r1", State: record.SourceDeleted}
	cases := []struct {
		name           string
		e              record.SourceEntry
		ok             bool
		want           string
		legacy, lookup bool
		act            SourceAction
	}{
		{"new", record.SourceEntry{}, false, "h1", false, false, SourceCreate},
		{"new, --lookup-existing", record.SourceEntry{}, false, "h1", false, true, SourceFind},
		{"written by an older ghlbulk", record.SourceEntry{}, false, "h1", true, false, SourceAdopt},
		{"as written", done, true, "h1", false, false, SourceNone},
		{"changed", done, true, "h2", false, false, SourceUpdate},
		{"create killed", pendingCreate, true, "h1", false, false, SourceFind},
		{"update killed", pendingUpdate, true, "h1", false, false, SourceUpdate},
		{"delete killed, row back", pendingDelete, true, "h1", false, false, SourceUpdate},
		{"deleted, row back", deleted, true, "h1", false, false, SourceCreate},
		{"delete", done, true, "", false, false, SourceDelete},
		{"delete killed", pendingDelete, true, "", false, false, SourceDelete},
		{"delete, already", deleted, true, "", false, false, SourceNone},
		{"delete, never written", record.SourceEntry{}, false, "", false, false, SourceNone},
		{"delete, create unheard", pendingCreate, true, "", false, false, SourceNone},
	}
	for _, tc := range cases {
		if got := DecideSource(tc.e, tc.ok, tc.want, tc.legacy, tc.lookup); got != tc.act {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.act)
		}
	}
}

// Presence protects a rejected row's records by its source_key, and
// refuses when a rejected row's source_key could not be read.
func TestPresenceMissing(t *testing.T) {
	entries := []record.SourceEntry{
		{Identity: record.SourceIdentity("c1", "A", 0), SourceKey: "A", RemoteID: "r1", State: record.SourceDone},
		{Identity: record.SourceIdentity("c1", "B", 0), SourceKey: "B", RemoteID: "r2", State: record.SourceDone},
		{Identity: record.SourceIdentity("c1", "C", 0), SourceKey: "C", RemoteID: "r3", State: record.SourceDone},
	}
	p := NewPresence()
	p.Add([]record.Row{
		{SourceKey: "A", ContactID: "c1", Items: []int{0}},
		{SourceKey: "B", Err: errTest, Raw: []string{"B", "bad date"}},
	})
	gone, err := p.Missing(entries)
	if err != nil || len(gone) != 1 || gone[0].SourceKey != "C" {
		t.Errorf("missing %v, %v; want C only", gone, err)
	}
	p.Add([]record.Row{{Err: errTest, Raw: []string{"\xff"}}})
	if _, err := p.Missing(entries); err == nil {
		t.Error("a row rejected before its source_key was read: want a refusal")
	}
}

var errTest = testErr("bad")

type testErr string

func (e testErr) Error() string { return string(e) }
