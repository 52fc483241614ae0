package pipeline

import (
	"context"
	"iter"

	"github.com/ghlbulk/ghlbulk/record"
)

// What the import wrote, read back from its rows table (see schema) for
// ghlbulk verify and --id-map. A row counts as written when it created,
// updated or left unchanged a contact.

// WrittenContacts returns the ids of the contacts the rows wrote, each
// once, in the input order of the first row that wrote it.
func (s *Store) WrittenContacts(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.eachString(ctx, func(id string) { ids = append(ids, id) }, `SELECT contact_id FROM rows
		WHERE contact_id != '' AND status IN (?, ?, ?) GROUP BY contact_id ORDER BY min(fp), min(row)`,
		record.StatusCreated, record.StatusUpdated, record.StatusUnchanged)
	return ids, err
}

// IDMapEntry is one line of --id-map.
type IDMapEntry struct {
	SourceKey string // the mapping's source_key column ("" if it has none)
	Key       string // the normalised match key
	ContactID string
}

// IDMap yields each distinct (source key, key, contact) the rows wrote,
// ordered by source key, key, then contact id. The error, if any, is
// yielded last.
func (s *Store) IDMap(ctx context.Context) iter.Seq2[IDMapEntry, error] {
	return func(yield func(IDMapEntry, error) bool) {
		rows, err := s.db.QueryContext(ctx, `
		SELECT DISTINCT source_key, key, contact_id FROM rows
		WHERE contact_id != '' AND status IN (?, ?, ?)
		ORDER BY source_key, key, contact_id`,
			record.StatusCreated, record.StatusUpdated, record.StatusUnchanged)
		if err != nil {
			yield(IDMapEntry{}, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var e IDMapEntry
			if err := rows.Scan(&e.SourceKey, &e.Key, &e.ContactID); err != nil {
				yield(IDMapEntry{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(IDMapEntry{}, err)
		}
	}
}
