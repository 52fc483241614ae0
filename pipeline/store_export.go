package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// exportSchema is the export's tables. They are made by InitExport, when
// an export first uses a state, not by OpenStore: an import's state only
// gets them once it is used for an export.
//
//   - export_runs: the unfinished run of each scope (location, business
//     and --out), with its options, listing cursor and counters.
//   - export_pages: the pages the run staged, with each entity's row count.
//   - export_seen: the contact ids the run listed (no row twice on resume).
//   - export_known: the ids the last finished run of a scope listed, to find
//     the deleted ones.
//   - export_cursor: the incremental cursor of each scope.
//   - export_related_seen: the tasks, notes and appointments the run read
//     (kind, id, contactId, content hash), so a record read twice (the
//     tasks search's offsets shift) is written once, and so the run's
//     records become the scope's known ones when it finishes.
//   - export_related_known: the records the last complete run of a scope
//     read, with their hash: an incremental run writes those whose hash
//     changed, and lists as deleted those it no longer reads.
//   - export_scope_values: small per-scope numbers a run leaves for the
//     next (the appointments window's start, the change feed's watermark).
//   - export_partial: a kind a run reads for some contacts only (--changes:
//     notes), and those contacts: the known records of the others stay.
//
// Tables and columns added since the first export need no version change:
// CREATE TABLE IF NOT EXISTS gives an older state the table, empty, and
// addColumns adds a missing column with its default (an older
// unfinished run reads "" there: it reads related records per contact, as
// it did when it started).
const exportSchema = `
CREATE TABLE IF NOT EXISTS export_runs (
	scope TEXT PRIMARY KEY,
	params TEXT NOT NULL,
	run_id TEXT NOT NULL,
	started_at TEXT NOT NULL,
	final_dir TEXT NOT NULL,
	stage_dir TEXT NOT NULL,
	fields TEXT NOT NULL,
	cursor TEXT NOT NULL,
	total INTEGER NOT NULL DEFAULT 0,
	listed INTEGER NOT NULL DEFAULT 0,
	max_updated INTEGER NOT NULL DEFAULT 0,
	max_ids TEXT NOT NULL DEFAULT '[]',
	bound_ms INTEGER NOT NULL DEFAULT 0,
	bound_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS export_pages (
	run_id TEXT NOT NULL,
	page INTEGER NOT NULL,
	contacts INTEGER NOT NULL,
	tasks INTEGER NOT NULL,
	notes INTEGER NOT NULL,
	appointments INTEGER NOT NULL,
	PRIMARY KEY (run_id, page)
);
CREATE TABLE IF NOT EXISTS export_seen (
	run_id TEXT NOT NULL,
	id TEXT NOT NULL,
	PRIMARY KEY (run_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS export_known (
	scope TEXT NOT NULL,
	id TEXT NOT NULL,
	PRIMARY KEY (scope, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS export_cursor (
	scope TEXT PRIMARY KEY,
	value_ms INTEGER NOT NULL,
	ids TEXT NOT NULL,
	run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS export_related_seen (
	run_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	id TEXT NOT NULL,
	contact_id TEXT NOT NULL,
	hash TEXT NOT NULL,
	PRIMARY KEY (run_id, kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS export_related_known (
	scope TEXT NOT NULL,
	kind TEXT NOT NULL,
	id TEXT NOT NULL,
	contact_id TEXT NOT NULL,
	hash TEXT NOT NULL,
	PRIMARY KEY (scope, kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS export_partial (
	run_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	contact_id TEXT NOT NULL, -- '' marks the kind as read for these contacts only
	PRIMARY KEY (run_id, kind, contact_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS export_scope_values (
	scope TEXT NOT NULL,
	key TEXT NOT NULL,
	value INTEGER NOT NULL,
	PRIMARY KEY (scope, key)
) WITHOUT ROWID;
`

// exportColumns are the columns added to export tables after their first
// version: table, column, its declaration.
var exportColumns = [][3]string{
	{"export_runs", "related", "TEXT NOT NULL DEFAULT ''"},
}

// ExportRun is a scope's unfinished export run as export_runs keeps it.
// Fields and Cursor are the export's own JSON (custom field definitions,
// listing cursor), kept as the export wrote them.
type ExportRun struct {
	Scope      string
	Params     string // the run's options, JSON
	RunID      string
	StartedAt  time.Time
	FinalDir   string
	StageDir   string
	Fields     string // JSON
	Cursor     string // JSON
	Total      int64
	Listed     int64
	MaxUpdated int64 // ms; 0 = none seen
	MaxIDs     []string
	BoundMs    int64 // lower bound on dateUpdated (0 = none)
	BoundIDs   []string
	// Related is the export's own JSON for its related-record listings
	// (which are location-wide, and where they stand); "" in a run an
	// older ghlbulk started.
	Related string
}

// ExportPage is one staged page's row counts, by entity, and the related
// records it read (to record as seen with the page).
type ExportPage struct {
	Page                                 int
	Contacts, Tasks, Notes, Appointments int64
	Records                              []ExportRecord
}

// ExportRecord is one task, note or appointment as the state remembers it:
// enough to tell a changed one (Hash) and to list a deleted one.
type ExportRecord struct {
	Kind      string // tasks, notes or appointments
	ID        string
	ContactID string
	Hash      string // of the record's content
}

// ExportFinish is what a finished run leaves for the next one of its scope.
type ExportFinish struct {
	Scope, RunID string
	Cursor       *ExportCursor // nil: the cursor stays
	// Kinds are the related kinds the run read completely: their known
	// records become the run's. Others stay as they were.
	Kinds  []string
	Values map[string]int64 // export_scope_values to set
}

// ExportCursor is the incremental cursor a finished run leaves for the
// next one of its scope: the largest dateUpdated listed and the ids at it.
type ExportCursor struct {
	ValueMs int64
	IDs     []string
}

// InitExport creates the export's tables if the state lacks them.
func (s *Store) InitExport(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, exportSchema); err != nil {
		return fmt.Errorf("state %s: creating export tables: %w", s.path, err)
	}
	if err := addColumns(ctx, s.db, exportColumns); err != nil {
		return fmt.Errorf("state %s: adding export columns: %w", s.path, err)
	}
	return nil
}

// LoadExportRun returns the scope's unfinished run, or nil if it has none.
// A column that cannot be read is a *StateError.
func (s *Store) LoadExportRun(ctx context.Context, scope string) (*ExportRun, error) {
	r := &ExportRun{Scope: scope}
	var started, maxIDs, boundIDs string
	err := s.db.QueryRowContext(ctx, `SELECT params, run_id, started_at, final_dir, stage_dir, fields, cursor,
		total, listed, max_updated, max_ids, bound_ms, bound_ids, related FROM export_runs WHERE scope = ?`, scope).Scan(
		&r.Params, &r.RunID, &started, &r.FinalDir, &r.StageDir, &r.Fields, &r.Cursor,
		&r.Total, &r.Listed, &r.MaxUpdated, &maxIDs, &r.BoundMs, &boundIDs, &r.Related)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: reading the unfinished export: %w", err)
	}
	if r.StartedAt, err = time.Parse(time.RFC3339Nano, started); err != nil {
		return nil, s.badExportRun("start time", err)
	}
	if err := json.Unmarshal([]byte(maxIDs), &r.MaxIDs); err != nil {
		return nil, s.badExportRun("cursor ids", err)
	}
	if err := json.Unmarshal([]byte(boundIDs), &r.BoundIDs); err != nil {
		return nil, s.badExportRun("boundary ids", err)
	}
	return r, nil
}

// badExportRun is an export_runs column that cannot be read.
func (s *Store) badExportRun(what string, err error) error {
	return &StateError{Path: s.path, Problem: "unfinished export: bad " + what, Err: err}
}

// SaveExportRun writes the scope's unfinished run.
func (s *Store) SaveExportRun(ctx context.Context, r *ExportRun) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return saveExportRun(tx, r) })
}

func saveExportRun(tx *sql.Tx, r *ExportRun) error {
	maxIDs, boundIDs := r.MaxIDs, r.BoundIDs
	if maxIDs == nil {
		maxIDs = []string{}
	}
	if boundIDs == nil {
		boundIDs = []string{}
	}
	_, err := tx.Exec(`INSERT INTO export_runs (scope, params, run_id, started_at, final_dir, stage_dir, fields, cursor,
		total, listed, max_updated, max_ids, bound_ms, bound_ids, related) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(scope) DO UPDATE SET params=excluded.params, run_id=excluded.run_id, started_at=excluded.started_at,
		final_dir=excluded.final_dir, stage_dir=excluded.stage_dir, fields=excluded.fields, cursor=excluded.cursor,
		total=excluded.total, listed=excluded.listed, max_updated=excluded.max_updated, max_ids=excluded.max_ids,
		bound_ms=excluded.bound_ms, bound_ids=excluded.bound_ids, related=excluded.related`,
		r.Scope, r.Params, r.RunID, r.StartedAt.Format(time.RFC3339Nano), r.FinalDir, r.StageDir, r.Fields,
		r.Cursor, r.Total, r.Listed, r.MaxUpdated, jsonText(maxIDs), r.BoundMs, jsonText(boundIDs), r.Related)
	return err
}

// jsonText is v as JSON, "null" if it has none.
func jsonText(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(raw)
}

// DropExportRun forgets an unfinished run and its staged pages.
func (s *Store) DropExportRun(ctx context.Context, scope, runID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return dropExportRun(tx, scope, runID) })
}

func dropExportRun(tx *sql.Tx, scope, runID string) error {
	for _, q := range []string{`DELETE FROM export_pages WHERE run_id = ?`, `DELETE FROM export_seen WHERE run_id = ?`,
		`DELETE FROM export_related_seen WHERE run_id = ?`, `DELETE FROM export_partial WHERE run_id = ?`} {
		if _, err := tx.Exec(q, runID); err != nil {
			return err
		}
	}
	_, err := tx.Exec(`DELETE FROM export_runs WHERE scope = ? AND run_id = ?`, scope, runID)
	return err
}

// ExportCursor returns the scope's incremental cursor; ok is false when
// no run of the scope has finished yet.
func (s *Store) ExportCursor(ctx context.Context, scope string) (c ExportCursor, ok bool, err error) {
	var ids string
	err = s.db.QueryRowContext(ctx, `SELECT value_ms, ids FROM export_cursor WHERE scope = ?`, scope).Scan(&c.ValueMs, &ids)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ExportCursor{}, false, nil
	case err != nil:
		return ExportCursor{}, false, fmt.Errorf("state: reading the incremental cursor: %w", err)
	}
	if err := json.Unmarshal([]byte(ids), &c.IDs); err != nil {
		return ExportCursor{}, false, fmt.Errorf("state: reading the incremental cursor: %w", err)
	}
	return c, true, nil
}

// CommitExportPage checkpoints one staged page in one transaction: its
// row counts, the ids it listed first (fresh), and the run as it stands
// after it.
func (s *Store) CommitExportPage(ctx context.Context, p ExportPage, fresh []string, r *ExportRun) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT OR REPLACE INTO export_pages (run_id, page, contacts, tasks, notes, appointments) VALUES (?,?,?,?,?,?)`,
			r.RunID, p.Page, p.Contacts, p.Tasks, p.Notes, p.Appointments); err != nil {
			return err
		}
		stmt, err := tx.Prepare(`INSERT OR IGNORE INTO export_seen (run_id, id) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range fresh {
			if _, err := stmt.Exec(r.RunID, id); err != nil {
				return err
			}
		}
		if err := insertRelatedSeen(tx, r.RunID, p.Records); err != nil {
			return err
		}
		return saveExportRun(tx, r)
	})
}

func insertRelatedSeen(tx *sql.Tx, runID string, recs []ExportRecord) error {
	if len(recs) == 0 {
		return nil
	}
	stmt, err := tx.Prepare(`INSERT OR REPLACE INTO export_related_seen (run_id, kind, id, contact_id, hash) VALUES (?,?,?,?,?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, x := range recs {
		if _, err := stmt.Exec(runID, x.Kind, x.ID, x.ContactID, x.Hash); err != nil {
			return err
		}
	}
	return nil
}

// ExportRelatedSeen returns which of ids (of kind) the run read already.
func (s *Store) ExportRelatedSeen(ctx context.Context, runID, kind string, ids []string) (map[string]bool, error) {
	seen := map[string]bool{}
	err := s.eachIn(ctx, ids, `SELECT id, '' FROM export_related_seen WHERE run_id = ? AND kind = ? AND id IN `,
		[]any{runID, kind}, func(id, _ string) { seen[id] = true })
	if err != nil {
		return nil, fmt.Errorf("state: reading the %s read: %w", kind, err)
	}
	return seen, nil
}

// ExportRelatedKnown returns the hash the scope's last complete run
// recorded for each of ids (of kind) it read; an id it did not read is
// absent.
func (s *Store) ExportRelatedKnown(ctx context.Context, scope, kind string, ids []string) (map[string]string, error) {
	known := map[string]string{}
	err := s.eachIn(ctx, ids, `SELECT id, hash FROM export_related_known WHERE scope = ? AND kind = ? AND id IN `,
		[]any{scope, kind}, func(id, hash string) { known[id] = hash })
	if err != nil {
		return nil, fmt.Errorf("state: reading the known %s: %w", kind, err)
	}
	return known, nil
}

// eachIn runs q (ending in "IN ") with args and each chunk of ids, and
// hands each row's two text columns to fn.
func (s *Store) eachIn(ctx context.Context, ids []string, q string, args []any, fn func(a, b string)) error {
	for chunk := range slices.Chunk(ids, 400) {
		all := slices.Clone(args)
		for _, id := range chunk {
			all = append(all, id)
		}
		rows, err := s.db.QueryContext(ctx, q+`(?`+strings.Repeat(",?", len(chunk)-1)+`)`, all...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				rows.Close()
				return err
			}
			fn(a, b)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// ExportRelatedDeleted returns, by kind and id, the records of kinds the
// scope's last complete run read that this run did not: deleted since.
func (s *Store) ExportRelatedDeleted(ctx context.Context, scope, runID string, kinds []string) ([]ExportRecord, error) {
	var out []ExportRecord
	for _, kind := range kinds {
		rows, err := s.db.QueryContext(ctx, `SELECT k.id, k.contact_id FROM export_related_known k WHERE k.scope = ? AND k.kind = ?
			AND NOT EXISTS (SELECT 1 FROM export_related_seen s WHERE s.run_id = ? AND s.kind = k.kind AND s.id = k.id)
			AND `+refreshedContact+` ORDER BY k.id`,
			scope, kind, runID, runID, kind, runID, kind, runID)
		if err != nil {
			return nil, fmt.Errorf("state: finding deleted %s: %w", kind, err)
		}
		for rows.Next() {
			x := ExportRecord{Kind: kind}
			if err := rows.Scan(&x.ID, &x.ContactID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("state: finding deleted %s: %w", kind, err)
			}
			out = append(out, x)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("state: finding deleted %s: %w", kind, err)
		}
	}
	return out, nil
}

// ExportScopeValue returns a number a finished run of the scope left
// (ExportFinish.Values); ok is false when none did.
func (s *Store) ExportScopeValue(ctx context.Context, scope, key string) (v int64, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT value FROM export_scope_values WHERE scope = ? AND key = ?`, scope, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("state: reading the export's %s: %w", key, err)
	}
	return v, true, nil
}

// ExportSeen returns which of ids the run listed already.
func (s *Store) ExportSeen(ctx context.Context, runID string, ids []string) (map[string]bool, error) {
	seen := map[string]bool{}
	for chunk := range slices.Chunk(ids, 400) {
		args := make([]any, 0, len(chunk)+1)
		args = append(args, runID)
		for _, id := range chunk {
			args = append(args, id)
		}
		q := `SELECT id FROM export_seen WHERE run_id = ? AND id IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		if err := s.eachString(ctx, func(id string) { seen[id] = true }, q, args...); err != nil {
			return nil, fmt.Errorf("state: reading listed ids: %w", err)
		}
	}
	return seen, nil
}

// ExportPages returns the run's staged pages, in page order.
func (s *Store) ExportPages(ctx context.Context, runID string) ([]ExportPage, error) {
	out, err := s.exportPages(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("state: reading staged pages: %w", err)
	}
	return out, nil
}

func (s *Store) exportPages(ctx context.Context, runID string) ([]ExportPage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT page, contacts, tasks, notes, appointments FROM export_pages WHERE run_id = ? ORDER BY page`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ExportPage
	for rows.Next() {
		var p ExportPage
		if err := rows.Scan(&p.Page, &p.Contacts, &p.Tasks, &p.Notes, &p.Appointments); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ExportDeleted returns, in id order, the ids the scope's previous
// finished run listed that this run did not: contacts deleted since.
func (s *Store) ExportDeleted(ctx context.Context, scope, runID string) ([]string, error) {
	out := []string{}
	err := s.eachString(ctx, func(id string) { out = append(out, id) }, `SELECT k.id FROM export_known k WHERE k.scope = ?
		AND NOT EXISTS (SELECT 1 FROM export_seen s WHERE s.run_id = ? AND s.id = k.id) ORDER BY k.id`, scope, runID)
	if err != nil {
		return nil, fmt.Errorf("state: finding deleted contacts: %w", err)
	}
	return out, nil
}

// FinishExport records a finished run in one transaction: the scope's
// cursor moves to f.Cursor (unless nil), the ids the run listed become the
// scope's known ids (and its records of f.Kinds the known records), and
// the run and its pages are forgotten.
func (s *Store) FinishExport(ctx context.Context, f ExportFinish) error {
	scope, runID, cur := f.Scope, f.RunID, f.Cursor
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := finishRelated(tx, f); err != nil {
			return err
		}
		if cur != nil {
			if _, err := tx.Exec(`INSERT INTO export_cursor (scope, value_ms, ids, run_id) VALUES (?,?,?,?)
				ON CONFLICT(scope) DO UPDATE SET value_ms=excluded.value_ms, ids=excluded.ids, run_id=excluded.run_id`,
				scope, cur.ValueMs, jsonText(cur.IDs), runID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`DELETE FROM export_known WHERE scope = ?`, scope); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO export_known (scope, id) SELECT ?, id FROM export_seen WHERE run_id = ?`, scope, runID); err != nil {
			return err
		}
		return dropExportRun(tx, scope, runID)
	})
}

// eachString runs a query of one text column and hands each value to fn.
func (s *Store) eachString(ctx context.Context, fn func(string), q string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		fn(v)
	}
	return rows.Err()
}

// refreshedContact is true of a known record k (of kind ?) whose contact
// the run (?) read that kind for: every contact, unless the run read the
// kind for some contacts only (export_partial), then those and the
// contacts it did not list (gone). Its arguments: run, kind, run, kind, run.
const refreshedContact = `(NOT EXISTS (SELECT 1 FROM export_partial p WHERE p.run_id = ? AND p.kind = ? AND p.contact_id = '')
	OR k.contact_id IN (SELECT p.contact_id FROM export_partial p WHERE p.run_id = ? AND p.kind = ?)
	OR NOT EXISTS (SELECT 1 FROM export_seen s WHERE s.run_id = ? AND s.id = k.contact_id))`

// MarkExportPartial records that run reads kind only for contacts (with
// --changes: notes): the known records of the other contacts it lists
// stay known, and are not taken for deleted.
func (s *Store) MarkExportPartial(ctx context.Context, runID, kind string, contacts []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range append([]string{""}, contacts...) {
			if _, err := tx.Exec(`INSERT OR IGNORE INTO export_partial (run_id, kind, contact_id) VALUES (?,?,?)`, runID, kind, id); err != nil {
				return fmt.Errorf("state: recording the contacts whose %s are read: %w", kind, err)
			}
		}
		return nil
	})
}

// ExportPartial returns the contacts run reads kind for (MarkExportPartial),
// or nil if it reads kind for every contact.
func (s *Store) ExportPartial(ctx context.Context, runID, kind string) (map[string]bool, error) {
	var set map[string]bool
	err := s.eachString(ctx, func(id string) {
		if set == nil {
			set = map[string]bool{}
		}
		if id != "" {
			set[id] = true
		}
	}, `SELECT contact_id FROM export_partial WHERE run_id = ? AND kind = ? ORDER BY contact_id`, runID, kind)
	if err != nil {
		return nil, fmt.Errorf("state: reading the contacts whose %s are read: %w", kind, err)
	}
	return set, nil
}

// finishRelated makes the run's records of f.Kinds the scope's known ones
// (of the contacts it read them for, refreshedContact) and sets its scope
// values.
func finishRelated(tx *sql.Tx, f ExportFinish) error {
	for _, kind := range f.Kinds {
		if _, err := tx.Exec(`DELETE FROM export_related_known AS k WHERE k.scope = ? AND k.kind = ? AND `+refreshedContact,
			f.Scope, kind, f.RunID, kind, f.RunID, kind, f.RunID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT OR REPLACE INTO export_related_known (scope, kind, id, contact_id, hash)
			SELECT ?, kind, id, contact_id, hash FROM export_related_seen WHERE run_id = ? AND kind = ?`, f.Scope, f.RunID, kind); err != nil {
			return err
		}
	}
	for k, v := range f.Values {
		if _, err := tx.Exec(`INSERT INTO export_scope_values (scope, key, value) VALUES (?,?,?)
			ON CONFLICT(scope, key) DO UPDATE SET value=excluded.value`, f.Scope, k, v); err != nil {
			return err
		}
	}
	return nil
}
