package plan

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/pipeline"
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
	for e, rerr := range store.IDMap(ctx) {
		if err = rerr; err != nil {
			return 0, fmt.Errorf("--id-map: reading the state: %w", err)
		}
		if err = w.Write([]string{e.SourceKey, e.Key, e.ContactID}); err != nil {
			return 0, fmt.Errorf("--id-map: %w", err)
		}
		n++
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
