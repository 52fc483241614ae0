package pipeline

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Application marker and schema version kept in the state's meta table. A
// file without the marker is somebody else's database; a different version
// was written by another ghlbulk and is refused rather than guessed at.
const (
	storeApplication   = "ghlbulk"
	storeSchemaVersion = 1
)

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// StoreOptions says how OpenStore treats an existing state.
type StoreOptions struct {
	// Restart wipes an existing state (after taking the lock) and starts
	// over, as --restart asks.
	Restart bool
}

// Store is the run's checkpoint: a SQLite database at --state, locked for
// the length of the run. Its methods are safe for concurrent use.
//
// The store owns every statement on the state: the jobs call its methods
// and see no SQL. Each job's tables are declared beside its statements:
// the import's in this file (schema) and store_import.go, the export's in
// store_export.go, and what undo, verify and --id-map read or forget in
// store_undo.go and store_written.go.
type Store struct {
	path string
	db   *sql.DB
	lock *fileLock
	run  atomic.Pointer[string] // the bound run's id (Bind)
}

// StateError is a state file that can't be used for this run: damaged,
// foreign, of another schema version, made for other input, or in use by
// another run. Nothing was written to the API when it is returned.
type StateError struct {
	Path    string // the state file
	Problem string // what is wrong with it
	Fix     string // what the user can do; empty means the default advice
	Err     error  // the underlying cause, if any
}

func (e *StateError) Error() string {
	fix := e.Fix
	if fix == "" {
		fix = "run with --restart to start over, or point --state elsewhere"
	}
	msg := fmt.Sprintf("state %s: %s", e.Path, e.Problem)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + " (" + fix + ")"
}

func (e *StateError) Unwrap() error { return e.Err }

// ErrDiskFull marks a checkpoint write that failed because the disk (or the
// state's volume) is full. The transaction was rolled back, so the state is
// as it was before; the run stops and can be resumed once there is room.
var ErrDiskFull = errors.New("no space left for the state file")

// OpenStore opens (or creates) the state at path, takes its lock for the
// life of the Store, and checks that it is a ghlbulk state of this schema
// version. Any problem with the file is a *StateError.
//
// A path that holds something else (a directory, an input file, another
// program's database) is refused before anything is written there, lock
// file included, and Restart never removes it: --restart only ever
// replaces a ghlbulk state, or a file too damaged to tell.
func OpenStore(path string, opt StoreOptions) (s *Store, err error) {
	if path == "" {
		return nil, &StateError{Path: path, Problem: "no state path given", Fix: "pass --state PATH"}
	}
	if _, err := probeState(path); err != nil {
		return nil, err
	}
	lock, err := acquireLock(path + ".lock")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
	if opt.Restart {
		if err := removeForRestart(path); err != nil {
			return nil, err
		}
	}
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	if err := createState(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, &StateError{Path: path, Problem: "cannot open", Err: err}
	}
	s = &Store{path: path, db: db, lock: lock}
	if err := s.init(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// removeForRestart removes the state at path and its SQLite side files for
// --restart. It runs under the lock, and looks again at what path holds:
// the check before the lock only said it was not somebody else's file then.
func removeForRestart(path string) error {
	kind, err := probeState(path)
	if err != nil {
		return err
	}
	if kind == stateAbsent {
		return nil
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return &StateError{Path: path, Problem: "cannot remove it for --restart", Fix: "remove it by hand", Err: rerr}
		}
	}
	return nil
}

// stateKind is what a --state path holds, judged without writing to it.
type stateKind int

const (
	stateAbsent  stateKind = iota // nothing there yet
	stateOurs                     // a ghlbulk state (of any schema version), or an empty file or database
	stateDamaged                  // starts like a SQLite database but cannot be read: a damaged state, most likely
)

// foreignFix is the advice for a --state that is not a ghlbulk state:
// --restart would not help (it refuses to remove such a file), another
// path does.
const foreignFix = "pick another --state path: --restart only replaces a ghlbulk state, and this file is left as it is"

// probeState says what path holds, reading it only (SQLite is opened
// read-only: the state's own connection would turn another program's
// database into WAL mode just by opening it). Anything that is not a
// ghlbulk state, an empty file or a damaged SQLite file is a *StateError
// with foreignFix.
func probeState(path string) (stateKind, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return stateAbsent, nil
	case err != nil:
		return 0, &StateError{Path: path, Problem: "cannot read", Err: err}
	case fi.IsDir():
		return 0, &StateError{Path: path, Problem: "is a directory, not a ghlbulk state file", Fix: foreignFix}
	case !fi.Mode().IsRegular():
		return 0, &StateError{Path: path, Problem: "is not a regular file, so not a ghlbulk state", Fix: foreignFix}
	case fi.Size() == 0:
		return stateOurs, nil
	}
	head, err := readHead(path)
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(sqliteHeader, head) {
		return 0, &StateError{Path: path, Problem: "not a ghlbulk state (not a SQLite database)",
			Fix: foreignFix + "; if it was a ghlbulk state that got overwritten, remove it by hand"}
	}
	if len(head) < len(sqliteHeader) {
		return stateDamaged, nil // cut short inside the header
	}
	return probeSQLite(path)
}

// readHead reads up to the length of the SQLite header from path.
func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &StateError{Path: path, Problem: "cannot read", Err: err}
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, &StateError{Path: path, Problem: "cannot read", Err: err}
	}
	return head[:n], nil
}

// probeSQLite tells a ghlbulk state from another program's database,
// opening it read-only. A file SQLite cannot read is stateDamaged.
func probeSQLite(path string) (stateKind, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		return stateDamaged, nil
	}
	defer db.Close()
	var tables, hasMeta int
	if err := db.QueryRow("SELECT count(*), count(CASE WHEN name = 'meta' THEN 1 END) FROM sqlite_master WHERE type='table'").Scan(&tables, &hasMeta); err != nil {
		return stateDamaged, nil
	}
	if tables == 0 {
		return stateOurs, nil
	}
	foreign := &StateError{Path: path, Problem: "not a ghlbulk state (a SQLite database of something else)", Fix: foreignFix}
	if hasMeta == 0 {
		return 0, foreign
	}
	var app string
	err = db.QueryRow("SELECT value FROM meta WHERE key = 'application'").Scan(&app)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, foreign
	case err != nil:
		return stateDamaged, nil
	case app != storeApplication:
		return 0, foreign
	}
	return stateOurs, nil
}

// dsn builds the modernc.org/sqlite data source name: WAL so readers never
// wait for the writer, synchronous=NORMAL (durable at each checkpoint of the
// WAL, and never corrupt), a busy timeout instead of SQLITE_BUSY, and
// BEGIN IMMEDIATE so two writers queue rather than deadlock.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// checkHeader refuses a file that exists and is not a SQLite database
// (truncated to less than a header, or another format) before the driver
// gets to see it. An empty file is fine: SQLite treats it as a new database.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &StateError{Path: path, Problem: "cannot read", Err: err}
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF):
		return nil
	case err != nil || !bytes.Equal(head, sqliteHeader):
		return &StateError{Path: path, Problem: "damaged (shorter than a SQLite header)"}
	}
	return nil
}

// schema is the import's tables, version storeSchemaVersion.
//
//   - inputs: the files of the current run, in order, with their header
//     (JSON) for the rejects file.
//   - rows: each data row's outcome, by file fingerprint and row number.
//   - contacts: the ID map, normalised match key -> contact id, and the
//     hash of what was last written for it.
//   - subs: notes and tasks sent, by contact key and content; state
//     "pending" is written before the request, "done" after it.
//   - rejects: rejected rows as read, with the reason.
//   - tag_intents: tags and the business link rows still have to add
//     (TagIntent), written with the row's checkpoint and deleted once they
//     are added.
//   - runs: each import run (a binding of new input) with its run tag;
//     made: the contacts, notes and tasks each run created; tags_added:
//     the tags it added to contacts it did not create. ghlbulk undo reads
//     them, and deletes what it has undone.
//
// Tables added since version 1 need no version change: CREATE TABLE IF NOT
// EXISTS gives a state of an older ghlbulk the table, empty, which is what
// it means there; a column added is given to it with its default by
// addColumns (importColumns).
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inputs (
	idx INTEGER PRIMARY KEY, file TEXT NOT NULL, fingerprint TEXT NOT NULL, header TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS rows (
	fp TEXT NOT NULL, row INTEGER NOT NULL, key TEXT NOT NULL DEFAULT '', source_key TEXT NOT NULL DEFAULT '',
	contact_id TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (fp, row)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contacts (
	key TEXT PRIMARY KEY, contact_id TEXT NOT NULL, source_key TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subs (
	key TEXT NOT NULL, kind TEXT NOT NULL, content_hash TEXT NOT NULL, seq INTEGER NOT NULL,
	contact_id TEXT NOT NULL, remote_id TEXT NOT NULL DEFAULT '', state TEXT NOT NULL, fp TEXT NOT NULL DEFAULT '', row INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (key, kind, content_hash, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejects (
	fp TEXT NOT NULL, row INTEGER NOT NULL, file TEXT NOT NULL, raw TEXT NOT NULL, reason TEXT NOT NULL,
	PRIMARY KEY (fp, row)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tag_intents (
	fp TEXT NOT NULL, row INTEGER NOT NULL, file TEXT NOT NULL, key TEXT NOT NULL, contact_id TEXT NOT NULL,
	tags TEXT NOT NULL, raw TEXT NOT NULL, status TEXT NOT NULL DEFAULT '', run TEXT NOT NULL DEFAULT '',
	business TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (fp, row)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
	id TEXT PRIMARY KEY, tag TEXT NOT NULL DEFAULT '', started TEXT NOT NULL, files TEXT NOT NULL DEFAULT '[]') WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS made (
	run TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, contact_id TEXT NOT NULL,
	PRIMARY KEY (run, kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags_added (
	run TEXT NOT NULL, contact_id TEXT NOT NULL, tag TEXT NOT NULL,
	PRIMARY KEY (run, contact_id, tag)) WITHOUT ROWID;
`

// importColumns are the columns added to the import's tables since they
// were made (table, column, type with default): addColumns gives an
// older state them, with the default, which is what it means there.
var importColumns = [][3]string{
	// tag_intents.business: the business a row's contact still has to be
	// put in ("" for none: what every intent of an older state means).
	{"tag_intents", "business", "TEXT NOT NULL DEFAULT ''"},
}

// execQuerier is what addColumns needs of a *sql.DB or a *sql.Tx.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// addColumns adds the columns (table, column, type with default) an older
// state's tables lack: importColumns, exportColumns.
func addColumns(ctx context.Context, db execQuerier, cols [][3]string) error {
	for _, c := range cols {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, c[0], c[1]).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, err := db.ExecContext(ctx, `ALTER TABLE `+c[0]+` ADD COLUMN `+c[1]+` `+c[2]); err != nil {
			return err
		}
	}
	return nil
}

// init checks the file's integrity, marker and version, and creates the
// schema in a new file.
func (s *Store) init(ctx context.Context) error {
	// quick_check reads every page: a truncated or scribbled-on file fails
	// here, before the run trusts anything in it.
	var check string
	if err := s.db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return s.damaged(err)
	}
	if check != "ok" {
		return &StateError{Path: s.path, Problem: "damaged (" + check + ")"}
	}
	var tables int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type='table'").Scan(&tables); err != nil {
		return s.damaged(err)
	}
	var hasMeta int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'").Scan(&hasMeta); err != nil {
		return s.damaged(err)
	}
	if tables > 0 {
		if hasMeta == 0 {
			return &StateError{Path: s.path, Problem: "not a ghlbulk state (a SQLite database of something else)", Fix: foreignFix}
		}
		app, _, err := s.meta(ctx, "application")
		if err != nil {
			return s.damaged(err)
		}
		if app != storeApplication {
			return &StateError{Path: s.path, Problem: "not a ghlbulk state (a SQLite database of something else)", Fix: foreignFix}
		}
		v, _, err := s.meta(ctx, "schema_version")
		if err != nil {
			return s.damaged(err)
		}
		if v != strconv.Itoa(storeSchemaVersion) {
			return &StateError{Path: s.path, Problem: fmt.Sprintf("schema version %s, this ghlbulk reads version %d", v, storeSchemaVersion)}
		}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, schema+relatedSchema); err != nil {
			return err
		}
		if err := addColumns(ctx, tx, importColumns); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO meta(key, value) VALUES ('application', ?), ('schema_version', ?)`,
			storeApplication, strconv.Itoa(storeSchemaVersion))
		return err
	})
	if err != nil {
		return s.damaged(err)
	}
	return nil
}

// damaged turns a database error met while checking the file into a
// StateError (a full disk is reported as such, not as damage).
func (s *Store) damaged(err error) error {
	if isDiskFull(err) {
		return &StateError{Path: s.path, Problem: "cannot be written", Fix: "free some disk space and run again", Err: ErrDiskFull}
	}
	return &StateError{Path: s.path, Problem: "not a usable ghlbulk state (damaged or not a ghlbulk file)", Err: err}
}

// meta reads one meta value; ok is false when the key is absent.
func (s *Store) meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, err
}

// Path is the state file.
func (s *Store) Path() string { return s.path }

// tx runs fn in one IMMEDIATE transaction and commits it, or rolls it back
// if fn or the commit fails. A full disk comes back wrapping ErrDiskFull.
// Inside fn, use the *sql.Tx only: a statement on s.db from within fn waits
// for the transaction that is waiting for it.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return s.wrap("write", err)
	}
	if err = tx.Commit(); err != nil {
		return s.wrap("commit", err)
	}
	return nil
}

// wrapNil is wrap for an error that may be nil.
func (s *Store) wrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.wrap(op, err)
}

// wrap names the state file in a database error and marks a full disk.
func (s *Store) wrap(op string, err error) error {
	if isDiskFull(err) && !errors.Is(err, ErrDiskFull) {
		return fmt.Errorf("state %s: %s: %w: %w", s.path, op, ErrDiskFull, err)
	}
	if strings.HasPrefix(err.Error(), "state ") {
		return err
	}
	return fmt.Errorf("state %s: %s: %w", s.path, op, err)
}

// isDiskFull reports SQLITE_FULL, or ENOSPC from the file system.
func isDiskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	return errors.Is(err, ErrDiskFull) || strings.Contains(err.Error(), "no space left on device")
}

// Close closes the database and releases the lock.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	err := s.db.Close()
	s.lock.release()
	if err != nil {
		return fmt.Errorf("state %s: close: %w", s.path, err)
	}
	return nil
}
