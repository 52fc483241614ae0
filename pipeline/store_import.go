package pipeline

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/ghlbulk/ghlbulk/record"
)

// Input is one file of an import run as the state binds it.
type Input struct {
	File        string   // as the user named it
	Fingerprint string   // identifies the content (see Fingerprint)
	Header      []string // the source columns, for the rejects file
}

// Binding is what a state was made for. A state is only resumed by a run
// with the same location and mapping; its inputs may change only once the
// run that used them has finished.
type Binding struct {
	Location    string
	MappingHash string
	Inputs      []Input
	// RunTag is the tag a new run puts on the contacts it creates, "{run}"
	// standing for the run's id ("" for none). A resumed run keeps the tag
	// it started with.
	RunTag string
}

// Run is one import run: a binding of new input, resumed as often as it
// takes, and what ghlbulk undo undoes.
type Run struct {
	ID      string
	Tag     string // the tag on the contacts it created ("" for none)
	Started time.Time
	Files   []string
}

// newRunID is sortable by time and unique enough for one state:
// 20261123-190512-3fa9.
func newRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Bind checks that the state belongs to this run and records the binding.
// A mismatch is a *StateError and changes nothing.
func (s *Store) Bind(ctx context.Context, b Binding) error {
	same, err := s.CheckBinding(ctx, b)
	if err != nil {
		return err
	}
	return s.bind(ctx, b, same)
}

// CheckBinding is Bind's check alone, for a dry run that writes nothing.
// same reports that the bound inputs are these.
func (s *Store) CheckBinding(ctx context.Context, b Binding) (same bool, err error) {
	type check struct{ key, want, what string }
	checks := []check{
		{"location", b.Location, "location"},
		{"mapping_hash", b.MappingHash, "mapping"},
	}
	for _, c := range checks {
		got, ok, err := s.meta(ctx, c.key)
		if err != nil {
			return false, s.wrap("read", err)
		}
		if ok && got != c.want {
			return false, &StateError{Path: s.path, Problem: fmt.Sprintf("made for another %s (%s, this run %s)", c.what, short(got), short(c.want))}
		}
	}
	prev, err := s.inputs(ctx)
	if err != nil {
		return false, err
	}
	finished, _, err := s.meta(ctx, "finished")
	if err != nil {
		return false, s.wrap("read", err)
	}
	same = len(prev) == len(b.Inputs)
	for i := 0; same && i < len(prev); i++ {
		same = prev[i].Fingerprint == b.Inputs[i].Fingerprint
	}
	if len(prev) > 0 && !same && finished != "1" {
		return false, &StateError{Path: s.path, Problem: fmt.Sprintf("holds an unfinished import of other input (%s)", inputNames(prev))}
	}
	return same && len(prev) > 0, nil
}

// Location is the location the state is bound to ("" before a Bind).
func (s *Store) Location(ctx context.Context) (string, error) {
	loc, _, err := s.meta(ctx, "location")
	return loc, err
}

func (s *Store) bind(ctx context.Context, b Binding, same bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, kv := range [][2]string{{"location", b.Location}, {"mapping_hash", b.MappingHash}} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, kv[0], kv[1]); err != nil {
				return err
			}
		}
		var run string
		if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'run_id'`).Scan(&run); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if !same || run == "" {
			now := time.Now()
			run = newRunID(now)
			files := make([]string, len(b.Inputs))
			for i, in := range b.Inputs {
				files[i] = in.File
			}
			fj, _ := json.Marshal(files)
			tag := strings.ReplaceAll(b.RunTag, "{run}", run)
			if _, err := tx.ExecContext(ctx, `INSERT INTO runs(id, tag, started, files) VALUES (?, ?, ?, ?)`, run, tag, now.UTC().Format(time.RFC3339Nano), string(fj)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('run_id', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, run); err != nil {
				return err
			}
		}
		s.run.Store(&run)
		if same {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM inputs`); err != nil {
			return err
		}
		for i, in := range b.Inputs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO inputs(idx, file, fingerprint, header) VALUES (?, ?, ?, ?)`, i, in.File, in.Fingerprint, encodeStrings(in.Header)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('finished', '0') ON CONFLICT(key) DO UPDATE SET value = '0'`)
		return err
	})
}

// CurrentRun is the run the state is bound to (after Bind).
func (s *Store) CurrentRun(ctx context.Context) (Run, error) {
	id := s.runID()
	if id == "" {
		return Run{}, errors.New("state: no run bound")
	}
	return s.RunByID(ctx, id)
}

// runID is the bound run's id, "" before Bind.
func (s *Store) runID() string {
	if p := s.run.Load(); p != nil {
		return *p
	}
	return ""
}

// Runs lists the state's runs, oldest first.
func (s *Store) Runs(ctx context.Context) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, tag, started, files FROM runs ORDER BY started, id`)
	if err != nil {
		return nil, s.wrap("read", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, files string
		if err := rows.Scan(&r.ID, &r.Tag, &started, &files); err != nil {
			return nil, s.wrap("read", err)
		}
		r.Started, _ = time.Parse(time.RFC3339Nano, started)
		_ = json.Unmarshal([]byte(files), &r.Files)
		out = append(out, r)
	}
	return out, s.wrapNil("read", rows.Err())
}

// RunByID returns one run; a run the state does not hold is an error that
// lists those it does.
func (s *Store) RunByID(ctx context.Context, id string) (Run, error) {
	runs, err := s.Runs(ctx)
	if err != nil {
		return Run{}, err
	}
	ids := make([]string, len(runs))
	for i, r := range runs {
		if r.ID == id {
			return r, nil
		}
		ids[i] = r.ID
	}
	if len(ids) == 0 {
		return Run{}, fmt.Errorf("state %s holds no import run", s.path)
	}
	return Run{}, fmt.Errorf("state %s holds no run %q (it holds %s)", s.path, id, strings.Join(ids, ", "))
}

// SetHeader records an input's header once its source is open.
func (s *Store) SetHeader(ctx context.Context, fingerprint string, header []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE inputs SET header = ? WHERE fingerprint = ?`, encodeStrings(header), fingerprint)
		return err
	})
}

// Finish marks the bound run as complete: the next run may bring new input.
func (s *Store) Finish(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('finished', '1') ON CONFLICT(key) DO UPDATE SET value = '1'`)
		return err
	})
}

func (s *Store) inputs(ctx context.Context) ([]Input, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT file, fingerprint, header FROM inputs ORDER BY idx`)
	if err != nil {
		return nil, s.wrap("read", err)
	}
	defer rows.Close()
	var out []Input
	for rows.Next() {
		var in Input
		var h string
		if err := rows.Scan(&in.File, &in.Fingerprint, &h); err != nil {
			return nil, s.wrap("read", err)
		}
		in.Header = decodeStrings(h)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("read", err)
	}
	return out, nil
}

func inputNames(in []Input) string {
	names := make([]string, len(in))
	for i, x := range in {
		names[i] = x.File
	}
	return strings.Join(names, ", ")
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	if s == "" {
		return "none"
	}
	return s
}

// RowRecord is a row's checkpointed outcome.
type RowRecord struct {
	Hash      string
	Status    string
	ContactID string
}

// Rows returns the recorded outcomes of rows first..last of the file with
// this fingerprint, by row number.
func (s *Store) Rows(ctx context.Context, fp string, first, last int64) (map[int64]RowRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT row, hash, status, contact_id FROM rows WHERE fp = ? AND row BETWEEN ? AND ?`, fp, first, last)
	if err != nil {
		return nil, s.wrap("read", err)
	}
	defer rows.Close()
	out := make(map[int64]RowRecord)
	for rows.Next() {
		var n int64
		var r RowRecord
		if err := rows.Scan(&n, &r.Hash, &r.Status, &r.ContactID); err != nil {
			return nil, s.wrap("read", err)
		}
		out[n] = r
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("read", err)
	}
	return out, nil
}

// ContactRecord is the ID map's entry for a match key.
type ContactRecord struct {
	ContactID string
	Hash      string // the row hash last written for this key
}

// Contacts looks keys up in the ID map.
func (s *Store) Contacts(ctx context.Context, keys []string) (map[string]ContactRecord, error) {
	out := make(map[string]ContactRecord, len(keys))
	for chunk := range slices.Chunk(keys, 500) {
		q := `SELECT key, contact_id, hash FROM contacts WHERE key IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, s.wrap("read", err)
		}
		for rows.Next() {
			var k string
			var r ContactRecord
			if err := rows.Scan(&k, &r.ContactID, &r.Hash); err != nil {
				rows.Close()
				return nil, s.wrap("read", err)
			}
			out[k] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.wrap("read", err)
		}
	}
	return out, nil
}

// Subs returns the journal entries of a contact key.
func (s *Store) RelatedOf(ctx context.Context, key string) ([]record.RelatedEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, content_hash, seq, contact_id, remote_id, state FROM subs WHERE key = ?`, key)
	if err != nil {
		return nil, s.wrap("read", err)
	}
	defer rows.Close()
	var out []record.RelatedEntry
	for rows.Next() {
		r := record.RelatedEntry{RelatedRef: record.RelatedRef{Key: key}}
		if err := rows.Scan(&r.Kind, &r.ContentHash, &r.Seq, &r.ContactID, &r.RemoteID, &r.State); err != nil {
			return nil, s.wrap("read", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("read", err)
	}
	return out, nil
}

// MarkRelated writes a journal entry (pending before sending, done after).
func (s *Store) MarkRelated(ctx context.Context, ref record.RelatedRef, state, remoteID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO subs(key, kind, content_hash, seq, contact_id, remote_id, state, fp, row)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(key, kind, content_hash, seq) DO UPDATE SET contact_id = excluded.contact_id,
				remote_id = excluded.remote_id, state = excluded.state`,
			ref.Key, ref.Kind, ref.ContentHash, ref.Seq, ref.ContactID, remoteID, state, ref.FP, ref.Row)
		if err != nil || !ref.Created || state != record.RelatedDone || remoteID == "" {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO made(run, kind, id, contact_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			s.runID(), ref.Kind, remoteID, ref.ContactID)
		return err
	})
}

// RowOutcome is one row's result, committed with its reject if it has one.
type RowOutcome struct {
	FP        string
	File      string
	Row       int64
	Key       string
	SourceKey string
	ContactID string
	Hash      string
	Status    string // record.StatusCreated ...
	Reason    string // for record.StatusRejected
	Raw       []string
	// MadeContact is set when the row created its contact (not when a
	// notes or tasks row created a note on one): undo's record.
	MadeContact bool
	// Tags are the tags the row still has to add (a TagIntent is journaled
	// with the row).
	Tags   []string
	common map[string]bool // TagIntent.Common (not kept in the state)
	// Business is the business the row's contact still has to be put in
	// (journaled in the row's TagIntent, as its tags are).
	Business string
}

// CommitRows records outcomes in one transaction: the row, the ID map for
// written rows, and the reject for rejected ones (a row that is written
// after an earlier rejection loses its reject).
func (s *Store) CommitRows(ctx context.Context, outs []RowOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := prepareRowStmts(ctx, tx)
		if err != nil {
			return err
		}
		defer st.close()
		run := s.runID()
		for _, o := range outs {
			if err := st.commit(ctx, run, o); err != nil {
				return err
			}
		}
		return nil
	})
}

// rowStmts are CommitRows' statements, prepared once for a batch of rows.
type rowStmts struct {
	insRow, insContact, insReject, delReject, insIntent, insMade *sql.Stmt
}

func prepareRowStmts(ctx context.Context, tx *sql.Tx) (*rowStmts, error) {
	st := &rowStmts{}
	for _, p := range []struct {
		stmt **sql.Stmt
		q    string
	}{
		{&st.insRow, `INSERT INTO rows(fp, row, key, source_key, contact_id, hash, status, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(fp, row) DO UPDATE SET key = excluded.key, source_key = excluded.source_key,
				contact_id = excluded.contact_id, hash = excluded.hash, status = excluded.status, reason = excluded.reason`},
		{&st.insContact, `INSERT INTO contacts(key, contact_id, source_key, hash) VALUES (?, ?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET contact_id = excluded.contact_id, source_key = excluded.source_key, hash = excluded.hash`},
		{&st.insReject, `INSERT INTO rejects(fp, row, file, raw, reason) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(fp, row) DO UPDATE SET file = excluded.file, raw = excluded.raw, reason = excluded.reason`},
		{&st.delReject, `DELETE FROM rejects WHERE fp = ? AND row = ?`},
		{&st.insIntent, `INSERT INTO tag_intents(fp, row, file, key, contact_id, tags, raw, status, run, business) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(fp, row) DO UPDATE SET file = excluded.file, key = excluded.key, contact_id = excluded.contact_id,
				tags = excluded.tags, raw = excluded.raw, status = excluded.status, run = excluded.run, business = excluded.business`},
		{&st.insMade, `INSERT INTO made(run, kind, id, contact_id) VALUES (?, 'contact', ?, ?) ON CONFLICT DO NOTHING`},
	} {
		var err error
		if *p.stmt, err = tx.PrepareContext(ctx, p.q); err != nil {
			st.close()
			return nil, err
		}
	}
	return st, nil
}

func (st *rowStmts) close() {
	for _, s := range []*sql.Stmt{st.insRow, st.insContact, st.insReject, st.delReject, st.insIntent, st.insMade} {
		if s != nil {
			s.Close()
		}
	}
}

// commit records one row's outcome for run.
func (st *rowStmts) commit(ctx context.Context, run string, o RowOutcome) error {
	if _, err := st.insRow.ExecContext(ctx, o.FP, o.Row, o.Key, o.SourceKey, o.ContactID, o.Hash, o.Status, o.Reason); err != nil {
		return err
	}
	if o.Status == record.StatusRejected {
		_, err := st.insReject.ExecContext(ctx, o.FP, o.Row, o.File, encodeStrings(o.Raw), o.Reason)
		return err
	}
	if _, err := st.delReject.ExecContext(ctx, o.FP, o.Row); err != nil {
		return err
	}
	if o.Key != "" && o.ContactID != "" {
		if _, err := st.insContact.ExecContext(ctx, o.Key, o.ContactID, o.SourceKey, o.Hash); err != nil {
			return err
		}
	}
	if o.MadeContact && o.ContactID != "" {
		if _, err := st.insMade.ExecContext(ctx, run, o.ContactID, o.ContactID); err != nil {
			return err
		}
	}
	if len(o.Tags) > 0 || o.Business != "" {
		tags, _ := json.Marshal(o.Tags)
		if _, err := st.insIntent.ExecContext(ctx, o.FP, o.Row, o.File, o.Key, o.ContactID, string(tags), encodeStrings(o.Raw), o.Status, run, o.Business); err != nil {
			return err
		}
	}
	return nil
}

// TagIntents returns the tags and business links rows of earlier runs
// still have to add.
func (s *Store) TagIntents(ctx context.Context) ([]*TagIntent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT fp, row, file, key, contact_id, tags, status, run, business FROM tag_intents ORDER BY fp, row`)
	if err != nil {
		return nil, s.wrap("read", err)
	}
	defer rows.Close()
	var out []*TagIntent
	for rows.Next() {
		in := &TagIntent{}
		var tags string
		if err := rows.Scan(&in.FP, &in.Row, &in.File, &in.Key, &in.ContactID, &tags, &in.status, &in.run, &in.Business); err != nil {
			return nil, s.wrap("read", err)
		}
		_ = json.Unmarshal([]byte(tags), &in.Tags)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("read", err)
	}
	return out, nil
}

// SettleTags records intents whose tags (and business link) were all answered, in one
// transaction: an intent is deleted, and the tags it added to a contact
// the run did not create are recorded for ghlbulk undo; one the API
// refused makes its row a reject (with its source values and the reason)
// and clears the ID map's hash of its key, so that the row is written
// again once fixed.
func (s *Store) SettleTags(ctx context.Context, done []*TagIntent) error {
	if len(done) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// A request settles up to 100 rows' intents: prepared once.
		del, err := tx.PrepareContext(ctx, `DELETE FROM tag_intents WHERE fp = ? AND row = ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		added, err := tx.PrepareContext(ctx, `INSERT INTO tags_added(run, contact_id, tag) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer added.Close()
		for _, in := range done {
			if in.reason != "" {
				// The row's source values are in the intent: the reject
				// is made from them before it goes.
				if _, err := tx.ExecContext(ctx, `INSERT INTO rejects(fp, row, file, raw, reason)
					SELECT fp, row, file, raw, ? FROM tag_intents WHERE fp = ? AND row = ?
					ON CONFLICT(fp, row) DO UPDATE SET file = excluded.file, raw = excluded.raw, reason = excluded.reason`,
					in.reason, in.FP, in.Row); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE rows SET status = ?, reason = ? WHERE fp = ? AND row = ?`, record.StatusRejected, in.reason, in.FP, in.Row); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE contacts SET hash = '' WHERE key = ?`, in.Key); err != nil {
					return err
				}
			} else if in.status == record.StatusUpdated {
				for _, t := range in.Tags {
					if _, err := added.ExecContext(ctx, in.run, in.ContactID, t); err != nil {
						return err
					}
				}
			}
			if _, err := del.ExecContext(ctx, in.FP, in.Row); err != nil {
				return err
			}
		}
		return nil
	})
}

// RejectRecord is a stored reject.
type RejectRecord struct {
	File   string
	Row    int64
	Raw    []string
	Header []string // the header of the row's file
	Reason string
}

// Rejects yields the rejects of the bound inputs, file by file in input
// order, rows in order. The error, if any, is yielded last.
func (s *Store) Rejects(ctx context.Context) iter.Seq2[RejectRecord, error] {
	return func(yield func(RejectRecord, error) bool) {
		rows, err := s.db.QueryContext(ctx, `SELECT r.file, r.row, r.raw, r.reason, i.header FROM rejects r
			JOIN (SELECT fingerprint, min(idx) AS idx, header FROM inputs GROUP BY fingerprint) i
			ON i.fingerprint = r.fp ORDER BY i.idx, r.row`)
		if err != nil {
			yield(RejectRecord{}, s.wrap("read", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var r RejectRecord
			var raw, header string
			if err := rows.Scan(&r.File, &r.Row, &raw, &r.Reason, &header); err != nil {
				yield(RejectRecord{}, s.wrap("read", err))
				return
			}
			r.Raw = decodeStrings(raw)
			r.Header = decodeStrings(header)
			if !yield(r, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil && !errors.Is(err, context.Canceled) {
			yield(RejectRecord{}, s.wrap("read", err))
		}
	}
}

// Headers is the header of each bound input, in input order.
func (s *Store) Headers(ctx context.Context) ([][]string, error) {
	in, err := s.inputs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(in))
	for i, x := range in {
		out[i] = x.Header
	}
	return out, nil
}
