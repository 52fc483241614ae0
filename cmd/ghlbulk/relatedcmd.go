package main

// `ghlbulk import --kind notes|tasks FILE --mapping M.yaml --id-map MAP.csv`:
// a CRM's notes or tasks export, whose rows name their contact by the CRM's
// id, written as notes or tasks on the contacts an earlier contacts import
// wrote, found through the ID map that import wrote. The run is
// pipeline.RunImport's (checkpoint, rejects, progress, resume, report,
// --dry-run, --max-requests, --wait, exit codes) with a notes or tasks
// transform and sinks.Related. Rows with a source_key are kept in step
// with their records (updated when they change, deleted by deleted: or,
// with --delete-missing, once gone from the input: deleteMissing).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/importer"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/transform"
)

// related reports an import of notes or tasks rather than contacts.
func (o *importOptions) related() bool {
	return o.kind == transform.KindNotes || o.kind == transform.KindTasks
}

// checkKind checks --kind, and that a contacts import was not given a
// notes or tasks mapping (whose kind: a contacts mapping would not know).
func (o *importOptions) checkKind() error {
	switch o.kind {
	case "", transform.KindContacts:
		if o.deleteMissing {
			return fmt.Errorf("--delete-missing is for --kind notes or --kind tasks (contacts are never deleted by an import)")
		}
		if o.mapping == "" {
			return nil
		}
		if k, err := transform.MappingKind(o.mapping); err == nil && (k == transform.KindNotes || k == transform.KindTasks) {
			return fmt.Errorf("%s is a %s mapping (kind: %s): import it with ghlbulk import --kind %s FILE --mapping %s --id-map MAP.csv (MAP.csv: the ID map the contacts import wrote; add --dry-run to check without writing)",
				o.mapping, k, k, k, o.mapping)
		}
		return nil
	case transform.KindNotes, transform.KindTasks:
		return nil
	}
	return fmt.Errorf("--kind %q: must be contacts, notes or tasks", o.kind)
}

// preparedRelated is a notes or tasks run that has passed every check that
// needs no write.
type preparedRelated struct {
	mappings    map[string]*transform.RelatedMapping // by file
	mappingHash string
	ids         *transform.IDMap
	session     *session.Session // nil in a dry run
}

// prepareRelated lints the mapping, reads the ID map and each file's
// header, compiles the mapping for each file and, unless it is a dry run,
// opens the API session. The mapping and the map are checked before any
// request. Everything here fails with exit 2.
func (o *importOptions) prepareRelated(ctx context.Context) (*preparedRelated, error) {
	f := o.f
	if o.plan.idMap == "" {
		return nil, refused(fmt.Errorf("--kind %s needs --id-map MAP.csv: the ID map a contacts import wrote, in which each row's contact is found (write it with ghlbulk import CONTACTS.csv --mapping M.yaml --id-map MAP.csv)", o.kind))
	}
	if err := o.validate(); err != nil {
		return nil, refused(err)
	}
	if err := o.checkPaths(f); err != nil {
		return nil, refused(err)
	}
	raw, err := os.ReadFile(o.mapping)
	if err != nil {
		return nil, refused(fmt.Errorf("--mapping: %w", err))
	}
	spec, err := transform.ParseRelatedMapping(o.mapping, raw, o.kind)
	if err != nil {
		return nil, refused(err)
	}
	ids, err := transform.ReadIDMap(o.plan.idMap)
	if err != nil {
		return nil, refused(err)
	}
	sum := sha256.Sum256(raw)
	p := &preparedRelated{mappings: map[string]*transform.RelatedMapping{}, mappingHash: hex.EncodeToString(sum[:]), ids: ids}
	err = o.compileEach(func(file string, header []string) error {
		m, err := spec.Compile(header, ids)
		p.mappings[file] = m
		return err
	})
	if err != nil {
		return nil, err
	}
	if !o.dryRun {
		// The location and read access are checked now; contacts.write
		// just before the first write (writePreflight).
		so := o.plan.sessionOptions()
		so.Need = auth.ScopeContactsRead
		if p.session, err = f.session(ctx, so); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// runRelated is import --kind notes|tasks.
func runRelated(ctx context.Context, o importOptions) error {
	f := o.f
	log := f.logger()
	if err := o.plan.validate(); err != nil {
		return refused(err)
	}
	p, err := o.prepareRelated(ctx)
	if err != nil {
		return err
	}
	log.Info("contacts are found in the ID map", "kind", o.kind, "id_map", p.ids.Path(), "lines", p.ids.Len())
	present := sinks.NewPresence()
	cfg := o.runConfig(f, presenceOf(importer.RelatedTransform(p.mappings), present), p.mappingHash)
	if p.session != nil {
		ctx = p.session.Context(ctx)
		cfg.LocationID = p.session.Location
	}
	closeStore, err := o.openStore(&cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	var sink *sinks.Related
	if p.session != nil && cfg.Store != nil {
		// No TagWriter: a notes or tasks run adds no tags.
		sink = sinks.NewRelated(p.session.Client, sinks.GHLOptions{LocationID: p.session.Location, Journal: cfg.Store}, o.lookupExisting).
			WithSources(cfg.Store, o.recordKind())
		cfg.Sink = sink
		cfg.BeforeFirstWrite = writePreflight(p.session)
	}
	o.plan.tune = func(in *plan.Input) {
		in.RelatedKind, in.LookupExisting, in.DeleteMissing = o.recordKind(), o.lookupExisting, o.deleteMissing
	}
	if err := o.plan.printPlan(ctx, f, f.summaryOut(o.report), cfg, p.session); err != nil {
		return refused(err)
	}
	rep, runErr := o.plan.run(ctx, f, cfg)
	if runErr == nil && o.deleteMissing && sink != nil {
		runErr = o.deleteGone(ctx, f, cfg.Store, sink, present, &rep)
	}
	title := "import " + o.kind
	if o.dryRun {
		title += " (dry run: nothing written)"
	}
	extra := [][2]string{{"ID map", p.ids.Path()}}
	if o.deleteMissing && !o.dryRun {
		extra = append(extra, [2]string{"deleted (rows gone from the input)", fmt.Sprint(rep.RelatedDeleted)})
	}
	return o.finish(f, p.session, title, rep, runErr, extra...)
}

// recordKind is the journal's kind of what --kind imports.
func (o *importOptions) recordKind() string {
	if o.kind == transform.KindNotes {
		return record.KindNote
	}
	return record.KindTask
}

// presenceOf is tf, noting each batch's rows in present: which records
// the input still holds, for --delete-missing.
func presenceOf(tf pipeline.TransformFunc, present *sinks.Presence) pipeline.TransformFunc {
	return func(rec arrow.Record, file string, firstRow int64) []record.Row {
		rows := tf(rec, file, firstRow)
		present.Add(rows)
		return rows
	}
}

// deleteGone is --delete-missing, after a run that read and settled its
// whole input (a stopped run returns an error first and never gets here):
// the records the state's runs wrote whose rows are gone from the input
// are deleted, each journaled, and counted in rep.
func (o *importOptions) deleteGone(ctx context.Context, f *factory, st *pipeline.Store, sink *sinks.Related, present *sinks.Presence, rep *pipeline.Report) error {
	entries, err := st.SourcesOf(ctx, o.recordKind())
	if err != nil {
		return err
	}
	gone, err := present.Missing(entries)
	if err != nil {
		f.logger().Warn("nothing deleted", "why", err.Error())
		return nil
	}
	stats := pipeline.NewStats()
	n, refused, err := sink.DeleteMissing(ctx, stats, gone)
	for _, r := range refused {
		f.logger().Warn("not deleted", "what", r)
	}
	d := stats.Snapshot()
	rep.Requests += d.Requests
	rep.Retries += d.Retries
	for k, v := range d.RequestsByKind {
		if rep.RequestsByKind == nil {
			rep.RequestsByKind = map[string]int64{}
		}
		rep.RequestsByKind[k] += v
	}
	rep.RelatedDeleted = int64(n)
	return err
}
