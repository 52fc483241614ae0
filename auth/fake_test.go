package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGHL is a tiny stand-in for the sandbox's OAuth endpoints and a
// contacts probe, used while ghl/sandbox is being written.
type fakeGHL struct {
	*httptest.Server
	clientID, secret, loc string
	ttl                   time.Duration

	mu        sync.Mutex
	noPKCE    bool // refuse code_verifier as an unknown property (422), as HighLevel's DTO would
	exchanges int
	n         int
	codes     map[string]bool
	access    map[string]grant // access token -> grant
	refresh   map[string]grant // live refresh tokens
	refreshes int
}

type grant struct {
	scope string
	exp   time.Time
}

const (
	fakeClientID = "fake-client"
	fakeSecret   = "fake-client-secret-XYZ"
	fakeLoc      = "LOC123"
)

func newFakeGHL(t *testing.T) *fakeGHL {
	f := &fakeGHL{clientID: fakeClientID, secret: fakeSecret, loc: fakeLoc, ttl: time.Hour,
		codes: map[string]bool{}, access: map[string]grant{}, refresh: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/chooselocation", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		f.n++
		code := fmt.Sprintf("code-%d", f.n)
		f.codes[code] = true
		f.mu.Unlock()
		u, _ := url.Parse(q.Get("redirect_uri"))
		v := url.Values{"code": {code}, "state": {q.Get("state")}}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		r.ParseForm()
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Form.Get("client_id") != f.clientID || r.Form.Get("client_secret") != f.secret {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		scope := "contacts.readonly contacts.write"
		switch r.Form.Get("grant_type") {
		case "authorization_code":
			f.exchanges++
			if f.noPKCE && r.Form.Has("code_verifier") {
				w.WriteHeader(http.StatusUnprocessableEntity)
				json.NewEncoder(w).Encode(map[string]any{"statusCode": 422, "message": []string{"property code_verifier should not exist"}})
				return
			}
			if !f.codes[r.Form.Get("code")] {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
				return
			}
			delete(f.codes, r.Form.Get("code"))
		case "refresh_token":
			rt := r.Form.Get("refresh_token")
			g, ok := f.refresh[rt]
			if !ok {
				w.WriteHeader(http.StatusBadRequest)
				// Echo the token, as a careless server might: it must not leak.
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "refresh token " + rt + " is invalid"})
				return
			}
			delete(f.refresh, rt) // rotation: the old one dies
			scope = g.scope
			f.refreshes++
		default:
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.n++
		at, rt := fmt.Sprintf("access-%d-secret", f.n), fmt.Sprintf("refresh-%d-secret", f.n)
		f.access[at] = grant{scope, time.Now().Add(f.ttl)}
		f.refresh[rt] = grant{scope, time.Time{}}
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": at, "refresh_token": rt, "token_type": "Bearer", "expires_in": int(f.ttl.Seconds()),
			"scope": scope, "userType": "Location", "locationId": f.loc, "companyId": "COMP1", "userId": "U1",
		})
	})
	mux.HandleFunc("/contacts/", func(w http.ResponseWriter, r *http.Request) {
		g, ok := f.grantOf(r)
		if !ok {
			http.Error(w, `{"message":"Invalid JWT"}`, http.StatusUnauthorized)
			return
		}
		need := "contacts.readonly"
		if r.Method != http.MethodGet {
			need = "contacts.write"
		}
		if !strings.Contains(" "+g.scope+" ", " "+need+" ") {
			http.Error(w, `{"message":"The token is not authorized for this scope."}`, http.StatusForbidden)
			return
		}
		if r.Method == http.MethodGet {
			if r.URL.Query().Get("locationId") != f.loc {
				http.Error(w, `{"message":"The token does not have access to this location."}`, http.StatusForbidden)
				return
			}
			w.Write([]byte(`{"contacts":[],"meta":{"total":0}}`))
			return
		}
		http.Error(w, `{"message":"Contact not found"}`, http.StatusNotFound)
	})
	mux.HandleFunc("POST /oauth/locationToken", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.grantOf(r); !ok {
			http.Error(w, `{"message":"Invalid JWT"}`, http.StatusUnauthorized)
			return
		}
		r.ParseForm()
		json.NewEncoder(w).Encode(map[string]any{"access_token": "loc-token-secret", "token_type": "Bearer", "expires_in": 86399,
			"scope": "contacts.readonly", "locationId": r.Form.Get("locationId"), "userId": "U1"})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGHL) grantOf(r *http.Request) (grant, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return grant{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.access[tok]
	return g, ok && time.Now().Before(g.exp)
}

// issue stores a grant directly, as a login would have.
func (f *fakeGHL) issue(scope string, ttl time.Duration) (access, refresh string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	access, refresh = fmt.Sprintf("access-%d-secret", f.n), fmt.Sprintf("refresh-%d-secret", f.n)
	f.access[access] = grant{scope, time.Now().Add(ttl)}
	f.refresh[refresh] = grant{scope, time.Time{}}
	return access, refresh
}

func (f *fakeGHL) revoke(access string) {
	f.mu.Lock()
	delete(f.access, access)
	f.mu.Unlock()
}

func (f *fakeGHL) refreshCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshes
}

func (f *fakeGHL) refreshLive(rt string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.refresh[rt]
	return ok
}
