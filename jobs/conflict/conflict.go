// Package conflict finds the rows an import must not send: a row whose
// email matches one contact and phone another, which the upsert would
// write on the first (the location's duplicate rule: email, then phone)
// while silently dropping the phone. It holds the location's contacts and
// those the run's rows make in an index of email and phone hashes kept in
// a temporary SQLite file, so that memory stays flat however many
// contacts the location has or the input makes.
package conflict

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"runtime"
	"strings"

	"github.com/nyaruka/phonenumbers"
	_ "modernc.org/sqlite" // the driver

	"github.com/ghlbulk/ghlbulk/jobs/match"
)

// Index maps the hashes of normalised emails and E.164 phones to the
// contact they lead to: a contact id, or the row of the input that
// creates it ("row N of FILE"). It is not safe for concurrent use.
type Index struct {
	path string
	db   *sql.DB
	seed maphash.Seed
	get  *sql.Stmt
	// pending are the entries not yet written, read before the database;
	// written in one transaction once there are flushAt of them.
	pending map[int64]string
}

const flushAt = 4096

// Open creates an empty index in a temporary file in dir ("" for the
// system's temporary directory); Close removes it. It takes about 60 bytes
// a contact on disk.
func Open(dir string) (*Index, error) {
	f, err := os.CreateTemp(dir, ".ghlbulk-conflicts-*.db")
	if err != nil {
		return nil, fmt.Errorf("conflict index: %w", err)
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
		return nil, fmt.Errorf("conflict index: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	x := &Index{path: path, db: db, seed: maphash.MakeSeed(), pending: make(map[int64]string)}
	if _, err := db.Exec(`CREATE TABLE idx (h INTEGER PRIMARY KEY, who TEXT NOT NULL)`); err != nil {
		x.Close()
		return nil, fmt.Errorf("conflict index: %w", err)
	}
	if x.get, err = db.Prepare(`SELECT who FROM idx WHERE h = ?`); err != nil {
		x.Close()
		return nil, fmt.Errorf("conflict index: %w", err)
	}
	// The one connection keeps the file open: its name can go now, so
	// that a run killed with -9 leaves nothing behind (the file can be as
	// large as the location). Should the connection be lost, the next
	// statement fails: no table in a new file.
	if runtime.GOOS != "windows" {
		os.Remove(path)
	}
	return x, nil
}

// Close deletes the index.
func (x *Index) Close() error {
	err := x.db.Close()
	os.Remove(x.path)
	return err
}

// hash is a 64-bit key for a field value. Two values colliding (odds of
// about one in 10^7 among a million contacts) would make one row look
// like a conflict, or hide one: the reject names both contacts, so a false
// one is easy to see.
func (x *Index) hash(field, v string) int64 {
	return int64(maphash.String(x.seed, field+"\x00"+v))
}

func (x *Index) lookup(ctx context.Context, h int64) (string, error) {
	if who, ok := x.pending[h]; ok {
		return who, nil
	}
	var who string
	err := x.get.QueryRowContext(ctx, h).Scan(&who)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return who, err
}

func (x *Index) put(ctx context.Context, h int64, who string) error {
	x.pending[h] = who
	if len(x.pending) < flushAt {
		return nil
	}
	return x.flush(ctx)
}

func (x *Index) flush(ctx context.Context) error {
	if len(x.pending) == 0 {
		return nil
	}
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("conflict index: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO idx(h, who) VALUES (?, ?) ON CONFLICT(h) DO UPDATE SET who = excluded.who`)
	if err != nil {
		return fmt.Errorf("conflict index: %w", err)
	}
	defer st.Close()
	for h, who := range x.pending {
		if _, err := st.ExecContext(ctx, h, who); err != nil {
			return fmt.Errorf("conflict index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("conflict index: %w", err)
	}
	clear(x.pending)
	return nil
}

// Norm normalises an email as the index keys it.
func Norm(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// E164 normalises a phone as the index keys it: as HighLevel stores it,
// E.164, reading a national number in region (a country code, "US" when
// empty); a number it can't read is kept as it is.
func E164(phone, region string) string {
	phone = strings.TrimSpace(phone)
	if phone == "" || strings.HasPrefix(phone, "+") && !strings.ContainsAny(phone, " -().") {
		return phone
	}
	if region == "" {
		region = "US"
	}
	n, err := phonenumbers.Parse(phone, strings.ToUpper(region))
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return phone
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// Add records an existing contact (phone in E.164).
func (x *Index) Add(ctx context.Context, id, email, phone string) error {
	if e := Norm(email); e != "" {
		if err := x.put(ctx, x.hash("email", e), id); err != nil {
			return err
		}
	}
	if phone = E164(phone, ""); phone != "" {
		return x.put(ctx, x.hash("phone", phone), id)
	}
	return nil
}

// Verdict is what Judge found.
type Verdict struct {
	Conflict bool
	// First is the contact the email leads to (the one the upsert would
	// update), Other the one the phone leads to (whose phone it would
	// drop); each a contact id, or "row N of FILE" for a contact a row of
	// the input creates.
	First, Other string
}

// Judge takes the next row to write, in input order: its email and phone
// (read in region, as E164 does), and who it is ("row N of FILE", for a
// contact it creates). A row whose email and phone lead to two contacts
// (match.Decide, as validate's prediction decides it) is a conflict, and
// changes nothing; otherwise the row's email and phone lead from now on
// to the contact it writes.
func (x *Index) Judge(ctx context.Context, email, phone, region, row string) (Verdict, error) {
	phone = E164(phone, region)
	var he, hp int64
	var byEmail, byPhone string
	var err error
	if e := Norm(email); e != "" {
		he = x.hash("email", e)
		if byEmail, err = x.lookup(ctx, he); err != nil {
			return Verdict{}, err
		}
	}
	if phone != "" {
		hp = x.hash("phone", phone)
		if byPhone, err = x.lookup(ctx, hp); err != nil {
			return Verdict{}, err
		}
	}
	// The screen plays HighLevel's default rule, email then phone.
	m := match.Decide(match.DefaultRule(), func(f string) (string, bool) {
		if f == match.Email {
			return byEmail, byEmail != ""
		}
		return byPhone, byPhone != ""
	})
	if m.Conflict {
		return Verdict{Conflict: true, First: m.To, Other: m.Other}, nil
	}
	who := row
	if m.Found {
		who = m.To
	}
	if he != 0 && byEmail == "" {
		if err := x.put(ctx, he, who); err != nil {
			return Verdict{}, err
		}
	}
	if hp != 0 && byPhone == "" {
		if err := x.put(ctx, hp, who); err != nil {
			return Verdict{}, err
		}
	}
	return Verdict{}, nil
}
