package export

// Export's change feed (issue 16, --changes): the webhook listener's
// journal (jobs/listen) names the contacts whose notes were created,
// changed or deleted since the previous run, so an incremental run reads
// notes only for those, and a nightly run costs requests in proportion to
// what changed. Notes are the kind that matters: tasks and appointments
// have location-wide listings, notes only a per-contact one.
//
// The watermark is the journal's seq of the last note event the previous
// finished run read, kept in the state with the time it was read
// (export_scope_values, set when the run finishes, so a killed run leaves
// the old watermark and the next run reads the events again). The run
// reads the journal before it reads any note, so a note changed after that
// has an event the next run reads. A run sweeps every contact's notes, and
// says why in its plan, when the journal cannot vouch for the time since
// the watermark: the first run with --changes, a listener that was down
// (its uptime is journaled: listen.Journal.Gaps), or too many changes.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/jobs/listen"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// Scope values of the change feed's watermark.
const (
	scopeKeyChangesSeq  = "changes_seq"
	scopeKeyChangesRead = "changes_read_ms"
	// maxChangedContacts: past it a sweep costs about as much, and the
	// run's list of contacts stays small.
	maxChangedContacts = 50000
)

// noteEventTypes are the journal's events that change a contact's notes.
var noteEventTypes = []string{"NoteCreate", "NoteUpdate", "NoteDelete", "ContactDelete"}

// changeSet is how a run with --changes reads notes; kept with the run.
type changeSet struct {
	Seq    int64  `json:"seq"`     // the watermark this run leaves
	ReadAt int64  `json:"read_ms"` // when it read the journal
	Sweep  bool   `json:"sweep,omitempty"`
	Count  int    `json:"contacts"` // contacts whose notes are read (not a sweep)
	Why    string `json:"why"`
}

// readChanges reads the journal at cfg.Changes for run r (new) and records
// the contacts whose notes it reads (Store.MarkExportPartial), before the
// run is saved.
func (e *exporter) readChanges(ctx context.Context, r *exportRun) (*changeSet, error) {
	j, err := listen.OpenJournal(e.cfg.Changes)
	if err != nil {
		return nil, fmt.Errorf("--changes %s: %w", e.cfg.Changes, err)
	}
	defer j.Close()
	cs := &changeSet{Seq: 0, ReadAt: e.now().UnixMilli()}
	prevSeq, ok, err := e.store.ExportScopeValue(ctx, e.scope, scopeKeyChangesSeq)
	if err != nil {
		return nil, err
	}
	prevAt, _, err := e.store.ExportScopeValue(ctx, e.scope, scopeKeyChangesRead)
	if err != nil {
		return nil, err
	}
	cs.Seq = prevSeq
	ids, err := e.changedSince(ctx, j, prevSeq, cs)
	if err != nil {
		return nil, fmt.Errorf("--changes %s: %w", e.cfg.Changes, err)
	}
	switch {
	case !ok:
		cs.Sweep, cs.Why = true, "a full sweep: the first run with --changes (it records the journal's watermark)"
	case len(ids) > maxChangedContacts:
		cs.Sweep, cs.Why = true, fmt.Sprintf("a full sweep: %d contacts' notes changed since the last run, more than %d", len(ids), maxChangedContacts)
	default:
		gaps, err := j.Gaps(ctx, time.UnixMilli(prevAt), time.UnixMilli(cs.ReadAt))
		if err != nil {
			return nil, fmt.Errorf("--changes %s: %w", e.cfg.Changes, err)
		}
		gaps = liveTail(gaps, time.UnixMilli(cs.ReadAt))
		if len(gaps) > 0 {
			g := gaps[0]
			cs.Sweep, cs.Why = true, fmt.Sprintf("a full sweep: the listener was not up from %s to %s (%d gaps since the last run), so the journal may miss changes",
				g.From.UTC().Format(time.RFC3339), g.To.UTC().Format(time.RFC3339), len(gaps))
		}
	}
	if cs.Sweep {
		return cs, nil
	}
	cs.Count = len(ids)
	cs.Why = fmt.Sprintf("only the %d contacts whose notes changed since the last run (journal %s)", len(ids), e.cfg.Changes)
	return cs, e.store.MarkExportPartial(ctx, r.RunID, sinks.EntityNotes, ids)
}

// changedSince lists the contacts of this location that the journal's note
// events after seq name, and moves cs.Seq to the last event read.
func (e *exporter) changedSince(ctx context.Context, j *listen.Journal, seq int64, cs *changeSet) ([]string, error) {
	seen := map[string]bool{}
	var ids []string
	for ev, err := range j.Events(ctx, listen.Filter{AfterSeq: seq, Types: noteEventTypes}) {
		if err != nil {
			return nil, err
		}
		cs.Seq = ev.Seq
		if ev.LocationID != e.cfg.LocationID {
			continue
		}
		var body struct {
			ContactID string `json:"contactId"`
			ID        string `json:"id"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			e.log.Warn("skipping a journaled event that is not JSON", "seq", ev.Seq, "type", ev.Type)
			continue
		}
		id := body.ContactID
		if ev.Type == "ContactDelete" {
			// A deleted contact is not listed: its notes go with it.
			id = ""
		}
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// scopeValues are the numbers the finished run r leaves for the next.
func (s relState) scopeValues() map[string]int64 {
	v := map[string]int64{}
	if s.From != 0 {
		v[scopeKeyApptsFrom] = s.From
	}
	if s.Changes != nil {
		v[scopeKeyChangesSeq], v[scopeKeyChangesRead] = s.Changes.Seq, s.Changes.ReadAt
	}
	if len(v) == 0 {
		return nil
	}
	return v
}

// notesFor is the contacts of a page whose notes the run reads: all of
// them, or with a change feed those it names.
func (e *exporter) notesFor(ctx context.Context, r *exportRun, contacts []ghl.Contact) ([]ghl.Contact, error) {
	if r.Rel.Changes == nil || r.Rel.Changes.Sweep {
		return contacts, nil
	}
	if e.changed == nil {
		set, err := e.store.ExportPartial(ctx, r.RunID, sinks.EntityNotes)
		if err != nil {
			return nil, err
		}
		e.changed = set
	}
	return filter(contacts, func(c ghl.Contact) bool { return e.changed[c.ID] }), nil
}

// liveTail drops from gaps the last one when it is only the time since a
// running listener's last heartbeat (it ends now and is a few heartbeats
// long).
func liveTail(gaps []listen.Gap, now time.Time) []listen.Gap {
	if n := len(gaps); n > 0 && gaps[n-1].To.Equal(now) && gaps[n-1].To.Sub(gaps[n-1].From) < 3*listen.DefaultHeartbeat {
		return gaps[:n-1]
	}
	return gaps
}
