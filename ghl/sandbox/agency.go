package sandbox

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Agency mode (issue 17): an agency (company) with Options.Locations
// locations, the app installed on each, every one seeded with
// Options.Contacts contacts. A Company token lists them (GET
// /oauth/installedLocations) and buys each one's Location token (POST
// /oauth/locationToken); it is refused on every location endpoint, as the
// live API refuses it.

// agency is the company's locations, in install order (the default first),
// and those whose install a test revoked (RefuseLocation).
type agency struct {
	mu      sync.RWMutex
	ids     []string
	names   map[string]string
	refused map[string]bool
}

func (a *agency) installed(id string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return slices.Contains(a.ids, id) && !a.refused[id]
}

func (a *agency) isRefused(id string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.refused[id]
}

// agencyIDs are the ids of n locations: the default, then ids drawn from
// seed alone, so a seed always gives the same agency.
func agencyIDs(def string, n int, seed int64) []string {
	ids := []string{def}
	r := rand.New(rand.NewPCG(uint64(seed), 17))
	for len(ids) < n {
		ids = append(ids, seedID(r))
	}
	return ids
}

// setUpAgency lists the company's locations and seeds the extra ones
// (the default is seeded by openData).
func (s *Server) setUpAgency(seed bool) {
	n := max(1, s.opt.Locations)
	ids := agencyIDs(s.opt.LocationID, n, s.opt.Seed)
	s.agency.mu.Lock()
	s.agency.ids = ids
	s.agency.names = map[string]string{}
	s.agency.refused = map[string]bool{}
	for i, id := range ids {
		s.agency.names[id] = fmt.Sprintf("Sandbox Location %d", i+1)
	}
	s.agency.mu.Unlock()
	for _, id := range ids[1:] {
		if seed && s.opt.Contacts > 0 {
			s.seed(id, s.opt.Contacts, s.opt.Seed)
		} else {
			s.mu.Lock()
			s.loc(id)
			s.mu.Unlock()
		}
	}
}

// Locations are the ids of the company's locations, the default first.
func (s *Server) Locations() []string {
	s.agency.mu.RLock()
	defer s.agency.mu.RUnlock()
	return slices.Clone(s.agency.ids)
}

// RefuseLocation, a test hook, revokes (on) or restores the app's install
// on location id: its Location tokens are answered 401 and POST
// /oauth/locationToken refuses it with 403, as after an uninstall.
func (s *Server) RefuseLocation(id string, on bool) {
	s.agency.mu.Lock()
	defer s.agency.mu.Unlock()
	if s.agency.refused == nil {
		s.agency.refused = map[string]bool{}
	}
	s.agency.refused[id] = on
}

// CompanyScopes are what IssueCompanyToken grants by default: every
// location scope, to hand on to Location tokens, and the oauth ones.
var CompanyScopes = append(slices.Clone(AllScopes), scOAuthRead, scOAuthWrite)

const (
	scOAuthRead  = "oauth.readonly"
	scOAuthWrite = "oauth.write"
)

// IssueCompanyToken mints a Company (agency) access token with scopes (nil
// = CompanyScopes) valid for ttl (0 = AccessTTL), as `auth login
// --user-type Company` would get.
func (s *Server) IssueCompanyToken(scopes []string, ttl time.Duration) string {
	if scopes == nil {
		scopes = CompanyScopes
	}
	if ttl <= 0 {
		ttl = s.opt.AccessTTL
	}
	return s.auth.mint(&token{Kind: "access", ClientID: DefaultClientID, UserType: "Company",
		CompanyID: DefaultCompanyID, UserID: DefaultUserID, Scopes: slices.Clone(scopes), Expires: s.now().Add(ttl)})
}

type installedLocation struct {
	ID          string `json:"_id"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	IsInstalled bool   `json:"isInstalled"`
}

// hInstalledLocations is GET /oauth/installedLocations: the company's
// locations the app (appId: the client id, or its part before "-") is
// installed on, skip/limit (default 20, strings per oauth.json).
func (s *Server) hInstalledLocations(q *call) reply {
	v := q.r.URL.Query()
	var msgs []string
	for _, k := range []string{"companyId", "appId"} {
		if v.Get(k) == "" {
			msgs = append(msgs, k+" should not be empty")
		}
	}
	if len(msgs) > 0 {
		return rep422(msgs...)
	}
	if v.Get("companyId") != q.tok.CompanyID {
		return rep403(msgLocation)
	}
	if app, _, _ := strings.Cut(q.tok.ClientID, "-"); v.Get("appId") != q.tok.ClientID && v.Get("appId") != app {
		return rep400("The app id does not match the token")
	}
	skip, err1 := strconv.Atoi(cmp.Or(v.Get("skip"), "0"))
	limit, err2 := strconv.Atoi(cmp.Or(v.Get("limit"), "20"))
	if err1 != nil || err2 != nil || skip < 0 || limit < 1 {
		return rep422("skip and limit must be numbers")
	}
	s.agency.mu.RLock()
	var all []installedLocation
	for i, id := range s.agency.ids {
		if !s.agency.refused[id] {
			all = append(all, installedLocation{ID: id, Name: s.agency.names[id], Address: fmt.Sprintf("%d Sandbox St", i+1), IsInstalled: true})
		}
	}
	s.agency.mu.RUnlock()
	page := all[min(skip, len(all)):min(skip+limit, len(all))]
	return reply{status: http.StatusOK, body: map[string]any{"locations": page, "count": len(all), "installToFutureLocations": false}}
}
