package pipeline

import (
	"context"
	"database/sql"
	"fmt"
)

// ghlbulk undo reads a run's record (the made and tags_added tables, see
// schema) and deletes each entry once it is undone, so that a stopped undo
// resumes where it stopped. What it deletes, it also takes out of the
// import's checkpoint, so that importing the rows again writes them again.

// Made is one thing a run created: a contact (ID and ContactID are then
// the same), or a note or task on ContactID.
type Made struct {
	Kind      string // "contact", record.KindNote or record.KindTask
	ID        string
	ContactID string
}

// TagAdded is a tag a run added to a contact it did not create.
type TagAdded struct {
	Tag       string
	ContactID string
}

// MadeBy returns what run created, by kind then id.
func (s *Store) MadeBy(ctx context.Context, run string) ([]Made, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, id, contact_id FROM made WHERE run = ? ORDER BY kind, id`, run)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []Made
	for rows.Next() {
		var m Made
		if err := rows.Scan(&m.Kind, &m.ID, &m.ContactID); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// TagsAddedBy returns the tags run added, by tag then contact.
func (s *Store) TagsAddedBy(ctx context.Context, run string) ([]TagAdded, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tag, contact_id FROM tags_added WHERE run = ? ORDER BY tag, contact_id`, run)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []TagAdded
	for rows.Next() {
		var t TagAdded
		if err := rows.Scan(&t.Tag, &t.ContactID); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ForgetContact records that run's contact id is deleted: the run's record
// of it and of its notes, tasks and tags goes, and so does the import's
// checkpoint of the rows that wrote it, so that importing them again
// creates it again.
func (s *Store) ForgetContact(ctx context.Context, run, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM made WHERE run = ? AND (id = ? OR contact_id = ?)`, run, id, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tags_added WHERE run = ? AND contact_id = ?`, run, id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM rows WHERE contact_id = ?`,
			`DELETE FROM contacts WHERE contact_id = ?`,
			`DELETE FROM subs WHERE contact_id = ?`,
			`DELETE FROM related_sources WHERE contact_id = ?`,
			`DELETE FROM tag_intents WHERE contact_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE meta SET value = '0' WHERE key = 'finished'`)
		return err
	})
}

// ForgetSub records that a note or task run made on a contact it did not
// create is deleted: the run's record and the import's journal forget it,
// and the import forgets it wrote the contact's rows.
func (s *Store) ForgetSub(ctx context.Context, run string, m Made) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM made WHERE run = ? AND kind = ? AND id = ?`, run, m.Kind, m.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM subs WHERE remote_id = ? AND kind = ?`, m.ID, m.Kind); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM related_sources WHERE remote_id = ? AND kind = ?`, m.ID, m.Kind); err != nil {
			return err
		}
		return forgetWritten(ctx, tx, m.ContactID)
	})
}

// ForgetTags records that tag, which run added, is off the contacts ids:
// the run's record forgets it, and the import forgets it wrote their rows.
func (s *Store) ForgetTags(ctx context.Context, run, tag string, ids []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM tags_added WHERE run = ? AND contact_id = ? AND tag = ?`, run, id, tag); err != nil {
				return err
			}
			if err := forgetWritten(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// forgetWritten makes the import forget it wrote the rows of a contact it
// only updated, so that importing them again adds back what undo took off.
func forgetWritten(ctx context.Context, tx *sql.Tx, contact string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM rows WHERE contact_id = ?`, contact); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE contacts SET hash = '' WHERE contact_id = ?`, contact); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE meta SET value = '0' WHERE key = 'finished'`)
	return err
}
