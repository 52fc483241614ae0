package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Agency mode (issue 17): one Company (agency) login reaches many
// locations. HighLevel refuses a Company token on every location endpoint,
// so each location is reached with a Location token minted from the
// Company one (POST /oauth/locationToken) and kept in the token store,
// beside the token file, as locations/<id>.json (0600, atomic, locked like
// the token file), minted again when it expires.

// ScopeInstalledLocations lists the locations an app is installed on;
// ScopeLocationToken mints a location's token from the agency's.
const (
	ScopeInstalledLocations Scope = "oauth.readonly"
	ScopeLocationToken      Scope = "oauth.write"
)

// UserTypeCompany is the class of an agency-level token.
const UserTypeCompany = "Company"

// jwtClaims are the claims of a HighLevel access token that say its class.
type jwtClaims struct {
	AuthClass   string `json:"authClass"`   // "Company" or "Location"
	AuthClassID string `json:"authClassId"` // the company's or the location's id
	OAuthMeta   struct {
		Client string `json:"client"` // the app's id
	} `json:"oauthMeta"`
}

// claimsOf reads a JWT's claims without checking its signature (the API
// checks it): they only tell a Company token from a Location one. A token
// that is no JWT (a private integration token) gives false.
func claimsOf(tok string) (jwtClaims, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return jwtClaims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return jwtClaims{}, false
	}
	var c jwtClaims
	if json.Unmarshal(raw, &c) != nil || c.AuthClass == "" {
		return jwtClaims{}, false
	}
	return c, true
}

// envInfo is what GHL_TOKEN's claims say of it: its class, and for a
// Company token its company and app. Nothing else: a static token's
// location and scopes are still probed.
func envInfo(tok string) Info {
	info := Info{Kind: KindEnv}
	if c, ok := claimsOf(tok); ok && c.AuthClass == UserTypeCompany {
		info.UserType, info.CompanyID, info.ClientID = UserTypeCompany, c.AuthClassID, c.OAuthMeta.Client
	}
	return info
}

// appID is the marketplace app's id: the token's oauthMeta.client, else
// the client id up to its first "-" (HighLevel's client ids are
// "<appId>-<suffix>").
func appID(info Info, accessToken string) string {
	if c, ok := claimsOf(accessToken); ok && c.OAuthMeta.Client != "" {
		return c.OAuthMeta.Client
	}
	id, _, _ := strings.Cut(info.ClientID, "-")
	return id
}

// Agency is an open Company login: it lists the locations its app is
// installed on and hands out each location's token source.
type Agency struct {
	src    oauth2.TokenSource
	info   Info
	dir    string // where the location tokens are kept
	apiURL string
	hc     *http.Client

	mu   sync.Mutex
	locs map[string]*LocationSource
}

// OpenAgency opens the login for agency mode. A token that is not a
// Company one is a *CredentialsError saying how to get one.
func OpenAgency(ctx context.Context, opt Options) (*Agency, error) {
	src, info, err := Source(ctx, opt)
	if err != nil {
		return nil, err
	}
	if info.UserType != UserTypeCompany || info.CompanyID == "" {
		return nil, &CredentialsError{Reason: "--locations needs an agency (Company) token, and this one is for a single location (or its class is unknown)",
			Fix: "run `ghlbulk auth login --user-type Company` (scopes oauth.readonly and oauth.write besides the contacts ones), or set GHL_TOKEN to an agency-level OAuth token"}
	}
	path, err := opt.tokenFilePath()
	if err != nil {
		return nil, &CredentialsError{Reason: "no place to keep the location tokens", Err: err, Fix: "pass --token-file or set GHL_TOKEN_FILE"}
	}
	return &Agency{src: src, info: info, dir: filepath.Join(filepath.Dir(path), "locations"),
		apiURL: opt.apiURL(), hc: opt.httpClient(), locs: map[string]*LocationSource{}}, nil
}

// Info describes the agency's token (no secret).
func (a *Agency) Info() Info { return a.info }

// InstalledLocation is one location the app is installed on.
type InstalledLocation struct {
	ID      string `json:"_id"`
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
}

// installedPage is how many locations one request asks for.
const installedPage = 100

// Installed lists the locations the app is installed on, a page at a time
// (GET /oauth/installedLocations, skip/limit).
func (a *Agency) Installed(ctx context.Context) ([]InstalledLocation, error) {
	tok, err := a.src.Token()
	if err != nil {
		return nil, err
	}
	app := appID(a.info, tok.AccessToken)
	var all []InstalledLocation
	for skip := 0; ; skip += installedPage {
		page, count, err := a.installedPage(ctx, tok.AccessToken, app, skip)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < installedPage || (count > 0 && len(all) >= count) {
			return all, nil
		}
	}
}

func (a *Agency) installedPage(ctx context.Context, token, app string, skip int) ([]InstalledLocation, int, error) {
	q := url.Values{"companyId": {a.info.CompanyID}, "appId": {app}, "isInstalled": {"true"},
		"skip": {strconv.Itoa(skip)}, "limit": {strconv.Itoa(installedPage)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.apiURL+"/oauth/installedLocations?"+q.Encode(), nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Version", "2021-07-28")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, 0, &redactedError{msg: "listing the installed locations: " + Redact(err.Error(), token), err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("listing the installed locations: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, 0, &CredentialsError{Reason: fmt.Sprintf("listing the installed locations: %d %s", resp.StatusCode, shortBody(raw, token)),
			Fix: "the agency token needs the oauth.readonly scope: run `ghlbulk auth login --user-type Company` again"}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("listing the installed locations: %d %s", resp.StatusCode, shortBody(raw, token))
	}
	var body struct {
		Locations []InstalledLocation `json:"locations"`
		Count     float64             `json:"count"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, 0, errors.New("listing the installed locations: the answer is not the expected JSON")
	}
	return body.Locations, int(body.Count), nil
}

func shortBody(raw []byte, secrets ...string) string {
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return Redact(msg, secrets...)
}

// Location returns the token source of one location: its kept token while
// it lives, else one minted from the agency's.
func (a *Agency) Location(id string) (*LocationSource, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return nil, &CredentialsError{Reason: fmt.Sprintf("location id %q is not a HighLevel id", id), Fix: "check --locations"}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.locs[id]; s != nil {
		return s, nil
	}
	s := &LocationSource{a: a, id: id, path: filepath.Join(a.dir, id+".json"), now: time.Now, early: refreshEarly}
	a.locs[id] = s
	return s, nil
}

// LocationSource is an oauth2.TokenSource for one location of an agency.
type LocationSource struct {
	a     *Agency
	id    string
	path  string
	now   func() time.Time
	early time.Duration

	mu  sync.Mutex
	cur storedToken
	bad string // an access token the API refused (Invalidate)
}

// Invalidate says the API refused the current token: the next Token mints
// a new one.
func (s *LocationSource) Invalidate() {
	s.mu.Lock()
	s.bad = s.cur.AccessToken
	s.mu.Unlock()
}

func (s *LocationSource) fresh(st storedToken) bool {
	if st.AccessToken == "" || st.AccessToken == s.bad {
		return false
	}
	return st.Expiry.IsZero() || s.now().Add(s.early).Before(st.Expiry)
}

// Token returns the location's token, minting one under the store's lock
// when the kept one is missing, refused or about to expire.
func (s *LocationSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh(s.cur) {
		return s.cur.oauth2(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	unlock, err := lockFile(ctx, s.path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if st, err := readTokenFile(s.path); err == nil && s.fresh(st) {
		s.cur = st // kept from an earlier run, or another process minted it
		return st.oauth2(), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		var ce *CredentialsError
		if !errors.As(err, &ce) { // a damaged file is minted over; an unreadable one is said
			return nil, err
		}
	}
	company, err := s.a.src.Token()
	if err != nil {
		return nil, err
	}
	tok, err := locationToken(ctx, s.a.hc, s.a.apiURL, company.AccessToken, s.a.info.CompanyID, s.id)
	if err != nil {
		return nil, err
	}
	next := fromOAuth2(tok, storedToken{}, s.a.info.ClientID)
	s.cur, s.bad = next, ""
	if err := writeTokenFile(s.path, next); err != nil {
		return nil, fmt.Errorf("keeping the token of location %s: %w", s.id, err)
	}
	return next.oauth2(), nil
}

// agencySource is Source for opt.AgencyLocation: the location's token
// source over the agency login, and what is known of it.
func agencySource(ctx context.Context, opt Options) (oauth2.TokenSource, Info, error) {
	loc := opt.AgencyLocation
	opt.AgencyLocation = ""
	a, err := OpenAgency(ctx, opt)
	if err != nil {
		return nil, Info{}, err
	}
	src, err := a.Location(loc)
	if err != nil {
		return nil, Info{}, err
	}
	ai := a.Info()
	return src, Info{Kind: ai.Kind, TokenFile: ai.TokenFile, LocationID: loc, CompanyID: ai.CompanyID,
		UserType: "Location", ClientID: ai.ClientID}, nil
}
