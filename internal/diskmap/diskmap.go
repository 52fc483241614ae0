// Package diskmap is a map of int64 keys to strings kept in a temporary
// SQLite file, for a job's scratch index that must not grow with memory
// (jobs/conflict's index of email and phone hashes). It is not the run's
// state: that is pipeline.Store, which owns the state's tables. A Map
// lives as long as its process and leaves no file behind.
//
// It sits below every other package and imports none of ours (only the
// SQLite driver).
package diskmap

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"runtime"

	_ "modernc.org/sqlite" // the driver
)

// Map is a scratch map on disk. Puts are kept in memory, and read before
// the file, until there are flushAt of them; they are then written in one
// transaction. It is not safe for concurrent use.
type Map struct {
	path    string
	db      *sql.DB
	get     *sql.Stmt
	flushAt int
	pending map[int64]string
}

// Open creates an empty map in a new temporary file in dir ("" for the
// system's temporary directory) named by pattern (as os.CreateTemp takes
// it); Close removes it. Puts go to the file flushAt at a time.
func Open(dir, pattern string, flushAt int) (*Map, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	path := f.Name()
	f.Close()
	// A scratch file of this process alone: no journal, no syncs, and the
	// lock taken once (not per statement, with a hot-journal check each
	// time). SQLite's default page cache (2 MB): a larger one cost more
	// memory than it saved reads (the OS caches the file too).
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)"+
		"&_pragma=locking_mode(EXCLUSIVE)")
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	m := &Map{path: path, db: db, flushAt: flushAt, pending: make(map[int64]string)}
	if _, err := db.Exec(`CREATE TABLE idx (h INTEGER PRIMARY KEY, who TEXT NOT NULL)`); err != nil {
		m.Close()
		return nil, err
	}
	if m.get, err = db.Prepare(`SELECT who FROM idx WHERE h = ?`); err != nil {
		m.Close()
		return nil, err
	}
	// The one connection keeps the file open: its name can go now, so
	// that a process killed with -9 leaves nothing behind (the file can be
	// as large as a location). Should the connection be lost, the next
	// statement fails: no table in a new file.
	if runtime.GOOS != "windows" {
		os.Remove(path)
	}
	return m, nil
}

// Close deletes the map.
func (m *Map) Close() error {
	err := m.db.Close()
	os.Remove(m.path)
	return err
}

// Get returns the value of k, "" if it has none.
func (m *Map) Get(ctx context.Context, k int64) (string, error) {
	if v, ok := m.pending[k]; ok {
		return v, nil
	}
	var v string
	err := m.get.QueryRowContext(ctx, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Put sets the value of k.
func (m *Map) Put(ctx context.Context, k int64, v string) error {
	m.pending[k] = v
	if len(m.pending) < m.flushAt {
		return nil
	}
	return m.Flush(ctx)
}

// Flush writes the puts kept in memory to the file.
func (m *Map) Flush(ctx context.Context) error {
	if len(m.pending) == 0 {
		return nil
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO idx(h, who) VALUES (?, ?) ON CONFLICT(h) DO UPDATE SET who = excluded.who`)
	if err != nil {
		return err
	}
	defer st.Close()
	for k, v := range m.pending {
		if _, err := st.ExecContext(ctx, k, v); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	clear(m.pending)
	return nil
}
