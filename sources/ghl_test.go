package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
)

// TestGHLPagesListingSafety feeds the search listing answers that loop or
// end early; the source must stop with the matching error.
func TestGHLPagesListingSafety(t *testing.T) {
	page := func(ids []string, cursors []any, total int) map[string]any {
		cs := []map[string]any{}
		for i, id := range ids {
			cs = append(cs, map[string]any{"id": id, "searchAfter": []any{cursors[i], id}})
		}
		return map[string]any{"contacts": cs, "total": total}
	}
	for _, tc := range []struct {
		name    string
		answers []map[string]any
		want    error
		ids     int
	}{
		{"complete", []map[string]any{page([]string{"a", "b"}, []any{1, 2}, 3), page([]string{"c"}, []any{3}, 3)}, nil, 3},
		{"repeated cursor", []map[string]any{page([]string{"a", "b"}, []any{1, 2}, 9), page([]string{"a", "b"}, []any{1, 2}, 9)}, ghl.ErrRepeatedCursor, 2},
		{"short page", []map[string]any{page([]string{"a", "b"}, []any{1, 2}, 5), page([]string{"c"}, []any{3}, 5)}, ghl.ErrShortPage, 2},
		{"empty", []map[string]any{page(nil, nil, 0)}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n >= len(tc.answers) {
					http.Error(w, "too many requests for the test", http.StatusTeapot)
					return
				}
				json.NewEncoder(w).Encode(tc.answers[n])
				n++
			}))
			defer srv.Close()
			src := NewGHLContacts(ghl.New(srv.URL, srv.Client()), GHLOptions{LocationID: "loc", PageLimit: 2,
				Retry: pace.Policy{Initial: time.Millisecond, MaxAttempts: 1}})
			got := 0
			var err error
			for p, e := range src.Pages(context.Background(), Cursor{}) {
				if e != nil {
					err = e
					break
				}
				got += len(p.Contacts)
			}
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got != tc.ids {
				t.Fatalf("%d contacts yielded, want %d", got, tc.ids)
			}
		})
	}
}

func TestParseInclude(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		err  bool
	}{
		{[]string{"tasks", "notes", "appointments"}, "[tasks notes appointments]", false},
		{[]string{"appointments", ""}, "[appointments]", false},
		{nil, "[]", false},
		{[]string{"deals"}, "", true},
	} {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			inc, err := ParseInclude(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if err == nil && fmt.Sprint(inc.Names()) != tc.want {
				t.Fatalf("Names() = %v, want %s", inc.Names(), tc.want)
			}
		})
	}
}
