package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// tagSink is fakeSink that leaves tags for the run to add (a TagWriter, as
// sinks.GHL is), records which tags each contact got, refuses the contacts
// in refuse, and fails with fault from its failAt-th request on.
type tagSink struct {
	*fakeSink
	mu     sync.Mutex
	got    map[string]map[string]bool // contact id -> tags added
	calls  int
	failAt int
	fault  error
	refuse string // the key whose contact's tags are refused
}

func rowTags(key string) []string { return []string{"all", fmt.Sprint("g", len(key)%5)} }

func (s *tagSink) Write(ctx context.Context, m record.Meter, it record.Item) (record.Outcome, error) {
	out, err := s.fakeSink.Write(ctx, m, it)
	if out.Status == record.StatusCreated || out.Status == record.StatusUpdated {
		out.Tags = record.NormTags(rowTags(it.Row.Key))
	}
	return out, err
}

func (s *tagSink) AddTags(_ context.Context, m record.Meter, tags, ids []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	m.TagCall()
	if s.failAt > 0 && s.calls >= s.failAt {
		return nil, s.fault
	}
	s.fakeSink.mu.Lock()
	victim := s.ids[s.refuse]
	s.fakeSink.mu.Unlock()
	refused := map[string]string{}
	for _, id := range ids {
		if id == victim {
			refused[id] = "tags: 400 Bad Request: Contact not found"
			continue
		}
		if s.got[id] == nil {
			s.got[id] = map[string]bool{}
		}
		for _, t := range tags {
			s.got[id][t] = true
		}
	}
	return refused, nil
}

// TestRunImportTagIntents: tags are added in requests shared across lanes
// and groups after the rows are checkpointed; a run that stops first leaves
// them journaled and the next run adds them before anything else; a
// contact the API refuses them for makes its rows rejects; a finished run
// again adds nothing.
func TestRunImportTagIntents(t *testing.T) {
	e := newImportEnv(t, 1000)
	sink := &tagSink{fakeSink: newFakeSink(t), got: map[string]map[string]bool{}, failAt: 3,
		fault: &record.FaultError{Kind: record.FaultAPI, Err: errors.New("503 past its retries")}, refuse: "email:u1@x.io"}
	cfg, st := e.config(t, sink)
	cfg.Tags = sink
	cfg.BulkTagMax = 50
	r1, err := RunImport(context.Background(), cfg)
	if err == nil {
		t.Fatal("the first run did not stop on the tag request's fault")
	}
	checkInvariant(t, r1)
	left, err := st.TagIntents(context.Background())
	st.Close()
	if err != nil || len(left) == 0 {
		t.Fatalf("no tag intents left journaled (%d, %v)", len(left), err)
	}

	// The second run: no fault.
	sink.failAt = 0
	victim := sink.ids[sink.refuse]
	cfg, st = e.config(t, sink)
	cfg.Tags = sink
	cfg.BulkTagMax = 50
	r2, err := RunImport(context.Background(), cfg)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	checkInvariant(t, r2)
	if left, _ := st.TagIntents(context.Background()); len(left) != 0 {
		t.Errorf("%d tag intents left after a finished run", len(left))
	}
	st.Close()
	want := map[string]map[string]bool{}
	for _, row := range e.rows {
		recs := memTransform(mustRecord([]string{row}), "a.csv", 1)
		k := recs[0].Key
		id := sink.ids[k]
		if recs[0].Err != nil || id == "" || k[len(k)-len("@reject.io"):] == "@reject.io" {
			continue
		}
		if want[id] == nil {
			want[id] = map[string]bool{}
		}
		for _, tg := range record.NormTags(rowTags(k)) {
			want[id][tg] = true
		}
	}
	for id, tags := range want {
		for tg := range tags {
			if id != victim && !sink.got[id][tg] {
				t.Errorf("contact %s lacks tag %q", id, tg)
			}
		}
	}
	if len(sink.got[victim]) != 0 {
		t.Errorf("refused contact got tags %v", sink.got[victim])
	}
	// u1@x.io's row is a reject now, with the reason.
	if r2.Rejected != 11+10+1 { // genRows: 11 bad, 10 @reject.io, and u1@x.io
		t.Errorf("rejected %d, want 22", r2.Rejected)
	}
	if n := countRejects(t, cfg.RejectsPath); int64(n) != r2.Rejected {
		t.Errorf("rejects file has %d rows, report %d", n, r2.Rejected)
	}

	// Again: nothing to write, no tag request.
	calls, writes := sink.calls, sink.total
	cfg, st = e.config(t, sink)
	cfg.Tags = sink
	r3, err := RunImport(context.Background(), cfg)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, r3)
	if sink.calls != calls || sink.total != writes || r3.Rejected != r2.Rejected {
		t.Errorf("re-run: %d tag requests, %d writes, rejected %d (was %d)", sink.calls-calls, sink.total-writes, r3.Rejected, r2.Rejected)
	}
}
