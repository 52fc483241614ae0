package ghl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
)

// maxBody caps how much of a response is read. The largest legitimate
// answer (a page of 100 contacts with custom fields) is well under this; the
// cap keeps a misbehaving server from exhausting memory.
const maxBody = 32 << 20

// Client calls HighLevel's API v2. It is safe for concurrent use.
//
// Authentication and pacing are the http.Client's business (an
// oauth2.Transport and a pace.Transport in its chain), so the Client itself
// only shapes requests and answers. It never retries: a retry is decided
// above it, where the whole run is in view.
type Client struct {
	// Version is sent as the Version header; HighLevel's files fix it at
	// 2021-07-28. Tests may change it.
	Version string
	// UserAgent is sent as User-Agent.
	UserAgent string

	base string
	hc   *http.Client
}

// New returns a Client for baseURL (DefaultBaseURL in production, a sandbox
// in tests). hc carries auth and pacing; nil means http.DefaultClient.
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{
		Version:   APIVersion,
		UserAgent: "ghlbulk/" + buildVersion(),
		base:      strings.TrimRight(baseURL, "/"),
		hc:        hc,
	}
}

// BaseURL is the API's address as the client uses it (no trailing slash),
// for a probe that must send a body the typed calls refuse to build.
func (c *Client) BaseURL() string { return c.base }

// buildVersion is the main module's version as the go tool stamped it, so
// the User-Agent names the release without a linker flag.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// do sends one request and decodes a 2xx answer into out (nil: the body is
// drained and ignored). path must already be escaped. Any non-2xx answer is
// an *APIError; a 2xx answer that can't be read or decoded is a
// *DecodeError, which for writes matches ErrUnknownOutcome.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.send(ctx, c.Version, method, path, query, in, out)
}

// send is do with the Version header given: the calendars endpoints are
// published under another version than the rest (CalendarsAPIVersion).
func (c *Client) send(ctx context.Context, version, method, path string, query url.Values, in, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encoding request: %w", method, path, err)
		}
		// A bytes.Reader lets http.NewRequest set GetBody, so a retry layer
		// above can replay the body.
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Version", version)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error wraps the cause (ctx errors included) for errors.Is.
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A partly read error body still tells the status; keep what came.
		return newAPIError(method, path, resp, raw)
	}
	if out == nil {
		// The status is the answer (deletes); a body we fail to read
		// changes nothing about what happened.
		return nil
	}
	if readErr == nil && len(raw) > maxBody {
		readErr = fmt.Errorf("body larger than %d bytes", maxBody)
	}
	if readErr != nil {
		return &DecodeError{Method: method, Path: path, StatusCode: resp.StatusCode, Err: readErr}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &DecodeError{Method: method, Path: path, StatusCode: resp.StatusCode, Err: err}
	}
	return nil
}

// seg escapes one path segment (an id), so an id holding "/" or "?" can't
// reach another endpoint.
func seg(id string) string { return url.PathEscape(id) }

// requireID rejects an empty id before a request is made: "/contacts/" with
// an empty id is a different endpoint (the listing or create).
func requireID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalidArgument, what)
	}
	return nil
}
