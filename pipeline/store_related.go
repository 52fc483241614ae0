package pipeline

import (
	"context"
	"database/sql"
	"errors"

	"github.com/ghlbulk/ghlbulk/record"
)

// The journal of notes and tasks known by their source identity
// (record.Sources): a notes or tasks file's rows with a source_key, and a
// contacts mapping's notes: and tasks: (record.ContactItemIdentity).
//
//   - related_sources: per (kind, identity), the remote record, the content
//     hash it holds (written), and, while a request is on its way, the one
//     being written (want) and the request (op).
//     Indexed by contact too (ClaimedOn: a lookup on one contact, which a
//     contacts import with notes or tasks may make on row after row).
//   - related_changes: the records each run updated or deleted, for
//     ghlbulk undo, which says it can't take them back.
//
// Both are new since schema version 1: CREATE TABLE IF NOT EXISTS gives an
// older state them empty, which is what they mean there (the notes and
// tasks it wrote are known by content in subs only, and are not updated).
const relatedSchema = `
CREATE TABLE IF NOT EXISTS related_sources (
	kind TEXT NOT NULL, identity TEXT NOT NULL, source_key TEXT NOT NULL, contact_id TEXT NOT NULL,
	remote_id TEXT NOT NULL DEFAULT '', written TEXT NOT NULL DEFAULT '', want TEXT NOT NULL DEFAULT '',
	op TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,
	PRIMARY KEY (kind, identity)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS related_sources_contact ON related_sources(kind, contact_id);
CREATE TABLE IF NOT EXISTS related_changes (
	run TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, contact_id TEXT NOT NULL, op TEXT NOT NULL,
	PRIMARY KEY (run, kind, id, op)) WITHOUT ROWID;
`

const sourceCols = `kind, identity, source_key, contact_id, remote_id, written, want, op, state`

func scanSource(sc interface{ Scan(...any) error }) (record.SourceEntry, error) {
	var e record.SourceEntry
	err := sc.Scan(&e.Kind, &e.Identity, &e.SourceKey, &e.ContactID, &e.RemoteID, &e.Written, &e.Want, &e.Op, &e.State)
	return e, err
}

// SourceOf returns the entry of one note or task identity.
func (s *Store) SourceOf(ctx context.Context, kind, identity string) (record.SourceEntry, bool, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+sourceCols+` FROM related_sources WHERE kind = ? AND identity = ?`, kind, identity)
	e, err := scanSource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return record.SourceEntry{}, false, nil
	}
	if err != nil {
		return e, false, s.wrap("read", err)
	}
	return e, true, nil
}

// MarkSource writes e, and with it the run's record: a record this run's
// request created (for undo to delete), or one it updated or deleted (for
// undo to say it leaves).
func (s *Store) MarkSource(ctx context.Context, e record.SourceEntry, created, changed bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO related_sources(`+sourceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(kind, identity) DO UPDATE SET source_key = excluded.source_key, contact_id = excluded.contact_id,
				remote_id = excluded.remote_id, written = excluded.written, want = excluded.want, op = excluded.op, state = excluded.state`,
			e.Kind, e.Identity, e.SourceKey, e.ContactID, e.RemoteID, e.Written, e.Want, e.Op, e.State)
		if err != nil || e.RemoteID == "" {
			return err
		}
		switch {
		case created:
			_, err = tx.ExecContext(ctx, `INSERT INTO made(run, kind, id, contact_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				s.runID(), e.Kind, e.RemoteID, e.ContactID)
		case changed:
			op := record.OpUpdate
			if e.State == record.SourceDeleted {
				op = record.OpDelete
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO related_changes(run, kind, id, contact_id, op) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				s.runID(), e.Kind, e.RemoteID, e.ContactID, op)
		}
		return err
	})
}

// SourcesOf returns the entries of kind that hold a remote record (or may:
// pending), by identity.
func (s *Store) SourcesOf(ctx context.Context, kind string) ([]record.SourceEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sourceCols+` FROM related_sources WHERE kind = ? AND state != ? ORDER BY identity`, kind, record.SourceDeleted)
	if err != nil {
		return nil, s.wrap("read", err)
	}
	defer rows.Close()
	var out []record.SourceEntry
	for rows.Next() {
		e, err := scanSource(rows)
		if err != nil {
			return nil, s.wrap("read", err)
		}
		out = append(out, e)
	}
	return out, s.wrapNil("read", rows.Err())
}

// Changed is a note or task a run updated or deleted.
type Changed struct {
	Kind, ID, ContactID string
	Op                  string // record.OpUpdate or record.OpDelete
}

// ChangedBy returns the notes and tasks run updated or deleted.
func (s *Store) ChangedBy(ctx context.Context, run string) ([]Changed, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, id, contact_id, op FROM related_changes WHERE run = ? ORDER BY kind, id, op`, run)
	if err != nil {
		return nil, s.wrap("read", err)
	}
	defer rows.Close()
	var out []Changed
	for rows.Next() {
		var c Changed
		if err := rows.Scan(&c.Kind, &c.ID, &c.ContactID, &c.Op); err != nil {
			return nil, s.wrap("read", err)
		}
		out = append(out, c)
	}
	return out, s.wrapNil("read", rows.Err())
}

// ClaimedOn returns the remote ids the entries of kind on contactID hold.
func (s *Store) ClaimedOn(ctx context.Context, kind, contactID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT remote_id FROM related_sources WHERE kind = ? AND contact_id = ? AND remote_id != ''`, kind, contactID)
	if err != nil {
		return nil, s.wrap("read", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.wrap("read", err)
		}
		out = append(out, id)
	}
	return out, s.wrapNil("read", rows.Err())
}
