package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// The engine, not the sink, settles a row that repeats one still in flight
// (same key and content): the sink sees each such row once.
func TestRunImportRepeatsNeverReachTheSink(t *testing.T) {
	e := newImportEnv(t, 0)
	e.rows = []string{"a@x.io", "a@x.io", "b@x.io", "a@x.io", "b@x.io"}
	sink := newFakeSink(t)
	cfg, st := e.config(t, sink)
	defer st.Close()
	r, err := RunImport(context.Background(), cfg)
	if err != nil {
		t.Fatalf("RunImport: %v", err)
	}
	checkInvariant(t, r)
	if sink.total != 2 || sink.writes["email:a@x.io"] != 1 || sink.writes["email:b@x.io"] != 1 {
		t.Errorf("the sink was handed %d rows (%v), want each key once", sink.total, sink.writes)
	}
	if r.Created != 2 || r.Unchanged != 3 {
		t.Errorf("report %+v, want 2 created, 3 unchanged", r)
	}
}

// BeforeFirstWrite runs once however many lanes write, before the first
// write; its error stops the run with nothing written; a re-run with
// nothing left to write never calls it.
func TestRunImportBeforeFirstWrite(t *testing.T) {
	refusal := &record.FaultError{Kind: record.FaultScope, BeforeWrite: true, Err: errors.New("the token lacks contacts.write")}
	for _, tc := range []struct {
		name  string
		check error
	}{
		{"passes", nil},
		{"refuses", refusal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newImportEnv(t, 500)
			sink := newFakeSink(t)
			cfg, st := e.config(t, sink)
			var calls atomic.Int32
			cfg.BeforeFirstWrite = func(context.Context) error {
				calls.Add(1)
				sink.mu.Lock()
				wrote := sink.total
				sink.mu.Unlock()
				if wrote > 0 {
					t.Error("BeforeFirstWrite ran after a write")
				}
				return tc.check
			}
			_, err := RunImport(context.Background(), cfg)
			st.Close()
			if n := calls.Load(); n != 1 {
				t.Errorf("BeforeFirstWrite ran %d times, want once", n)
			}
			if tc.check != nil {
				var fe *record.FaultError
				if !errors.As(err, &fe) || fe.Kind != record.FaultScope || sink.total != 0 {
					t.Fatalf("err %v after %d writes, want the scope fault before any", err, sink.total)
				}
				return
			}
			if err != nil || sink.total == 0 {
				t.Fatalf("err %v after %d writes", err, sink.total)
			}
			calls.Store(0)
			cfg, st = e.config(t, sink)
			cfg.BeforeFirstWrite = func(context.Context) error { calls.Add(1); return nil }
			_, err = RunImport(context.Background(), cfg)
			st.Close()
			if err != nil || calls.Load() != 0 {
				t.Errorf("re-run: err %v, BeforeFirstWrite ran %d times, want none", err, calls.Load())
			}
		})
	}
}

// A sink that leaves tags to add, in a run given no TagWriter, fails the
// run: tags are never dropped silently.
func TestRunImportTagsNeedATagWriter(t *testing.T) {
	e := newImportEnv(t, 50)
	sink := &tagSink{fakeSink: newFakeSink(t), got: map[string]map[string]bool{}}
	cfg, st := e.config(t, sink) // no cfg.Tags
	defer st.Close()
	_, err := RunImport(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no TagWriter") {
		t.Fatalf("err %v, want the missing TagWriter named", err)
	}
}
