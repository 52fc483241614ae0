package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// TestTagBatcherBusiness: rows' business links are batched per business,
// bizMax contacts a request, whatever tags the rows have too; every
// contact is linked once, to the business of its last row, and every
// intent finishes once all of its requests answered.
func TestTagBatcherBusiness(t *testing.T) {
	type row struct {
		id, biz string
		tags    []string
	}
	spread := func(n, businesses int, tags ...string) []row {
		rows := make([]row, n)
		for i := range rows {
			rows[i] = row{id: fmt.Sprint("c", i), biz: fmt.Sprint("b", i%businesses), tags: tags}
		}
		return rows
	}
	cases := []struct {
		name      string
		rows      []row
		bizMax    int
		wantLinks int // business requests
		wantTags  int // tag requests
	}{
		{"300 rows over 2 businesses", spread(300, 2), 0, 2, 0},
		{"2500 rows of one business", spread(2500, 1), 1000, 3, 0},
		{"small requests fill mid-run", spread(250, 2), 50, 6, 0},
		{"with a tag on every row", spread(300, 2, "vip"), 0, 2, 3},
		{"some rows without business", append(spread(10, 1), row{id: "x", tags: []string{"t"}}), 0, 1, 1},
		{"a contact moves business", []row{{id: "a", biz: "b1"}, {id: "b", biz: "b1"}, {id: "a", biz: "b2"}}, 0, 2, 0},
		{"a contact repeats its business", []row{{id: "a", biz: "b1"}, {id: "a", biz: "b1"}}, 0, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewTagBatcher(100, 0).SetBusinessMax(tc.bizMax)
			max := tc.bizMax
			if max == 0 {
				max = DefaultBulkBusinessMax
			}
			linked := map[string][]string{} // contact -> businesses, in request order
			finished := map[*TagIntent]bool{}
			links, tagCalls := 0, 0
			send := func(cs []TagCall) {
				for i := range cs {
					c := &cs[i]
					if c.Business != "" {
						links++
						if len(c.Tags) != 0 || len(c.IDs) == 0 || len(c.IDs) > max {
							t.Errorf("business request with %d contacts and tags %v, max %d", len(c.IDs), c.Tags, max)
						}
						for _, id := range c.IDs {
							linked[id] = append(linked[id], c.Business)
						}
					} else {
						tagCalls++
					}
					for _, in := range c.settle(nil) {
						if finished[in] {
							t.Errorf("intent of %s finished twice", in.ContactID)
						}
						finished[in] = true
					}
				}
			}
			var intents []*TagIntent
			last := map[string]string{}
			for i, r := range tc.rows {
				in := &TagIntent{ContactID: r.id, Row: int64(i + 1), Business: r.biz, Tags: record.NormTags(r.tags)}
				intents = append(intents, in)
				if r.biz != "" {
					last[r.id] = r.biz
				}
				send(b.Add(in))
			}
			send(b.Drain())
			if b.Pending() != 0 {
				t.Errorf("%d pairs pending after Drain", b.Pending())
			}
			if links != tc.wantLinks || tagCalls != tc.wantTags {
				t.Errorf("%d business and %d tag requests, want %d and %d", links, tagCalls, tc.wantLinks, tc.wantTags)
			}
			for id, biz := range last {
				if got := linked[id]; len(got) != 1 || got[0] != biz {
					t.Errorf("contact %s linked to %v, want [%s] once", id, got, biz)
				}
			}
			for _, in := range intents {
				if !finished[in] {
					t.Errorf("intent of %s (row %d) never finished", in.ContactID, in.Row)
				}
			}
		})
	}
}

// bizSink is fakeSink that leaves each written row's business for the run
// to link (as importer.WithBusiness does), and a BusinessWriter that
// records the links, refuses business refuse, and fails with fault from
// its failAt-th request on.
type bizSink struct {
	*fakeSink
	mu     sync.Mutex
	links  map[string]string // contact id -> business
	sent   map[string]int    // contact id -> times linked
	calls  int
	failAt int
	fault  error
	refuse string
}

// rowBusiness is a key's business: u1@x.io's is one the API refuses.
func rowBusiness(key string) string {
	if key == "email:u1@x.io" {
		return "biz_bad"
	}
	return fmt.Sprint("biz", len(key)%2)
}

func (s *bizSink) Write(ctx context.Context, m record.Meter, it record.Item) (record.Outcome, error) {
	out, err := s.fakeSink.Write(ctx, m, it)
	if out.Status == record.StatusCreated || out.Status == record.StatusUpdated {
		out.Business = rowBusiness(it.Row.Key)
	}
	return out, err
}

func (s *bizSink) LinkBusiness(_ context.Context, m record.Meter, biz string, ids []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	m.RequestKind("business")
	if s.failAt > 0 && s.calls >= s.failAt {
		return nil, s.fault
	}
	refused := map[string]string{}
	for _, id := range ids {
		if biz == s.refuse {
			refused[id] = fmt.Sprintf("businessId %q: refused: 422 unknown business", biz)
			continue
		}
		s.links[id] = biz
		s.sent[id]++
	}
	return refused, nil
}

// TestRunImportBusinessIntents: business links are sent in requests of up
// to BulkBusinessMax after the rows are checkpointed; a run that stops
// first leaves them journaled and the next run sends them; a refused
// business makes its rows rejects with the reason; a finished run again
// sends nothing.
func TestRunImportBusinessIntents(t *testing.T) {
	e := newImportEnv(t, 1000)
	sink := &bizSink{fakeSink: newFakeSink(t), links: map[string]string{}, sent: map[string]int{}, failAt: 3,
		fault: &record.FaultError{Kind: record.FaultAPI, Err: errors.New("503 past its retries")}, refuse: "biz_bad"}
	config := func() (ImportConfig, *Store) {
		cfg, st := e.config(t, sink)
		cfg.Business = sink
		cfg.BulkBusinessMax = 100
		return cfg, st
	}
	cfg, st := config()
	r1, err := RunImport(context.Background(), cfg)
	if err == nil {
		t.Fatal("the first run did not stop on the business request's fault")
	}
	checkInvariant(t, r1)
	left, err := st.TagIntents(context.Background())
	st.Close()
	if err != nil || len(left) == 0 || left[0].Business == "" {
		t.Fatalf("no business intents left journaled (%d, %v)", len(left), err)
	}

	sink.failAt = 0
	calls := sink.calls
	cfg, st = config()
	r2, err := RunImport(context.Background(), cfg)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	checkInvariant(t, r2)
	if left, _ := st.TagIntents(context.Background()); len(left) != 0 {
		t.Errorf("%d intents left after a finished run", len(left))
	}
	st.Close()
	// About 900 contacts over 2 businesses, 100 a request: not one a row.
	if n := sink.calls - calls; n > 15 {
		t.Errorf("the second run made %d business requests, want at most 15", n)
	}
	victim := sink.ids["email:u1@x.io"]
	for k, id := range sink.ids {
		if strings.HasSuffix(k, "@reject.io") || id == victim {
			continue
		}
		if sink.links[id] != rowBusiness(k) {
			t.Errorf("contact %s (%s) in business %q, want %q", id, k, sink.links[id], rowBusiness(k))
		}
	}
	if _, ok := sink.links[victim]; ok {
		t.Errorf("the refused contact was linked")
	}
	if r2.Rejected != 11+10+1 { // genRows: 11 bad, 10 @reject.io, and u1@x.io
		t.Errorf("rejected %d, want 22", r2.Rejected)
	}
	rej, _ := os.ReadFile(cfg.RejectsPath)
	if !strings.Contains(string(rej), `businessId ""biz_bad"": refused`) {
		t.Errorf("the rejects file lacks the business refusal:\n%.600s", rej)
	}

	// Again: nothing to write, no business request.
	calls, writes := sink.calls, sink.total
	cfg, st = config()
	r3, err := RunImport(context.Background(), cfg)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, r3)
	if sink.calls != calls || sink.total != writes || r3.Rejected != r2.Rejected {
		t.Errorf("re-run: %d business requests, %d writes, rejected %d (was %d)", sink.calls-calls, sink.total-writes, r3.Rejected, r2.Rejected)
	}
}

// TestStoreMigratesTagIntentsBusiness: a state made before business links
// were journaled (tag_intents without its business column, an intent in
// it) opens, gains the column, and reads its intent as tags only.
func TestStoreMigratesTagIntentsBusiness(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.state")
	st, err := OpenStore(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`ALTER TABLE tag_intents DROP COLUMN business`,
		`INSERT INTO tag_intents(fp, row, file, key, contact_id, tags, raw, status, run) VALUES ('fp', 1, 'a.csv', 'k', 'c1', '["vip"]', '', 'updated', 'r1')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	st, err = OpenStore(path, StoreOptions{})
	if err != nil {
		t.Fatalf("the older state does not open: %v", err)
	}
	defer st.Close()
	in, err := st.TagIntents(context.Background())
	if err != nil || len(in) != 1 || in[0].Business != "" || len(in[0].Tags) != 1 {
		t.Fatalf("intents %+v, %v: want the one tag intent, no business", in, err)
	}
	err = st.CommitRows(context.Background(), []RowOutcome{{FP: "fp", Row: 2, File: "a.csv", Key: "k2", ContactID: "c2", Status: record.StatusCreated, Business: "b1"}})
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := st.TagIntents(context.Background()); len(in) != 2 || in[1].Business != "b1" {
		t.Errorf("after a business row, intents %+v", in)
	}
}
