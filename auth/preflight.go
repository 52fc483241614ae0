package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PreflightError is a check before any write that failed: the token is
// refused, doesn't reach the location, or lacks a scope. The CLI exits 2.
type PreflightError struct {
	Need     Scope  // the scope the command needs
	Location string // the location checked
	Status   int    // the probe's HTTP status (0: decided without a request)
	Reason   string // what is wrong and what to do
}

func (e *PreflightError) Error() string { return "preflight: " + e.Reason }

// Is makes a failed preflight match ErrNoCredentials too.
func (e *PreflightError) Is(target error) bool { return target == ErrNoCredentials }

// probeID is a contact id that can't exist: updating it with an empty body
// changes nothing anywhere, but passes the scope check first.
const probeID = "ghlbulk-preflight-probe"

// Preflight checks, before the first write (or read), that the token in
// hc reaches locationID and holds need. See PreflightWithInfo.
func Preflight(ctx context.Context, hc *http.Client, apiURL, locationID string, need Scope) error {
	return PreflightWithInfo(ctx, hc, apiURL, locationID, need, Info{})
}

// PreflightWithInfo is Preflight using what is known about the token
// (Source's Info): its recorded location and scopes are checked without a
// request. HighLevel has no way to ask which scopes a token holds, so
// otherwise it probes:
//   - reading: GET /contacts/?locationId=..&limit=1;
//   - writing: PUT /contacts/<an id that can't exist> with an empty body,
//     which a token without contacts.write sees refused (401/403) and a
//     token with it sees answered 400/404/422, changing nothing; then the
//     read probe, when the token can read, to check the location.
//
// A probe answered 429 or 5xx proves nothing either way and is let pass; a
// network failure is returned as is.
func PreflightWithInfo(ctx context.Context, hc *http.Client, apiURL, locationID string, need Scope, info Info) error {
	apiURL = Options{APIURL: apiURL}.apiURL()
	if hc == nil {
		hc = NewClient(apiURL, nil, nil, 30*time.Second)
	}
	if err := checkRecorded(locationID, need, info); err != nil {
		return err
	}
	_, known := info.HasScope(need)
	if need == ScopeContactsWrite {
		if !known {
			if err := probeWrite(ctx, hc, apiURL, locationID); err != nil {
				return err
			}
		}
		if canRead, readKnown := info.HasScope(ScopeContactsRead); readKnown && !canRead {
			return nil // nothing more to learn without the read scope
		}
	}
	q := url.Values{"locationId": {locationID}, "limit": {"1"}}
	status, msg, err := probe(ctx, hc, http.MethodGet, apiURL+"/contacts/?"+q.Encode(), "")
	if err != nil {
		return err
	}
	return readProbeVerdict(need, locationID, known, status, msg)
}

// checkRecorded decides what needs no request: a location is given, and
// the token's recorded location and scopes (when known) fit it.
func checkRecorded(locationID string, need Scope, info Info) error {
	if locationID == "" {
		return &PreflightError{Need: need, Reason: "no location given: pass --location or set GHL_LOCATION_ID"}
	}
	if info.LocationID != "" && info.LocationID != locationID {
		return &PreflightError{Need: need, Location: locationID,
			Reason: fmt.Sprintf("the token is for location %s, not %s: log in to %s (ghlbulk auth login) or use its private integration token", info.LocationID, locationID, locationID)}
	}
	if has, known := info.HasScope(need); known && !has {
		return &PreflightError{Need: need, Location: locationID, Reason: lackMsg(need)}
	}
	return nil
}

// probeWrite sends the write probe (an empty update of a contact that
// can't exist): 401 is a refused token and 403 a token without
// contacts.write; any other answer lets the check go on.
func probeWrite(ctx context.Context, hc *http.Client, apiURL, locationID string) error {
	status, _, err := probe(ctx, hc, http.MethodPut, apiURL+"/contacts/"+probeID, "{}")
	if err != nil {
		return err
	}
	switch status {
	case http.StatusUnauthorized:
		return refusedErr(ScopeContactsWrite, locationID, status)
	case http.StatusForbidden:
		return &PreflightError{Need: ScopeContactsWrite, Location: locationID, Status: status, Reason: lackMsg(ScopeContactsWrite)}
	}
	return nil
}

// readProbeVerdict judges the read probe's answer for a command that needs
// need; known says whether the token's scopes were recorded. 429 and 5xx
// prove nothing and pass.
func readProbeVerdict(need Scope, locationID string, known bool, status int, msg string) error {
	switch status {
	case http.StatusUnauthorized:
		return refusedErr(need, locationID, status)
	case http.StatusForbidden:
		if need == ScopeContactsRead {
			return &PreflightError{Need: need, Location: locationID, Status: status,
				Reason: fmt.Sprintf("the token may not read contacts of location %s (403): it lacks contacts.readonly or is for another location; add the scope to your app's scopes in the Marketplace (or the private integration's scopes) and log in again, or use a token for %s", locationID, locationID)}
		}
		if !known && !locationRefusal(msg) {
			// A write-only token can't read; the write probe passed. But
			// a 403 that says the token does not have access to the
			// location is a token for another location, whatever its
			// scopes: the write probe names no location, so only this
			// answer tells.
			return nil
		}
		return &PreflightError{Need: need, Location: locationID, Status: status,
			Reason: fmt.Sprintf("the token does not reach location %s (403): log in to that location or use its private integration token", locationID)}
	case http.StatusNotFound, http.StatusBadRequest, http.StatusUnprocessableEntity:
		return &PreflightError{Need: need, Location: locationID, Status: status,
			Reason: fmt.Sprintf("location %s was not found or refused (%d): check --location / GHL_LOCATION_ID", locationID, status)}
	}
	return nil
}

func lackMsg(need Scope) string {
	return fmt.Sprintf("the token lacks %s: add it to your app's scopes in the Marketplace (or the private integration's scopes) and log in again", need)
}

func refusedErr(need Scope, loc string, status int) *PreflightError {
	return &PreflightError{Need: need, Location: loc, Status: status,
		Reason: "the token was refused (401: expired, revoked or not a HighLevel token): set a valid GHL_TOKEN or run `ghlbulk auth login`"}
}

// locationRefusal reports whether a 403's message is HighLevel's "The token
// does not have access to this location." rather than its scope refusal
// ("The token is not authorized for this scope.").
func locationRefusal(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "location") && !strings.Contains(m, "scope")
}

// probe sends one request and returns its status and the API's message (for
// telling refusals apart only; it is never shown, since a body might echo a
// header).
func probe(ctx context.Context, hc *http.Client, method, u, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, "", fmt.Errorf("preflight: %w", err)
	}
	req.Header.Set("Version", "2021-07-28")
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ce *CredentialsError
		if errors.As(err, &ce) {
			// Already free of secrets and saying what to do; the request
			// URL in front of it would only bury that.
			return 0, "", ce
		}
		return 0, "", &redactedError{msg: "preflight: " + Redact(err.Error()), err: err}
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	var m struct {
		Message json.RawMessage `json:"message"`
	}
	var msg string
	if json.Unmarshal(raw, &m) == nil && len(m.Message) > 0 {
		var one string
		var many []string
		switch {
		case json.Unmarshal(m.Message, &one) == nil:
			msg = one
		case json.Unmarshal(m.Message, &many) == nil:
			msg = strings.Join(many, "; ")
		}
	}
	return resp.StatusCode, msg, nil
}
