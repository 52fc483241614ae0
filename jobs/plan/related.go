package plan

import (
	"context"

	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// relatedRow counts a notes or tasks file's row as sinks.Related writes
// it: by source identity (sinks.DecideSource) when it has a source_key,
// else by content, once.
func (e *estimator) relatedRow(ctx context.Context, rec *record.Row) error {
	if len(rec.Notes)+len(rec.Tasks)+len(rec.Deletes) == 0 || rec.ContactID == "" {
		return nil
	}
	e.p.Related++
	journal, err := e.journalOf(ctx, rec.Key)
	if err != nil {
		return err
	}
	if rec.SourceKey == "" {
		e.byContent(rec, journal)
		return nil
	}
	for _, it := range sinks.SourceItems(rec, e.in.RelatedKind) {
		var entry record.SourceEntry
		ok := false
		if e.in.Store != nil {
			var err error
			if entry, ok, err = e.in.Store.SourceOf(ctx, it.Kind, it.Identity); err != nil {
				return err
			}
		}
		entry, ok = e.planned.seen(it, entry, ok)
		le, has := journal[it.LegacyKey]
		legacy, lookup := sinks.Legacy(le, has, e.in.LookupExisting)
		e.count(sinks.DecideSource(entry, ok, it.Want, legacy, lookup), it)
	}
	return nil
}

// count counts the requests of one item's action, and notes what the
// run's journal holds for it after.
func (e *estimator) count(act sinks.SourceAction, it sinks.SourceItem) {
	e.planned.note(it, act)
	kind := it.Kind
	switch act {
	case sinks.SourceFind:
		e.p.Lookups++
		e.created(kind)
	case sinks.SourceCreate:
		e.created(kind)
	case sinks.SourceUpdate:
		e.p.Updates++
	case sinks.SourceDelete:
		e.p.Deletes++
	}
}

// related counts a contacts row's notes and tasks as sinks.GHL.writeRelated
// writes them on its contact (known: the one the ID map holds for its key,
// "" if none): by the contact's key and position (sinks.ContactItems),
// decided by sinks.DecideSource. An item is looked up first when the
// contact existed (here: one the state knows; a contact that was in the
// location before any import is not known offline, so its lookups are not
// counted).
func (e *estimator) related(ctx context.Context, rec *record.Row, known string) error {
	items := sinks.ContactItems(rec, known)
	if len(items) == 0 {
		return nil
	}
	journal, err := e.journalOf(ctx, rec.Key)
	if err != nil {
		return err
	}
	for _, it := range items {
		var entry record.SourceEntry
		ok := false
		if e.in.Store != nil && known != "" {
			var err error
			if entry, ok, err = e.in.Store.SourceOf(ctx, it.Kind, it.Identity); err != nil {
				return err
			}
		}
		entry, ok = e.planned.seen(it, entry, ok)
		le, has := journal[it.LegacyKey]
		legacy, lookup := sinks.Legacy(le, has, known != "")
		e.count(sinks.DecideSource(entry, ok, it.Want, legacy, lookup), it)
	}
	return nil
}

// byContent counts a row without a source_key: each note or task the
// content journal does not have as done is created, looked up first when
// it is pending or with --lookup-existing (sinks.Related.writeRow).
func (e *estimator) byContent(rec *record.Row, journal map[string]record.RelatedEntry) {
	seen := map[string]int{}
	one := func(kind string, in any) {
		h := sinks.RelatedHash(rec.Hash, in)
		x, known := journal[record.RelatedKey(kind, h, seen[kind+h])]
		seen[kind+h]++
		switch {
		case known && x.State == record.RelatedDone:
			return
		case known || e.in.LookupExisting:
			e.p.Lookups++
		}
		e.created(kind)
	}
	for _, n := range rec.Notes {
		one(record.KindNote, n)
	}
	for _, t := range rec.Tasks {
		one(record.KindTask, t)
	}
}

func (e *estimator) created(kind string) {
	if kind == record.KindNote {
		e.p.Notes++
	} else {
		e.p.Tasks++
	}
}

// missing counts, with --delete-missing, the records whose rows are gone
// from the input (sinks.Presence), as the run deletes them after the last
// row.
func (e *estimator) missing(ctx context.Context) error {
	if e.present == nil || e.in.Store == nil || e.in.RelatedKind == "" {
		return nil
	}
	entries, err := e.in.Store.SourcesOf(ctx, e.in.RelatedKind)
	if err != nil {
		return err
	}
	gone, err := e.present.Missing(entries)
	if err != nil {
		e.p.DeleteRefused = err.Error()
		return nil
	}
	e.p.Deletes += int64(len(gone))
	return nil
}

// planned is what the run will have journaled for each note or task this
// estimate counted, so that a later row with the same identity (two rows
// of one source key, or of one match key without) is counted as the run
// will decide it: an update of the record the first created, not a second
// create. By 8-byte digests (identity -> content), about 40 bytes an item.
type planned map[uint64]uint64

// gone stands for a record the run will have deleted.
const gone = 0

func digest(s string) uint64 {
	d := pipeline.RowDigest(s, "")
	if d == gone {
		d++
	}
	return d
}

// seen is the entry the run will find for it: the journal's (entry, ok),
// unless an earlier row of this estimate wrote or deleted it.
func (p *planned) seen(it sinks.SourceItem, entry record.SourceEntry, ok bool) (record.SourceEntry, bool) {
	w, counted := (*p)[digest(it.Kind+"\x00"+it.Identity)]
	switch {
	case !counted:
		return entry, ok
	case w == gone:
		return record.SourceEntry{State: record.SourceDeleted}, true
	case it.Want != "" && w == digest(it.Want):
		return record.SourceEntry{RemoteID: "planned", Written: it.Want, State: record.SourceDone}, true
	}
	return record.SourceEntry{RemoteID: "planned", Written: "other", State: record.SourceDone}, true
}

// note records what the run's journal holds for it after act.
func (p *planned) note(it sinks.SourceItem, act sinks.SourceAction) {
	if *p == nil {
		*p = planned{}
	}
	k := digest(it.Kind + "\x00" + it.Identity)
	switch {
	case act == sinks.SourceDelete:
		(*p)[k] = gone
	case it.Want != "":
		(*p)[k] = digest(it.Want)
	}
}

// journalOf is the state's related-records journal of a contact key, by
// journal key (empty without a state).
func (e *estimator) journalOf(ctx context.Context, key string) (map[string]record.RelatedEntry, error) {
	journal := map[string]record.RelatedEntry{}
	if e.in.Store == nil {
		return journal, nil
	}
	entries, err := e.in.Store.RelatedOf(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, x := range entries {
		journal[x.JournalKey()] = x
	}
	return journal, nil
}
