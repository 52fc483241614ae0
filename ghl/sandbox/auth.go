package sandbox

import (
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// token is an access token, a refresh token or an authorization code.
type token struct {
	Value       string    `json:"value"`
	Kind        string    `json:"kind"` // "access", "refresh", "code"
	ClientID    string    `json:"clientId"`
	UserType    string    `json:"userType"` // "Location" or "Company"
	LocationID  string    `json:"locationId,omitempty"`
	CompanyID   string    `json:"companyId"`
	UserID      string    `json:"userId"`
	Scopes      []string  `json:"scopes"`
	Expires     time.Time `json:"expires"`
	RedirectURI string    `json:"redirectUri,omitempty"`
	// PKCE (RFC 7636), on codes whose authorization request sent a
	// code_challenge: the exchange must then send the matching verifier.
	Challenge       string `json:"challenge,omitempty"`
	ChallengeMethod string `json:"challengeMethod,omitempty"` // "S256" or "plain"
}

func (t *token) hasScope(sc string) bool { return slices.Contains(t.Scopes, sc) }

// resource is what rate limits count against: the location, or the company
// for a Company token.
func (t *token) resource() string {
	if t.UserType == "Company" {
		return t.CompanyID
	}
	return t.LocationID
}

type authStore struct {
	s      *Server
	mu     sync.RWMutex
	tokens map[string]*token
	secret []byte
	hook   func(context.Context, RefreshStage) // SetRefreshHook; guarded by mu
}

// RefreshStage is where a refresh_token grant is when the hook runs.
type RefreshStage int

const (
	// RefreshReceived: the request is read and checked; its refresh token
	// is not spent yet.
	RefreshReceived RefreshStage = iota
	// RefreshRotated: the refresh token is spent and the new pair minted;
	// the answer is not sent yet.
	RefreshRotated
)

// SetRefreshHook installs h (nil removes it), a test hook: POST
// /oauth/token calls it for each refresh_token grant at both stages, with
// the request's context, and waits for it. A hook that blocks holds a
// refresh in flight, so that a test can kill the client at either point. A
// client gone by the end of RefreshReceived (ctx done) leaves its refresh
// token unspent, as a server that never got to act on the request would;
// one gone during RefreshRotated loses the new pair, as with HighLevel,
// whose refresh token is "valid for a year unless used" (docs/Authorization.md).
func (s *Server) SetRefreshHook(h func(ctx context.Context, stage RefreshStage)) {
	s.auth.mu.Lock()
	s.auth.hook = h
	s.auth.mu.Unlock()
}

func (a *authStore) runHook(ctx context.Context, st RefreshStage) {
	a.mu.RLock()
	h := a.hook
	a.mu.RUnlock()
	if h != nil {
		h(ctx, st)
	}
}

func newAuthStore(s *Server) *authStore {
	secret := make([]byte, 32)
	_, _ = crand.Read(secret)
	return &authStore{s: s, tokens: map[string]*token{}, secret: secret}
}

const (
	refreshTTL = 365 * 24 * time.Hour
	codeTTL    = 10 * time.Minute
)

// mint makes a new token value shaped like HighLevel's (a signed JWT) and
// stores t under it.
func (a *authStore) mint(t *token) string {
	var jti [12]byte
	_, _ = crand.Read(jti[:])
	now := a.s.now()
	claims := map[string]any{
		"authClass":          t.UserType,
		"authClassId":        t.resource(),
		"source":             "INTEGRATION",
		"sourceId":           t.ClientID,
		"channel":            "OAUTH",
		"primaryAuthClassId": t.resource(),
		"oauthMeta":          map[string]any{"scopes": t.Scopes, "client": t.ClientID, "versionId": t.ClientID},
		"tokenType":          t.Kind,
		"iat":                now.Unix(),
		"exp":                t.Expires.Unix(),
		"jti":                base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := json.Marshal(claims)
	signing := head + "." + base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, a.secret)
	mac.Write([]byte(signing))
	t.Value = signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	if t.Kind == "code" { // codes are short, like the real ones
		t.Value = strings.ReplaceAll(base64.RawURLEncoding.EncodeToString(jti[:])+base64.RawURLEncoding.EncodeToString(mac.Sum(nil))[:16], "-", "a")
	}
	a.mu.Lock()
	a.tokens[t.Value] = t
	a.mu.Unlock()
	if a.s.db != nil {
		a.s.db.put("token", t.Value, "", t)
	}
	return t.Value
}

func (a *authStore) get(v string) *token {
	a.mu.RLock()
	t := a.tokens[v]
	a.mu.RUnlock()
	return t
}

// take removes and returns the token v of kind, if there is one.
func (a *authStore) take(v, kind string) *token {
	a.mu.Lock()
	t := a.tokens[v]
	if t != nil && t.Kind == kind {
		delete(a.tokens, v)
	} else {
		t = nil
	}
	a.mu.Unlock()
	if t != nil && a.s.db != nil {
		a.s.db.del("token", v)
	}
	return t
}

func (a *authStore) load(t *token) {
	a.mu.Lock()
	a.tokens[t.Value] = t
	a.mu.Unlock()
}

// IssueToken mints a Location access token for locationID ("" = the default
// location) with scopes (nil = AllScopes) valid for ttl (0 = AccessTTL), as
// if an app had been installed there and exchanged its code.
func (s *Server) IssueToken(locationID string, scopes []string, ttl time.Duration) (string, error) {
	if locationID == "" {
		locationID = s.opt.LocationID
	}
	if strings.ContainsAny(locationID, "/?#") {
		return "", fmt.Errorf("sandbox: location id %q: must be a plain id", locationID)
	}
	if scopes == nil {
		scopes = AllScopes
	}
	if ttl <= 0 {
		ttl = s.opt.AccessTTL
	}
	return s.auth.mint(&token{
		Kind: "access", ClientID: DefaultClientID, UserType: "Location",
		LocationID: locationID, CompanyID: DefaultCompanyID, UserID: DefaultUserID,
		Scopes: slices.Clone(scopes), Expires: s.now().Add(ttl),
	}), nil
}

// authenticate finds the request's bearer token and checks it suits rt.
func (s *Server) authenticate(r *http.Request, rt *route) (*token, *reply) {
	h := r.Header.Get("Authorization")
	scheme, v, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(v) == "" {
		return nil, &reply{status: http.StatusUnauthorized, body: errUnauthorized(msgTokenMissing)}
	}
	t := s.auth.get(strings.TrimSpace(v))
	if t == nil || t.Kind != "access" {
		return nil, &reply{status: http.StatusUnauthorized, body: errUnauthorized(msgTokenInvalid)}
	}
	if !s.now().Before(t.Expires) {
		return nil, &reply{status: http.StatusUnauthorized, body: errUnauthorized(msgTokenExpired)}
	}
	if t.UserType == "Location" && s.agency.isRefused(t.LocationID) { // the app was uninstalled there
		return nil, &reply{status: http.StatusUnauthorized, body: errUnauthorized(msgTokenInvalid)}
	}
	if rt.company != (t.UserType == "Company") {
		if rt.company {
			rep := rep403(msgScope)
			return nil, &rep
		}
		rep := rep403(msgLocation)
		return nil, &rep
	}
	return t, nil
}

// rateLimit takes one request from the token's quota, sets the
// X-RateLimit-* headers and returns the 429 when the quota is spent.
func (s *Server) rateLimit(w http.ResponseWriter, t *token) *reply {
	st := s.lim.take(t.ClientID, t.resource(), s.now())
	st.setHeaders(w.Header())
	if st.ok {
		return nil
	}
	secs := int64((st.retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	msg := "Too Many Requests"
	if st.daily {
		msg = "Daily request limit exceeded"
	}
	return &reply{status: http.StatusTooManyRequests, body: badRequest{StatusCode: 429, Message: msg}}
}

// checkLocation answers 403 unless the token is for location id.
func checkLocation(t *token, id string) *reply {
	if t.LocationID != id {
		rep := rep403(msgLocation)
		return &rep
	}
	return nil
}

// ---- OAuth ----

// oauthError is the body of a failed grant: BadRequestDTO or
// UnauthorizedDTO with the OAuth error code in "error" (DEVIATIONS.md).
type oauthError struct {
	StatusCode       int    `json:"statusCode"`
	Message          string `json:"message"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

func grantError(msg string) reply {
	return reply{status: http.StatusBadRequest, body: oauthError{StatusCode: 400, Message: msg, Error: "invalid_grant", ErrorDescription: msg}}
}

// form reads an x-www-form-urlencoded body (or, leniently, a JSON one).
func form(q *call) (url.Values, *reply) {
	ct, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	if ct == "application/json" {
		fields, rep := readBody(q)
		if rep != nil {
			return nil, rep
		}
		v := url.Values{}
		for k, raw := range fields {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				v.Set(k, s)
			}
		}
		return v, nil
	}
	q.r.Body = http.MaxBytesReader(q.w, q.r.Body, 1<<20)
	if err := q.r.ParseForm(); err != nil {
		rep := rep400("Invalid form body")
		return nil, &rep
	}
	return q.r.PostForm, nil
}

type tokenResponse struct {
	AccessToken       string   `json:"access_token"`
	TokenType         string   `json:"token_type"`
	ExpiresIn         int64    `json:"expires_in"`
	RefreshToken      string   `json:"refresh_token,omitempty"`
	Scope             string   `json:"scope"`
	UserType          string   `json:"userType,omitempty"`
	LocationID        string   `json:"locationId,omitempty"`
	CompanyID         string   `json:"companyId,omitempty"`
	ApprovedLocations []string `json:"approvedLocations,omitempty"`
	UserID            string   `json:"userId"`
	IsBulkInstall     *bool    `json:"isBulkInstallation,omitempty"`
}

// hOAuthToken is POST /oauth/token: a grant (an authorization code or a
// refresh token) of an authenticated client buys a new token pair.
func (s *Server) hOAuthToken(q *call) reply {
	f, rep := form(q)
	if rep != nil {
		return *rep
	}
	if msgs := tokenFormMessages(f); len(msgs) > 0 {
		return rep422(msgs...)
	}
	secret, known := s.opt.OAuthClients[f.Get("client_id")]
	if !known || !hmac.Equal([]byte(secret), []byte(f.Get("client_secret"))) {
		return reply{status: http.StatusUnauthorized, body: oauthError{StatusCode: 401, Message: "Invalid client: client credentials are invalid", Error: "invalid_client"}}
	}
	clientID := f.Get("client_id")
	gt := f.Get("grant_type")
	var base *token
	switch gt {
	case "authorization_code":
		base, rep = s.codeGrant(f, clientID)
	case "refresh_token":
		base, rep = s.refreshGrant(q, f, clientID)
	default:
		return rep400("Unsupported grant type: client_credentials is not available in the sandbox")
	}
	if rep != nil {
		return *rep
	}
	out := s.issueTokens(base, clientID)
	if gt == "refresh_token" {
		s.auth.runHook(q.r.Context(), RefreshRotated)
	}
	return reply{status: http.StatusOK, body: out}
}

// tokenFormMessages are the 422 messages for a token request's form.
func tokenFormMessages(f url.Values) []string {
	var msgs []string
	for _, k := range []string{"client_id", "client_secret", "grant_type"} {
		if f.Get(k) == "" {
			msgs = append(msgs, k+" should not be empty")
		}
	}
	switch f.Get("grant_type") {
	case "", "authorization_code", "refresh_token", "client_credentials":
	default:
		msgs = append(msgs, "grant_type must be one of the following values: authorization_code, refresh_token, client_credentials")
	}
	switch f.Get("user_type") {
	case "", "Company", "Location":
	default:
		msgs = append(msgs, "user_type must be one of the following values: Company, Location")
	}
	return msgs
}

// refusal is a grant's refusal, as codeGrant and refreshGrant return it.
func refusal(r reply) (*token, *reply) { return nil, &r }

// codeGrant takes the authorization code (it is single use, even when
// refused here) and gives the token it stands for; user_type=Company asks
// for a Company token in its place.
func (s *Server) codeGrant(f url.Values, clientID string) (*token, *reply) {
	if f.Get("code") == "" {
		return refusal(rep422("code should not be empty"))
	}
	c := s.auth.take(f.Get("code"), "code")
	if c == nil || c.ClientID != clientID || !s.now().Before(c.Expires) {
		return refusal(grantError("Invalid grant: authorization code is invalid"))
	}
	if c.RedirectURI != "" && f.Get("redirect_uri") != "" && f.Get("redirect_uri") != c.RedirectURI {
		return refusal(grantError("Invalid grant: redirect_uri does not match"))
	}
	if msg := checkVerifier(c, f.Get("code_verifier")); msg != "" {
		return refusal(grantError(msg))
	}
	if f.Get("user_type") == "Company" {
		cp := *c
		cp.UserType, cp.LocationID = "Company", ""
		return &cp, nil
	}
	return c, nil
}

// refreshGrant takes the refresh token (rotation: it is spent) and gives
// it as the base of the new pair. Another client's token is put back, as
// that client may still use it.
func (s *Server) refreshGrant(q *call, f url.Values, clientID string) (*token, *reply) {
	if f.Get("refresh_token") == "" {
		return refusal(rep422("refresh_token should not be empty"))
	}
	s.auth.runHook(q.r.Context(), RefreshReceived)
	if err := q.r.Context().Err(); err != nil {
		// The client is gone before the grant was acted on.
		return refusal(reply{status: http.StatusServiceUnavailable, body: oauthError{StatusCode: 503, Message: "client went away", Error: "temporarily_unavailable"}})
	}
	rt := s.auth.take(f.Get("refresh_token"), "refresh")
	if rt == nil || rt.ClientID != clientID || !s.now().Before(rt.Expires) {
		if rt != nil && rt.ClientID != clientID { // not this client's: put it back
			s.auth.load(rt)
			if s.db != nil {
				s.db.put("token", rt.Value, "", rt)
			}
		}
		return refusal(grantError("Invalid grant: refresh token is invalid"))
	}
	return rt, nil
}

// issueTokens mints an access and a refresh token for clientID with base's
// user, location and scopes. A Company token's answer lists the locations
// it may buy Location tokens for.
func (s *Server) issueTokens(base *token, clientID string) tokenResponse {
	now := s.now()
	access := &token{Kind: "access", ClientID: clientID, UserType: base.UserType, LocationID: base.LocationID,
		CompanyID: base.CompanyID, UserID: base.UserID, Scopes: base.Scopes, Expires: now.Add(s.opt.AccessTTL)}
	refresh := *access
	refresh.Kind, refresh.Expires = "refresh", now.Add(refreshTTL)
	out := tokenResponse{
		AccessToken:  s.auth.mint(access),
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.opt.AccessTTL/time.Second) - 1,
		RefreshToken: s.auth.mint(&refresh),
		Scope:        strings.Join(access.Scopes, " "),
		UserType:     access.UserType,
		LocationID:   access.LocationID,
		CompanyID:    access.CompanyID,
		UserID:       access.UserID,
	}
	if access.UserType == "Company" {
		f := false
		out.IsBulkInstall = &f
		out.ApprovedLocations = s.Locations()
	}
	return out
}

// checkVerifier is RFC 7636's check at the token endpoint: a code issued
// with a code_challenge is exchanged only with the verifier it was made
// from. It returns "" when the verifier passes (or no challenge was sent,
// as the PKCE-less flow in HighLevel's docs has none) and the refusal's
// message otherwise.
func checkVerifier(c *token, verifier string) string {
	if c.Challenge == "" {
		return ""
	}
	if verifier == "" {
		return "Invalid grant: code_verifier is required (the authorization request sent a code_challenge)"
	}
	got := verifier
	if c.ChallengeMethod == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		got = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if !hmac.Equal([]byte(got), []byte(c.Challenge)) {
		return "Invalid grant: code_verifier does not match the code_challenge"
	}
	return ""
}

// hLocationToken is POST /oauth/locationToken: a Company token buys a
// Location token for one of its locations.
func (s *Server) hLocationToken(q *call) reply {
	f, rep := form(q)
	if rep != nil {
		return *rep
	}
	var msgs []string
	for _, k := range []string{"companyId", "locationId"} {
		if f.Get(k) == "" {
			msgs = append(msgs, k+" should not be empty", k+" must be a string")
		}
	}
	if len(msgs) > 0 {
		return rep422(msgs...)
	}
	if f.Get("companyId") != q.tok.CompanyID {
		return rep400("The company id does not match the token")
	}
	loc := f.Get("locationId")
	if strings.ContainsAny(loc, "/?#") {
		return rep400("Invalid location id")
	}
	if !s.agency.installed(loc) {
		return rep403("The app is not installed on this location.")
	}
	t := &token{Kind: "access", ClientID: q.tok.ClientID, UserType: "Location", LocationID: loc,
		CompanyID: q.tok.CompanyID, UserID: q.tok.UserID, Scopes: q.tok.Scopes, Expires: s.now().Add(s.opt.AccessTTL)}
	// The live answer carries a refresh token too (highlevel-api-docs#285;
	// oauth.json's schema predates it), good for the refresh_token grant.
	refresh := *t
	refresh.Kind, refresh.Expires = "refresh", s.now().Add(refreshTTL)
	return reply{status: http.StatusOK, body: tokenResponse{
		AccessToken: s.auth.mint(t), TokenType: "Bearer", ExpiresIn: int64(s.opt.AccessTTL/time.Second) - 1,
		RefreshToken: s.auth.mint(&refresh), Scope: strings.Join(t.Scopes, " "), LocationID: loc, UserID: t.UserID,
	}}
}

// hChooseLocation is the marketplace's consent page, reduced to a redirect:
// GET /oauth/chooselocation?response_type=code&client_id&redirect_uri&scope
// [&state][&location_id] answers 302 to redirect_uri?code=...[&state=...].
func (s *Server) hChooseLocation(q *call) reply {
	v := q.r.URL.Query()
	if v.Get("response_type") != "code" {
		return rep400("response_type must be code")
	}
	clientID := v.Get("client_id")
	if _, ok := s.opt.OAuthClients[clientID]; !ok {
		return rep400("Invalid client_id")
	}
	ru, err := url.Parse(v.Get("redirect_uri"))
	if err != nil || v.Get("redirect_uri") == "" || ru.Scheme == "" || ru.Host == "" {
		return rep400("Invalid redirect_uri")
	}
	scopes := strings.Fields(v.Get("scope"))
	if len(scopes) == 0 {
		return rep400("scope should not be empty")
	}
	loc := v.Get("location_id")
	if loc == "" {
		loc = s.opt.LocationID
	}
	if strings.ContainsAny(loc, "/?#") {
		return rep400("Invalid location_id")
	}
	challenge, method := v.Get("code_challenge"), v.Get("code_challenge_method")
	if challenge != "" && method == "" {
		method = "plain" // RFC 7636 4.3
	}
	if challenge != "" && method != "S256" && method != "plain" {
		return rep400("code_challenge_method must be S256 or plain")
	}
	code := s.auth.mint(&token{Kind: "code", ClientID: clientID, UserType: "Location", LocationID: loc,
		CompanyID: DefaultCompanyID, UserID: DefaultUserID, Scopes: scopes,
		Expires: s.now().Add(codeTTL), RedirectURI: v.Get("redirect_uri"),
		Challenge: challenge, ChallengeMethod: method})
	rq := ru.Query()
	rq.Set("code", code)
	if st := v.Get("state"); st != "" {
		rq.Set("state", st)
	}
	ru.RawQuery = rq.Encode()
	return reply{status: http.StatusFound, location: ru.String(), raw: []byte{}, ctype: "text/plain; charset=utf-8"}
}
