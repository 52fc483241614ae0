package ghl

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
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

// step is what walk needs to know of a page: the request after it, how
// many contacts were read up to it, whether it is the last, and (for a
// listing whose cursor can repeat) the cursor, as text, that the next
// request carries.
type step[P any] struct {
	next   P
	seen   int
	total  int
	last   bool
	cursor string // "" when the listing has none to check (skip/limit)
}

// walk is the loop of the three iterators: fetch a page, end at the last
// one (after the ErrShortPage check), refuse a cursor the API already
// handed out (HighLevel has been seen to loop), and go on from the next.
func walk[P, R any](ctx context.Context, what string, p P, cursor string, fetch func(context.Context, P) (*R, error),
	stepOf func(*R) step[P]) iter.Seq2[*R, error] {
	return func(yield func(*R, error) bool) {
		// A listing has at most tens of thousands of pages: keep every
		// cursor.
		used := map[string]bool{}
		if cursor != "" {
			used[cursor] = true
		}
		for {
			page, err := fetch(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			st := stepOf(page)
			if st.last {
				if err := short(st.total, st.seen); err != nil {
					yield(nil, err)
					return
				}
				yield(page, nil)
				return
			}
			if st.cursor != "" {
				if used[st.cursor] {
					yield(nil, fmt.Errorf("%s: %w: %s after %d contacts", what, ErrRepeatedCursor, st.cursor, st.seen))
					return
				}
				used[st.cursor] = true
			}
			if !yield(page, nil) {
				return
			}
			p = st.next
		}
	}
}

// ContactPages walks GET /contacts/ by its startAfter/startAfterId cursor.
func (c *Client) ContactPages(ctx context.Context, p ListContactsParams) iter.Seq2[*ContactsPage, error] {
	cursor := func(q ListContactsParams) string {
		return fmt.Sprintf("startAfter=%d startAfterId=%q", q.StartAfter, q.StartAfterID)
	}
	return walk(ctx, "GET /contacts/", p, cursor(p), c.ListContacts, func(page *ContactsPage) step[ListContactsParams] {
		next := page.NextParams
		return step[ListContactsParams]{next: next, seen: next.Seen, total: page.Total, last: page.Last, cursor: cursor(next)}
	})
}

// SearchPages walks POST /contacts/search by searchAfter, taken from the
// last contact of each page. req.PageLimit should be set: it is how a short
// (last) page is told apart.
func (c *Client) SearchPages(ctx context.Context, req SearchRequest) iter.Seq2[*SearchResponse, error] {
	// Cursors are short JSON arrays (a sort value and an id): their JSON
	// text names them.
	cursor := func(after []any) string {
		if after == nil {
			return ""
		}
		b, _ := json.Marshal(after)
		return "searchAfter=" + string(b)
	}
	return walk(ctx, "POST /contacts/search", req, cursor(req.SearchAfter), c.SearchContacts, func(page *SearchResponse) step[SearchRequest] {
		next := page.Next
		return step[SearchRequest]{next: next, seen: next.Seen, total: page.Total, last: page.Last, cursor: cursor(next.SearchAfter)}
	})
}

// BusinessContactPages walks GET /contacts/business/{id} by skip/limit.
// Offsets shift if the business's contacts change meanwhile; that is the
// endpoint's nature, not something a client can repair.
func (c *Client) BusinessContactPages(ctx context.Context, businessID string, p BusinessContactsParams) iter.Seq2[*ContactsPage, error] {
	fetch := func(ctx context.Context, p BusinessContactsParams) (*ContactsPage, error) {
		return c.ListBusinessContacts(ctx, businessID, p)
	}
	return walk(ctx, "GET /contacts/business", p, "", fetch, func(page *ContactsPage) step[BusinessContactsParams] {
		next := page.NextBusinessParams
		return step[BusinessContactsParams]{next: next, seen: next.Skip, total: page.Total, last: page.Last}
	})
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
