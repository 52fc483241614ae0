package auth

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/oauth2"
)

// Invalidator is a TokenSource that can be told its token was refused
// (FileSource is one).
type Invalidator interface {
	Invalidate()
}

// Transport sets "Authorization: Bearer <token>" from Source and, when the
// answer is 401 and the source can refresh (an Invalidator), refreshes and
// sends the request once more, as HighLevel's docs advise. It never retries
// anything else: retrying is package pace's job.
//
// With APIURL set (NewClient sets it), a request for any other origin is
// refused unsent, token and body included: NewClient's CheckRedirect
// already stops a redirect to another host, and this is the second line.
type Transport struct {
	Source oauth2.TokenSource
	Base   http.RoundTripper // nil: http.DefaultTransport
	APIURL string            // "": no origin check (tests that build a Transport by hand)
}

// NewTransport returns a Transport over base.
func NewTransport(base http.RoundTripper, src oauth2.TokenSource) *Transport {
	return &Transport{Source: src, Base: base}
}

func (t *Transport) base() http.RoundTripper {
	if t.Base == nil {
		return http.DefaultTransport
	}
	return t.Base
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.send(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	inv, ok := t.Source.(Invalidator)
	if !ok {
		return resp, nil
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body can't be sent twice
	}
	// Refresh first, so that a failed refresh leaves the 401 as the answer.
	inv.Invalidate()
	if _, terr := t.Source.Token(); terr != nil {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("replaying the request body after a 401: %w", err)
		}
		retry.Body = body
	}
	return t.send(retry)
}

func (t *Transport) send(req *http.Request) (*http.Response, error) {
	if t.APIURL != "" {
		if err := checkOrigin(t.APIURL, req.URL); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
	}
	tok, err := t.Source.Token()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		var ce *CredentialsError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("getting an access token: %w", err)
	}
	r := req.Clone(req.Context())
	if req.Body != nil {
		r.Body = req.Body
	}
	tok.SetAuthHeader(r)
	return t.base().RoundTrip(r)
}
