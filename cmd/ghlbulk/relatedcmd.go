package main

// `ghlbulk import --kind notes|tasks FILE --mapping M.yaml --id-map MAP.csv`:
// a CRM's notes or tasks export, whose rows name their contact by the CRM's
// id, written as notes or tasks on the contacts an earlier contacts import
// wrote, found through the ID map that import wrote. The run is
// pipeline.RunImport's (checkpoint, rejects, progress, resume, report,
// --dry-run, --max-requests, --wait, exit codes) with a notes or tasks
// transform and sinks.Related; no quota plan is printed.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/jobs/importer"
	"github.com/ghlbulk/ghlbulk/jobs/session"
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
	cfg := o.runConfig(f, importer.RelatedTransform(p.mappings), p.mappingHash)
	if p.session != nil {
		ctx = p.session.Context(ctx)
		cfg.LocationID = p.session.Location
	}
	closeStore, err := o.openStore(&cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	if p.session != nil && cfg.Store != nil {
		// No TagWriter: a notes or tasks run adds no tags.
		cfg.Sink = sinks.NewRelated(p.session.Client, sinks.GHLOptions{LocationID: p.session.Location, Journal: cfg.Store}, o.lookupExisting)
		cfg.BeforeFirstWrite = writePreflight(p.session)
	}
	rep, runErr := o.plan.run(ctx, f, cfg)
	title := "import " + o.kind
	if o.dryRun {
		title += " (dry run: nothing written)"
	}
	return o.finish(f, p.session, title, rep, runErr, [2]string{"ID map", p.ids.Path()})
}
