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
	"sync/atomic"
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
	InstalledAt string `json:"installedAt"`
}

// agencyInstalled is when the app was installed on the company's first
// location, after every seeded timestamp; each further one was installed a
// minute later, so an agency's answers follow from its seed alone.
var agencyInstalled = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

// installedAt is the install time of the i-th location, in the file's
// example format (2024-01-15T10:30:00.000Z).
func installedAt(i int) string {
	return agencyInstalled.Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05.000Z")
}

// hInstalledLocations is GET /oauth/installedLocations: the company's
// locations the app (appId: the client id, or its part before "-") is
// installed on, skip/limit (default 20, strings per oauth.json).
func (s *Server) hInstalledLocations(q *call) reply {
	v := q.r.URL.Query()
	var msgs []string
	for _, k := range []string{"companyId", "appId"} {
		if v.Get(k) == "" { // as POST /oauth/locationToken words a missing field
			msgs = append(msgs, k+" should not be empty", k+" must be a string")
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
			all = append(all, installedLocation{ID: id, Name: s.agency.names[id], Address: fmt.Sprintf("%d Sandbox St", i+1),
				IsInstalled: true, InstalledAt: installedAt(i)})
		}
	}
	s.agency.mu.RUnlock()
	page := all[min(skip, len(all)):min(skip+limit, len(all))]
	return reply{status: http.StatusOK, body: map[string]any{"locations": page, "count": len(all), "installToFutureLocations": false}}
}

// locFaults make single locations fail while the others serve normally
// (FaultSpec.Locations, StormLocation): the share of each one's requests
// answered 500/502/503. The n-th draw depends only on the seed and n.
type locFaults struct {
	seed  int64
	seq   atomic.Uint64
	mu    sync.RWMutex
	storm map[string]float64 // location -> share answered 5xx
}

func newLocFaults(f FaultSpec) *locFaults {
	lf := &locFaults{seed: f.Seed, storm: map[string]float64{}}
	for _, l := range f.Locations {
		if l.Err5xx > 0 {
			lf.storm[l.ID] = l.Err5xx
		}
	}
	return lf
}

// draw is the 5xx status a request of location loc is answered with, or 0.
func (lf *locFaults) draw(loc string) int {
	lf.mu.RLock()
	share := lf.storm[loc]
	lf.mu.RUnlock()
	if share <= 0 {
		return 0
	}
	r := rand.New(rand.NewPCG(uint64(lf.seed), lf.seq.Add(1)^0x17))
	if r.Float64() >= share {
		return 0
	}
	return [...]int{500, 502, 503}[r.IntN(3)]
}

// StormLocation, a test hook, answers share (0 to 1; 1 is every one) of
// location id's API requests with 500 (JSON) or 502/503 (a gateway's HTML
// page), as `--faults location=ID:5xx=SHARE` does; 0 lifts the storm. The
// other locations are not touched.
func (s *Server) StormLocation(id string, share float64) {
	share = min(max(share, 0), 1)
	s.locFaults.mu.Lock()
	defer s.locFaults.mu.Unlock()
	if share == 0 {
		delete(s.locFaults.storm, id)
		return
	}
	s.locFaults.storm[id] = share
}

// SpendDailyQuota, a test hook, spends (on) location id's daily quota for
// every app: its requests are answered 429 "Daily request limit exceeded"
// with X-RateLimit-Daily-Remaining: 0 and a Retry-After to the end of the
// daily window (Options.DailyWindow from now), after which it resets as
// usual. Off gives the quota back at once, as if the window had rolled
// over. `--faults location=ID:daily=spent` spends it at start.
func (s *Server) SpendDailyQuota(id string, on bool) {
	if on {
		s.lim.spendDaily(id, s.now())
		return
	}
	s.lim.restoreDaily(id, s.now())
}
