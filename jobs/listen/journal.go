package listen

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the journal's database driver
)

// Every statement on the journal is in this file.

const journalSchema = `
CREATE TABLE IF NOT EXISTS events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook_id  TEXT NOT NULL UNIQUE,
	type        TEXT NOT NULL,
	location_id TEXT NOT NULL,
	timestamp   TEXT NOT NULL,
	received_ms INTEGER NOT NULL,
	signature   TEXT NOT NULL,
	body        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_received ON events(received_ms);
CREATE TABLE IF NOT EXISTS uptime (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	started_ms INTEGER NOT NULL,
	seen_ms    INTEGER NOT NULL,
	stopped_ms INTEGER
);
CREATE TABLE IF NOT EXISTS outbox (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	key        TEXT NOT NULL UNIQUE, -- the idempotency key: webhookId/relay or webhookId/task:rule
	seq        INTEGER NOT NULL REFERENCES events(seq),
	target     TEXT NOT NULL,        -- relay:NAME or action:create_task
	rule       TEXT NOT NULL,
	state      TEXT NOT NULL,        -- pending, done, dead
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_ms    INTEGER NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	done_ms    INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_ms);`

// Event is one journaled webhook: its body exactly as it came, and what
// the listener read from it.
type Event struct {
	Seq        int64           `json:"seq"` // the journal's order: a watermark for "since"
	WebhookID  string          `json:"webhookId"`
	Type       string          `json:"type"`
	LocationID string          `json:"locationId"`
	Timestamp  string          `json:"timestamp"` // the event's own, as sent
	ReceivedAt time.Time       `json:"receivedAt"`
	Signature  string          `json:"signature"` // the header that verified it
	Body       json.RawMessage `json:"body"`
}

// Journal is the listener's SQLite file.
type Journal struct {
	path string
	db   *sql.DB
}

// journalDSN: WAL so that `ghlbulk events` reads while the listener writes,
// and synchronous=FULL so that a commit is on disk before the listener
// answers 200 (NORMAL in WAL mode may lose the last commits on power loss).
func journalDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// OpenJournal opens (creating it, 0666 less the umask, as every file
// ghlbulk writes) the journal at path.
func OpenJournal(path string) (*Journal, error) {
	if path == "" {
		return nil, errors.New("no journal: set --journal to a file path")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	f.Close()
	db, err := sql.Open("sqlite", journalDSN(path))
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if _, err := db.Exec(journalSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("journal %s: not a ghlbulk journal or not writable: %w", path, err)
	}
	return &Journal{path: path, db: db}, nil
}

// Close closes the journal.
func (j *Journal) Close() error { return j.db.Close() }

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// appender is the writer's own connection to the journal, with its
// statements prepared once: a batch costs its inserts, one fsync'd COMMIT
// and no SQL parsing. The connection does not checkpoint on commit
// (wal_autocheckpoint=0): copying the WAL into the database, and its
// fsync, would fall on the commit requests wait for; the writer
// checkpoints after answering them instead. Durability is the COMMIT's: WAL with
// synchronous=FULL fsyncs the WAL before COMMIT returns.
type appender struct {
	conn                                     *sql.Conn
	begin, insert, owe, seen, commit, rollbk *sql.Stmt
	ckpt                                     *sql.Stmt
}

const (
	appendInsert = `INSERT INTO events (webhook_id, type, location_id, timestamp, received_ms, signature, body)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(webhook_id) DO NOTHING`
	appendOwe = `INSERT INTO outbox (key, seq, target, rule, state, next_ms)
		VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT(key) DO NOTHING`
	appendSeen = `UPDATE uptime SET seen_ms = ? WHERE id = ?`
)

// newAppender takes a connection of its own from the journal's pool.
func (j *Journal) newAppender() (*appender, error) {
	ctx := context.Background()
	conn, err := j.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", j.path, err)
	}
	a := &appender{conn: conn}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("journal %s: %w", j.path, err)
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&a.begin, `BEGIN IMMEDIATE`}, {&a.insert, appendInsert}, {&a.owe, appendOwe},
		{&a.seen, appendSeen}, {&a.commit, `COMMIT`}, {&a.rollbk, `ROLLBACK`},
		{&a.ckpt, `PRAGMA wal_checkpoint(PASSIVE)`},
	} {
		if *p.st, err = conn.PrepareContext(ctx, p.sql); err != nil {
			a.close()
			return nil, fmt.Errorf("journal %s: %w", j.path, err)
		}
	}
	return a, nil
}

// close gives the connection back to the pool as it found it.
func (a *appender) close() {
	for _, st := range []*sql.Stmt{a.begin, a.insert, a.owe, a.seen, a.commit, a.rollbk, a.ckpt} {
		if st != nil {
			st.Close()
		}
	}
	_, _ = a.conn.ExecContext(context.Background(), `PRAGMA wal_autocheckpoint = 1000`)
	a.conn.Close()
}

// appendBatch journals evs in one transaction. kept[i] is false where the
// event's webhookId was journaled before (by an earlier batch or by an
// earlier event of this one). The deliveries a kept event owes (owed[i],
// nil or parallel to evs) go to the outbox in the same transaction: an
// event journaled is an alert owed. The uptime span id is marked seen in
// the same transaction. Its context is not cancellable on purpose: what
// is queued is written (and the driver then watches no context per
// statement); busy_timeout bounds the wait for the lock.
func (a *appender) appendBatch(span int64, evs []*Event, owed [][]outboxRow, kept []bool) (err error) {
	ctx := context.Background()
	if _, err := a.begin.ExecContext(ctx); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = a.rollbk.ExecContext(ctx)
		}
	}()
	for i, e := range evs {
		res, err := a.insert.ExecContext(ctx, e.WebhookID, e.Type, e.LocationID, e.Timestamp, e.ReceivedAt.UnixMilli(), e.Signature, []byte(e.Body))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		kept[i] = n == 1
		if !kept[i] || owed == nil {
			continue
		}
		for _, o := range owed[i] {
			seq, _ := res.LastInsertId()
			if _, err := a.owe.ExecContext(ctx, o.Key, seq, o.Target, o.Rule, e.ReceivedAt.UnixMilli()); err != nil {
				return err
			}
		}
	}
	if _, err := a.seen.ExecContext(ctx, time.Now().UnixMilli(), span); err != nil {
		return err
	}
	_, err = a.commit.ExecContext(ctx)
	return err
}

// checkpoint copies what the WAL holds into the database, without
// waiting for readers (PASSIVE): the part a reader still uses is copied by
// a later one.
func (a *appender) checkpoint() error {
	_, err := a.ckpt.ExecContext(context.Background())
	return err
}

// startSpan journals that the listener started; the span's id is marked
// seen by each batch and by the heartbeat, and stopped by stopSpan.
func (j *Journal) startSpan(now time.Time) (int64, error) {
	res, err := j.db.Exec(`INSERT INTO uptime (started_ms, seen_ms) VALUES (?, ?)`, now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("journal %s: %w", j.path, err)
	}
	return res.LastInsertId()
}

func (j *Journal) seeSpan(span int64, now time.Time) error {
	_, err := j.db.Exec(`UPDATE uptime SET seen_ms = ? WHERE id = ?`, now.UnixMilli(), span)
	return err
}

func (j *Journal) stopSpan(span int64, now time.Time) error {
	_, err := j.db.Exec(`UPDATE uptime SET seen_ms = ?, stopped_ms = ? WHERE id = ?`, now.UnixMilli(), now.UnixMilli(), span)
	return err
}

// Filter selects journaled events. The zero Filter is every event.
type Filter struct {
	AfterSeq int64     // only events journaled after this one (a watermark)
	Since    time.Time // only events received at or after this
	Types    []string  // only these types ("ContactCreate", ...); none = all
}

func (f Filter) where() (string, []any) {
	conds := []string{"seq > ?"}
	args := []any{f.AfterSeq}
	if !f.Since.IsZero() {
		conds = append(conds, "received_ms >= ?")
		args = append(args, f.Since.UnixMilli())
	}
	if len(f.Types) > 0 {
		conds = append(conds, "type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	return strings.Join(conds, " AND "), args
}

// eventsPage bounds what one query holds, so a reader of a large journal
// never keeps a read transaction (and the WAL) open for long.
const eventsPage = 1000

// Events yields the events f selects, oldest first. Reading stops at the
// first error, which is yielded.
func (j *Journal) Events(ctx context.Context, f Filter) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			page, err := j.eventsPage(ctx, f)
			if err != nil {
				yield(Event{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < eventsPage {
				return
			}
			f.AfterSeq = page[len(page)-1].Seq
		}
	}
}

func (j *Journal) eventsPage(ctx context.Context, f Filter) ([]Event, error) {
	where, args := f.where()
	rows, err := j.db.QueryContext(ctx, `SELECT seq, webhook_id, type, location_id, timestamp, received_ms, signature, body
		FROM events WHERE `+where+` ORDER BY seq LIMIT `+fmt.Sprint(eventsPage), args...)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", j.path, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var ms int64
		var body []byte
		if err := rows.Scan(&e.Seq, &e.WebhookID, &e.Type, &e.LocationID, &e.Timestamp, &ms, &e.Signature, &body); err != nil {
			return nil, fmt.Errorf("journal %s: %w", j.path, err)
		}
		e.ReceivedAt, e.Body = time.UnixMilli(ms).UTC(), json.RawMessage(body)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Span is a time the listener was up: from Start to Stop, or, when it was
// killed, to the last moment it was seen alive (Killed).
type Span struct {
	Start, Stop time.Time
	Killed      bool
}

// Spans lists the listener's uptime, oldest first.
func (j *Journal) Spans(ctx context.Context) ([]Span, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT started_ms, seen_ms, stopped_ms FROM uptime ORDER BY started_ms, id`)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", j.path, err)
	}
	defer rows.Close()
	var out []Span
	for rows.Next() {
		var start, seen int64
		var stop sql.NullInt64
		if err := rows.Scan(&start, &seen, &stop); err != nil {
			return nil, fmt.Errorf("journal %s: %w", j.path, err)
		}
		s := Span{Start: time.UnixMilli(start).UTC(), Stop: time.UnixMilli(seen).UTC(), Killed: !stop.Valid}
		if stop.Valid {
			s.Stop = time.UnixMilli(stop.Int64).UTC()
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Count is the number of journaled events.
func (j *Journal) Count(ctx context.Context) (int64, error) {
	var n int64
	err := j.db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n)
	return n, err
}

// Delivery is one outbox row with its event.
type Delivery struct {
	ID        int64     `json:"-"`
	Key       string    `json:"key"`
	Target    string    `json:"target"`
	Rule      string    `json:"rule"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	Event     Event     `json:"event"`
	DoneAt    time.Time `json:"doneAt,omitzero"`
}

const deliverySelect = `SELECT o.id, o.key, o.target, o.rule, o.state, o.attempts, o.last_error, coalesce(o.done_ms, 0),
	e.seq, e.webhook_id, e.type, e.location_id, e.timestamp, e.received_ms, e.signature, e.body
	FROM outbox o JOIN events e ON e.seq = o.seq `

func (j *Journal) deliveries(ctx context.Context, where string, args ...any) ([]Delivery, error) {
	rows, err := j.db.QueryContext(ctx, deliverySelect+where, args...)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", j.path, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var done, ms int64
		var body []byte
		e := &d.Event
		if err := rows.Scan(&d.ID, &d.Key, &d.Target, &d.Rule, &d.State, &d.Attempts, &d.LastError, &done,
			&e.Seq, &e.WebhookID, &e.Type, &e.LocationID, &e.Timestamp, &ms, &e.Signature, &body); err != nil {
			return nil, fmt.Errorf("journal %s: %w", j.path, err)
		}
		e.ReceivedAt, e.Body = time.UnixMilli(ms).UTC(), json.RawMessage(body)
		if done > 0 {
			d.DoneAt = time.UnixMilli(done).UTC()
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// dueDeliveries are the pending rows whose time has come, oldest first.
func (j *Journal) dueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	return j.deliveries(ctx, `WHERE o.state = 'pending' AND o.next_ms <= ? ORDER BY o.next_ms, o.id LIMIT ?`, now.UnixMilli(), limit)
}

// DeadLetters are the deliveries given up on after the rules' attempts,
// oldest first (`ghlbulk events --failed`).
func (j *Journal) DeadLetters(ctx context.Context) ([]Delivery, error) {
	return j.deliveries(ctx, `WHERE o.state = 'dead' ORDER BY o.id`)
}

// Deliveries are every outbox row, oldest first.
func (j *Journal) Deliveries(ctx context.Context) ([]Delivery, error) {
	return j.deliveries(ctx, `ORDER BY o.id`)
}

func (j *Journal) deliveryDone(ctx context.Context, id int64, now time.Time) error {
	_, err := j.db.ExecContext(ctx, `UPDATE outbox SET state = 'done', attempts = attempts + 1, last_error = '', done_ms = ? WHERE id = ?`, now.UnixMilli(), id)
	return err
}

// deliveryFailed records a failed attempt: the row is tried again at next,
// or, dead, listed by DeadLetters.
func (j *Journal) deliveryFailed(ctx context.Context, id int64, next time.Time, dead bool, msg string) error {
	state := "pending"
	if dead {
		state = "dead"
	}
	_, err := j.db.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, next_ms = ?, last_error = ? WHERE id = ?`,
		state, next.UnixMilli(), msg, id)
	return err
}
