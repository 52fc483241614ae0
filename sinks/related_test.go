package sinks

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/record"
)

// memJournal is record.Journal in memory, as the state keeps it.
type memJournal struct {
	mu      sync.Mutex
	entries map[string]record.RelatedEntry // by key, kind, hash, seq
}

func newMemJournal() *memJournal { return &memJournal{entries: map[string]record.RelatedEntry{}} }

func (j *memJournal) RelatedOf(_ context.Context, key string) ([]record.RelatedEntry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []record.RelatedEntry
	for _, e := range j.entries {
		if e.Key == key {
			out = append(out, e)
		}
	}
	return out, nil
}

func (j *memJournal) MarkRelated(_ context.Context, ref record.RelatedRef, state, remoteID string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries[ref.Key+"\x00"+ref.JournalKey()] = record.RelatedEntry{RelatedRef: ref, RemoteID: remoteID, State: state}
	return nil
}

type relatedEnv struct {
	sb     *sandbox.Server
	client *ghl.Client
	sink   *Related
}

func newRelatedEnv(t *testing.T) *relatedEnv {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	tok, err := sb.IssueToken(sb.LocationID(), sandbox.AllScopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rt := auth.NewTransport(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}))
	c := ghl.New(base, &http.Client{Timeout: 10 * time.Second, Transport: rt})
	pol := pace.Policy{Initial: time.Millisecond, Max: 10 * time.Millisecond, Total: time.Second, MaxAttempts: 3}
	return &relatedEnv{sb: sb, client: c, sink: NewRelated(c, GHLOptions{LocationID: sb.LocationID(), Policy: pol}, true)}
}

func (e *relatedEnv) contact(t *testing.T, email string) string {
	t.Helper()
	r, err := e.client.UpsertContact(context.Background(), ghl.UpsertContactRequest{LocationID: e.sb.LocationID(), Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	return r.Contact.ID
}

// write runs rows through the sink, journaled in j, as the engine hands a
// lane's rows, and returns their outcomes.
func (e *relatedEnv) write(t *testing.T, j record.Journal, recs ...*record.Row) []record.Outcome {
	t.Helper()
	e.sink.s.opt.Journal = j
	var outs []record.Outcome
	for _, r := range recs {
		out, err := e.sink.Write(context.Background(), nil, record.Item{Row: r})
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		outs = append(outs, out)
	}
	return outs
}

func statuses(outs []record.Outcome) string {
	var s []string
	for _, o := range outs {
		st := o.Status
		if o.Reason != "" {
			st += "(" + o.Reason + ")"
		}
		s = append(s, st)
	}
	return strings.Join(s, ",")
}

func noteRec(row int64, contactID, hash, body string) *record.Row {
	return &record.Row{File: "notes.csv", Row: row, Key: "id:" + contactID, ContactID: contactID, Hash: hash,
		Notes: []ghl.NoteInput{{Body: body}}}
}

// Two rows with the same text for one contact are two notes; with the
// journal they are not sent again, and without it (the state lost) each
// row finds its own note on the contact, not the other's.
func TestRelatedSameTextTwice(t *testing.T) {
	e := newRelatedEnv(t)
	id := e.contact(t, "a@example.com")
	recs := []*record.Row{
		noteRec(1, id, "row1", "Left a voicemail."),
		noteRec(2, id, "row2", "Left a voicemail."),
		noteRec(3, id, "row3", "Sent the deck."),
	}
	j := newMemJournal()
	if got := statuses(e.write(t, j, recs...)); got != "created,created,created" {
		t.Fatalf("first run: %s", got)
	}
	notes, err := e.client.ListNotes(context.Background(), id)
	if err != nil || len(notes) != 3 {
		t.Fatalf("notes %+v, %v", notes, err)
	}
	for _, tc := range []struct {
		name string
		j    record.Journal
	}{{"journal kept", j}, {"state lost", newMemJournal()}} {
		t.Run(tc.name, func(t *testing.T) {
			e.sb.ResetCounts()
			if got := statuses(e.write(t, tc.j, recs...)); got != "unchanged,unchanged,unchanged" {
				t.Errorf("again: %s", got)
			}
			if w := e.sb.Counts().Writes; w != 0 {
				t.Errorf("%d writes: %v", w, e.sb.Counts().ByRoute)
			}
		})
	}
	// A third row with that text is a third note, even with no journal.
	e.sb.ResetCounts()
	if got := statuses(e.write(t, newMemJournal(), append(recs, noteRec(4, id, "row4", "Left a voicemail."))...)); got != "unchanged,unchanged,unchanged,created" {
		t.Errorf("with a new row: %s", got)
	}
	if w := e.sb.Counts().Writes; w != 1 {
		t.Errorf("%d writes, want 1", w)
	}
}

// A task journaled as pending (a run killed after sending it) is looked up,
// found and not sent again; one whose send never arrived is sent.
func TestRelatedPendingIsLookedUp(t *testing.T) {
	e := newRelatedEnv(t)
	id := e.contact(t, "b@example.com")
	task := ghl.TaskInput{Title: "Call", DueDate: "2024-04-20T00:00:00Z", Completed: true}
	sent := &record.Row{File: "t.csv", Row: 1, Key: "id:" + id, ContactID: id, Hash: "h1", Tasks: []ghl.TaskInput{task}}
	lost := &record.Row{File: "t.csv", Row: 2, Key: "id:" + id, ContactID: id, Hash: "h2", Tasks: []ghl.TaskInput{task}}
	j := newMemJournal()
	for _, r := range []*record.Row{sent, lost} {
		ref := record.RelatedRef{Key: r.Key, Kind: record.KindTask, ContentHash: relatedHash(r.Hash, task), ContactID: id}
		if err := j.MarkRelated(context.Background(), ref, record.RelatedPending, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.CreateTask(context.Background(), id, task); err != nil { // what the killed run sent
		t.Fatal(err)
	}
	e.sb.ResetCounts()
	if got := statuses(e.write(t, j, sent, lost)); got != "unchanged,created" {
		t.Errorf("statuses %s", got)
	}
	tasks, err := e.client.ListTasks(context.Background(), id)
	if err != nil || len(tasks) != 2 || !tasks[0].Completed {
		t.Errorf("tasks %+v, %v", tasks, err)
	}
	if w := e.sb.Counts().Writes; w != 1 {
		t.Errorf("%d writes, want 1", w)
	}
}

// A contact deleted since the ID map was written: the row is a reject that
// says so, and the run goes on.
func TestRelatedContactGone(t *testing.T) {
	e := newRelatedEnv(t)
	id := e.contact(t, "c@example.com")
	gone := e.contact(t, "gone@example.com")
	if err := e.client.DeleteContact(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	items := e.write(t, newMemJournal(), noteRec(1, gone, "g", "Hello."), noteRec(2, id, "k", "Hello."), &record.Row{Key: "skip:", Hash: "s"})
	if items[0].Status != record.StatusRejected || !strings.Contains(items[0].Reason, "note 1: ") ||
		!strings.Contains(items[0].Reason, "the contact may have been deleted since the ID map was written") {
		t.Errorf("gone contact: %s %q", items[0].Status, items[0].Reason)
	}
	if items[1].Status != record.StatusCreated || items[1].ContactID != id {
		t.Errorf("next row: %s %q", items[1].Status, items[1].ContactID)
	}
	if items[2].Status != record.StatusUnchanged {
		t.Errorf("a row with nothing to write: %s", items[2].Status)
	}
}

// Without lookupExisting, a note the journal does not know is sent with no
// lookup first: one request a note.
func TestRelatedNoLookupByDefault(t *testing.T) {
	e := newRelatedEnv(t)
	e.sink.lookup = false
	id := e.contact(t, "b@example.com")
	e.sb.ResetCounts()
	if got := statuses(e.write(t, newMemJournal(), noteRec(1, id, "row1", "Hello."), noteRec(2, id, "row2", "Bye."))); got != "created,created" {
		t.Fatalf("statuses %s", got)
	}
	if c := e.sb.Counts(); c.Total != 2 || c.Writes != 2 {
		t.Errorf("%d requests (%d writes), want 2: %v", c.Total, c.Writes, c.ByRoute)
	}
}
