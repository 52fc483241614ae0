package plan

import (
	"context"

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
	journal := map[string]record.RelatedEntry{}
	if e.in.Store != nil {
		entries, err := e.in.Store.RelatedOf(ctx, rec.Key)
		if err != nil {
			return err
		}
		for _, x := range entries {
			journal[x.JournalKey()] = x
		}
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
		le, legacy := journal[it.LegacyKey]
		legacy = legacy && le.State == record.RelatedDone && le.RemoteID != ""
		switch sinks.DecideSource(entry, ok, it.Want, legacy, e.in.LookupExisting) {
		case sinks.SourceFind:
			e.p.Lookups++
			e.created(it.Kind)
		case sinks.SourceCreate:
			e.created(it.Kind)
		case sinks.SourceUpdate:
			e.p.Updates++
		case sinks.SourceDelete:
			e.p.Deletes++
		}
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
