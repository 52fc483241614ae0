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
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
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
	session     *apiSession // nil in a dry run
}

// prepareRelated lints the mapping, reads the ID map and each file's
// header, compiles the mapping for each file and, unless it is a dry run,
// opens the API session. The mapping and the map are checked before any
// request. Everything here fails with exit 2.
func (o *importOptions) prepareRelated(ctx context.Context, f *factory) (*preparedRelated, error) {
	if o.plan.idMap == "" {
		return nil, refused(fmt.Errorf("--kind %s needs --id-map MAP.csv: the ID map a contacts import wrote, in which each row's contact is found (write it with ghlbulk import CONTACTS.csv --mapping M.yaml --id-map MAP.csv)", o.kind))
	}
	if err := o.validate(); err != nil {
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
	var problems []error
	for _, file := range o.files {
		src, err := o.open(file)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", file, err))
			continue
		}
		header := src.Header()
		src.Close()
		m, err := spec.Compile(header, ids)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s does not fit %s:\n%w", o.mapping, file, err))
			continue
		}
		p.mappings[file] = m
	}
	if len(problems) > 0 {
		return nil, refused(errors.Join(problems...))
	}
	if !o.dryRun {
		// The location and read access are checked now; contacts.write
		// just before the first write (checkedRelated).
		if p.session, err = f.session(ctx, auth.ScopeContactsRead); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// transform applies each file's compiled mapping, as pipeline.Records.
func (p *preparedRelated) transform() pipeline.TransformFunc {
	return func(rec arrow.Record, file string, firstRow int64) []pipeline.Record {
		rows := p.mappings[file].Apply(rec, file, firstRow)
		out := make([]pipeline.Record, len(rows))
		for i, r := range rows {
			out[i] = pipeline.Record{
				File: r.File, Row: r.Row.Row, Raw: r.Raw, Key: r.Key, SourceKey: r.SourceKey,
				Notes: r.Notes, Tasks: r.Tasks, Hash: r.Hash, Err: r.Err, ContactID: r.ContactID,
			}
		}
		return out
	}
}

// runRelated is import --kind notes|tasks.
func runRelated(ctx context.Context, f *factory, o importOptions) error {
	log := f.logger()
	if err := o.plan.validate(); err != nil {
		return refused(err)
	}
	f.wrapHTTP = o.plan.wrapTransport
	f.waitForQuota = o.plan.wait
	p, err := o.prepareRelated(ctx, f)
	if err != nil {
		return err
	}
	log.Info("contacts are found in the ID map", "kind", o.kind, "id_map", p.ids.Path(), "lines", p.ids.Len())
	cfg := pipeline.ImportConfig{
		Files:       o.files,
		Open:        o.open,
		Fingerprint: sources.Fingerprint,
		Transform:   p.transform(),
		MappingHash: p.mappingHash,
		Workers:     o.workers,
		StopGrace:   o.stopGrace,
		RejectsPath: o.rejects,
		DryRun:      o.dryRun,
		Stats:       pipeline.NewStats(),
		Logger:      log,
		Progress:    pipeline.NewProgress(f.stderr, f.progressAllowed(), -1, log, 0),
	}
	if p.session != nil {
		ctx = p.session.ctx
		cfg.LocationID = p.session.location
		cfg.Sink = &checkedRelated{
			sink:  sinks.NewRelated(p.session.client, sinks.GHLOptions{LocationID: p.session.location}, o.lookupExisting),
			check: p.session.writeCheck(f),
		}
	}
	if !o.dryRun {
		store, err := pipeline.OpenStore(o.state, pipeline.StoreOptions{Restart: o.restart})
		if err != nil {
			return refused(err)
		}
		defer store.Close()
		cfg.Store = store
	}
	rep, runErr := o.plan.run(ctx, f, cfg)
	title := "import " + o.kind
	if o.dryRun {
		title += " (dry run: nothing written)"
	}
	extra := [][2]string{{"ID map", p.ids.Path()}, {"rejects file", o.rejects}}
	if !o.dryRun {
		extra = append(extra, [2]string{"state", o.state})
	}
	if p.session != nil {
		if st := p.session.pacer.Observed(); st.DailyRemaining >= 0 && st.DailyLimit < 1e9 {
			extra = append(extra, [2]string{"daily quota left", fmt.Sprintf("%d of %d", st.DailyRemaining, st.DailyLimit)})
		}
	}
	if !f.opts.quiet {
		printSummary(f.stdout, title, rep, extra)
	}
	if err := writeReport(o.report, rep); err != nil {
		log.Error("writing the report", "err", err)
	}
	return classifyRunError(runErr)
}

// checkedRelated runs the contacts.write preflight just before the first
// write, as checkedSink does for contacts: a re-run with nothing left to
// write sends no write-like request. It is no pipeline.TagWriter: a notes or
// tasks run adds no tags.
type checkedRelated struct {
	sink  pipeline.Sink
	once  sync.Once
	err   error
	check func(ctx context.Context) error
}

func (s *checkedRelated) Write(ctx context.Context, g *pipeline.Group) error {
	s.once.Do(func() {
		err := s.check(ctx)
		var pe *auth.PreflightError
		switch {
		case errors.As(err, &pe):
			s.err = &pipeline.FaultError{Kind: pipeline.FaultScope, BeforeWrite: true, Err: err}
		case err != nil:
			s.err = &pipeline.FaultError{Kind: pipeline.FaultAPI, Err: err}
		}
	})
	if s.err != nil {
		return s.err
	}
	return s.sink.Write(ctx, g)
}
