package importer

import (
	"context"
	"errors"
	"fmt"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// WithBusiness puts each written contact whose row maps businessId in that
// business, with POST /contacts/bulk/business once the upsert is done:
// UpsertContactDto has no businessId, so the upsert can't carry it. It is
// sent before the row's outcome is handed back, so a row is checkpointed
// only with its business attached; a stop in between leaves the row to the
// next run, which sends both again (each is idempotent).
func WithBusiness(next pipeline.Sink, c *ghl.Client, locationID string) pipeline.Sink {
	return &businessSink{next: next, c: c, loc: locationID}
}

type businessSink struct {
	next pipeline.Sink
	c    *ghl.Client
	loc  string
}

func (b *businessSink) Write(ctx context.Context, m record.Meter, it record.Item) (record.Outcome, error) {
	out, err := b.next.Write(ctx, m, it)
	bid := it.Row.Contact.BusinessID
	if err != nil || bid == nil || out.ContactID == "" || (out.Status != record.StatusCreated && out.Status != record.StatusUpdated) {
		return out, err
	}
	req := ghl.BulkBusinessRequest{LocationID: b.loc, IDs: []string{out.ContactID}, BusinessID: bid}
	m.RequestKind("business")
	err = pace.Retry(ctx, pace.DefaultPolicy(), m, func(ctx context.Context) error {
		_, err := b.c.BulkBusiness(ctx, req)
		return err
	})
	var ae *ghl.APIError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.StatusCode != 429:
		// The contact is written; the business id is what was refused.
		return record.Outcome{Status: record.StatusRejected, ContactID: out.ContactID,
			Reason: fmt.Sprintf("businessId %q: contact %s written, but putting it in the business was refused: %v", *bid, out.ContactID, err)}, nil
	case ctx.Err() != nil:
		return record.Outcome{}, nil // stopped: the next run repeats the row
	}
	return record.Outcome{}, err
}
