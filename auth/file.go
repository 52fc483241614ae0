package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// refreshEarly is how long before its expiry an access token is replaced,
// so that a request never leaves with a token about to die.
const refreshEarly = 5 * time.Minute

// storedToken is the token file. The client secret is never in it.
type storedToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	TokenType    string    `json:"token_type,omitempty"`
	Scope        string    `json:"scope,omitempty"` // space-separated, as the token endpoint says it
	LocationID   string    `json:"location_id,omitempty"`
	CompanyID    string    `json:"company_id,omitempty"`
	UserType     string    `json:"user_type,omitempty"`
	ClientID     string    `json:"client_id,omitempty"`
	// RefreshStarted is set, and saved, just before the refresh token is
	// sent to the token endpoint, and cleared with the answer saved. Found
	// set, it says a refresh was cut off (the process killed, the
	// connection lost) before its answer was saved: if the token endpoint
	// then refuses the refresh token, it had already rotated it.
	RefreshStarted time.Time `json:"refresh_started,omitzero"`
}

// String never shows the tokens.
func (t storedToken) String() string {
	return fmt.Sprintf("token(REDACTED) location=%s expiry=%s", t.LocationID, t.Expiry.UTC().Format(time.RFC3339))
}

// GoString keeps %#v from showing the tokens.
func (t storedToken) GoString() string { return t.String() }

func (t storedToken) oauth2() *oauth2.Token {
	typ := t.TokenType
	if typ == "" || strings.EqualFold(typ, "bearer") {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: typ, Expiry: t.Expiry}
}

func (t storedToken) scopes() []string {
	if strings.TrimSpace(t.Scope) == "" {
		return nil
	}
	return strings.Fields(t.Scope)
}

func (t storedToken) info(path string, c clientCreds) Info {
	cid := t.ClientID
	if cid == "" {
		cid = c.ID
	}
	return Info{
		Kind: KindOAuth, TokenFile: path, LocationID: t.LocationID, CompanyID: t.CompanyID,
		UserType: t.UserType, ClientID: cid, Scopes: t.scopes(), Expiry: t.Expiry,
		CanRefresh: t.RefreshToken != "" && c.Secret != "",
	}
}

// fromOAuth2 builds the stored form of a token endpoint answer; prev fills
// in what the answer leaves out (a refresh answer may omit the location).
func fromOAuth2(tok *oauth2.Token, prev storedToken, clientID string) storedToken {
	st := storedToken{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry,
		TokenType: tok.TokenType, Scope: extra(tok, "scope"), LocationID: extra(tok, "locationId"),
		CompanyID: extra(tok, "companyId"), UserType: extra(tok, "userType"), ClientID: clientID,
	}
	if st.RefreshToken == "" {
		st.RefreshToken = prev.RefreshToken
	}
	if st.Scope == "" {
		st.Scope = prev.Scope
	}
	if st.LocationID == "" {
		st.LocationID = prev.LocationID
	}
	if st.CompanyID == "" {
		st.CompanyID = prev.CompanyID
	}
	if st.UserType == "" {
		st.UserType = prev.UserType
	}
	if st.ClientID == "" {
		st.ClientID = prev.ClientID
	}
	return st
}

func extra(tok *oauth2.Token, key string) string {
	if s, ok := tok.Extra(key).(string); ok {
		return s
	}
	return ""
}

// readTokenFile reads and decodes the token file. The JSON decoder's
// message is not passed on: it could quote part of a token.
func readTokenFile(path string) (storedToken, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return storedToken{}, err
		}
		return storedToken{}, fmt.Errorf("reading the token file: %w", err)
	}
	var st storedToken
	if err := json.Unmarshal(b, &st); err != nil || st.AccessToken == "" {
		return storedToken{}, &CredentialsError{Reason: fmt.Sprintf("the token file %s is damaged or empty", path), Fix: "run `ghlbulk auth login` again"}
	}
	return st, nil
}

// writeTokenFile replaces the token file atomically through fsx: a
// temporary file in the same directory (mode 0600), written, synced,
// renamed over the old one, and the directory synced, so a crash leaves
// the old file or the new one, never half of either; a temporary file a
// killed run left (it holds a refresh token) is removed. The directory is
// created 0700.
func writeTokenFile(path string, st storedToken) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the token directory: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the token: %w", err)
	}
	removeOldTokenTemps(dir)
	if err := fsx.WriteFile(path, append(b, '\n'), fsx.Secret()); err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	return nil
}

// isOldTokenTemp reports the name older versions gave the token file's
// temporary file: ".token-<digits>.tmp".
func isOldTokenTemp(name string) bool {
	n, ok := strings.CutPrefix(name, ".token-")
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, ".tmp")
	return ok && n != "" && strings.Trim(n, "0123456789") == ""
}

// oldTokenTempAge is how old a ".token-<n>.tmp" must be before it is
// taken for a killed run's: that name carries no process, and an older
// ghlbulk writing a token file in the same folder takes milliseconds.
const oldTokenTempAge = time.Minute

// removeOldTokenTemps removes the ".token-<n>.tmp" files older ghlbulk
// versions left in the token directory when killed mid-write.
func removeOldTokenTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !isOldTokenTemp(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > oldTokenTempAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// lockWait bounds how long lockFile waits for another process.
const lockWait = 60 * time.Second

// lockFile takes an exclusive lock on path+".lock" (created 0600 beside
// the token file, never deleted: deleting it would let two processes lock
// different files). github.com/gofrs/flock is flock(2) on Unix and
// LockFileEx on Windows; it polls so that ctx and lockWait can end the
// wait. Each call opens its own handle, so two sources in one process
// exclude each other too.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the token directory: %w", err)
	}
	fl := flock.New(path+".lock", flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	wctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	ok, err := fl.TryLockContext(wctx, 15*time.Millisecond)
	if ok {
		return func() { _ = fl.Unlock() }, nil
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("waiting for the token lock: %w", ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("locking %s.lock: another ghlbulk has held it for %s", path, lockWait)
	default:
		return nil, fmt.Errorf("locking %s.lock: %w", path, err)
	}
}

// FileSource is an oauth2.TokenSource over the token file. It hands out the
// stored access token while it has more than five minutes to live, and
// otherwise (or after Invalidate) refreshes it under the file lock:
// re-reading the file first, since another process may have refreshed
// already (its refresh token is then the only live one), and saving the
// rotated refresh token before the new access token is used.
type FileSource struct {
	path     string
	client   clientCreds
	tokenURL string
	hc       *http.Client
	now      func() time.Time
	early    time.Duration

	mu      sync.Mutex
	cur     storedToken // what this process last read or wrote
	bad     string      // an access token the API refused (Invalidate)
	unsaved bool        // cur was refreshed but could not be written
}

// OpenFileSource reads the token file at path; the app's client
// credentials come from opt (GHL_CLIENT_ID/GHL_CLIENT_SECRET or
// --client-file) and are needed only to refresh.
func OpenFileSource(ctx context.Context, path string, opt Options) (*FileSource, error) {
	_ = ctx // reading the file needs no network
	c, err := loadClient(opt)
	if err != nil {
		return nil, err
	}
	st, err := readTokenFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &CredentialsError{Reason: fmt.Sprintf("no HighLevel token: there is no token file at %s", path), Fix: fixLogin}
	}
	if err != nil {
		return nil, err
	}
	return &FileSource{
		path: path, client: c, tokenURL: opt.apiURL() + "/oauth/token", hc: opt.httpClient(),
		now: time.Now, early: refreshEarly, cur: st,
	}, nil
}

// Info describes the token now held (no secret).
func (s *FileSource) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.info(s.path, s.client)
}

// String never shows a secret.
func (s *FileSource) String() string { return "FileSource(" + s.path + ")" }

// Invalidate says the API refused the current access token (a 401): the
// next Token refreshes, unless another process already has.
func (s *FileSource) Invalidate() {
	s.mu.Lock()
	s.bad = s.cur.AccessToken
	s.mu.Unlock()
}

func (s *FileSource) fresh(st storedToken) bool {
	if st.AccessToken == "" || st.AccessToken == s.bad {
		return false
	}
	return st.Expiry.IsZero() || s.now().Add(s.early).Before(st.Expiry)
}

// Token returns a valid access token, refreshing it when needed.
func (s *FileSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unsaved {
		if err := writeTokenFile(s.path, s.cur); err == nil {
			s.unsaved = false
		}
	}
	if s.fresh(s.cur) {
		return s.cur.oauth2(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s._refresh(ctx)
}

// _refresh re-reads the file under the lock and refreshes only if what it
// holds is still stale. Call with s.mu held.
func (s *FileSource) _refresh(ctx context.Context) (*oauth2.Token, error) {
	unlock, err := lockFile(ctx, s.path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := readTokenFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &CredentialsError{Reason: fmt.Sprintf("the token file %s is gone (logged out?)", s.path), Fix: fixLogin}
	}
	if err != nil {
		return nil, err
	}
	if s.fresh(st) {
		// Another process refreshed meanwhile: its token is the live one.
		s.cur, s.bad = st, ""
		return st.oauth2(), nil
	}
	expired := !st.Expiry.IsZero() && !s.now().Before(st.Expiry)
	if st.RefreshToken == "" || s.client.Secret == "" {
		if !expired && st.AccessToken != s.bad {
			// Due for refresh but not dead yet, and no way to refresh:
			// use it while it lasts.
			s.cur = st
			return st.oauth2(), nil
		}
		if st.RefreshToken == "" {
			return nil, &CredentialsError{Reason: "the access token has expired and the token file holds no refresh token", Fix: "run `ghlbulk auth login` again"}
		}
		return nil, &CredentialsError{Reason: "the access token has expired and refreshing it needs the app's client secret",
			Fix: "set GHL_CLIENT_ID and GHL_CLIENT_SECRET, or pass --client-file"}
	}
	clientID := s.client.ID
	if clientID == "" {
		clientID = st.ClientID
	}
	// Record the attempt before the old refresh token leaves: the token
	// endpoint spends it when it answers, and a process killed before it
	// saves that answer loses the grant (HighLevel keeps no grace period
	// for a used refresh token). Nothing can save the grant then; the
	// mark lets the next run say exactly what happened. Writing it first
	// also proves the file writable before the grant is put at stake.
	interrupted := st.RefreshStarted
	marked := st
	marked.RefreshStarted = s.now().UTC()
	if err := writeTokenFile(s.path, marked); err != nil {
		return nil, &CredentialsError{Reason: "the access token needs refreshing, but the token file can't be written, so the rotated refresh token could not be saved",
			Err: err, Fix: fmt.Sprintf("make %s writable and run again; nothing was sent", s.path)}
	}
	conf := oauthConfig(s.tokenURL, "", clientID, s.client.Secret, "", nil)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.hc)
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: st.RefreshToken}).Token()
	if err != nil {
		return nil, s.refreshFailed(err, st, interrupted)
	}
	next := fromOAuth2(tok, st, clientID)
	s.cur, s.bad = next, ""
	if err := writeTokenFile(s.path, next); err != nil {
		// The old refresh token is dead now; the new one lives only in
		// memory. Keep using it and keep trying to save it.
		s.unsaved = true
		return nil, fmt.Errorf("the token was refreshed but could not be saved (the new refresh token is only in this process; fix %s and run again before it ends): %w", s.path, err)
	}
	return next.oauth2(), nil
}

// refreshFailed explains a failed refresh of st. An answer from the token
// endpoint means it did not rotate, so the mark is cleared (best effort);
// without one (network, timeout) it may have, and the mark stays. A
// refused grant after an earlier refresh that was cut off (interrupted
// set) is that refresh's doing, and the message says so.
func (s *FileSource) refreshFailed(err error, st storedToken, interrupted time.Time) error {
	e := tokenEndpointError("refreshing the access token", err, st.RefreshToken, st.AccessToken, s.client.Secret)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return e
	}
	_ = writeTokenFile(s.path, st) // st carries the earlier mark, if any
	var ce *CredentialsError
	if interrupted.IsZero() || !errors.As(e, &ce) {
		return e
	}
	return &CredentialsError{
		Reason: fmt.Sprintf("the grant in %s is lost: a refresh started at %s was cut off (the process was killed or lost its connection) "+
			"after the token endpoint had replaced the refresh token and before the new one was saved; the old one is now refused",
			s.path, interrupted.UTC().Format(time.RFC3339)),
		Err: errors.New(ce.Reason),
		Fix: "run `ghlbulk auth login` again to grant access anew",
	}
}

// oauthConfig is the x/oauth2 view of HighLevel's endpoints: the client
// credentials go in the form body (AuthStyleInParams), as oauth.json says.
func oauthConfig(tokenURL, authURL, clientID, secret, redirect string, scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthURL: authURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// tokenEndpointError turns an x/oauth2 error into one that holds no secret:
// a refused grant becomes a *CredentialsError asking to log in again.
func tokenEndpointError(what string, err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		detail := re.ErrorCode
		if re.ErrorDescription != "" {
			detail += ": " + re.ErrorDescription
		}
		if detail == "" {
			detail = strings.TrimSpace(string(re.Body))
		}
		if len(detail) > 200 {
			detail = detail[:200] + "…"
		}
		detail = Redact(detail, secrets...)
		msg := fmt.Sprintf("%s: the token endpoint answered %d", what, status)
		if detail != "" {
			msg += " (" + detail + ")"
		}
		if re.ErrorCode == "invalid_grant" || status == http.StatusUnauthorized || status == http.StatusBadRequest {
			return &CredentialsError{Reason: msg, Fix: "the grant was refused; run `ghlbulk auth login` again"}
		}
		return errors.New(msg)
	}
	return &redactedError{msg: what + ": " + Redact(err.Error(), secrets...), err: err}
}

// redactedError keeps the cause for errors.Is (network errors, ctx) while
// its text has the secrets taken out.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
