package ghl

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// These tests use httptest handlers for what the sandbox can't be made to
// do (malformed answers, truncated bodies, looping cursors); the behaviour
// of every endpoint against a spec-checked server is conformance_test.go.

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return New(srv.URL+"/", srv.Client())
}

func TestRequestShape(t *testing.T) {
	type seen struct {
		method, uri, version, accept, ctype, ua string
		body                                    map[string]any
	}
	tests := []struct {
		name     string
		call     func(*Client) error
		wantURI  string
		wantBody map[string]any // nil: no body
	}{
		{
			name:    "get escapes id",
			call:    func(c *Client) error { _, err := c.GetContact(context.Background(), "a/b?c d"); return err },
			wantURI: "/contacts/a%2Fb%3Fc%20d",
		},
		{
			name: "list query",
			call: func(c *Client) error {
				_, err := c.ListContacts(context.Background(), ListContactsParams{LocationID: "L1", Limit: 5, StartAfter: 17, StartAfterID: "x y"})
				return err
			},
			wantURI: "/contacts/?limit=5&locationId=L1&startAfter=17&startAfterId=x+y",
		},
		{
			name: "update omits locationId",
			call: func(c *Client) error {
				n := "Ann"
				_, err := c.UpdateContact(context.Background(), "c1", UpdateContactRequest{LocationID: "L1", FirstName: &n})
				return err
			},
			wantURI:  "/contacts/c1",
			wantBody: map[string]any{"firstName": "Ann"},
		},
		{
			name:     "add tags nil sends empty array",
			call:     func(c *Client) error { _, err := c.AddTags(context.Background(), "c1", nil); return err },
			wantURI:  "/contacts/c1/tags",
			wantBody: map[string]any{"tags": []any{}},
		},
		{
			name: "complete task",
			call: func(c *Client) error {
				_, err := c.CompleteTask(context.Background(), "c/1", "t1", true)
				return err
			},
			wantURI:  "/contacts/c%2F1/tasks/t1/completed",
			wantBody: map[string]any{"completed": true},
		},
		{
			name: "bulk business nil id is null",
			call: func(c *Client) error {
				_, err := c.BulkBusiness(context.Background(), BulkBusinessRequest{LocationID: "L1"})
				return err
			},
			wantURI:  "/contacts/bulk/business",
			wantBody: map[string]any{"locationId": "L1", "ids": []any{}, "businessId": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				got = seen{r.Method, r.RequestURI, r.Header.Get("Version"), r.Header.Get("Accept"),
					r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), nil}
				if b, _ := io.ReadAll(r.Body); len(b) > 0 {
					if err := json.Unmarshal(b, &got.body); err != nil {
						t.Errorf("body %q: %v", b, err)
					}
				}
				// One answer that every call above can decode.
				io.WriteString(w, `{"contact":{"id":"c1"},"task":{"id":"t1"},"tags":[],"contacts":[],"success":true,"ids":[]}`)
			})
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			if got.uri != tt.wantURI {
				t.Errorf("URI = %q, want %q", got.uri, tt.wantURI)
			}
			if got.version != "2021-07-28" || got.accept != "application/json" || !strings.HasPrefix(got.ua, "ghlbulk/") {
				t.Errorf("headers: Version %q Accept %q User-Agent %q", got.version, got.accept, got.ua)
			}
			if (tt.wantBody != nil) != (got.ctype == "application/json") {
				t.Errorf("Content-Type %q with body %v", got.ctype, tt.wantBody)
			}
			if tt.wantBody != nil {
				gb, _ := json.Marshal(got.body)
				wb, _ := json.Marshal(tt.wantBody)
				if string(gb) != string(wb) {
					t.Errorf("body = %s, want %s", gb, wb)
				}
			}
		})
	}
}

func TestAPIError(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		header   map[string]string
		wantText string
		wantMsgs []string
		notFound bool
	}{
		{
			name:     "422 list of messages",
			status:   422,
			body:     `{"statusCode":422,"message":["email must be an email","phone must be a string"],"error":"Unprocessable Entity","traceId":"abc"}`,
			wantText: "POST /contacts/upsert: 422 Unprocessable Entity: email must be an email; phone must be a string (traceId abc)",
			wantMsgs: []string{"email must be an email", "phone must be a string"},
		},
		{
			name:     "400 string message",
			status:   400,
			body:     `{"statusCode":400,"message":"This location does not allow duplicated contacts."}`,
			wantText: "POST /contacts/upsert: 400 Bad Request: This location does not allow duplicated contacts.",
		},
		{
			name:     "401 error field only",
			status:   401,
			body:     `{"statusCode":401,"message":"Invalid JWT","error":"Unauthorized"}`,
			wantText: "POST /contacts/upsert: 401 Unauthorized: Invalid JWT",
		},
		{
			name:     "404 message equal to status text",
			status:   404,
			body:     `{"statusCode":404,"message":"Not Found"}`,
			wantText: "POST /contacts/upsert: 404 Not Found",
			notFound: true,
		},
		{
			name:     "html from a proxy",
			status:   502,
			body:     "<html>Bad gateway</html>\n",
			wantText: "POST /contacts/upsert: 502 Bad Gateway: <html>Bad gateway</html>",
		},
		{
			name:     "empty body, trace id in header",
			status:   429,
			header:   map[string]string{"traceId": "t9", "Retry-After": "3"},
			wantText: "POST /contacts/upsert: 429 Too Many Requests (traceId t9)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := c.UpsertContact(context.Background(), UpsertContactRequest{LocationID: "L"})
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if ae.Error() != tt.wantText {
				t.Errorf("Error() = %q\nwant      %q", ae.Error(), tt.wantText)
			}
			if strings.Join(ae.Messages, "|") != strings.Join(tt.wantMsgs, "|") {
				t.Errorf("Messages = %q, want %q", ae.Messages, tt.wantMsgs)
			}
			if StatusCode(err) != tt.status || IsNotFound(err) != tt.notFound {
				t.Errorf("StatusCode %d IsNotFound %v", StatusCode(err), IsNotFound(err))
			}
			if ae.Header.Get("Retry-After") != tt.header["Retry-After"] {
				t.Errorf("Header not kept: %v", ae.Header)
			}
			if errors.Is(err, ErrUnknownOutcome) {
				t.Error("an API error is a known outcome")
			}
		})
	}
}

func TestUnreadableAnswer(t *testing.T) {
	truncated := func(w http.ResponseWriter, r *http.Request) {
		// Promise more than is sent: the server then drops the connection
		// and the client reads io.ErrUnexpectedEOF mid-body.
		w.Header().Set("Content-Length", "200")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"new":true,"contact":{"id":"c1"`)
	}
	garbage := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>ok</html>") }
	empty := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) }
	upsert := func(c *Client) error {
		_, err := c.UpsertContact(context.Background(), UpsertContactRequest{LocationID: "L"})
		return err
	}
	create := func(c *Client) error {
		_, err := c.CreateNote(context.Background(), "c1", NoteInput{Body: "b"})
		return err
	}
	get := func(c *Client) error { _, err := c.GetContact(context.Background(), "c1"); return err }
	tests := []struct {
		name        string
		h           http.HandlerFunc
		call        func(*Client) error
		wantUnknown bool
	}{
		{"truncated upsert", truncated, upsert, true},
		{"non-JSON upsert", garbage, upsert, true},
		{"upsert without contact", empty, upsert, true},
		{"create note without note", empty, create, true},
		{"truncated get", truncated, get, false},
		{"get without contact", empty, get, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(newTestClient(t, tt.h))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *DecodeError", err, err)
			}
			if got := errors.Is(err, ErrUnknownOutcome); got != tt.wantUnknown {
				t.Errorf("errors.Is(ErrUnknownOutcome) = %v, want %v (%v)", got, tt.wantUnknown, err)
			}
		})
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request sent: %s %s", r.Method, r.URL)
	})
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"empty contact id", func() error { _, err := c.GetContact(ctx, ""); return err }},
		{"empty task id", func() error { return c.DeleteTask(ctx, "c1", "") }},
		{"empty note id", func() error { _, err := c.GetNote(ctx, "c1", ""); return err }},
		{"empty contact of notes", func() error { _, err := c.ListNotes(ctx, ""); return err }},
		{"empty business", func() error { _, err := c.ListBusinessContacts(ctx, "", BusinessContactsParams{}); return err }},
		{"bad bulk op", func() error { _, err := c.BulkTags(ctx, "replace", BulkTagsRequest{}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestContextCancelled(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.ListTasks(ctx, "c1")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
