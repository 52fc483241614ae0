package sandbox

import (
	"context"
	"net/http"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
)

// bearer adds a static token, as ghlbulk's auth layer would.
type bearer struct {
	tok  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

// TestGHLClient drives the sandbox with package ghl's client: what ghlbulk
// itself will do.
func TestGHLClient(t *testing.T) {
	e := start(t, Options{Contacts: 230, Seed: 11, Rate: -1})
	ctx := context.Background()
	c := ghl.New(e.base, &http.Client{Transport: bearer{e.token, http.DefaultTransport}})
	loc := e.s.LocationID()
	email, city := "Client@Example.com", "Tulsa"
	up, err := c.UpsertContact(ctx, ghl.UpsertContactRequest{LocationID: loc, Email: &email, Tags: []string{"x"}})
	if err != nil || !up.New {
		t.Fatalf("upsert: %v %+v", err, up)
	}
	if _, err := c.UpdateContact(ctx, up.Contact.ID, ghl.UpdateContactRequest{City: &city}); err != nil {
		t.Fatalf("update: %v", err)
	}
	got, err := c.GetContact(ctx, up.Contact.ID)
	if err != nil || got.City != city || got.Email != email {
		t.Fatalf("get: %v %+v", err, got)
	}
	n := 0
	for page, err := range c.ContactPages(ctx, ghl.ListContactsParams{LocationID: loc, Limit: 100}) {
		if err != nil {
			t.Fatalf("ContactPages: %v", err)
		}
		n += len(page.Contacts)
	}
	if n != 231 {
		t.Errorf("ContactPages read %d, want 231", n)
	}
	n = 0
	req := ghl.SearchRequest{LocationID: loc, PageLimit: 50,
		Filters: []ghl.SearchFilter{{Field: "dateUpdated", Operator: "gte", Value: int64(0)}},
		Sort:    []ghl.SearchSort{{Field: "dateUpdated", Direction: "asc"}}}
	for page, err := range c.SearchPages(ctx, req) {
		if err != nil {
			t.Fatalf("SearchPages: %v", err)
		}
		n += len(page.Contacts)
	}
	if n != 231 {
		t.Errorf("SearchPages read %d, want 231", n)
	}
	fields, err := c.ListCustomFields(ctx, loc)
	if err != nil || len(fields) == 0 {
		t.Errorf("ListCustomFields: %v %d", err, len(fields))
	}
	if err := c.DeleteContact(ctx, up.Contact.ID); err != nil {
		t.Errorf("delete: %v", err)
	}
}
