package importer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// TestBusinessLinkerAnswers: a link the API takes refuses nothing; a
// business it refuses (422) refuses every contact of the request with the
// reason the rejects file shows; a token it refuses (401, 403) is a run
// fault, never thousands of rejects. The sandbox takes any business id,
// so a recording server answers here.
func TestBusinessLinkerAnswers(t *testing.T) {
	cases := []struct {
		status    int
		wantFault record.FaultKind
		refused   int
	}{
		{http.StatusOK, "", 0},
		{http.StatusUnprocessableEntity, "", 2},
		{http.StatusUnauthorized, record.FaultAuth, 0},
		{http.StatusForbidden, record.FaultScope, 0},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			var calls int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				if tc.status == http.StatusOK {
					_, _ = w.Write([]byte(`{"success":true,"ids":["c1","c2"]}`))
					return
				}
				_, _ = fmt.Fprintf(w, `{"statusCode":%d,"message":"business not found"}`, tc.status)
			}))
			defer srv.Close()
			var _ pipeline.BusinessWriter = (*BusinessLinker)(nil)
			l := NewBusinessLinker(ghl.New(srv.URL, srv.Client()), "loc")
			refused, err := l.LinkBusiness(context.Background(), pipeline.NewStats(), "biz_x", []string{"c1", "c2"})
			var fe *record.FaultError
			switch {
			case tc.wantFault != "":
				if !errors.As(err, &fe) || fe.Kind != tc.wantFault {
					t.Fatalf("err %v, want a %s fault", err, tc.wantFault)
				}
			case err != nil:
				t.Fatalf("err %v", err)
			}
			if len(refused) != tc.refused {
				t.Errorf("refused %v, want %d", refused, tc.refused)
			}
			for id, reason := range refused {
				if !strings.Contains(reason, `businessId "biz_x": contact `+id+` written, but putting it in the business was refused`) {
					t.Errorf("reason %q", reason)
				}
			}
			if calls != 1 {
				t.Errorf("%d requests for 2 contacts, want 1", calls)
			}
		})
	}
}
