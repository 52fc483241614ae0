package pipeline

import (
	"errors"
	"hash/fnv"
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// reasonErr is a mapping's row error: its Reason has no row number.
type reasonErr struct{}

func (reasonErr) Error() string  { return "row 7: email \"x\": not an email" }
func (reasonErr) Reason() string { return "email \"x\": not an email" }

func TestJudgeRow(t *testing.T) {
	const key, hash = "email:a@example.com", "h1"
	ok := func() *record.Row { return &record.Row{Row: 7, Key: key, Hash: hash} }
	with := func(f func(r *record.Row)) *record.Row { r := ok(); f(r); return r }
	done := func(hash, status, id string) *RowRecord {
		return &RowRecord{Hash: hash, Status: status, ContactID: id}
	}
	first := RowAt{File: "a.csv", Row: 3}
	cases := []struct {
		name string
		rec  *record.Row
		f    RowFacts
		want Verdict
	}{
		{"new row: written", ok(), RowFacts{}, Verdict{Fate: FateWrite}},
		{"known contact, new content: written to it", ok(), RowFacts{Known: ContactRecord{ContactID: "c1", Hash: "old"}},
			Verdict{Fate: FateWrite, ContactID: "c1"}},
		{"checkpointed with this content: replayed", ok(), RowFacts{Done: done(hash, record.StatusCreated, "c1")},
			Verdict{Fate: FateSettled, Status: record.StatusCreated, ContactID: "c1", Replay: true}},
		{"checkpointed rejected: replayed as rejected", with(func(r *record.Row) { r.Key, r.Hash = "", "" }),
			RowFacts{Done: done("", record.StatusRejected, "")}, Verdict{Fate: FateSettled, Status: record.StatusRejected, Replay: true}},
		{"replay wins over everything after it", ok(),
			RowFacts{Done: done(hash, record.StatusUpdated, "c1"), KeyFirst: first, InFlight: true, Known: ContactRecord{ContactID: "c1", Hash: hash}},
			Verdict{Fate: FateSettled, Status: record.StatusUpdated, ContactID: "c1", Replay: true}},
		{"checkpointed with other content: judged afresh", ok(), RowFacts{Done: done("other", record.StatusCreated, "c1")},
			Verdict{Fate: FateWrite}},
		{"mapping error: rejected with its reason", with(func(r *record.Row) { r.Err = reasonErr{} }), RowFacts{},
			Verdict{Fate: FateSettled, Status: record.StatusRejected, Reason: "email \"x\": not an email"}},
		{"plain error: rejected with its text", with(func(r *record.Row) { r.Err = errors.New("bad row") }), RowFacts{},
			Verdict{Fate: FateSettled, Status: record.StatusRejected, Reason: "bad row"}},
		{"no key: rejected", with(func(r *record.Row) { r.Key = "" }), RowFacts{},
			Verdict{Fate: FateSettled, Status: record.StatusRejected, Reason: ReasonNoKey}},
		{"mapping error before no key", with(func(r *record.Row) { r.Key, r.Err = "", errors.New("bad row") }), RowFacts{},
			Verdict{Fate: FateSettled, Status: record.StatusRejected, Reason: "bad row"}},
		{"key seen before (duplicates: report): rejected", ok(), RowFacts{KeyFirst: first, Known: ContactRecord{ContactID: "c1", Hash: hash}},
			Verdict{Fate: FateSettled, Status: record.StatusRejected, Reason: "repeats the match key of row 3 of a.csv (the mapping says duplicates: report)"}},
		{"ID map has this content: unchanged", ok(), RowFacts{Known: ContactRecord{ContactID: "c1", Hash: hash}, InFlight: true},
			Verdict{Fate: FateSettled, Status: record.StatusUnchanged, ContactID: "c1"}},
		{"no content hash: never unchanged", with(func(r *record.Row) { r.Hash = "" }), RowFacts{Known: ContactRecord{ContactID: "c1"}},
			Verdict{Fate: FateWrite, ContactID: "c1"}},
		{"repeats a row in flight: repeat", ok(), RowFacts{InFlight: true}, Verdict{Fate: FateRepeat}},
		{"repeat keeps the known contact", ok(), RowFacts{InFlight: true, Known: ContactRecord{ContactID: "c1", Hash: "old"}},
			Verdict{Fate: FateRepeat, ContactID: "c1"}},
		{"no content hash: never a repeat", with(func(r *record.Row) { r.Hash = "" }), RowFacts{InFlight: true}, Verdict{Fate: FateWrite}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := JudgeRow(c.rec, c.f); got != c.want {
				t.Errorf("JudgeRow = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestKeyPlaces(t *testing.T) {
	k := NewKeyPlaces([]string{"a.csv", "b.csv"})
	steps := []struct {
		rec  record.Row
		file int
		want RowAt
	}{
		{record.Row{Row: 1, Key: "email:a"}, 0, RowAt{}},
		{record.Row{Row: 2, Key: "email:b", Err: errors.New("bad")}, 0, RowAt{}}, // a reject is not remembered
		{record.Row{Row: 3, Key: ""}, 0, RowAt{}},
		{record.Row{Row: 4, Key: "email:b"}, 0, RowAt{}},
		{record.Row{Row: 5, Key: "email:a"}, 0, RowAt{File: "a.csv", Row: 1}},
		{record.Row{Row: 1, Key: "email:b"}, 1, RowAt{File: "a.csv", Row: 4}},
		{record.Row{Row: 2, Key: "email:c"}, 1, RowAt{}},
		{record.Row{Row: 3, Key: "email:c"}, 1, RowAt{File: "b.csv", Row: 2}},
	}
	for i, s := range steps {
		if got := k.First(&s.rec, s.file); got != s.want {
			t.Errorf("step %d (row %d of file %d, key %q): First = %+v, want %+v", i, s.rec.Row, s.file, s.rec.Key, got, s.want)
		}
	}
	var none *KeyPlaces // duplicates merged: nothing remembered
	for range 2 {
		if got := none.First(&record.Row{Row: 1, Key: "email:a"}, 0); got != (RowAt{}) {
			t.Errorf("nil KeyPlaces: First = %+v", got)
		}
	}
}

func TestSubKey(t *testing.T) {
	// The sinks index the journal by record.RelatedKey and the planner reads it the
	// same way: two entries differing in any part must not meet.
	keys := map[string]bool{}
	for _, ref := range []record.RelatedRef{
		{Kind: record.KindNote, ContentHash: "h", Seq: 0},
		{Kind: record.KindNote, ContentHash: "h", Seq: 1},
		{Kind: record.KindTask, ContentHash: "h", Seq: 0},
		{Kind: record.KindNote, ContentHash: "h1", Seq: 0},
	} {
		k := ref.JournalKey()
		if k != record.RelatedKey(ref.Kind, ref.ContentHash, ref.Seq) {
			t.Errorf("JournalKey %q differs from record.RelatedKey", k)
		}
		if keys[k] {
			t.Errorf("%+v: key %q taken", ref, k)
		}
		keys[k] = true
	}
	if got := record.RelatedKey(record.KindNote, "abc", 2); got != record.KindNote+"\x00abc\x002" {
		t.Errorf("record.RelatedKey = %q", got)
	}
}

func TestRowDigest(t *testing.T) {
	if RowDigest("email:a", "h") == RowDigest("email:a", "") || RowDigest("email:a", "h") == RowDigest("email:ah", "") {
		t.Error("a key and a content hash must not run together")
	}
	for _, kh := range [][2]string{{"", ""}, {"email:a@b.c", "9f3a"}, {"phone:+15550100", ""}} {
		f := fnv.New64a()
		f.Write([]byte(kh[0] + "\x00" + kh[1]))
		if got := RowDigest(kh[0], kh[1]); got != f.Sum64() {
			t.Errorf("RowDigest(%q, %q) = %x, FNV-1a says %x", kh[0], kh[1], got, f.Sum64())
		}
	}
	if RowDigest("email:a", "h") != RowDigest("email:a", "h") {
		t.Error("RowDigest is not stable")
	}
}
