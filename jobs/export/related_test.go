package export

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/sources"
)

// TestFetchRelated runs the job's fan-out against the sandbox: rows come
// back in the contacts' order with their contactId, only the kinds asked
// for, and a cancelled run fails.
func TestFetchRelated(t *testing.T) {
	f := newFixture(t, 12)
	tr := f.truth(t)
	var contacts []ghl.Contact
	for _, c := range tr.contacts {
		contacts = append(contacts, c)
	}
	src := sources.NewGHLContacts(f.c, sources.GHLOptions{LocationID: f.loc,
		Retry: pace.Policy{Initial: time.Millisecond, MaxAttempts: 2}})
	all := sources.Include{Tasks: true, Notes: true, Appointments: true}
	for _, tc := range []struct {
		name    string
		workers int
		inc     sources.Include
	}{
		{"all kinds, four at a time", 4, all},
		{"default workers", 0, all},
		{"notes only", 2, sources.Include{Notes: true}},
		{"nothing", 2, sources.Include{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := fetchRelated(context.Background(), src, tc.workers, contacts, tc.inc)
			if err != nil {
				t.Fatal(err)
			}
			order := map[string]int{}
			for i, c := range contacts {
				order[c.ID] = i
			}
			checkRelated(t, "tasks", tc.inc.Tasks, rel.Tasks, tr.tasks, order,
				func(x ghl.Task) (string, string) { return x.ID, x.ContactID })
			checkRelated(t, "notes", tc.inc.Notes, rel.Notes, tr.notes, order,
				func(x ghl.Note) (string, string) { return x.ID, x.ContactID })
			checkRelated(t, "appointments", tc.inc.Appointments, rel.Appointments, tr.appts, order,
				func(x ghl.Appointment) (string, string) { return x.ID, x.ContactID })
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := fetchRelated(ctx, src, 4, contacts, all); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// checkRelated compares one kind's rows with the truth: every row, each
// with its contactId, grouped in the contacts' order.
func checkRelated[T any](t *testing.T, kind string, wanted bool, got []T, truth map[string]T,
	order map[string]int, key func(T) (id, contact string)) {
	t.Helper()
	if len(truth) == 0 {
		t.Fatalf("%s: the sandbox seeded none; the check would prove nothing", kind)
	}
	want := len(truth)
	if !wanted {
		want = 0
	}
	if len(got) != want {
		t.Fatalf("%s: %d rows, want %d", kind, len(got), want)
	}
	last := -1
	for _, x := range got {
		id, c := key(x)
		if _, ok := truth[id]; !ok || c == "" {
			t.Fatalf("%s: row %s of contact %q is not a row the API holds", kind, id, c)
		}
		if order[c] < last {
			t.Fatalf("%s: row %s of contact %s out of the contacts' order", kind, id, c)
		}
		last = order[c]
	}
}
