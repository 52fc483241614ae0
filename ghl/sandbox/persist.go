package sandbox

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// The data file: one table of JSON objects by kind and id, written through
// from the in-memory store by one goroutine in batched transactions, and
// read back whole on start. The seeded custom field definitions are not
// stored: they follow from the location id; those created through the API
// are.

const fileFormat = "ghlbulk-sandbox/1"

// persister owns the SQLite file.
type persister struct {
	db   *sql.DB
	ch   chan pop
	done chan struct{}
	logf func(string, ...any)

	sendMu sync.Mutex // held while sending, so that close never races a send
	closed bool       // guarded by sendMu

	mu  sync.Mutex
	err error // first write error, reported by close
}

// pop is one queued write.
type pop struct {
	kind, id, parent string
	v                any           // nil: delete
	children         bool          // delete every object whose parent is id
	flush            chan struct{} // closed once everything before it is committed
	meta             [2]string     // key, value
}

// dataFileMode is the mode of the data file and its -wal and -shm
// companions: they hold access and refresh tokens.
const dataFileMode = 0o600

// makePrivate creates path with dataFileMode before SQLite opens it (SQLite
// would create it 0644, and gives its -wal and -shm files the main file's
// mode), and takes group and other access off an existing file and its
// companions.
func makePrivate(path string, logf func(string, ...any)) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, dataFileMode)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sandbox: create data file %s: %w (check --data and that its folder exists and is writable)", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o077 == 0 {
			continue // absent (made by SQLite with the main file's mode), or private already
		}
		if err := os.Chmod(p, dataFileMode); err != nil {
			return fmt.Errorf("sandbox: data file %s is readable by others (mode %04o) and holds tokens: %w (run chmod 600 on it)", p, st.Mode().Perm(), err)
		}
		logf("sandbox: data file %s was mode %04o; made it %04o (it holds tokens)", p, st.Mode().Perm(), dataFileMode)
	}
	return nil
}

func openPersister(path string, logf func(string, ...any)) (*persister, error) {
	if err := makePrivate(path, logf); err != nil {
		return nil, err
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sandbox: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := initSchema(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sandbox: data file %s: %w", path, err)
	}
	p := &persister{db: db, ch: make(chan pop, 4096), done: make(chan struct{}), logf: logf}
	go p.run()
	return p, nil
}

func initSchema(db *sql.DB) error {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='table'`).Scan(&n); err != nil {
		return fmt.Errorf("not a SQLite file: %w", err)
	}
	if n > 0 {
		var f string
		err := db.QueryRow(`SELECT value FROM meta WHERE key='format'`).Scan(&f)
		if err != nil || f != fileFormat {
			return fmt.Errorf("not a sandbox data file (format %q)", f)
		}
		return nil
	}
	for _, q := range []string{
		`CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE objects(kind TEXT NOT NULL, id TEXT NOT NULL, parent TEXT NOT NULL DEFAULT '', data BLOB NOT NULL, PRIMARY KEY(kind, id)) WITHOUT ROWID`,
		`CREATE INDEX objects_parent ON objects(parent)`,
		`INSERT INTO meta(key, value) VALUES('format', '` + fileFormat + `')`,
	} {
		if _, err := db.Exec(q); err != nil {
			return err
		}
	}
	return nil
}

func (p *persister) send(o pop) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if p.closed {
		if o.flush != nil {
			close(o.flush)
		}
		return
	}
	p.ch <- o
}

func (p *persister) put(kind, id, parent string, v any) {
	p.send(pop{kind: kind, id: id, parent: parent, v: v})
}

func (p *persister) del(kind, id string) { p.send(pop{kind: kind, id: id}) }

func (p *persister) delChildren(parent string) { p.send(pop{id: parent, children: true}) }

// flush waits until every write queued so far is committed.
func (p *persister) flush() {
	f := make(chan struct{})
	p.send(pop{flush: f})
	select {
	case <-f:
	case <-p.done:
	}
}

func (p *persister) markSeeded() error {
	p.send(pop{meta: [2]string{"seeded", time.Now().UTC().Format(time.RFC3339)}})
	p.flush()
	return p.firstErr()
}

func (p *persister) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *persister) setErr(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
		if p.logf != nil {
			p.logf("sandbox: data file: %v", err)
		}
	}
	p.mu.Unlock()
}

// run applies queued writes, as many per transaction as are waiting.
func (p *persister) run() {
	defer close(p.done)
	for o := range p.ch {
		batch := []pop{o}
	drain:
		for len(batch) < 20000 {
			select {
			case o, ok := <-p.ch:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		if err := p.apply(batch); err != nil {
			p.setErr(err)
		}
		for _, o := range batch {
			if o.flush != nil {
				close(o.flush)
			}
		}
	}
}

func (p *persister) apply(batch []pop) error {
	tx, err := p.db.Begin()
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	put, err := tx.Prepare(`INSERT INTO objects(kind, id, parent, data) VALUES(?, ?, ?, ?)
		ON CONFLICT(kind, id) DO UPDATE SET parent=excluded.parent, data=excluded.data`)
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("prepare: %w", err)
	}
	defer put.Close()
	for _, o := range batch {
		switch {
		case o.flush != nil:
		case o.meta[0] != "":
			_, err = tx.Exec(`INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value`, o.meta[0], o.meta[1])
		case o.children:
			_, err = tx.Exec(`DELETE FROM objects WHERE parent = ? AND kind IN ('task', 'note', 'appointment')`, o.id)
		case o.v == nil:
			_, err = tx.Exec(`DELETE FROM objects WHERE kind = ? AND id = ?`, o.kind, o.id)
		default:
			var b []byte
			if b, err = json.Marshal(o.v); err == nil {
				_, err = put.Exec(o.kind, o.id, o.parent, b)
			}
		}
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("write %s %s: %w", o.kind, o.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (p *persister) close() error {
	p.sendMu.Lock()
	if p.closed {
		p.sendMu.Unlock()
		return nil
	}
	p.closed = true
	close(p.ch)
	p.sendMu.Unlock()
	<-p.done
	err := p.firstErr()
	if cerr := p.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("sandbox: close data file: %w", cerr))
	}
	return err
}

// load reads the data file into memory; seeded reports whether it was
// initialised before (so it is not seeded again).
func (s *Server) load() (seeded bool, err error) {
	db := s.db.db
	if seeded, err = readSeeded(db); err != nil {
		return false, err
	}
	rows, err := db.Query(`SELECT kind, data FROM objects ORDER BY kind`)
	if err != nil {
		return false, fmt.Errorf("sandbox: read data file: %w", err)
	}
	defer rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	ld := &loading{now: s.now(), touched: map[*location]bool{}}
	for rows.Next() {
		var kind string
		var data []byte
		if err := rows.Scan(&kind, &data); err != nil {
			return false, fmt.Errorf("sandbox: read data file: %w", err)
		}
		load := loaders[kind]
		if load == nil {
			continue
		}
		if err := load(s, data, ld); err != nil {
			return false, fmt.Errorf("sandbox: data file: %s: %w", kind, err)
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("sandbox: read data file: %w", err)
	}
	for l := range ld.touched {
		sortIndex(&l.added)
		sortIndex(&l.updated)
	}
	for _, list := range s.related.notes {
		sortByDate(list)
	}
	return seeded, nil
}

// readSeeded reports whether the data file was marked seeded.
func readSeeded(db *sql.DB) (bool, error) {
	var v string
	switch err := db.QueryRow(`SELECT value FROM meta WHERE key='seeded'`).Scan(&v); {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, fmt.Errorf("sandbox: read data file: %w", err)
	}
}

// loading is what load carries from one stored object to the next.
type loading struct {
	now     time.Time          // tokens expired by now are dropped
	touched map[*location]bool // locations whose indexes need sorting
}

// loaders put one stored object of each kind in memory (kinds without one
// are skipped). They run with the write lock held and return the decoding
// error as is; load names the kind.
var loaders = map[string]func(s *Server, data []byte, ld *loading) error{
	"contact":     (*Server).loadContact,
	"task":        (*Server).loadTask,
	"note":        (*Server).loadNote,
	"appointment": (*Server).loadAppointment,
	"token":       (*Server).loadToken,
	"field":       (*Server).loadField,
}

// loadContact indexes a contact as a write would, appending to its
// location's date indexes (sorted once at the end) and moving the clock
// past its dates.
func (s *Server) loadContact(data []byte, ld *loading) error {
	c := &contact{}
	if err := json.Unmarshal(data, c); err != nil {
		return err
	}
	c.addedMs, _ = parseMillis(c.DateAdded)
	c.updatedMs, _ = parseMillis(c.DateUpdated)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.CustomFields == nil {
		c.CustomFields = []cfValue{}
	}
	l := s.loc(c.LocationID)
	l.contacts[c.ID] = c
	addKey(l.byEmail, l.moreEmail, emailKey(c.Email), c.ID)
	addKey(l.byPhone, l.morePhone, c.Phone, c.ID)
	l.linkBusiness(c.BusinessID, c.ID)
	l.added.e = append(l.added.e, ientry{c.addedMs, c.ID})
	l.updated.e = append(l.updated.e, ientry{c.updatedMs, c.ID})
	ld.touched[l] = true
	s.lastMs = max(s.lastMs, c.updatedMs, c.addedMs)
	return nil
}

func (s *Server) loadTask(data []byte, _ *loading) error {
	t := &task{}
	if err := json.Unmarshal(data, t); err != nil {
		return err
	}
	s.related.tasks[t.ContactID] = append(s.related.tasks[t.ContactID], t)
	return nil
}

// loadNote also moves the clock past the note's date.
func (s *Server) loadNote(data []byte, _ *loading) error {
	n := &note{}
	if err := json.Unmarshal(data, n); err != nil {
		return err
	}
	s.related.notes[n.ContactID] = append(s.related.notes[n.ContactID], n)
	if ms, ok := parseMillis(n.DateAdded); ok {
		s.lastMs = max(s.lastMs, ms)
	}
	return nil
}

func (s *Server) loadAppointment(data []byte, _ *loading) error {
	a := &appointment{}
	if err := json.Unmarshal(data, a); err != nil {
		return err
	}
	if a.CalendarID == legacyCalendarID {
		a.CalendarID = calendarFor(a.LocationID, a.ID)
	}
	s.related.appointments[a.ContactID] = append(s.related.appointments[a.ContactID], a)
	return nil
}

// loadToken keeps a token that has not expired.
func (s *Server) loadToken(data []byte, ld *loading) error {
	t := &token{}
	if err := json.Unmarshal(data, t); err != nil {
		return err
	}
	if ld.now.Before(t.Expires) {
		s.auth.load(t)
	}
	return nil
}

func sortByDate(list []*note) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].DateAdded < list[j-1].DateAdded; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}
