// Package auth gives ghlbulk its HighLevel credentials: a private
// integration token from GHL_TOKEN, or an OAuth token kept in a token file
// (written by `ghlbulk auth login`, mode 0600, refreshed in place before it
// expires, its rotated refresh token saved at once, under a file lock so
// that two processes sharing it don't lose it). Preflight checks, before any
// write, that the token reaches the location and holds the scope.
//
// Secrets (access and refresh tokens, client secrets) never appear in an
// error, a log line or a String(): see Redact.
//
// Floor 1 (docs/design.md): imports only internal packages.
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
	"time"

	"golang.org/x/oauth2"
)

// Scope is a HighLevel OAuth scope.
type Scope string

// The smallest scopes ghlbulk needs: reading contacts (export, validate
// --online) and writing them (import). ScopeCustomFieldsRead reads the
// location's custom field definitions: an import whose mapping names custom
// fields needs it, and an export uses it for the typed custom field columns
// (without it the raw customFields column is still exported).
const (
	ScopeContactsRead     Scope = "contacts.readonly"
	ScopeContactsWrite    Scope = "contacts.write"
	ScopeCustomFieldsRead Scope = "locations/customFields.readonly"
)

// DefaultLoginScopes are the scopes `auth login` asks for when none are
// given: what import and export need, nothing more.
var DefaultLoginScopes = []string{string(ScopeContactsRead), string(ScopeContactsWrite), string(ScopeCustomFieldsRead)}

// Kind says where a token came from.
type Kind string

const (
	KindEnv   Kind = "static token (GHL_TOKEN)" // a private integration token (or any bearer token) from the environment
	KindOAuth Kind = "OAuth token file"         // an OAuth token from the token file, refreshed as needed
)

// Environment variables read by Source and Login.
const (
	EnvToken        = "GHL_TOKEN"
	EnvTokenFile    = "GHL_TOKEN_FILE"
	EnvClientID     = "GHL_CLIENT_ID"
	EnvClientSecret = "GHL_CLIENT_SECRET"
)

// ProductionAPIURL is HighLevel's API; any other API URL is taken for a
// sandbox.
const ProductionAPIURL = "https://services.leadconnectorhq.com"

// ProductionAuthURL is where a HighLevel user picks the location to grant.
const ProductionAuthURL = "https://marketplace.gohighlevel.com/v2/oauth/chooselocation"

// Options say where Source looks for credentials.
type Options struct {
	APIURL     string // "" = ProductionAPIURL; the token endpoint is {APIURL}/oauth/token
	TokenFile  string // --token-file; "" = GHL_TOKEN_FILE, else DefaultTokenFile()
	ClientFile string // --client-file: JSON {client_id, client_secret}; "" = GHL_CLIENT_ID/GHL_CLIENT_SECRET

	// HTTPClient calls the token endpoint; nil = NewClient's, with a 30 s
	// timeout (no redirect to another host).
	HTTPClient *http.Client
	// Getenv reads the environment; nil = os.Getenv (tests replace it).
	Getenv func(string) string

	// AgencyLocation, set, makes Source hand out that location's token,
	// minted from the agency (Company) token found as usual (agency.go).
	AgencyLocation string
}

func (o Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

func (o Options) apiURL() string {
	if o.APIURL == "" {
		return ProductionAPIURL
	}
	return strings.TrimRight(o.APIURL, "/")
}

func (o Options) httpClient() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return NewClient(o.apiURL(), nil, nil, 30*time.Second)
}

// TokenFilePath is the token file these options name: --token-file, else
// GHL_TOKEN_FILE, else DefaultTokenFile(). Source, Status, Logout and the
// CLI's `auth login` all use it, so they agree on the file.
func (o Options) TokenFilePath() (string, error) { return o.tokenFilePath() }

// tokenFilePath is --token-file, else GHL_TOKEN_FILE, else the default.
func (o Options) tokenFilePath() (string, error) {
	if o.TokenFile != "" {
		return o.TokenFile, nil
	}
	if p := o.getenv(EnvTokenFile); p != "" {
		return p, nil
	}
	return defaultTokenFile(o.getenv)
}

// DefaultTokenFile is $XDG_CONFIG_HOME/ghlbulk/token.json, or
// ~/.config/ghlbulk/token.json when XDG_CONFIG_HOME is unset.
func DefaultTokenFile() (string, error) { return defaultTokenFile(os.Getenv) }

func defaultTokenFile(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home := getenv("HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("finding the token file: no XDG_CONFIG_HOME and no home directory: %w", err)
			}
			home = h
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "ghlbulk", "token.json"), nil
}

// Info describes the credentials in use, for `auth status` and for
// Preflight. It never holds a secret.
type Info struct {
	Kind       Kind
	TokenFile  string    // the token file (KindOAuth)
	LocationID string    // the location the token is for, when known
	CompanyID  string    // the company (agency), when known
	UserType   string    // "Location" or "Company", when known
	ClientID   string    // the OAuth app's client id (not a secret)
	Scopes     []string  // granted scopes, when known (nil: unknown)
	Expiry     time.Time // the access token's expiry (zero: unknown or never)
	CanRefresh bool      // a refresh token and a client secret are at hand
}

// HasScope reports whether the token is known to hold s; known is false
// when the granted scopes were never recorded.
func (i Info) HasScope(s Scope) (has, known bool) {
	if i.Scopes == nil {
		return false, false
	}
	for _, g := range i.Scopes {
		if g == string(s) {
			return true, true
		}
	}
	return false, true
}

// String is one line for logs; there are no secrets in Info.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(string(i.Kind))
	if i.LocationID != "" {
		b.WriteString(" location=" + i.LocationID)
	}
	if i.CompanyID != "" {
		b.WriteString(" company=" + i.CompanyID)
	}
	if i.Scopes != nil {
		b.WriteString(" scopes=" + strings.Join(i.Scopes, ","))
	}
	if !i.Expiry.IsZero() {
		b.WriteString(" expires=" + i.Expiry.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// ErrNoCredentials matches every *CredentialsError: there is no usable
// token, and the user has to act. The CLI exits 2 on it.
var ErrNoCredentials = errors.New("no usable HighLevel credentials")

// CredentialsError says what is missing or refused and how to fix it.
type CredentialsError struct {
	Reason string // what is wrong
	Fix    string // what to do
	Err    error  // the cause, already free of secrets
}

func (e *CredentialsError) Error() string {
	msg := e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Fix != "" {
		msg += " (" + e.Fix + ")"
	}
	return msg
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNoCredentials) hold.
func (e *CredentialsError) Is(target error) bool { return target == ErrNoCredentials }

const fixLogin = "set GHL_TOKEN or run `ghlbulk auth login`"

// Source decides where the token comes from: GHL_TOKEN (a private
// integration token, used as is), else the token file (an OAuth token,
// refreshed before it expires). No token at all is a *CredentialsError
// saying how to get one.
func Source(ctx context.Context, opt Options) (oauth2.TokenSource, Info, error) {
	if opt.AgencyLocation != "" {
		return agencySource(ctx, opt)
	}
	if tok := strings.TrimSpace(opt.getenv(EnvToken)); tok != "" {
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}), envInfo(tok), nil
	}
	path, err := opt.tokenFilePath()
	if err != nil {
		return nil, Info{}, &CredentialsError{Reason: "no HighLevel token", Fix: fixLogin, Err: err}
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, Info{}, &CredentialsError{Reason: fmt.Sprintf("no HighLevel token: GHL_TOKEN is unset and there is no token file at %s", path), Fix: fixLogin}
	}
	fs, err := OpenFileSource(ctx, path, opt)
	if err != nil {
		return nil, Info{}, err
	}
	return fs, fs.Info(), nil
}

// clientCreds is the OAuth app's identity, from the environment or
// --client-file. Its String never shows the secret.
type clientCreds struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (c clientCreds) String() string { return "client " + c.ID + " (secret REDACTED)" }

// GoString keeps %#v from printing the secret.
func (c clientCreds) GoString() string { return c.String() }

// loadClient reads the app's credentials: --client-file, else
// GHL_CLIENT_ID/GHL_CLIENT_SECRET. Missing ones are not an error (the token
// may still be fresh); refresh says what is missing when it needs them.
func loadClient(opt Options) (clientCreds, error) {
	if opt.ClientFile != "" {
		b, err := os.ReadFile(opt.ClientFile)
		if err != nil {
			return clientCreds{}, &CredentialsError{Reason: "reading the client file", Err: err,
				Fix: "--client-file must name a JSON file {\"client_id\": ..., \"client_secret\": ...}"}
		}
		var c clientCreds
		if err := json.Unmarshal(b, &c); err != nil {
			// The JSON error may quote part of the file: don't pass it on.
			return clientCreds{}, &CredentialsError{Reason: fmt.Sprintf("client file %s is not valid JSON", opt.ClientFile),
				Fix: "it must hold {\"client_id\": ..., \"client_secret\": ...}"}
		}
		return c, nil
	}
	return clientCreds{ID: opt.getenv(EnvClientID), Secret: opt.getenv(EnvClientSecret)}, nil
}

// Status describes the credentials Source would use, without using them
// (no refresh, no network). It never returns a secret.
func Status(opt Options) (Info, error) {
	if tok := strings.TrimSpace(opt.getenv(EnvToken)); tok != "" {
		return envInfo(tok), nil
	}
	path, err := opt.tokenFilePath()
	if err != nil {
		return Info{}, &CredentialsError{Reason: "no HighLevel token", Fix: fixLogin, Err: err}
	}
	st, err := readTokenFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, &CredentialsError{Reason: fmt.Sprintf("no HighLevel token: GHL_TOKEN is unset and there is no token file at %s", path), Fix: fixLogin}
	}
	if err != nil {
		return Info{}, err
	}
	c, _ := loadClient(opt)
	return st.info(path, c), nil
}

// Logout deletes the token file and returns its path. HighLevel's API has
// no endpoint to revoke a token (oauth.json has only /oauth/token,
// /oauth/locationToken and /oauth/installedLocations), so the grant stays
// valid until it expires or the app is uninstalled from the location.
func Logout(opt Options) (string, error) {
	path, err := opt.tokenFilePath()
	if err != nil {
		return "", err
	}
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		return path, err
	}
	defer unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return path, fmt.Errorf("removing the token file: %w", err)
	}
	return path, nil
}

// ClientCredentials returns the OAuth app's client id and secret, from
// --client-file or GHL_CLIENT_ID/GHL_CLIENT_SECRET, for `auth login`.
func ClientCredentials(opt Options) (id, secret string, err error) {
	c, err := loadClient(opt)
	if err != nil {
		return "", "", err
	}
	if c.ID == "" || c.Secret == "" {
		return "", "", &CredentialsError{Reason: "no OAuth client credentials",
			Fix: "set GHL_CLIENT_ID and GHL_CLIENT_SECRET, or pass --client-file with {\"client_id\": ..., \"client_secret\": ...}"}
	}
	return c.ID, c.Secret, nil
}
