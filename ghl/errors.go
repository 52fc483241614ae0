package ghl

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

var (
	// ErrUnknownOutcome marks a write whose answer was 2xx but could not be
	// read or decoded: the server may well have applied it, so the caller
	// must not assume either way (re-read, or upsert again, never blindly
	// create again).
	ErrUnknownOutcome = errors.New("outcome unknown: the write may have been applied")
	// ErrRepeatedCursor means a listing handed back a cursor it had already
	// given; following it would loop for ever.
	ErrRepeatedCursor = errors.New("listing repeated a cursor")
	// ErrShortPage means a listing ended (short or empty page, or no next
	// cursor) before the total it announced was reached.
	ErrShortPage = errors.New("listing ended before its total")
	// ErrInvalidArgument is a call the client refuses before sending.
	ErrInvalidArgument = errors.New("invalid argument")
)

// APIError is any non-2xx answer. Message is the API's message; 422 bodies
// (UnprocessableDTO) carry a list of them in Messages, and Message is then
// their join. Header is kept so the retry layer can read Retry-After and
// X-RateLimit-*.
type APIError struct {
	StatusCode int
	Message    string
	Messages   []string
	ErrorText  string // the body's "error" field, e.g. "Unprocessable Entity"
	TraceID    string
	Method     string
	Path       string
	Header     http.Header
}

// Error reads like `POST /contacts/upsert: 422 Unprocessable Entity: email
// must be an email (traceId abc)`.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	} else if e.ErrorText != "" {
		b.WriteString(" " + e.ErrorText)
	}
	if e.Message != "" && e.Message != http.StatusText(e.StatusCode) {
		b.WriteString(": " + e.Message)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (traceId %s)", e.TraceID)
	}
	return b.String()
}

// errorBody is the union of BadRequestDTO, UnauthorizedDTO and
// UnprocessableDTO: message is a string in the first two and an array of
// strings in the last, so it is decoded by hand.
type errorBody struct {
	Message json.RawMessage `json:"message"`
	Error   string          `json:"error"`
	TraceID string          `json:"traceId"`
	Msg     string          `json:"msg"` // some gateways answer {"msg": ...}
}

// newAPIError builds the error from whatever body came back; a body that
// isn't JSON is kept (trimmed) as the message, since it is usually a proxy's
// HTML or text and still the best clue.
func newAPIError(method, path string, resp *http.Response, raw []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, Method: method, Path: path, Header: resp.Header}
	var b errorBody
	if err := json.Unmarshal(raw, &b); err == nil {
		e.ErrorText = b.Error
		e.TraceID = b.TraceID
		var one string
		var many []string
		switch {
		case json.Unmarshal(b.Message, &one) == nil:
			e.Message = one
		case json.Unmarshal(b.Message, &many) == nil:
			e.Messages = many
			e.Message = strings.Join(many, "; ")
		}
		if e.Message == "" {
			e.Message = b.Msg
		}
	} else if s := strings.TrimSpace(string(raw)); s != "" {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		e.Message = s
	}
	if e.Message == "" && e.ErrorText != "" && e.ErrorText != http.StatusText(e.StatusCode) {
		e.Message = e.ErrorText
	}
	if e.TraceID == "" {
		e.TraceID = resp.Header.Get("traceId")
	}
	return e
}

// DecodeError is a 2xx answer whose body could not be read or decoded
// (truncated, not JSON, wrong shape). For anything but GET it matches
// ErrUnknownOutcome, because the write happened or may have.
type DecodeError struct {
	Method     string
	Path       string
	StatusCode int
	Err        error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s %s: %d answer unreadable: %v", e.Method, e.Path, e.StatusCode, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnknownOutcome) true for writes only: a failed
// read changed nothing and can simply be repeated.
func (e *DecodeError) Is(target error) bool {
	return target == ErrUnknownOutcome && e.Method != http.MethodGet
}

// StatusCode is the HTTP status of err's *APIError, or 0 if there is none
// (transport error, decode error, ctx).
func StatusCode(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsNotFound reports a 404 answer. Only the status is trusted, never the
// message text.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsUnauthorized reports a 401: the token is bad or expired.
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }

// IsForbidden reports a 403: the token lacks a scope or the location.
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsRateLimited reports a 429.
func IsRateLimited(err error) bool { return StatusCode(err) == http.StatusTooManyRequests }

// IsUnprocessable reports a 422: the request was refused on its content.
func IsUnprocessable(err error) bool { return StatusCode(err) == http.StatusUnprocessableEntity }
