package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// LoginOptions configure Login.
type LoginOptions struct {
	APIURL       string   // "" = ProductionAPIURL
	ClientID     string   // the Marketplace app's client id
	ClientSecret string   // its secret (never stored in the token file)
	Scopes       []string // nil = DefaultLoginScopes
	UserType     string   // "Location" (default) or "Company"
	TokenFile    string   // where to store the token; "" = DefaultTokenFile()

	// OpenBrowser opens the authorization URL; nil = xdg-open/open when
	// available. Its failure is not fatal: the URL is printed as well.
	OpenBrowser func(url string) error
	Out         io.Writer // where the URL and progress go; nil = discard

	// ListenAddr is the loopback address of the redirect listener:
	// 127.0.0.1:PORT, localhost:PORT or [::1]:PORT; "" = 127.0.0.1 on a
	// random port. Any other host is refused: the redirect carries the
	// authorization code. HighLevel only redirects to URIs registered
	// with the app, so for production register
	// http://127.0.0.1:PORT/callback (or localhost) and pass that address.
	ListenAddr string
	Timeout    time.Duration // how long to wait for the browser; 0 = 5 min

	HTTPClient *http.Client // for the token endpoint; nil = NewClient's, 30 s timeout
}

// authURLFor is the page where the user grants access: HighLevel's
// Marketplace for the production API, {apiURL}/oauth/chooselocation for a
// sandbox (which redirects straight back with a code).
func authURLFor(apiURL string) string {
	if apiURL == ProductionAPIURL {
		return ProductionAuthURL
	}
	return apiURL + "/oauth/chooselocation"
}

// Login runs the authorization-code flow: a redirect listener on loopback,
// the authorization URL (with a random state and a PKCE S256 challenge)
// printed and opened in a browser, the code checked and exchanged at
// {APIURL}/oauth/token with its verifier, and the token stored in the
// token file (0600). A redirect whose state is not this login's is
// answered 400 and ignored: only the right one ends the wait. It returns
// what was granted.
func Login(ctx context.Context, o LoginOptions) (Info, error) {
	l, err := newLogin(o)
	if err != nil {
		return Info{}, err
	}
	cb, err := listenForRedirect(o.ListenAddr, l.out)
	if err != nil {
		return Info{}, err
	}
	defer cb.shutdown()
	verifier := oauth2.GenerateVerifier()
	conf := oauthConfig(l.apiURL+"/oauth/token", authURLFor(l.apiURL), o.ClientID, o.ClientSecret, cb.redirect, l.scopes)
	res, err := l.awaitCode(ctx, cb, conf, verifier)
	if err != nil {
		return Info{}, err
	}
	info, err := l.finish(ctx, conf, res.code, verifier)
	// The browser's page waits for this: it says the real outcome.
	res.outcome <- err
	return info, err
}

// finish exchanges the code and saves the token.
func (l *login) finish(ctx context.Context, conf *oauth2.Config, code, verifier string) (Info, error) {
	tok, err := l.exchange(ctx, conf, code, verifier)
	if err != nil {
		return Info{}, err
	}
	return l.save(ctx, tok)
}

// login is one run of Login: its options with the defaults filled in.
type login struct {
	o        LoginOptions
	apiURL   string
	path     string   // the token file
	scopes   []string // asked for, and stored when the answer names none
	userType string
	out      io.Writer // locked: the redirect handler reports to it while Login waits
	hc       *http.Client
}

// newLogin refuses a login without the app's credentials and fills in
// every default of o.
func newLogin(o LoginOptions) (*login, error) {
	l := &login{o: o, apiURL: Options{APIURL: o.APIURL}.apiURL(), path: o.TokenFile, scopes: o.Scopes,
		userType: cmp.Or(o.UserType, "Location"), hc: o.HTTPClient}
	if o.ClientID == "" || o.ClientSecret == "" {
		return nil, &CredentialsError{Reason: "logging in needs the Marketplace app's client id and secret",
			Fix: "set GHL_CLIENT_ID and GHL_CLIENT_SECRET, or pass --client-file"}
	}
	if l.path == "" {
		p, err := DefaultTokenFile()
		if err != nil {
			return nil, err
		}
		l.path = p
	}
	if l.scopes == nil {
		l.scopes = DefaultLoginScopes
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	l.out = &lockedWriter{w: out}
	if l.o.Timeout <= 0 {
		l.o.Timeout = 5 * time.Minute
	}
	if l.o.OpenBrowser == nil {
		l.o.OpenBrowser = openBrowser
	}
	if l.hc == nil {
		l.hc = NewClient(l.apiURL, nil, nil, 30*time.Second)
	}
	return l, nil
}

// awaitCode prints and opens the authorization URL and waits for the
// redirect that carries this login's state, until the timeout. A browser
// that failed to open is named only when the wait runs out: the user may
// have opened the printed URL themselves.
func (l *login) awaitCode(ctx context.Context, cb *redirectListener, conf *oauth2.Config, verifier string) (redirectResult, error) {
	authURL := conf.AuthCodeURL(cb.state, oauth2.SetAuthURLParam("user_type", l.userType), oauth2.S256ChallengeOption(verifier))
	fmt.Fprintf(l.out, "Open this URL to grant ghlbulk access (scopes: %s):\n\n  %s\n\nWaiting for the redirect to %s ...\n",
		strings.Join(l.scopes, " "), authURL, cb.redirect)
	// The browser runs beside the listener; the test's scripted browser
	// blocks until the redirect is served.
	browserErr := make(chan error, 1)
	go func() { browserErr <- l.o.OpenBrowser(authURL) }()

	wctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	defer cancel()
	var res redirectResult
	select {
	case res = <-cb.got:
	case <-wctx.Done():
		select {
		case err := <-browserErr:
			if err != nil {
				return redirectResult{}, fmt.Errorf("waiting for the login redirect: %w (opening the browser failed: %v)", wctx.Err(), Redact(err.Error(), l.o.ClientSecret))
			}
		default:
		}
		return redirectResult{}, fmt.Errorf("waiting for the login redirect: %w", wctx.Err())
	}
	if res.err != nil {
		return redirectResult{}, &CredentialsError{Reason: "logging in", Err: res.err, Fix: "run `ghlbulk auth login` again"}
	}
	return res, nil
}

// exchange trades the code (and its PKCE verifier) for a token.
func (l *login) exchange(ctx context.Context, conf *oauth2.Config, code, verifier string) (*oauth2.Token, error) {
	xctx := context.WithValue(ctx, oauth2.HTTPClient, l.hc)
	tok, err := conf.Exchange(xctx, code, oauth2.SetAuthURLParam("user_type", l.userType), oauth2.VerifierOption(verifier))
	if verifierRefused(err) {
		// HighLevel's token DTO has no code_verifier, and its API refuses
		// unknown properties (422, "property … should not exist") before
		// it looks at the code: send the exchange once more without it.
		fmt.Fprintln(l.out, "The token endpoint does not take a PKCE verifier; exchanging the code without it.")
		tok, err = conf.Exchange(xctx, code, oauth2.SetAuthURLParam("user_type", l.userType))
	}
	if err != nil {
		return nil, tokenEndpointError("exchanging the login code", err, code, l.o.ClientSecret, verifier)
	}
	return tok, nil
}

// save stores the token in the token file, under its lock, and reports
// what was granted.
func (l *login) save(ctx context.Context, tok *oauth2.Token) (Info, error) {
	st := fromOAuth2(tok, storedToken{}, l.o.ClientID)
	if st.Scope == "" {
		st.Scope = strings.Join(l.scopes, " ")
	}
	unlock, err := lockFile(ctx, l.path)
	if err != nil {
		return Info{}, err
	}
	defer unlock()
	if err := writeTokenFile(l.path, st); err != nil {
		return Info{}, err
	}
	info := st.info(l.path, clientCreds{ID: l.o.ClientID, Secret: l.o.ClientSecret})
	fmt.Fprintf(l.out, "Logged in: %s\nToken saved to %s\n", info, l.path)
	return info, nil
}

// redirectListener is the loopback server that receives the login
// redirect. Only an answer with this login's state reaches got.
type redirectListener struct {
	srv      *http.Server
	redirect string // the redirect_uri: the host as given, the port as bound
	state    string
	out      io.Writer // where ignored redirects are reported
	got      chan redirectResult
	closing  chan struct{} // closed by shutdown: a page still waiting stops
}

// redirectResult is the answer a redirect carried: a code, or why not.
// With a code, outcome (buffered) takes the login's result, which the
// browser's page waits for.
type redirectResult struct {
	code    string
	err     error
	outcome chan error
}

// listenForRedirect binds the --listen address (loopback only) and serves
// /callback on it until shutdown.
func listenForRedirect(listen string, out io.Writer) (*redirectListener, error) {
	bind, host, err := loopbackAddr(listen)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("starting the login redirect listener on %s: %w (pick another port with --listen)", bind, err)
	}
	state, err := randomState()
	if err != nil {
		ln.Close()
		return nil, err
	}
	// The URI names the host as the user gave it (127.0.0.1 or localhost,
	// as registered with the app) and the port actually bound.
	cb := &redirectListener{
		redirect: "http://" + net.JoinHostPort(host, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)) + "/callback",
		state:    state, out: out, got: make(chan redirectResult, 1), closing: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", cb.handle)
	cb.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go cb.srv.Serve(ln)
	return cb, nil
}

// handle answers one redirect. One whose state is not this login's (a
// stale tab, or a forged link) is refused but the wait goes on; the first
// one with the right state ends it, a code or not.
func (cb *redirectListener) handle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(cb.state)) != 1 {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "ghlbulk: this page is not the answer to the login in progress (its state does not match), so it was ignored. Use the URL ghlbulk printed.")
		fmt.Fprintln(cb.out, "Ignored a redirect whose state does not match this login (a stale or forged one); still waiting.")
		return
	}
	res := redirectAnswer(q)
	if res.err == nil {
		res.outcome = make(chan error, 1)
	}
	select {
	case cb.got <- res:
	default: // a second redirect; the first one counts
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintln(w, "ghlbulk: this login already has its answer; see the terminal.")
		return
	}
	if res.err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "ghlbulk: login failed:", res.err)
		return
	}
	// Answer only once the code is exchanged and the token saved: the
	// page must not say "logged in" when the exchange then fails.
	select {
	case err := <-res.outcome:
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "ghlbulk: login failed: %v\nSee the terminal, then run 'ghlbulk auth login' again.\n", err)
			return
		}
		fmt.Fprintln(w, "ghlbulk: logged in. You can close this window.")
	case <-cb.closing:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "ghlbulk: the login stopped before it finished; see the terminal.")
	case <-r.Context().Done():
	}
}

// redirectAnswer reads a redirect's query: the refusal the server sent,
// no code at all, or the code.
func redirectAnswer(q url.Values) redirectResult {
	switch {
	case q.Get("error") != "":
		return redirectResult{err: fmt.Errorf("the authorization was refused: %s", Redact(q.Get("error")+" "+q.Get("error_description")))}
	case q.Get("code") == "":
		return redirectResult{err: errors.New("the login answer holds no code")}
	}
	return redirectResult{code: q.Get("code")}
}

// shutdown stops the listener, giving an answer being written 2 s.
func (cb *redirectListener) shutdown() {
	close(cb.closing)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = cb.srv.Shutdown(sctx)
}

// verifierRefused reports a token endpoint's 422 about code_verifier: the
// validation refusal of a server without PKCE, the code still unspent.
func verifierRefused(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusUnprocessableEntity &&
		strings.Contains(string(re.Body), "code_verifier")
}

// loopbackAddr checks --listen: the redirect listener must be reachable
// from this machine only, since the redirect carries the authorization
// code. It returns the address to bind and the host for redirect_uri.
// "localhost" binds 127.0.0.1 and keeps the name in the URI, as an app
// registered with http://localhost:PORT/callback expects.
func loopbackAddr(addr string) (bind, host string, err error) {
	if addr == "" {
		return "127.0.0.1:0", "127.0.0.1", nil
	}
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", &ListenError{Addr: addr, Why: "it is not HOST:PORT"}
	}
	if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
		return "", "", &ListenError{Addr: addr, Why: fmt.Sprintf("port %q is not a number from 0 to 65535", port)}
	}
	switch ip := net.ParseIP(h); {
	case strings.EqualFold(h, "localhost"):
		return net.JoinHostPort("127.0.0.1", port), "localhost", nil
	case ip != nil && ip.IsLoopback():
		return net.JoinHostPort(h, port), h, nil
	case h == "" || (ip != nil && ip.IsUnspecified()):
		return "", "", &ListenError{Addr: addr, Why: "it listens on every network interface, so another machine could send the login redirect"}
	default:
		return "", "", &ListenError{Addr: addr, Why: "it is not a loopback address"}
	}
}

// ListenError is a --listen address Login refuses; the CLI exits 2.
type ListenError struct {
	Addr string
	Why  string
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("--listen %q: %s; the login redirect listener must be on loopback: use --listen 127.0.0.1:PORT or localhost:PORT, with http://127.0.0.1:PORT/callback (or localhost) registered as a redirect URI of your app", e.Addr, e.Why)
}

// lockedWriter lets the callback handler and Login write to one Out.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func randomState() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the login state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// openBrowser opens u with the desktop's opener when there is one.
func openBrowser(u string) error {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("no %s to open a browser; open the URL yourself", name)
	}
	return exec.Command(p, u).Start()
}

// LocationToken trades a company (agency) access token for one location's
// token, via POST {apiURL}/oauth/locationToken. The company token needs
// oauth.write.
func LocationToken(ctx context.Context, apiURL, companyToken, companyID, locationID string) (*oauth2.Token, error) {
	return locationToken(ctx, NewClient(apiURL, nil, nil, 30*time.Second), apiURL, companyToken, companyID, locationID)
}

func locationToken(ctx context.Context, hc *http.Client, apiURL, companyToken, companyID, locationID string) (*oauth2.Token, error) {
	if companyID == "" || locationID == "" {
		return nil, errors.New("a location token needs a company id and a location id")
	}
	apiURL = Options{APIURL: apiURL}.apiURL()
	form := url.Values{"companyId": {companyID}, "locationId": {locationID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/oauth/locationToken", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("location token: %s", Redact(err.Error(), companyToken))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Version", "2021-07-28")
	req.Header.Set("Authorization", "Bearer "+companyToken)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &redactedError{msg: "location token: " + Redact(err.Error(), companyToken), err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("location token: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		msg := strings.TrimSpace(string(raw))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		msg = Redact(msg, companyToken)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return nil, &CredentialsError{Reason: fmt.Sprintf("location token for %s: %d %s", locationID, resp.StatusCode, msg),
				Fix: "the company token needs oauth.write and the app must be installed on the location"}
		}
		return nil, fmt.Errorf("location token for %s: %d %s", locationID, resp.StatusCode, msg)
	}
	var body struct {
		AccessToken string  `json:"access_token"`
		TokenType   string  `json:"token_type"`
		ExpiresIn   float64 `json:"expires_in"`
		Scope       string  `json:"scope"`
		LocationID  string  `json:"locationId"`
		UserID      string  `json:"userId"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.AccessToken == "" {
		return nil, fmt.Errorf("location token for %s: the answer holds no access_token", locationID)
	}
	tok := &oauth2.Token{AccessToken: body.AccessToken, TokenType: "Bearer"}
	if body.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(body.ExpiresIn) * time.Second)
	}
	return tok.WithExtra(map[string]any{"scope": body.Scope, "locationId": body.LocationID, "userId": body.UserID, "companyId": companyID, "userType": "Location"}), nil
}
