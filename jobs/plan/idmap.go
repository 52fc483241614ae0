package plan

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// WriteIDMap writes --id-map: a CSV of source_key,key,contact_id, one line
// per contact the state holds (the mapping's source_key column, such as
// HubSpot's "Record ID" or Salesforce's "Id", the normalised match key,
// and the HighLevel contact id), ordered by source key then key. When
// several input rows wrote one contact, each distinct source key gets its
// line. The file is written aside and renamed into place. n is the number
// of lines after the header.
func WriteIDMap(ctx context.Context, store *pipeline.Store, path string) (n int, err error) {
	if store == nil {
		return 0, errors.New("--id-map: no state to read")
	}
	rows, err := store.DB().QueryContext(ctx, `
		SELECT DISTINCT source_key, key, contact_id FROM rows
		WHERE contact_id != '' AND status IN (?, ?, ?)
		ORDER BY source_key, key, contact_id`,
		record.StatusCreated, record.StatusUpdated, record.StatusUnchanged)
	if err != nil {
		return 0, fmt.Errorf("--id-map: reading the state: %w", err)
	}
	defer rows.Close()

	tmp, err := fsx.Create(path)
	if err != nil {
		return 0, fmt.Errorf("--id-map: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Abort()
		}
	}()
	w := csv.NewWriter(tmp)
	if err = w.Write([]string{"source_key", "key", "contact_id"}); err != nil {
		return 0, fmt.Errorf("--id-map: %w", err)
	}
	for rows.Next() {
		var rec [3]string
		if err = rows.Scan(&rec[0], &rec[1], &rec[2]); err != nil {
			return 0, fmt.Errorf("--id-map: reading the state: %w", err)
		}
		if err = w.Write(rec[:]); err != nil {
			return 0, fmt.Errorf("--id-map: %w", err)
		}
		n++
	}
	if err = rows.Err(); err != nil {
		return 0, fmt.Errorf("--id-map: reading the state: %w", err)
	}
	w.Flush()
	if err = w.Error(); err != nil {
		return 0, fmt.Errorf("--id-map: %w", err)
	}
	if err = tmp.Commit(); err != nil {
		return 0, fmt.Errorf("--id-map: %w", err)
	}
	return n, nil
}
