package sinks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/record"
)

// Notes and tasks kept in step with their source rows: a notes or tasks
// row with a source_key is known by its identity (record.SourceIdentity:
// the contact, the source_key and the item's position in the mapping) in
// the record.Sources journal, with the remote record it became and the
// content hash it holds. The same row again with other content updates
// that record (PUT; a task's completed flag goes in the same body), a row
// whose deleted: holds deletes it, and so does --delete-missing for one
// gone from the input (DeleteMissing). Each change is journaled pending
// before its request and settled after it: a resumed run sends a pending
// update or delete again (both are idempotent; a delete answered 404 is
// done) and looks a pending create up before sending it again.

// SourceAction is what becomes of one note or task known by its source
// identity. The sink and the planner (jobs/plan) both decide it with
// DecideSource, so the plan counts the requests the run makes.
type SourceAction int

const (
	SourceNone   SourceAction = iota // as it should be: no request
	SourceAdopt                      // created by a ghlbulk that journaled it by content only: taken over, no request
	SourceCreate                     // created (one request)
	SourceFind                       // looked up on the contact, created if not there (a create may have been applied unheard, or --lookup-existing)
	SourceUpdate                     // PUT with the row's content (one request)
	SourceDelete                     // DELETE (one request)
)

// DecideSource decides one item from its journal entry (ok: there is
// one). want is its content hash, "" for a record to delete; legacy says
// the content journal (record.Journal) has it as created; lookup is
// --lookup-existing. A record whose create may have been applied unheard
// is not deleted (its id is not known): it is left, and the next import
// with its row looks it up.
func DecideSource(e record.SourceEntry, ok bool, want string, legacy, lookup bool) SourceAction {
	if want == "" {
		if !ok || e.State == record.SourceDeleted || e.RemoteID == "" {
			return SourceNone
		}
		return SourceDelete
	}
	switch {
	case !ok && legacy:
		return SourceAdopt
	case !ok || e.State == record.SourceDeleted:
		if lookup {
			return SourceFind
		}
		return SourceCreate
	case e.RemoteID == "":
		return SourceFind
	case e.State == record.SourcePending, e.Written != want:
		return SourceUpdate
	}
	return SourceNone
}

// SourceItem is one note or task of a row with a source_key: to write
// (In set) or to delete (In nil).
type SourceItem struct {
	Kind     string // record.KindNote or record.KindTask
	Identity string // record.SourceIdentity
	Want     string // ContentHash of In; "" for a deletion
	In       any    // ghl.NoteInput or ghl.TaskInput; nil for a deletion
	// LegacyKey is its key in the content journal, as a ghlbulk before
	// source identities journaled it (record.RelatedKey).
	LegacyKey string
}

// SourceItems lists rec's notes, then its tasks, then the records its
// deleted: conditions delete (of kind, record.KindNote or
// record.KindTask). A row without a source_key has none.
func SourceItems(rec *record.Row, kind string) []SourceItem {
	if rec.SourceKey == "" || rec.ContactID == "" {
		return nil
	}
	out := writeItems(rec, func(pos int) string { return record.SourceIdentity(rec.ContactID, rec.SourceKey, pos) },
		func(in any) string { return relatedHash(rec.Hash, in) })
	for _, n := range rec.Deletes {
		out = append(out, SourceItem{Kind: kind, Identity: record.SourceIdentity(rec.ContactID, rec.SourceKey, n)})
	}
	return out
}

// WithSources makes r keep the notes or tasks (kind: record.KindNote or
// record.KindTask) of rows with a source_key in step through src.
func (r *Related) WithSources(src record.Sources, kind string) *Related {
	r.src, r.kind = src, kind
	return r
}

// ContactItems lists the notes, then the tasks, then the deletions of a
// contacts row whose contact is contactID, each known by the contact's
// source key (the row's SourceKey, or without one its match key) and its
// position in the mapping's notes: or tasks: list
// (record.ContactItemIdentity). LegacyKey is the key a ghlbulk that wrote
// them by content journaled each under (sinks.GHL's record.RelatedKey of
// ContentHash and the count of the same before it in the row).
func ContactItems(rec *record.Row, contactID string) []SourceItem {
	if len(rec.Notes)+len(rec.Tasks)+len(rec.Deletes)+len(rec.TaskDeletes) == 0 || len(rec.Items) != len(rec.Notes)+len(rec.Tasks) {
		return nil
	}
	key := rec.SourceKey
	if key == "" {
		key = rec.Key
	}
	out := writeItems(rec, func(pos int) string { return record.ContactItemIdentity(contactID, key, pos) }, ContentHash)
	for _, n := range rec.Deletes {
		out = append(out, SourceItem{Kind: record.KindNote, Identity: record.ContactItemIdentity(contactID, key, n)})
	}
	for _, n := range rec.TaskDeletes {
		out = append(out, SourceItem{Kind: record.KindTask, Identity: record.ContactItemIdentity(contactID, key, n)})
	}
	return out
}

// writeItems lists rec's notes, then its tasks, each known by identity
// (of its position in the mapping, rec.Items) and by its key in the
// content journal, of legacy's hash and the count of the same before it.
func writeItems(rec *record.Row, identity func(pos int) string, legacy func(in any) string) []SourceItem {
	var out []SourceItem
	seen := map[string]int{}
	add := func(k string, in any) {
		h := legacy(in)
		out = append(out, SourceItem{Kind: k, Identity: identity(rec.Items[len(out)]), Want: ContentHash(in), In: in,
			LegacyKey: record.RelatedKey(k, h, seen[k+h])})
		seen[k+h]++
	}
	for _, n := range rec.Notes {
		add(record.KindNote, n)
	}
	for _, t := range rec.Tasks {
		add(record.KindTask, t)
	}
	return out
}

// Legacy reports whether the content journal's entry le (has: there is
// one) is a record an earlier ghlbulk created by content, which an item
// with no source entry takes over (SourceAdopt); lookup is then whether
// DecideSource is to look the item up before creating it: with
// --lookup-existing (or, on a contacts row, a contact that existed), or a
// create of that ghlbulk's that was cut short (pending: it may have been
// applied unheard).
func Legacy(le record.RelatedEntry, has, lookup bool) (legacy, lookupToo bool) {
	legacy = has && le.State == record.RelatedDone && le.RemoteID != ""
	return legacy, lookup || (has && le.State == record.RelatedPending)
}

// sourceWrite is one row's pass over its SourceItems.
type sourceWrite struct {
	r                *Related
	m                record.Meter
	rec              *record.Row
	contactID        string                         // the contact the items are on
	sourceKey        string                         // what their entries carry as SourceKey
	kinds            []string                       // the kinds whose claims a lookup leaves out
	journal          map[string]record.RelatedEntry // the content journal of the row's contact key
	claimed          claims
	claimsRead       bool // the source journal's claims on the contact are in claimed
	created, changed bool
}

// writeSources writes a row with a source_key; status is the row's.
func (r *Related) writeSources(ctx context.Context, m record.Meter, rec *record.Row) (status, reason string, err error) {
	w := &sourceWrite{r: r, m: m, rec: rec, contactID: rec.ContactID, sourceKey: rec.SourceKey, kinds: []string{r.kind}}
	if w.journal, err = r.s.journalOf(ctx, rec.Key); err != nil {
		return "", "", err
	}
	w.claimed = claimsOf(w.journal)
	recs := relatedOf(r.s.c, rec.ContactID, rec, func(any) string { return "" }, w.claimed.unclaimed)
	for i, it := range SourceItems(rec, r.kind) {
		var sb relatedRec
		if i < len(recs) {
			sb = recs[i]
		}
		if reason, err := w.item(ctx, it, sb); reason != "" || err != nil {
			return "", reason, err
		}
	}
	switch {
	case w.created:
		return record.StatusCreated, "", nil
	case w.changed:
		return record.StatusUpdated, "", nil
	}
	return record.StatusUnchanged, "", nil
}

// readClaims adds to w.claimed the remote ids the source journal's
// entries hold on the contact, once, before the first create (whose
// lookup must not take one of them for this item).
func (w *sourceWrite) readClaims(ctx context.Context) error {
	if w.claimsRead {
		return nil
	}
	for _, kind := range w.kinds {
		ids, err := w.r.src.ClaimedOn(ctx, kind, w.contactID)
		if err != nil {
			return &record.FaultError{Kind: record.FaultState, Err: err}
		}
		for _, id := range ids {
			w.claimed[id] = true
		}
	}
	w.claimsRead = true
	return nil
}

// item decides one item and acts on it. A refusal is the row's reason.
func (w *sourceWrite) item(ctx context.Context, it SourceItem, sb relatedRec) (reason string, err error) {
	src := w.r.src
	e, ok, err := src.SourceOf(ctx, it.Kind, it.Identity)
	if err != nil {
		return "", &record.FaultError{Kind: record.FaultState, Err: err}
	}
	le, has := w.journal[it.LegacyKey]
	legacy, lookup := Legacy(le, has, w.r.lookup)
	act := DecideSource(e, ok, it.Want, legacy, lookup)
	if !ok {
		e = record.SourceEntry{Kind: it.Kind, Identity: it.Identity}
	}
	e.SourceKey, e.ContactID = w.sourceKey, w.contactID
	switch act {
	case SourceAdopt:
		e.RemoteID, e.Written, e.State = le.RemoteID, it.Want, record.SourceDone
		return "", w.r.markSource(ctx, e, false, false)
	case SourceCreate, SourceFind:
		if err := w.readClaims(ctx); err != nil {
			return "", err
		}
		pending := ok && e.State == record.SourcePending && e.Op == record.OpCreate
		err = w.create(ctx, e, it.Want, sb, pending, act == SourceFind && !pending)
	case SourceUpdate:
		if err := w.readClaims(ctx); err != nil { // a record deleted since is created again
			return "", err
		}
		err = w.update(ctx, e, it, sb)
	case SourceDelete:
		err = w.r.deleteOne(ctx, w.m, e)
		w.changed = w.changed || err == nil
	}
	if err == nil {
		return "", nil
	}
	var fe *record.FaultError
	if errors.As(err, &fe) && fe.Kind == record.FaultState {
		return "", err
	}
	reason, fault := w.r.s.judge(err, false)
	if fault != nil {
		return "", fault
	}
	return fmt.Sprintf("%s %s: %s", it.Kind, act.verb(), reason), nil
}

func (a SourceAction) verb() string {
	switch a {
	case SourceUpdate:
		return "update"
	case SourceDelete:
		return "delete"
	}
	return "create"
}

// create sends sb's create, journaled in e (pending: a create of an
// earlier run may have been applied; lookup: look it up first anyway).
func (w *sourceWrite) create(ctx context.Context, e record.SourceEntry, want string, sb relatedRec, pending, lookup bool) error {
	e.Want, e.Op = want, record.OpCreate
	mark := func(ctx context.Context, state, remoteID string, created bool) error {
		if state == record.RelatedPending {
			e.State, e.RemoteID = record.SourcePending, ""
			return w.r.markSource(ctx, e, false, false)
		}
		e.State, e.RemoteID, e.Written, e.Want, e.Op = record.SourceDone, remoteID, e.Want, "", ""
		w.created = w.created || created
		return w.r.markSource(ctx, e, created, false)
	}
	id, err := w.r.s.sendRelated(ctx, w.m, sb, 0, pending, lookup, mark)
	if err != nil {
		return err
	}
	w.claimed[id] = true
	if e.State != record.SourceDone { // found, not created: sendRelated left it pending
		return mark(ctx, record.RelatedDone, id, false)
	}
	return nil
}

// update sends the row's content to its record (journaled pending, then
// done with it written). A record deleted since is created again.
func (w *sourceWrite) update(ctx context.Context, e record.SourceEntry, it SourceItem, sb relatedRec) error {
	e.State, e.Op, e.Want = record.SourcePending, record.OpUpdate, it.Want
	if err := w.r.markSource(ctx, e, false, false); err != nil {
		return err
	}
	c, cid, rid := w.r.s.c, e.ContactID, e.RemoteID
	err := w.r.s.callWrite(ctx, w.m, "update_"+it.Kind, func(ctx context.Context) error {
		var err error
		switch in := it.In.(type) {
		case ghl.NoteInput:
			_, err = c.UpdateNote(ctx, cid, rid, in)
		case ghl.TaskInput:
			_, err = c.UpdateTask(ctx, cid, rid, in)
		}
		return err
	})
	if isNotFound(err) {
		return w.create(ctx, record.SourceEntry{Kind: e.Kind, Identity: e.Identity, SourceKey: e.SourceKey, ContactID: e.ContactID}, it.Want, sb, false, false)
	}
	if err != nil {
		return err
	}
	e.State, e.Written, e.Want, e.Op = record.SourceDone, it.Want, "", ""
	w.changed = true
	return w.r.markSource(ctx, e, false, true)
}

// deleteOne deletes e's record (journaled pending, then deleted); one
// already gone (404) is deleted too.
func (r *Related) deleteOne(ctx context.Context, m record.Meter, e record.SourceEntry) error {
	e.State, e.Op, e.Want = record.SourcePending, record.OpDelete, ""
	if err := r.markSource(ctx, e, false, false); err != nil {
		return err
	}
	c := r.s.c
	err := r.s.callWrite(ctx, m, "delete_"+e.Kind, func(ctx context.Context) error {
		if e.Kind == record.KindNote {
			return c.DeleteNote(ctx, e.ContactID, e.RemoteID)
		}
		return c.DeleteTask(ctx, e.ContactID, e.RemoteID)
	})
	if err != nil && !isNotFound(err) {
		return err
	}
	e.State, e.Op = record.SourceDeleted, ""
	return r.markSource(ctx, e, false, true)
}

// DeleteMissing deletes the records of entries (the ones whose rows are
// gone from the input: see jobs/importer.MissingRelated), each journaled.
// A refusal is counted in refused and reported; err is a fault.
func (r *Related) DeleteMissing(ctx context.Context, m record.Meter, entries []record.SourceEntry) (deleted int, refused []string, err error) {
	m = meterOr(m)
	for _, e := range entries {
		if DecideSource(e, true, "", false, false) != SourceDelete {
			continue
		}
		err := r.deleteOne(ctx, m, e)
		if err == nil {
			deleted++
			continue
		}
		reason, fault := r.s.judge(err, false)
		if fault != nil {
			return deleted, refused, fault
		}
		refused = append(refused, fmt.Sprintf("%s %s (source_key %s): %s", e.Kind, e.RemoteID, e.SourceKey, reason))
	}
	return deleted, refused, nil
}

// markSource writes a source entry; failing to is the run's fault.
func (r *Related) markSource(ctx context.Context, e record.SourceEntry, created, changed bool) error {
	if err := r.src.MarkSource(ctx, e, created, changed); err != nil {
		return &record.FaultError{Kind: record.FaultState, Err: err}
	}
	return nil
}

// isNotFound reports a 404: a record (or its contact) that is gone.
func isNotFound(err error) bool {
	var ae *ghl.APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// Presence gathers, over a whole input, which notes or tasks with a
// source_key its rows still hold, to find those whose rows are gone
// (--delete-missing). A written row holds its items' identities; a row
// rejected or left with nothing to write holds every identity of its
// source_key (a typo in a due date must not delete the task). A non-blank
// row rejected before its source_key was read blinds it: Missing then
// refuses. Safe for concurrent use.
type Presence struct {
	mu    sync.Mutex
	ids   map[string]bool // identities written
	keys  map[string]bool // source keys of rows not written
	blind int64           // rows rejected with no source_key read
}

// NewPresence returns an empty Presence.
func NewPresence() *Presence {
	return &Presence{ids: map[string]bool{}, keys: map[string]bool{}}
}

// Add notes the rows of a batch, as the mapping gave them.
func (p *Presence) Add(recs []record.Row) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range recs {
		rec := &recs[i]
		switch {
		case rec.SourceKey != "" && rec.ContactID != "" && rec.Err == nil:
			for n := range rec.Items {
				p.ids[record.SourceIdentity(rec.ContactID, rec.SourceKey, rec.Items[n])] = true
			}
			for _, n := range rec.Deletes { // deleted already, or now: not missing
				p.ids[record.SourceIdentity(rec.ContactID, rec.SourceKey, n)] = true
			}
		case rec.SourceKey != "":
			p.keys[rec.SourceKey] = true
		case rec.Err != nil && !blankRow(rec.Raw):
			p.blind++
		}
	}
}

func blankRow(raw []string) bool {
	for _, v := range raw {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// Missing is those of entries (the journal's, of one kind) whose rows the
// input no longer holds and that DecideSource would delete. It refuses
// when rows were rejected before their source_key was read: they may be
// the missing ones.
func (p *Presence) Missing(entries []record.SourceEntry) ([]record.SourceEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blind > 0 {
		return nil, fmt.Errorf("--delete-missing: %d rows were rejected before their source_key could be read, and may be rows whose notes or tasks would be deleted: nothing is deleted (fix those rows, see the rejects file, and run again)", p.blind)
	}
	var out []record.SourceEntry
	for _, e := range entries {
		if record.OfContactsMapping(e.Identity) { // a contacts mapping's: never missing from a notes or tasks file
			continue
		}
		if p.ids[e.Identity] || p.keys[e.SourceKey] || DecideSource(e, true, "", false, false) != SourceDelete {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}
