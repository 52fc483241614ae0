package listen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriterDurable: the writer's own connection commits as the journal
// promises: WAL, and synchronous=FULL, so that a 200 follows an fsync'd
// commit.
func TestWriterDurable(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	w, err := newWriter(j, 0, 8, 8, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	ctx := context.Background()
	for _, c := range []struct{ pragma, want string }{
		{"synchronous", "2"}, {"journal_mode", "wal"}, {"wal_autocheckpoint", "0"},
	} {
		var got string
		if err := w.app.conn.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s on the writer's connection = %s; want %s", c.pragma, got, c.want)
		}
	}
}

// TestWriterCheckpoints: the writer does not checkpoint on commit, so its
// checkpointer must, or the WAL grows with every event.
func TestWriterCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	w, err := newWriter(j, 0, 8, 1, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	const n = 5 * checkpointCommits
	now := time.Now().UTC()
	for i := range n {
		ev := &Event{WebhookID: fmt.Sprint("w", i), Type: "ContactUpdate", Timestamp: now.Format(time.RFC3339),
			ReceivedAt: now, Signature: "x-ghl-signature", Body: event(fmt.Sprint("w", i), "ContactUpdate", now, nil)}
		if kept, err := w.submit(context.Background(), ev); err != nil || !kept {
			t.Fatalf("event %d: kept=%v err=%v", i, kept, err)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Each commit appends a few 4 KiB pages; unchecked, n commits would
	// leave n*4 of them in the WAL.
	if max := int64(n * 4 * 4096 / 2); fi.Size() > max {
		t.Fatalf("WAL is %d bytes after %d commits; want under %d: not checkpointed", fi.Size(), n, max)
	}
}
