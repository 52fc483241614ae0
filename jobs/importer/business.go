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

// WithBusiness leaves the business of each written contact whose row maps
// businessId in its outcome (record.Outcome.Business): UpsertContactDto has
// no businessId, so the upsert can't carry it, and the run links the
// contacts of one business in bulk (BusinessLinker), up to 1000 a
// request, journaled with the row: a stop leaves the links to the next
// run, which sends them before anything else.
func WithBusiness(next pipeline.Sink) pipeline.Sink {
	return &businessSink{next: next}
}

type businessSink struct{ next pipeline.Sink }

func (b *businessSink) Write(ctx context.Context, m record.Meter, it record.Item) (record.Outcome, error) {
	out, err := b.next.Write(ctx, m, it)
	bid := it.Row.Contact.BusinessID
	if err != nil || bid == nil || *bid == "" || out.ContactID == "" || (out.Status != record.StatusCreated && out.Status != record.StatusUpdated) {
		return out, err
	}
	out.Business = *bid
	return out, nil
}

// BusinessLinker puts contacts in a business with POST
// /contacts/bulk/business, many contacts a request. It implements
// pipeline.BusinessWriter.
type BusinessLinker struct {
	c   *ghl.Client
	loc string
}

// NewBusinessLinker links contacts of the location locationID.
func NewBusinessLinker(c *ghl.Client, locationID string) *BusinessLinker {
	return &BusinessLinker{c: c, loc: locationID}
}

// LinkBusiness puts the contacts ids in the business. A refusal (a 4xx
// other than 401, 403 and 429, e.g. an unknown business) refuses every contact of the
// request, with the reason: the contacts are written, and the business is
// what was refused, which is the same for all of them.
func (l *BusinessLinker) LinkBusiness(ctx context.Context, m record.Meter, businessID string, ids []string) (map[string]string, error) {
	bid := businessID
	req := ghl.BulkBusinessRequest{LocationID: l.loc, IDs: ids, BusinessID: &bid}
	m.RequestKind("business")
	err := pace.Retry(ctx, pace.DefaultPolicy(), m, func(ctx context.Context) error {
		_, err := l.c.BulkBusiness(ctx, req)
		return err
	})
	var ae *ghl.APIError
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &ae) && ae.StatusCode == 401:
		return nil, &record.FaultError{Kind: record.FaultAuth, Err: err, Hint: "the token was refused: check GHL_TOKEN, or run ghlbulk auth login"}
	case errors.As(err, &ae) && ae.StatusCode == 403:
		// Not the business's fault: every link of the run would fail.
		return nil, &record.FaultError{Kind: record.FaultScope, Err: err, Hint: "the token lacks the contacts.write scope or access to this location"}
	case errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.StatusCode != 429:
		refused := make(map[string]string, len(ids))
		for _, id := range ids {
			refused[id] = fmt.Sprintf("businessId %q: contact %s written, but putting it in the business was refused: %v", businessID, id, err)
		}
		return refused, nil
	}
	return nil, err
}
