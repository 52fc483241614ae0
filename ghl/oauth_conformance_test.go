package ghl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// oauthLocations is more than one page of GET /oauth/installedLocations as
// ghlbulk asks for them (100 a page).
const oauthLocations = 130

// oauthSandbox is an agency sandbox behind the spec-validating middleware,
// reporting to report. Its access tokens live 2 minutes, so a token source
// refreshes at once (auth refreshes 5 minutes before expiry). The consent
// page (/oauth/chooselocation) bypasses the middleware: it is the
// marketplace's browser page, not an operation of oauth.json. The returned
// func counts the validated exchanges so far.
func oauthSandbox(t *testing.T, report func(string, ...any)) (*sandbox.Server, string, func() map[exchange]int) {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{Seed: 7, Locations: oauthLocations, AccessTTL: 2 * time.Minute, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	var mu sync.Mutex // the handler runs on the server's goroutines
	seen := map[exchange]int{}
	record := func(e exchange) { mu.Lock(); seen[e]++; mu.Unlock() }
	mux := http.NewServeMux()
	mux.Handle("/oauth/chooselocation", sb.Handler())
	mux.Handle("/", validating(report, loadSpec(t), sb.Handler(), record))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	counts := func() map[exchange]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
	return sb, srv.URL, counts
}

// browser follows the authorization URL as a user who grants access would:
// the sandbox redirects to Login's listener with the code.
func browser(t *testing.T) func(string) error {
	return func(u string) error {
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("browser: %v", err)
			return err
		}
		defer resp.Body.Close()
		if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
			t.Errorf("browser: %d %s", resp.StatusCode, body)
		}
		return nil
	}
}

func sandboxEnv(k string) string {
	switch k {
	case auth.EnvClientID:
		return sandbox.DefaultClientID
	case auth.EnvClientSecret:
		return sandbox.DefaultClientSecret
	}
	return ""
}

var (
	tokenOp     = exchange{"POST", "/oauth/token"}
	installedOp = exchange{"GET", "/oauth/installedLocations"}
	locTokenOp  = exchange{"POST", "/oauth/locationToken"}
)

// TestOAuthConformance drives every OAuth exchange ghlbulk makes, with the
// auth package's own code, through the spec-validating middleware: the
// authorization_code grant of a Location and of a Company login, the
// refresh_token grant of each, the installed locations over two pages, and
// location tokens bought with the Company token (then used on a contacts
// listing).
func TestOAuthConformance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb, base, counts := oauthSandbox(t, t.Errorf)
	dir := t.TempDir()

	// A Location login, then a refresh.
	locFile := filepath.Join(dir, "location", "token.json")
	info, err := auth.Login(ctx, auth.LoginOptions{APIURL: base, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret,
		Scopes: []string{"contacts.readonly"}, TokenFile: locFile, OpenBrowser: browser(t)})
	must(t, "Location login", err)
	if info.LocationID != sb.LocationID() {
		t.Errorf("Location login: %+v", info)
	}
	src, _, err := auth.Source(ctx, auth.Options{APIURL: base, TokenFile: locFile, Getenv: sandboxEnv})
	must(t, "Source", err)
	_, err = src.Token()
	must(t, "Location refresh", err)
	if n := counts()[tokenOp]; n != 2 {
		t.Errorf("after a Location login and its refresh: %d token requests, want 2", n)
	}

	// A Company login; opening the agency refreshes its token.
	compFile := filepath.Join(dir, "company", "token.json")
	info, err = auth.Login(ctx, auth.LoginOptions{APIURL: base, ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret,
		Scopes: []string{"contacts.readonly", "oauth.readonly", "oauth.write"}, UserType: "Company", TokenFile: compFile, OpenBrowser: browser(t)})
	must(t, "Company login", err)
	if info.UserType != "Company" || info.CompanyID == "" {
		t.Errorf("Company login: %+v", info)
	}
	ag, err := auth.OpenAgency(ctx, auth.Options{APIURL: base, TokenFile: compFile, Getenv: sandboxEnv})
	must(t, "OpenAgency", err)
	locs, err := ag.Installed(ctx)
	must(t, "Installed", err)
	if n := counts()[tokenOp]; n != 4 {
		t.Errorf("after both logins and refreshes: %d token requests, want 4", n)
	}
	var ids []string
	for _, l := range locs {
		ids = append(ids, l.ID)
		if l.Name == "" || l.Address == "" {
			t.Errorf("installed location without name or address: %+v", l)
		}
	}
	if !slices.Equal(ids, sb.Locations()) {
		t.Errorf("Installed: %d locations, want the sandbox's %d in order", len(ids), len(sb.Locations()))
	}
	if n := counts()[installedOp]; n != 2 {
		t.Errorf("Installed took %d requests, want 2 pages for %d locations", n, oauthLocations)
	}

	// Location tokens: the default location and the last one listed.
	for _, id := range []string{ids[0], ids[len(ids)-1]} {
		ls, err := ag.Location(id)
		must(t, "Location", err)
		tok, err := ls.Token()
		must(t, "location token of "+id, err)
		hc := &http.Client{Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(tok), Base: http.DefaultTransport}}
		for _, err := range ghl.New(base, hc).ContactPages(ctx, ghl.ListContactsParams{LocationID: id, Limit: 1}) {
			must(t, "ContactPages with the location token of "+id, err)
			break
		}
	}
	if n := counts()[locTokenOp]; n != 2 {
		t.Errorf("%d location token requests, want 2", n)
	}
}

// TestOAuthErrors checks the OAuth endpoints' refusals ghlbulk can meet:
// their status and body, and that the middleware finds nothing wrong with
// the answer. Requests the file forbids (a required field missing) are
// sent on purpose: the middleware must report those requests, and only
// them.
func TestOAuthErrors(t *testing.T) {
	var mu sync.Mutex
	var reports []string
	report := func(format string, args ...any) {
		mu.Lock()
		reports = append(reports, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	sb, base, counts := oauthSandbox(t, report)
	company := sb.IssueCompanyToken(nil, time.Hour)
	location, err := sb.IssueToken("", nil, time.Hour)
	must(t, "IssueToken", err)
	ids := sb.Locations()
	uninstalled := ids[5]
	sb.RefuseLocation(uninstalled, true)
	comp, app := sandbox.DefaultCompanyID, strings.SplitN(sandbox.DefaultClientID, "-", 2)[0]
	installed := func(q string) string { return "/oauth/installedLocations?" + q }
	client := url.Values{"client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret}}
	grant := func(kv ...string) url.Values {
		v := url.Values{}
		for k, x := range client {
			v[k] = x
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	const (
		scopeMsg = `"The token is not authorized for this scope."`
		locMsg   = `"The token does not have access to this location."`
	)

	tests := []struct {
		name, method, path, bearer string
		form                       url.Values // the form body; nil = none
		noVersion                  bool
		status                     int
		body                       string // JSON object: the answer's keys must hold these values
		badRequest                 string // substring of the middleware's report on the request; "" = none
	}{
		{"installedLocations with a Location token", "GET", installed("companyId=" + comp + "&appId=" + app), location, nil, false,
			403, `{"statusCode":403,"message":` + scopeMsg + `}`, ""},
		{"installedLocations without companyId", "GET", installed("appId=" + app), company, nil, false,
			422, `{"statusCode":422,"message":["companyId should not be empty","companyId must be a string"],"error":"Unprocessable Entity"}`, "companyId"},
		{"installedLocations of another company", "GET", installed("companyId=someOtherCompany&appId=" + app), company, nil, false,
			403, `{"statusCode":403,"message":` + locMsg + `}`, ""},
		{"installedLocations of another app", "GET", installed("companyId=" + comp + "&appId=someOtherApp"), company, nil, false,
			400, `{"statusCode":400,"message":"The app id does not match the token"}`, ""},
		{"installedLocations without a token", "GET", installed("companyId=" + comp + "&appId=" + app), "", nil, false,
			401, `{"statusCode":401,"message":"Invalid token: access token is missing","error":"Unauthorized"}`, ""},
		{"installedLocations past the end", "GET", installed("companyId=" + comp + "&appId=" + app + "&skip=500&limit=10"), company, nil, false,
			200, fmt.Sprintf(`{"locations":[],"count":%d}`, oauthLocations-1), ""},
		{"locationToken without companyId", "POST", "/oauth/locationToken", company, url.Values{"locationId": {ids[1]}}, false,
			422, `{"statusCode":422,"message":["companyId should not be empty","companyId must be a string"],"error":"Unprocessable Entity"}`, "companyId"},
		{"locationToken where the app is not installed", "POST", "/oauth/locationToken", company, url.Values{"companyId": {comp}, "locationId": {uninstalled}}, false,
			403, `{"statusCode":403,"message":"The app is not installed on this location."}`, ""},
		{"locationToken of an unknown location", "POST", "/oauth/locationToken", company, url.Values{"companyId": {comp}, "locationId": {"noSuchLocation"}}, false,
			403, `{"statusCode":403,"message":"The app is not installed on this location."}`, ""},
		{"locationToken of another company", "POST", "/oauth/locationToken", company, url.Values{"companyId": {"someOtherCompany"}, "locationId": {ids[1]}}, false,
			400, `{"statusCode":400,"message":"The company id does not match the token"}`, ""},
		{"locationToken with a Location token", "POST", "/oauth/locationToken", location, url.Values{"companyId": {comp}, "locationId": {ids[1]}}, false,
			403, `{"statusCode":403,"message":` + scopeMsg + `}`, ""},
		{"locationToken without Version", "POST", "/oauth/locationToken", company, url.Values{"companyId": {comp}, "locationId": {ids[1]}}, true,
			400, `{"statusCode":400,"message":"Version header was not found"}`, "Version"},
		{"token: a code that was never issued", "POST", "/oauth/token", "", grant("grant_type", "authorization_code", "code", "neverIssued"), true,
			400, `{"statusCode":400,"error":"invalid_grant"}`, ""},
		{"token: a refresh token that was never issued", "POST", "/oauth/token", "", grant("grant_type", "refresh_token", "refresh_token", "neverIssued"), true,
			400, `{"statusCode":400,"error":"invalid_grant"}`, ""},
		{"token: a wrong secret", "POST", "/oauth/token", "", grant("grant_type", "refresh_token", "refresh_token", "x", "client_secret", "wrong"), true,
			401, `{"statusCode":401,"message":"Invalid client: client credentials are invalid","error":"invalid_client"}`, ""},
		{"token: no grant_type", "POST", "/oauth/token", "", client, true,
			422, `{"statusCode":422,"message":["grant_type should not be empty"],"error":"Unprocessable Entity"}`, "grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			reports = nil
			mu.Unlock()
			status, raw := oauthCall(t, base, tt.method, tt.path, tt.bearer, tt.form, !tt.noVersion)
			if status != tt.status {
				t.Errorf("status %d, want %d: %s", status, tt.status, raw)
			}
			checkKeys(t, raw, tt.body)
			mu.Lock()
			got := slices.Clone(reports)
			mu.Unlock()
			var requestReported bool
			for _, r := range got {
				if tt.badRequest != "" && strings.HasPrefix(r, "request ") && strings.Contains(r, tt.badRequest) {
					requestReported = true
					continue
				}
				t.Errorf("middleware: %s", r)
			}
			if tt.badRequest != "" && !requestReported {
				t.Errorf("the middleware did not report the request (want a report naming %q)", tt.badRequest)
			}
		})
	}
	for _, op := range []exchange{tokenOp, installedOp, locTokenOp} {
		if counts()[op] == 0 {
			t.Errorf("not exercised: %s %s", op.method, op.route)
		}
	}
}

// TestOAuthAnswers reads the successful answers field by field, beyond
// what auth decodes: the installed locations' page (skip/limit as strings,
// isInstalled, installedAt), a location token's answer and the refresh of
// the refresh token it carries.
func TestOAuthAnswers(t *testing.T) {
	sb, base, _ := oauthSandbox(t, t.Errorf)
	company := sb.IssueCompanyToken(nil, time.Hour)
	ids := sb.Locations()
	app, _, _ := strings.Cut(sandbox.DefaultClientID, "-")

	status, raw := oauthCall(t, base, "GET", "/oauth/installedLocations?"+url.Values{"companyId": {sandbox.DefaultCompanyID},
		"appId": {app}, "isInstalled": {"true"}, "skip": {"2"}, "limit": {"2"}}.Encode(), company, nil, true)
	var page struct {
		Locations []struct {
			ID          string `json:"_id"`
			Name        string `json:"name"`
			Address     string `json:"address"`
			IsInstalled bool   `json:"isInstalled"`
			InstalledAt string `json:"installedAt"`
		} `json:"locations"`
		Count                    *float64 `json:"count"`
		InstallToFutureLocations *bool    `json:"installToFutureLocations"`
	}
	if err := json.Unmarshal(raw, &page); status != 200 || err != nil {
		t.Fatalf("installedLocations: %d %v %s", status, err, raw)
	}
	if len(page.Locations) != 2 || page.Locations[0].ID != ids[2] || page.Locations[1].ID != ids[3] {
		t.Errorf("skip 2 limit 2 gave %s, want locations %s and %s", raw, ids[2], ids[3])
	}
	for _, l := range page.Locations {
		if _, err := time.Parse(time.RFC3339, l.InstalledAt); err != nil || !l.IsInstalled || l.Name == "" || l.Address == "" {
			t.Errorf("installed location %+v (installedAt: %v)", l, err)
		}
	}
	if page.Count == nil || *page.Count != oauthLocations || page.InstallToFutureLocations == nil {
		t.Errorf("count or installToFutureLocations: %s", raw)
	}

	status, raw = oauthCall(t, base, "POST", "/oauth/locationToken", company,
		url.Values{"companyId": {sandbox.DefaultCompanyID}, "locationId": {ids[1]}}, true)
	var lt map[string]any
	if err := json.Unmarshal(raw, &lt); status != 200 || err != nil {
		t.Fatalf("locationToken: %d %v %s", status, err, raw)
	}
	for _, k := range []string{"access_token", "refresh_token", "scope", "userId"} {
		if s, _ := lt[k].(string); s == "" {
			t.Errorf("locationToken: no %s in %s", k, raw)
		}
	}
	if lt["token_type"] != "Bearer" || lt["locationId"] != ids[1] || lt["expires_in"] != float64(2*60-1) {
		t.Errorf("locationToken: %s", raw)
	}
	rt, _ := lt["refresh_token"].(string)
	status, raw = oauthCall(t, base, "POST", "/oauth/token", "", url.Values{"client_id": {sandbox.DefaultClientID},
		"client_secret": {sandbox.DefaultClientSecret}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}, false)
	if status != 200 {
		t.Fatalf("refreshing a location token: %d %s", status, raw)
	}
	checkKeys(t, raw, fmt.Sprintf(`{"userType":"Location","locationId":%q,"token_type":"Bearer"}`, ids[1]))
}

// oauthCall sends one request to base, with a form body unless form is
// nil, a bearer token unless it is "", and the Version header if asked. It
// fails the test unless the answer is JSON.
func oauthCall(t *testing.T, base, method, path, bearer string, form url.Values, version bool) (int, []byte) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if version {
		req.Header.Set("Version", "2021-07-28")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want JSON", method, path, ct)
	}
	return res.StatusCode, raw
}

// checkKeys fails unless the JSON object raw holds every key of want with
// the same value.
func checkKeys(t *testing.T, raw []byte, want string) {
	t.Helper()
	var got, w map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Errorf("answer is not a JSON object: %v: %s", err, raw)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	for k, v := range w {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %v, want %v (answer %s)", k, got[k], v, raw)
		}
	}
}
