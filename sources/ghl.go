package sources

// GHLContacts lists a location's (or one business's) contacts from
// HighLevel page by page, with a cursor to resume after each page, and
// lists one contact's tasks, notes or appointments on request. Like every
// source it starts no goroutines: the export job decides how many of those
// per-contact requests run at once (jobs/export/related.go).
//
// Listing style, chosen for the fewest requests:
//   - location-wide: POST /contacts/search with searchAfter and the largest
//     pageLimit the API takes (MaxSearchPageLimit, 500: five times fewer
//     requests than GET /contacts/ at its limit of 100);
//   - business-scoped: GET /contacts/business/{businessId} by skip/limit
//     (limit 100), the only listing scoped to a business.
//
// Each page request goes through pace.Retry (429, 5xx and dropped
// connections are retried with backoff; the pacing itself is the http
// client's pace.Transport). A cursor the API hands out twice is
// ghl.ErrRepeatedCursor and a listing that ends before its announced total
// is ghl.ErrShortPage: both stop the run rather than pass an incomplete or
// endless export for a good one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
)

// Largest pages the listings accept.
const (
	MaxSearchPageLimit = 500 // POST /contacts/search pageLimit (see ghl/sandbox/DEVIATIONS.md)
	MaxListLimit       = 100 // GET /contacts/ and GET /contacts/business/{id} limit
)

// Listing styles, as recorded in a Cursor.
const (
	StyleSearch   = "search"
	StyleBusiness = "business"
)

// GHLOptions configure a GHLContacts.
type GHLOptions struct {
	LocationID string
	// BusinessID scopes the listing to one business; "" lists the location.
	BusinessID string
	// PageLimit is the page size; 0 (or more than allowed) is the largest
	// the listing accepts.
	PageLimit int
	// Retry is the policy for each request; zero is pace.DefaultPolicy.
	Retry pace.Policy
	// Stats counts attempts, retries and 429s; nil is allowed.
	Stats pace.Recorder
}

// Include says which related records to fetch per contact.
type Include struct {
	Tasks, Notes, Appointments bool
}

// Any reports whether any related-record is wanted.
func (i Include) Any() bool { return i.Tasks || i.Notes || i.Appointments }

// ParseInclude reads "tasks,notes,appointments" (any subset, any order,
// blanks ignored).
func ParseInclude(s []string) (Include, error) {
	var inc Include
	for _, v := range s {
		switch v {
		case "tasks":
			inc.Tasks = true
		case "notes":
			inc.Notes = true
		case "appointments":
			inc.Appointments = true
		case "":
		default:
			return inc, fmt.Errorf("--include %q: must be tasks, notes or appointments", v)
		}
	}
	return inc, nil
}

// Names lists the included related records in file order.
func (i Include) Names() []string {
	out := []string{}
	if i.Tasks {
		out = append(out, "tasks")
	}
	if i.Notes {
		out = append(out, "notes")
	}
	if i.Appointments {
		out = append(out, "appointments")
	}
	return out
}

// Cursor is where a listing resumes: after the page that handed it out.
// The zero Cursor starts at the beginning. It round-trips through JSON
// (DecodeCursor keeps searchAfter's numbers exact).
type Cursor struct {
	Style       string `json:"style"`
	SearchAfter []any  `json:"searchAfter,omitempty"`
	Skip        int    `json:"skip,omitempty"`
	// Seen is how many contacts the listing handed out before this cursor.
	Seen int `json:"seen"`
	// Page is how many pages were read before this cursor.
	Page int `json:"page"`
	// Done marks the cursor after the last page.
	Done bool `json:"done,omitempty"`
}

// DecodeCursor reads a Cursor saved as JSON.
func DecodeCursor(raw []byte) (Cursor, error) {
	var c Cursor
	if len(bytes.TrimSpace(raw)) == 0 {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("reading listing cursor: %w", err)
	}
	return c, nil
}

// ContactPage is one page of the listing.
type ContactPage struct {
	// Index is the page's 0-based number in the listing.
	Index    int
	Contacts []ghl.Contact
	// Total is the number of contacts the API announced.
	Total int
	// Next resumes after this page; Next.Done on the last one.
	Next Cursor
}

// GHLContacts is the HighLevel listing source for export.
type GHLContacts struct {
	c   *ghl.Client
	opt GHLOptions
}

// NewGHLContacts returns the source; it makes no request until used.
func NewGHLContacts(c *ghl.Client, opt GHLOptions) *GHLContacts {
	if (opt.Retry == pace.Policy{}) {
		opt.Retry = pace.DefaultPolicy()
	}
	max := MaxSearchPageLimit
	if opt.BusinessID != "" {
		max = MaxListLimit
	}
	if opt.PageLimit <= 0 || opt.PageLimit > max {
		opt.PageLimit = max
	}
	return &GHLContacts{c: c, opt: opt}
}

// Style is the listing style this source uses.
func (g *GHLContacts) Style() string {
	if g.opt.BusinessID != "" {
		return StyleBusiness
	}
	return StyleSearch
}

// retry runs fn under the source's retry policy.
func (g *GHLContacts) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	return pace.Retry(ctx, g.opt.Retry, g.opt.Stats, fn)
}

// CustomFields reads the location's custom field definitions.
func (g *GHLContacts) CustomFields(ctx context.Context) ([]ghl.CustomField, error) {
	var out []ghl.CustomField
	err := g.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = g.c.ListCustomFields(ctx, g.opt.LocationID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading custom field definitions: %w", err)
	}
	return out, nil
}

// Pages lists contacts from cursor from. It yields each page (with the
// cursor after it) and stops after the last page or the first error.
func (g *GHLContacts) Pages(ctx context.Context, from Cursor) iter.Seq2[*ContactPage, error] {
	return func(yield func(*ContactPage, error) bool) {
		if from.Done {
			return
		}
		if from.Style != "" && from.Style != g.Style() {
			yield(nil, fmt.Errorf("resuming a %s listing as a %s listing: %w", from.Style, g.Style(), ghl.ErrInvalidArgument))
			return
		}
		from.Style = g.Style()
		used := map[string]bool{}
		if k := cursorKey(from); k != "" {
			used[k] = true
		}
		cur := from
		for {
			var page *ContactPage
			err := g.retry(ctx, func(ctx context.Context) error {
				var err error
				page, err = g.page(ctx, cur)
				return err
			})
			if err != nil {
				yield(nil, fmt.Errorf("listing contacts (page %d, after %d contacts): %w", cur.Page+1, cur.Seen, err))
				return
			}
			if !page.Next.Done {
				k := cursorKey(page.Next)
				if used[k] {
					yield(nil, fmt.Errorf("listing contacts (page %d): %w: %s after %d contacts", cur.Page+1, ghl.ErrRepeatedCursor, k, page.Next.Seen))
					return
				}
				used[k] = true
			} else if page.Total > 0 && page.Next.Seen < page.Total {
				yield(nil, fmt.Errorf("listing contacts (page %d): %w: read %d of %d", cur.Page+1, ghl.ErrShortPage, page.Next.Seen, page.Total))
				return
			}
			if !yield(page, nil) || page.Next.Done {
				return
			}
			cur = page.Next
		}
	}
}

// cursorKey identifies a cursor's position for the repeated-cursor check.
func cursorKey(c Cursor) string {
	switch {
	case len(c.SearchAfter) > 0:
		raw, _ := json.Marshal(c.SearchAfter)
		return "searchAfter=" + string(raw)
	case c.Style == StyleBusiness && c.Skip > 0:
		return fmt.Sprintf("skip=%d", c.Skip)
	}
	return ""
}

// page reads the one page at cur.
func (g *GHLContacts) page(ctx context.Context, cur Cursor) (*ContactPage, error) {
	out := &ContactPage{Index: cur.Page}
	next := cur
	next.Page++
	if g.opt.BusinessID != "" {
		p, err := g.c.ListBusinessContacts(ctx, g.opt.BusinessID, ghl.BusinessContactsParams{
			LocationID: g.opt.LocationID, Limit: g.opt.PageLimit, Skip: cur.Skip,
		})
		if err != nil {
			return nil, err
		}
		out.Contacts, out.Total = p.Contacts, p.Total
		next.Skip += len(p.Contacts)
		next.Seen += len(p.Contacts)
		next.Done = len(p.Contacts) < g.opt.PageLimit
	} else {
		req := ghl.SearchRequest{LocationID: g.opt.LocationID, PageLimit: g.opt.PageLimit, SearchAfter: cur.SearchAfter, Seen: cur.Seen}
		r, err := g.c.SearchContacts(ctx, req)
		if err != nil {
			return nil, err
		}
		out.Total = r.Total
		out.Contacts = make([]ghl.Contact, len(r.Contacts))
		for i := range r.Contacts {
			out.Contacts[i] = r.Contacts[i].Contact
		}
		next.Seen += len(r.Contacts)
		if n := len(r.Contacts); n > 0 {
			next.SearchAfter = r.Contacts[n-1].SearchAfter
		}
		next.Done = len(r.Contacts) < g.opt.PageLimit || len(next.SearchAfter) == 0
	}
	out.Next = next
	return out, nil
}

// Tasks lists one contact's tasks, in the API's order, each carrying the
// contactId. A contact that is gone meanwhile (404) has none.
func (g *GHLContacts) Tasks(ctx context.Context, contactID string) ([]ghl.Task, error) {
	ts, err := listOf(ctx, g, "tasks", contactID, g.c.ListTasks)
	for i := range ts {
		if ts[i].ContactID == "" {
			ts[i].ContactID = contactID
		}
	}
	return ts, err
}

// Notes lists one contact's notes, as Tasks does tasks.
func (g *GHLContacts) Notes(ctx context.Context, contactID string) ([]ghl.Note, error) {
	ns, err := listOf(ctx, g, "notes", contactID, g.c.ListNotes)
	for i := range ns {
		if ns[i].ContactID == "" {
			ns[i].ContactID = contactID
		}
	}
	return ns, err
}

// Appointments lists one contact's appointments, as Tasks does tasks.
func (g *GHLContacts) Appointments(ctx context.Context, contactID string) ([]ghl.Appointment, error) {
	as, err := listOf(ctx, g, "appointments", contactID, g.c.ListAppointments)
	for i := range as {
		if as[i].ContactID == "" {
			as[i].ContactID = contactID
		}
	}
	return as, err
}

// listOf runs one per-contact listing under the retry policy. A 404 (the
// contact went away during the export) is an empty list, not a fault; the
// error that outlasts its retries names the contact and the kind.
func listOf[T any](ctx context.Context, g *GHLContacts, what, contactID string, list func(context.Context, string) ([]T, error)) ([]T, error) {
	var out []T
	err := g.retry(ctx, func(ctx context.Context) (err error) {
		out, err = list(ctx, contactID)
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case ghl.IsNotFound(err):
		return nil, nil
	}
	return nil, fmt.Errorf("contact %s: reading %s: %w", contactID, what, err)
}

// IsListingFault reports the listing-safety errors (a repeated cursor, a
// listing that ended short), which no retry can mend.
func IsListingFault(err error) bool {
	return errors.Is(err, ghl.ErrRepeatedCursor) || errors.Is(err, ghl.ErrShortPage)
}
