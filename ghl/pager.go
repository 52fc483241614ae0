package ghl

import (
	"context"
	"fmt"
	"iter"
	"reflect"
)

// The three listing styles each get an iterator. Each yields pages with the
// cursor that resumes after them (ContactsPage.NextParams,
// NextBusinessParams, SearchResponse.Next), so an export can checkpoint per
// page and start again from it. An iterator stops after yielding an error.
//
// A listing ends at an empty page, a page shorter than the limit asked, or
// (GET /contacts/) an answer with no next cursor. If the total the API
// announced was not reached by then, the iterator yields ErrShortPage rather
// than ending quietly: an export must not pass for complete when it isn't.

// ContactPages walks GET /contacts/ by its startAfter/startAfterId cursor.
// A cursor the API already handed out is ErrRepeatedCursor (HighLevel has
// been seen to loop).
func (c *Client) ContactPages(ctx context.Context, p ListContactsParams) iter.Seq2[*ContactsPage, error] {
	return func(yield func(*ContactsPage, error) bool) {
		type cursor struct {
			after int64
			id    string
		}
		used := map[cursor]bool{{p.StartAfter, p.StartAfterID}: true}
		for {
			page, err := c.ListContacts(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			next := page.NextParams
			if page.Last {
				if err := short(page.Total, next.Seen); err != nil {
					yield(nil, err)
					return
				}
				yield(page, nil)
				return
			}
			cur := cursor{next.StartAfter, next.StartAfterID}
			if used[cur] {
				yield(nil, fmt.Errorf("GET /contacts/: %w: startAfter=%d startAfterId=%q after %d contacts",
					ErrRepeatedCursor, cur.after, cur.id, next.Seen))
				return
			}
			used[cur] = true
			if !yield(page, nil) {
				return
			}
			p = next
		}
	}
}

// SearchPages walks POST /contacts/search by searchAfter, taken from the
// last contact of each page. req.PageLimit should be set: it is how a short
// (last) page is told apart.
func (c *Client) SearchPages(ctx context.Context, req SearchRequest) iter.Seq2[*SearchResponse, error] {
	return func(yield func(*SearchResponse, error) bool) {
		var used [][]any
		if req.SearchAfter != nil {
			used = append(used, req.SearchAfter)
		}
		for {
			page, err := c.SearchContacts(ctx, req)
			if err != nil {
				yield(nil, err)
				return
			}
			next := page.Next
			if page.Last {
				if err := short(page.Total, next.Seen); err != nil {
					yield(nil, err)
					return
				}
				yield(page, nil)
				return
			}
			for _, u := range used {
				// Cursors are short JSON arrays (a sort value and an id);
				// comparing them deeply is cheap next to a request.
				if reflect.DeepEqual(u, next.SearchAfter) {
					yield(nil, fmt.Errorf("POST /contacts/search: %w: searchAfter=%v after %d contacts",
						ErrRepeatedCursor, next.SearchAfter, next.Seen))
					return
				}
			}
			// Only the last few cursors can come back in practice, but a
			// listing has at most tens of thousands of pages; keep them all.
			used = append(used, next.SearchAfter)
			if !yield(page, nil) {
				return
			}
			req = next
		}
	}
}

// BusinessContactPages walks GET /contacts/business/{id} by skip/limit.
// Offsets shift if the business's contacts change meanwhile; that is the
// endpoint's nature, not something a client can repair.
func (c *Client) BusinessContactPages(ctx context.Context, businessID string, p BusinessContactsParams) iter.Seq2[*ContactsPage, error] {
	return func(yield func(*ContactsPage, error) bool) {
		for {
			page, err := c.ListBusinessContacts(ctx, businessID, p)
			if err != nil {
				yield(nil, err)
				return
			}
			next := page.NextBusinessParams
			if page.Last {
				if err := short(page.Total, next.Skip); err != nil {
					yield(nil, err)
					return
				}
				yield(page, nil)
				return
			}
			if !yield(page, nil) {
				return
			}
			p = next
		}
	}
}

// short is the ErrShortPage check at the end of a listing: total is what the
// API announced (0: unknown, nothing to check), seen how many were read
// including earlier runs.
func short(total, seen int) error {
	if total > 0 && seen < total {
		return fmt.Errorf("%w: read %d of %d", ErrShortPage, seen, total)
	}
	return nil
}
