package pipeline

import (
	"fmt"
	"testing"

	"github.com/ghlbulk/ghlbulk/record"
)

// runBatcher feeds rows (contact i needs rows[i]) through a batcher, in
// order, settling each request at once, and checks that every contact gets
// exactly the tags it needs, each in one request of at most max contacts,
// and that every intent is finished. It returns the number of requests.
func runBatcher(t *testing.T, rows [][]string, max, maxPending int, classify bool) int {
	t.Helper()
	b := NewTagBatcher(max, maxPending)
	var classes TagClassifier
	got := map[string]map[string]int{}
	finished := map[*TagIntent]bool{}
	var calls []TagCall
	send := func(cs []TagCall) {
		for i := range cs {
			c := &cs[i]
			if len(c.IDs) > max || len(c.IDs) == 0 || len(c.Tags) == 0 {
				t.Errorf("request with %d contacts and %d tags, max %d", len(c.IDs), len(c.Tags), max)
			}
			for _, id := range c.IDs {
				if got[id] == nil {
					got[id] = map[string]int{}
				}
				for _, tg := range c.Tags {
					got[id][tg]++
				}
			}
			for _, in := range c.settle(nil) {
				if finished[in] {
					t.Errorf("intent of %s finished twice", in.ContactID)
				}
				finished[in] = true
			}
			calls = append(calls, *c)
		}
	}
	var intents []*TagIntent
	for i, tags := range rows {
		tags = record.NormTags(tags)
		if len(tags) == 0 {
			continue
		}
		in := &TagIntent{ContactID: fmt.Sprint("c", i), Tags: tags, Row: int64(i + 1)}
		if classify {
			in.Common = classes.Observe(tags)
		}
		intents = append(intents, in)
		send(b.Add(in))
	}
	send(b.Drain())
	if b.Pending() != 0 {
		t.Errorf("%d pairs still pending after Drain", b.Pending())
	}
	for i, tags := range rows {
		id := fmt.Sprint("c", i)
		want := record.NormTags(tags)
		if len(got[id]) != len(want) {
			t.Errorf("%s: got tags %v, want %v", id, got[id], want)
		}
		for _, tg := range want {
			if got[id][tg] != 1 {
				t.Errorf("%s: tag %q sent %d times", id, tg, got[id][tg])
			}
		}
	}
	for _, in := range intents {
		if !finished[in] {
			t.Errorf("intent of %s (row %d) never finished", in.ContactID, in.Row)
		}
	}
	return len(calls)
}

func TestTagBatcher(t *testing.T) {
	stages := []string{"stage:lead", "stage:customer", "stage:subscriber", "stage:opportunity"}
	var mixed, cohorts, same, bench [][]string
	common := []string{"customer", "newsletter", "2024", "imported", "us"}
	for i := range 1000 {
		tags := []string{"imported", "e2e", "Batch-7 ", stages[(i*7/3)%4]}
		if i%3 == 0 {
			tags = append(tags, "VIP")
		}
		mixed = append(mixed, tags)
		cohorts = append(cohorts, []string{"imported", fmt.Sprint("cohort-", i%200)})
		same = append(same, []string{"a", "b"})
	}
	// The bench's tags (scripts/benchgen): 3 or 4 of 5 common tags, and
	// one of 200 cohorts.
	for i := range 20000 {
		var tags []string
		for j, c := range common {
			if (i+j)%5 != 0 || (i/5)%2 == 0 && j == (i+1)%5 {
				tags = append(tags, c)
			}
		}
		bench = append(bench, append(tags, fmt.Sprint("cohort-", (i*7)%200)))
	}
	tests := []struct {
		name            string
		rows            [][]string
		max, maxPending int
		classify        bool
		calls           int
	}{
		// 10 for the common tags, 12 for the stages (250 rows each: two
		// full requests, the rest at the end), 4 for vip (334 rows).
		{"common, stage and vip", mixed, 100, 0, false, 10 + 12 + 4},
		// Classified: the first 1000 rows with tags are batched tag by tag
		// (the same 26 requests), and then common tags go as sets.
		{"classified, first window", mixed, 100, 0, true, 26},
		// The batcher's reason to be: 1 in 200 cohort tags, 5 rows each,
		// cost a request per cohort at the end rather than one per group.
		{"common and a cohort tag", cohorts, 100, 0, false, 10 + 200},
		{"all the same, chunked", same, 50, 0, false, 20},
		{"nothing needed", [][]string{{}, nil, {" "}}, 100, 0, false, 0},
		// A bound on pending pairs sends everything early; nothing is lost.
		{"pending bound", cohorts, 100, 300, false, -1},
		{"pending bound, classified", bench, 100, 3000, true, -1},
		{"one contact, repeated tags", [][]string{{"x", "X", "y"}}, 100, 0, false, 1},
		// Tag by tag: each common tag (on about 4 rows in 5) costs its
		// own requests, 820 in all, and the cohorts 200; classified, the
		// few sets of common tags share about 200 (and the first window's
		// rows and the sets' last, part-full requests the rest).
		{"bench tags, tag by tag", bench, 100, 0, false, 1020},
		{"bench tags, classified", bench, 100, 0, true, 431},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := runBatcher(t, tc.rows, tc.max, tc.maxPending, tc.classify)
			if tc.calls >= 0 && n != tc.calls {
				t.Errorf("%d requests, want %d", n, tc.calls)
			}
		})
	}
}

// Two rows of one contact need the same tag: one request adds it, and
// both intents finish with it; a refusal reaches both.
func TestTagBatcherSameContact(t *testing.T) {
	b := NewTagBatcher(2, 0)
	a := &TagIntent{ContactID: "c1", Tags: []string{"x"}, Row: 1, counted: record.StatusCreated}
	c := &TagIntent{ContactID: "c1", Tags: []string{"x", "y"}, Row: 2, counted: record.StatusUpdated}
	if calls := b.Add(a); len(calls) != 0 {
		t.Fatalf("a request before any batch is full: %+v", calls)
	}
	if calls := b.Add(c); len(calls) != 0 {
		t.Fatalf("the same contact twice filled a batch: %+v", calls)
	}
	calls := b.Drain()
	if len(calls) != 1 || len(calls[0].IDs) != 1 || len(calls[0].Tags) != 2 {
		t.Fatalf("Drain = %+v, want one request of x,y for c1", calls)
	}
	fin := calls[0].settle(map[string]string{"c1": "tags: 422"})
	if len(fin) != 2 || fin[0].reason == "" || fin[1].reason == "" {
		t.Fatalf("finished %v, want both intents refused", fin)
	}
}
