package ghl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// fakeList serves n contacts, c0..c{n-1}, one second apart, on the three
// listing endpoints, with knobs for the faults HighLevel has shown.
type fakeList struct {
	fakeCfg
	requests atomic.Int64 // the server runs on other goroutines
}

// fakeCfg are fakeList's knobs, apart so that test tables can copy them.
type fakeCfg struct {
	n          int
	total      int  // announced total; 0 means n
	repeatFrom int  // from this page on (1-based), meta repeats the request's cursor
	urlOnly    bool // the cursor is only in meta.nextPageUrl
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func (f *fakeList) contact(i int) map[string]any {
	return map[string]any{"id": fmt.Sprintf("c%d", i), "dateAdded": epoch.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)}
}

func (f *fakeList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	total := f.total
	if total == 0 {
		total = f.n
	}
	q := r.URL.Query()
	var body map[string]any
	switch {
	case r.URL.Path == "/contacts/":
		limit, _ := strconv.Atoi(q.Get("limit"))
		start := 0
		if id := q.Get("startAfterId"); id != "" {
			start, _ = strconv.Atoi(id[1:])
			start++
		}
		end := min(start+limit, f.n)
		cs := []any{}
		for i := start; i < end; i++ {
			cs = append(cs, f.contact(i))
		}
		meta := map[string]any{"total": total}
		if end < f.n {
			nextID, nextAfter := fmt.Sprintf("c%d", end-1), epoch.Add(time.Duration(end-1)*time.Second).UnixMilli()
			if f.repeatFrom > 0 && n >= int64(f.repeatFrom) && q.Get("startAfterId") != "" {
				// Hand the request's own cursor back.
				nextID, nextAfter = q.Get("startAfterId"), int64(mustAtoi(q.Get("startAfter")))
			}
			meta["nextPageUrl"] = fmt.Sprintf("http://x/contacts/?locationId=L&startAfter=%d&startAfterId=%s", nextAfter, nextID)
			if !f.urlOnly {
				meta["startAfterId"], meta["startAfter"] = nextID, nextAfter
			}
		}
		body = map[string]any{"contacts": cs, "count": len(cs), "meta": meta}
	case r.URL.Path == "/contacts/business/b1":
		limit, _ := strconv.Atoi(q.Get("limit"))
		skip, _ := strconv.Atoi(q.Get("skip"))
		cs := []any{}
		for i := skip; i < min(skip+limit, f.n); i++ {
			cs = append(cs, f.contact(i))
		}
		body = map[string]any{"contacts": cs, "count": total}
	case r.URL.Path == "/contacts/search":
		var req SearchRequest
		json.NewDecoder(r.Body).Decode(&req)
		start := 0
		if len(req.SearchAfter) == 2 {
			start = mustAtoi(fmt.Sprint(req.SearchAfter[1])[1:]) + 1
			if f.repeatFrom > 0 && n >= int64(f.repeatFrom) {
				start -= req.PageLimit // the same page, so the same cursor, again
			}
		}
		cs := []any{}
		for i := start; i < min(start+req.PageLimit, f.n); i++ {
			c := f.contact(i)
			c["searchAfter"] = []any{epoch.Add(time.Duration(i) * time.Second).UnixMilli(), c["id"]}
			cs = append(cs, c)
		}
		body = map[string]any{"contacts": cs, "total": total}
	default:
		http.NotFound(w, r)
		return
	}
	json.NewEncoder(w).Encode(body)
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err) // test helper on the fake's own output
	}
	return n
}

// ids flattens what a listing yielded, and its final error.
func collect[P any](seq func(func(P, error) bool), ids func(P) []string) ([]string, []P, error) {
	var all []string
	var pages []P
	for p, err := range seq {
		if err != nil {
			return all, pages, err
		}
		pages = append(pages, p)
		all = append(all, ids(p)...)
	}
	return all, pages, nil
}

func contactIDs(p *ContactsPage) []string {
	var s []string
	for _, c := range p.Contacts {
		s = append(s, c.ID)
	}
	return s
}

func searchIDs(p *SearchResponse) []string {
	var s []string
	for _, c := range p.Contacts {
		s = append(s, c.ID)
	}
	return s
}

func TestPagers(t *testing.T) {
	tests := []struct {
		name      string
		fake      fakeCfg
		style     string // contacts, search, business
		limit     int
		wantN     int
		wantPages int
		wantErr   error
	}{
		{name: "contacts exact pages", fake: fakeCfg{n: 10}, style: "contacts", limit: 5, wantN: 10, wantPages: 2},
		{name: "contacts short last page", fake: fakeCfg{n: 12}, style: "contacts", limit: 5, wantN: 12, wantPages: 3},
		{name: "contacts cursor only in nextPageUrl", fake: fakeCfg{n: 12, urlOnly: true}, style: "contacts", limit: 5, wantN: 12, wantPages: 3},
		{name: "contacts empty", fake: fakeCfg{n: 0}, style: "contacts", limit: 5, wantN: 0, wantPages: 1},
		{name: "contacts repeated cursor", fake: fakeCfg{n: 30, repeatFrom: 3}, style: "contacts", limit: 5, wantN: 10, wantErr: ErrRepeatedCursor},
		{name: "contacts total not reached", fake: fakeCfg{n: 12, total: 20}, style: "contacts", limit: 5, wantN: 10, wantErr: ErrShortPage},
		{name: "search pages", fake: fakeCfg{n: 12}, style: "search", limit: 5, wantN: 12, wantPages: 3},
		{name: "search repeated cursor", fake: fakeCfg{n: 30, repeatFrom: 2}, style: "search", limit: 5, wantN: 5, wantErr: ErrRepeatedCursor},
		{name: "search total not reached", fake: fakeCfg{n: 7, total: 9}, style: "search", limit: 5, wantN: 5, wantErr: ErrShortPage},
		{name: "business pages", fake: fakeCfg{n: 10}, style: "business", limit: 4, wantN: 10, wantPages: 3},
		{name: "business total not reached", fake: fakeCfg{n: 10, total: 11}, style: "business", limit: 4, wantN: 8, wantErr: ErrShortPage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeList{fakeCfg: tt.fake}
			c := newTestClient(t, f.ServeHTTP)
			ctx := context.Background()
			var got []string
			var pages int
			var err error
			switch tt.style {
			case "contacts":
				var ps []*ContactsPage
				got, ps, err = collect(c.ContactPages(ctx, ListContactsParams{LocationID: "L", Limit: tt.limit}), contactIDs)
				pages = len(ps)
			case "search":
				var ps []*SearchResponse
				got, ps, err = collect(c.SearchPages(ctx, SearchRequest{LocationID: "L", PageLimit: tt.limit}), searchIDs)
				pages = len(ps)
			case "business":
				var ps []*ContactsPage
				got, ps, err = collect(c.BusinessContactPages(ctx, "b1", BusinessContactsParams{LocationID: "L", Limit: tt.limit}), contactIDs)
				pages = len(ps)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(got) != tt.wantN {
				t.Errorf("read %d contacts, want %d: %v", len(got), tt.wantN, got)
			}
			for i, id := range got {
				if id != fmt.Sprintf("c%d", i) {
					t.Fatalf("contact %d is %s: duplicated or skipped: %v", i, id, got)
				}
			}
			if tt.wantErr == nil && pages != tt.wantPages {
				t.Errorf("%d pages, want %d", pages, tt.wantPages)
			}
		})
	}
}

// TestResume checkpoints after every page, starts a fresh iterator from
// the checkpoint, and checks that the union is the listing exactly once,
// including a resume from the last page's checkpoint (which must not
// restart from the beginning).
func TestResume(t *testing.T) {
	ctx := context.Background()
	f := &fakeList{fakeCfg: fakeCfg{n: 13}}
	c := newTestClient(t, f.ServeHTTP)
	t.Run("contacts", func(t *testing.T) {
		p := ListContactsParams{LocationID: "L", Limit: 5}
		var got []string
		for range 10 {
			var page *ContactsPage
			for pg, err := range c.ContactPages(ctx, p) {
				if err != nil {
					t.Fatal(err)
				}
				page = pg
				break // one page per "run"
			}
			got = append(got, contactIDs(page)...)
			p = page.NextParams
			if page.Last {
				break
			}
		}
		if len(got) != 13 || got[12] != "c12" {
			t.Fatalf("got %v", got)
		}
		// Resuming after the end reads nothing and is not a short page.
		for pg, err := range c.ContactPages(ctx, p) {
			if err != nil || len(pg.Contacts) != 0 {
				t.Fatalf("after the end: %v, %v", pg, err)
			}
		}
	})
	t.Run("search", func(t *testing.T) {
		req := SearchRequest{LocationID: "L", PageLimit: 5}
		var got []string
		for range 10 {
			var page *SearchResponse
			for pg, err := range c.SearchPages(ctx, req) {
				if err != nil {
					t.Fatal(err)
				}
				page = pg
				break
			}
			got = append(got, searchIDs(page)...)
			req = page.Next
			if page.Last {
				break
			}
		}
		if len(got) != 13 || req.Seen != 13 {
			t.Fatalf("got %v, seen %d", got, req.Seen)
		}
	})
	t.Run("business", func(t *testing.T) {
		p := BusinessContactsParams{LocationID: "L", Limit: 5}
		var got []string
		for range 10 {
			var page *ContactsPage
			for pg, err := range c.BusinessContactPages(ctx, "b1", p) {
				if err != nil {
					t.Fatal(err)
				}
				page = pg
				break
			}
			got = append(got, contactIDs(page)...)
			p = page.NextBusinessParams
			if page.Last {
				break
			}
		}
		if len(got) != 13 || p.Skip != 13 {
			t.Fatalf("got %v, skip %d", got, p.Skip)
		}
	})
}

// TestPagerStopsOnBreak checks that breaking out of the loop sends no
// further request.
func TestPagerStopsOnBreak(t *testing.T) {
	f := &fakeList{fakeCfg: fakeCfg{n: 50}}
	c := newTestClient(t, f.ServeHTTP)
	for range c.ContactPages(context.Background(), ListContactsParams{LocationID: "L", Limit: 5}) {
		break
	}
	if f.requests.Load() != 1 {
		t.Errorf("%d requests, want 1", f.requests.Load())
	}
}
