package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// agencySandbox is a started sandbox serving an agency of n locations.
func agencySandbox(t *testing.T, n int) (*sandbox.Server, string) {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{Locations: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	return sb, base
}

// companyOpts are Options reaching the sandbox with a Company token in
// GHL_TOKEN and a token store in dir.
func companyOpts(sb *sandbox.Server, base, dir string, scopes []string) Options {
	return Options{APIURL: base, TokenFile: filepath.Join(dir, "token.json"),
		Getenv: env(EnvToken, sb.IssueCompanyToken(scopes, time.Hour))}
}

func routeCount(sb *sandbox.Server, route string) int64 { return sb.Counts().ByRoute[route] }

const (
	routeMint      = "POST /oauth/locationToken"
	routeInstalled = "GET /oauth/installedLocations"
)

// TestOpenAgencyTellsCompanyFromLocation: agency mode takes a Company
// token, whether it comes from the OAuth token store (its recorded class)
// or GHL_TOKEN (the JWT's authClass); anything else is refused saying how
// to get one.
func TestOpenAgencyTellsCompanyFromLocation(t *testing.T) {
	sb, base := agencySandbox(t, 2)
	company := sb.IssueCompanyToken(nil, time.Hour)
	location, err := sb.IssueToken(sb.LocationID(), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fileOf := func(userType, companyID, tok string) func(t *testing.T, dir string) Options {
		return func(t *testing.T, dir string) Options {
			path := filepath.Join(dir, "token.json")
			writeToken(t, path, storedToken{AccessToken: tok, Expiry: time.Now().Add(time.Hour), UserType: userType,
				CompanyID: companyID, ClientID: sandbox.DefaultClientID, LocationID: map[bool]string{true: sb.LocationID()}[userType == "Location"]})
			return Options{APIURL: base, TokenFile: path, Getenv: env()}
		}
	}
	envOf := func(tok string) func(t *testing.T, dir string) Options {
		return func(t *testing.T, dir string) Options {
			return Options{APIURL: base, TokenFile: filepath.Join(dir, "token.json"), Getenv: env(EnvToken, tok)}
		}
	}
	tests := []struct {
		name    string
		opts    func(t *testing.T, dir string) Options
		company bool
	}{
		{"OAuth store, Company", fileOf(UserTypeCompany, sandbox.DefaultCompanyID, company), true},
		{"OAuth store, Location", fileOf("Location", sandbox.DefaultCompanyID, location), false},
		{"OAuth store, Company without its company id", fileOf(UserTypeCompany, "", company), false},
		{"GHL_TOKEN, Company JWT", envOf(company), true},
		{"GHL_TOKEN, Location JWT", envOf(location), false},
		{"GHL_TOKEN, private integration token", envOf("pit-0a1b2c3d-4e5f"), false},
		{"GHL_TOKEN, a JWT without authClass", envOf("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := OpenAgency(context.Background(), tc.opts(t, t.TempDir()))
			if !tc.company {
				var ce *CredentialsError
				if !errors.As(err, &ce) || !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "auth login --user-type Company") {
					t.Fatalf("err = %v, want a *CredentialsError saying to log in as a Company", err)
				}
				assertNoSecret(t, "error", err.Error(), company, location)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if i := a.Info(); i.UserType != UserTypeCompany || i.CompanyID != sandbox.DefaultCompanyID {
				t.Errorf("info %+v", i)
			}
		})
	}
}

// TestAgencyInstalledPages: the installed locations come a page (100) at a
// time until the count is reached; an uninstalled location is left out.
func TestAgencyInstalledPages(t *testing.T) {
	tests := []struct {
		locations, refused int
		pages              int64
	}{
		{1, 0, 1},
		{99, 0, 1},
		{100, 0, 2}, // a full page: one more request finds none
		{230, 0, 3},
		{230, 30, 2}, // 200 left: two full pages; the count stops it
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d locations, %d uninstalled", tc.locations, tc.refused), func(t *testing.T) {
			sb, base := agencySandbox(t, tc.locations)
			ids := sb.Locations()
			for _, id := range ids[:tc.refused] {
				sb.RefuseLocation(id, true)
			}
			a, err := OpenAgency(context.Background(), companyOpts(sb, base, t.TempDir(), nil))
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Installed(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.locations-tc.refused {
				t.Fatalf("%d locations listed, want %d", len(got), tc.locations-tc.refused)
			}
			for i, l := range got {
				if l.ID != ids[tc.refused+i] || l.Name == "" {
					t.Errorf("location %d: %+v, want %s in install order", i, l, ids[tc.refused+i])
				}
			}
			if n := routeCount(sb, routeInstalled); n > tc.pages {
				t.Errorf("%d requests, want at most %d", n, tc.pages)
			}
		})
	}
}

// TestAgencyLocationTokenKept: a location's token is minted once, kept in
// the store (0600, written whole), reused by the same process and by the
// next one, and works on that location.
func TestAgencyLocationTokenKept(t *testing.T) {
	sb, base := agencySandbox(t, 3)
	id := sb.Locations()[1]
	dir := t.TempDir()
	opt := companyOpts(sb, base, dir, nil)
	a, err := OpenAgency(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	src, err := a.Location(id)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks { // at once: one mint under the lock
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := src.Token()
			if err != nil {
				t.Error(err)
				return
			}
			toks[i] = tok.AccessToken
		}()
	}
	wg.Wait()
	if n := routeCount(sb, routeMint); n != 1 {
		t.Errorf("%d tokens minted for 8 calls, want 1", n)
	}
	for _, tok := range toks[1:] {
		if tok != toks[0] {
			t.Fatal("the calls got different tokens")
		}
	}
	path := filepath.Join(dir, "locations", id+".json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the token is not kept: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 2 { // the token and its lock file
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the store holds %v: a temporary file left behind?", names)
	}
	if st := readToken(t, path); st.AccessToken != toks[0] || st.Expiry.Before(time.Now().Add(time.Hour)) {
		t.Errorf("kept %v, want the minted token with its expiry", st)
	}

	// The next process reuses the kept token.
	a2, err := OpenAgency(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	src2, _ := a2.Location(id)
	tok, err := src2.Token()
	if err != nil || tok.AccessToken != toks[0] || routeCount(sb, routeMint) != 1 {
		t.Errorf("second process: err %v, same token %v, mints %d", err, tok != nil && tok.AccessToken == toks[0], routeCount(sb, routeMint))
	}
	hc := &http.Client{Transport: NewTransport(nil, src2)}
	if err := Preflight(context.Background(), hc, base, id, ScopeContactsRead); err != nil {
		t.Errorf("the location token does not read location %s: %v", id, err)
	}
}

// TestAgencyLocationTokenMintedAgain: a token about to expire, or one the
// API answers 401, is minted again (and kept); another location's token is
// not touched.
func TestAgencyLocationTokenMintedAgain(t *testing.T) {
	sb, base := agencySandbox(t, 2)
	ids := sb.Locations()
	dir := t.TempDir()
	a, err := OpenAgency(context.Background(), companyOpts(sb, base, dir, nil))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("expiry", func(t *testing.T) {
		src, _ := a.Location(ids[0])
		first, err := src.Token()
		if err != nil {
			t.Fatal(err)
		}
		mints := routeCount(sb, routeMint)
		src.now = func() time.Time { return first.Expiry.Add(-refreshEarly + time.Second) } // within the early margin
		next, err := src.Token()
		if err != nil {
			t.Fatal(err)
		}
		if next.AccessToken == first.AccessToken || routeCount(sb, routeMint) != mints+1 {
			t.Errorf("a token about to expire was not minted again (mints %d -> %d)", mints, routeCount(sb, routeMint))
		}
		if st := readToken(t, filepath.Join(dir, "locations", ids[0]+".json")); st.AccessToken != next.AccessToken {
			t.Error("the new token is not kept")
		}
	})

	t.Run("401", func(t *testing.T) {
		// A kept token the API no longer takes (revoked, or the
		// sandbox restarted): still fresh by its expiry.
		path := filepath.Join(dir, "locations", ids[1]+".json")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		writeToken(t, path, storedToken{AccessToken: "revoked-token-secret", Expiry: time.Now().Add(time.Hour), UserType: "Location"})
		src, _ := a.Location(ids[1])
		mints := routeCount(sb, routeMint)
		hc := &http.Client{Transport: NewTransport(nil, src)}
		req, _ := http.NewRequest(http.MethodGet, base+"/contacts/?limit=1&locationId="+ids[1], nil)
		req.Header.Set("Version", "2021-07-28")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || routeCount(sb, routeMint) != mints+1 {
			t.Errorf("after a 401: status %d, mints %d -> %d; want 200 with one new token", resp.StatusCode, mints, routeCount(sb, routeMint))
		}
		if st := readToken(t, path); st.AccessToken == "revoked-token-secret" {
			t.Error("the refused token is still kept")
		}
	})
}

// TestAgencyLocationErrors: what goes wrong says what to do, and never
// shows the agency's token.
func TestAgencyLocationErrors(t *testing.T) {
	sb, base := agencySandbox(t, 2)
	ids := sb.Locations()
	tests := []struct {
		name   string
		scopes []string // the Company token's; nil = all
		setup  func()
		call   func(a *Agency) error
		want   []string
	}{
		{"not installed", nil, func() { sb.RefuseLocation(ids[1], true) },
			func(a *Agency) error { return tokenOf(a, ids[1]) },
			[]string{ids[1], "403", "app must be installed on the location"}},
		{"unknown location", nil, nil,
			func(a *Agency) error { return tokenOf(a, "NoSuchLocation0000001") },
			[]string{"NoSuchLocation0000001", "installed"}},
		{"not an id", nil, nil,
			func(a *Agency) error { _, err := a.Location("../token"); return err },
			[]string{"not a HighLevel id", "--locations"}},
		{"no oauth.write", []string{"contacts.readonly", "oauth.readonly"}, nil,
			func(a *Agency) error { return tokenOf(a, ids[0]) },
			[]string{"oauth.write"}},
		{"no oauth.readonly", []string{"contacts.readonly", "oauth.write"}, nil,
			func(a *Agency) error { _, err := a.Installed(context.Background()); return err },
			[]string{"oauth.readonly", "auth login --user-type Company"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			opt := companyOpts(sb, base, t.TempDir(), tc.scopes)
			a, err := OpenAgency(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.call(a)
			if !errors.Is(err, ErrNoCredentials) {
				t.Fatalf("err = %v, want a credentials error (exit 2)", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			assertNoSecret(t, "error", err.Error(), opt.getenv(EnvToken))
		})
	}
}

func tokenOf(a *Agency, id string) error {
	src, err := a.Location(id)
	if err != nil {
		return err
	}
	_, err = src.Token()
	return err
}
