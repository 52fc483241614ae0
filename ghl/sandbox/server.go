package sandbox

import (
	"cmp"
	"context"
	cryptorand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value is a usable in-memory sandbox.
type Options struct {
	Addr string // for Start; "" or "127.0.0.1:0" picks a free loopback port

	Rate     int           // requests per Interval per app and location; 0 = 100; negative = no burst limit (headers still sent)
	Interval time.Duration // 0 = 10s
	Daily    int           // requests per DailyWindow; 0 = 200000; negative = no daily limit

	DailyWindow time.Duration // 0 = 24h; tests shorten it

	Faults FaultSpec // see ParseFaults

	Contacts int // seed this many contacts (with tasks, notes, appointments, businesses) in the default location
	// Locations is how many locations the agency (company) has, the app
	// installed on each, each seeded with Contacts contacts; 0 or 1 = the
	// default location alone (agency.go).
	Locations int
	Seed      int64 // seed of everything random: seed data, ids, faults

	// Related is the seeded tasks, notes and appointments per contact on
	// average; nil = the default seed (seedmix.go).
	Related *RelatedMix

	DataPath string // "" = memory only; else a SQLite file written through and reloaded on start

	LocationID string // the default location; "" = DefaultLocationID

	// DuplicateRule is the location's "Allow Duplicate Contact" setting:
	// "email-phone" (default: duplicates refused, match on email, then
	// phone), "phone-email", "email", "phone", or "allow" (duplicates
	// allowed).
	DuplicateRule string

	// OAuthClients are client_id -> client_secret. nil = {"ghlbulk-sandbox":
	// "sandbox-secret"} when Addr is loopback (or ""), and the same client
	// with a random secret (ClientSecret) when Addr binds beyond loopback,
	// where anyone who reaches the port could otherwise mint tokens.
	OAuthClients map[string]string
	AccessTTL    time.Duration // 0 = 24h

	// Limits of the HTTP server Start runs; zero takes the default. They
	// keep a stalled or trickling client from holding a connection (and a
	// goroutine) forever; the defaults are sized in the comments of
	// DefaultReadTimeout and its neighbours.
	ReadHeaderTimeout time.Duration // 0 = min(DefaultReadHeaderTimeout, ReadTimeout)
	ReadTimeout       time.Duration // 0 = DefaultReadTimeout: a request's headers and body together
	WriteTimeout      time.Duration // 0 = ReadTimeout + DefaultWriteGrace
	IdleTimeout       time.Duration // 0 = DefaultIdleTimeout
	MaxHeaderBytes    int           // 0 = DefaultMaxHeaderBytes

	Logf func(format string, args ...any) // nil = silent

	Webhooks WebhookOptions // send signed webhooks for every write (webhooks.go); zero URL = none
}

// Defaults that Options' zero values stand for.
const (
	DefaultLocationID   = "ve9EPM428h8vShlRW1KT"
	DefaultCompanyID    = "5DP4iH6HLkQsiKESj6rh"
	DefaultUserID       = "hxHGVRb1YJUscrCB8eXK"
	DefaultClientID     = "ghlbulk-sandbox"
	DefaultClientSecret = "sandbox-secret"
	DefaultRate         = 100
	DefaultInterval     = 10 * time.Second
	DefaultDaily        = 200000
	MaxSearchPageLimit  = 500
	MaxListLimit        = 100

	// DefaultReadTimeout bounds reading one request, headers and body. The
	// largest body the API takes is maxBody (10 MiB), but a real one is a
	// contact or a bulk tags call of a few hundred ids, well under 1 MiB:
	// 60 s lets such a body arrive at 17 KB/s, and even a 10 MiB one at
	// 175 KB/s, while a client trickling a byte at a time is cut off.
	DefaultReadTimeout = 60 * time.Second
	// DefaultReadHeaderTimeout: headers are a few KB (a JWT bearer token
	// is the largest); 10 s is generous for any link.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultWriteGrace is what WriteTimeout adds to ReadTimeout. Go
	// starts the write deadline once the headers are read, so the body's
	// read time counts against it too; the grace then covers the handler
	// (injected latency, a search over a million contacts) and writing a
	// 500-contact page to a slow reader.
	DefaultWriteGrace = 60 * time.Second
	// DefaultIdleTimeout closes keep-alive connections unused this long;
	// clients (the SDK's Node agent, Go's transport) reconnect on their own.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes: a request's headers are a few KB; Go's own
	// default is 1 MiB.
	DefaultMaxHeaderBytes = 64 << 10
)

// AllScopes are the scopes IssueToken grants when given none: everything the
// sandbox serves.
var AllScopes = []string{
	"contacts.readonly", "contacts.write",
	"locations/customFields.readonly", "locations/customFields.write",
	scTaskSearch, scCalendars, scEvents, scEventsWrite,
}

// Server is a local HighLevel API. Its handler is safe for concurrent use.
type Server struct {
	opt  Options
	dtos map[string]*dto

	mu      sync.RWMutex // guards locs, related, lastMs and idRand
	locs    map[string]*location
	related relatedRecords
	lastMs  int64
	idRand  *rand.Rand
	now     func() time.Time

	auth   *authStore
	lim    *limiter
	faults *faulter
	// locFaults are FaultSpec.Locations' 5xx storms (agency.go).
	locFaults *locFaults
	db        *persister
	counts    counters
	hooks     *webhookSender // nil: webhooks off
	agency    agency         // the company's locations (agency.go)

	srvMu sync.Mutex
	hs    *http.Server
	ln    net.Listener
}

// New builds a Server: validates opt, opens DataPath (loading what it holds)
// and seeds opt.Contacts contacts unless the data file was seeded before.
func New(opt Options) (*Server, error) {
	opt.setDefaults()
	if err := opt.setServerDefaults(); err != nil {
		return nil, err
	}
	if err := opt.check(); err != nil {
		return nil, err
	}
	dtos, err := loadDTOs()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opt:  opt,
		dtos: dtos,
		locs: map[string]*location{},
		related: relatedRecords{
			tasks:        map[string][]*task{},
			notes:        map[string][]*note{},
			appointments: map[string][]*appointment{},
		},
		now:    time.Now,
		idRand: rand.New(rand.NewPCG(uint64(opt.Seed), uint64(time.Now().UnixNano()))),
	}
	s.auth = newAuthStore(s)
	s.lim = newLimiter(opt.Rate, opt.Interval, opt.Daily, opt.DailyWindow)
	s.faults = newFaulter(opt.Faults)
	s.locFaults = newLocFaults(opt.Faults)
	for _, l := range opt.Faults.Locations {
		if l.DailySpent {
			s.lim.spendDaily(l.ID, s.now())
		}
	}
	if err := s.openData(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.loc(opt.LocationID)
	s.mu.Unlock()
	// After the seed and the load: only the writes served make webhooks.
	if opt.Webhooks.URL != "" {
		if s.hooks, err = newWebhookSender(opt.Webhooks, s.logf); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// setDefaults fills the zero limits, location, token lifetime and OAuth
// clients. The default client's secret is the well-known one only on
// loopback: a sandbox others can reach gets a random one.
func (o *Options) setDefaults() {
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Daily == 0 {
		o.Daily = DefaultDaily
	}
	if o.DailyWindow <= 0 {
		o.DailyWindow = 24 * time.Hour
	}
	if o.LocationID == "" {
		o.LocationID = DefaultLocationID
	}
	if o.AccessTTL <= 0 {
		o.AccessTTL = 24 * time.Hour
	}
	if o.OAuthClients == nil {
		secret := DefaultClientSecret
		if !IsLoopback(o.Addr) {
			secret = randomSecret()
		}
		o.OAuthClients = map[string]string{DefaultClientID: secret}
	}
}

// setServerDefaults refuses negative HTTP server limits and fills the zero
// ones; the write timeout leaves a handler its read time plus a grace.
func (o *Options) setServerDefaults() error {
	if o.ReadTimeout < 0 || o.ReadHeaderTimeout < 0 || o.WriteTimeout < 0 || o.IdleTimeout < 0 || o.MaxHeaderBytes < 0 {
		return errors.New("sandbox: server timeouts and MaxHeaderBytes must not be negative")
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = min(DefaultReadHeaderTimeout, o.ReadTimeout)
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = o.ReadTimeout + DefaultWriteGrace
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return nil
}

// check refuses the options no default can mend.
func (o *Options) check() error {
	if o.Contacts < 0 {
		return fmt.Errorf("sandbox: contacts %d: must not be negative", o.Contacts)
	}
	if _, err := parseRule(o.DuplicateRule); err != nil {
		return err
	}
	return o.Faults.validate()
}

// openData opens DataPath, if set, and loads it; then it seeds, unless the
// data file says it was seeded before, and marks the file seeded.
func (s *Server) openData() error {
	seeded := false
	if s.opt.DataPath != "" {
		db, err := openPersister(s.opt.DataPath, s.logf)
		if err != nil {
			return err
		}
		s.db = db
		if seeded, err = s.load(); err != nil {
			db.close()
			return err
		}
	}
	if !seeded && s.opt.Contacts > 0 {
		s.seed(s.opt.LocationID, s.opt.Contacts, s.opt.Seed)
	}
	s.setUpAgency(!seeded)
	if s.db != nil && !seeded {
		if err := s.db.markSeeded(); err != nil {
			s.db.close()
			return err
		}
	}
	return nil
}

// IsLoopback reports whether addr (host:port, as Options.Addr) listens on
// loopback only. "" is Start's default, 127.0.0.1:0. An empty host
// (":8089"), an unspecified address (0.0.0.0, ::) or any other host name or
// address is taken as reachable from elsewhere: a name is not resolved, so
// that the answer never depends on DNS.
func IsLoopback(addr string) bool {
	if addr == "" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Exposed reports whether Options.Addr binds beyond loopback.
func (s *Server) Exposed() bool { return !IsLoopback(s.opt.Addr) }

// ClientSecret is the secret of the default OAuth client (DefaultClientID):
// DefaultClientSecret on loopback, a random one when Exposed, "" when
// Options.OAuthClients does not name that client.
func (s *Server) ClientSecret() string { return s.opt.OAuthClients[DefaultClientID] }

// randomSecret is crypto/rand's Text: 26 base32 characters, 128 bits.
func randomSecret() string { return cryptorand.Text() }

func (s *Server) logf(format string, args ...any) {
	if s.opt.Logf != nil {
		s.opt.Logf(format, args...)
	}
}

// LocationID is the default location, the one seeded and the one IssueToken
// uses for "".
func (s *Server) LocationID() string { return s.opt.LocationID }

// Handler serves the API. Use it with httptest or your own server; Start
// runs it on a loopback listener.
func (s *Server) Handler() http.Handler { return s }

// Start listens on opt.Addr (default a free loopback port), serves in the
// background and returns the base URL, e.g. "http://127.0.0.1:41234".
func (s *Server) Start() (string, error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.hs != nil {
		return "", errors.New("sandbox: already started")
	}
	addr := s.opt.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	s.ln = ln
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.opt.ReadHeaderTimeout,
		ReadTimeout:       s.opt.ReadTimeout,
		WriteTimeout:      s.opt.WriteTimeout,
		IdleTimeout:       s.opt.IdleTimeout,
		MaxHeaderBytes:    s.opt.MaxHeaderBytes,
	}
	s.hs = hs
	go func() {
		// hs, not s.hs: Close may have cleared s.hs before this runs.
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("sandbox: serve: %v", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the listener (if started) and flushes and closes the data file.
func (s *Server) Close() error {
	var errs []error
	s.srvMu.Lock()
	if s.hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.hs.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sandbox: shutdown: %w", err))
			_ = s.hs.Close()
		}
		cancel()
		s.hs = nil
	}
	s.srvMu.Unlock()
	if s.hooks != nil {
		s.hooks.close()
	}
	if s.db != nil {
		if err := s.db.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loc returns the location with id, creating it (with its custom field
// definitions) on first use. Call with the write lock held.
func (s *Server) loc(id string) *location {
	l := s.locs[id]
	if l == nil {
		l = newLocation(id, 0)
		s.locs[id] = l
		s.seedFields(l)
	}
	return l
}

// locR returns the location with id or nil. Call with a lock held.
func (s *Server) locR(id string) *location { return s.locs[id] }

// stamp is the server's clock in ms; it never goes back, so new index
// entries land at the tail. Call with the write lock held.
func (s *Server) stamp() int64 {
	ms := s.now().UnixMilli()
	if ms <= s.lastMs {
		ms = s.lastMs
	}
	s.lastMs = ms
	return ms
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newID is a 20-character id like HighLevel's. Call with the write lock held.
func (s *Server) newID() string { return randID(s.idRand, 20) }

func randID(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[r.IntN(len(idAlphabet))]
	}
	return string(b)
}

// ---- routing ----

type handlerFunc func(s *Server, q *call) reply

type route struct {
	id      int
	method  string
	pattern string // as Counts reports it, e.g. "POST /contacts/upsert"
	scope   string // scope the bearer needs; "" = none
	api     bool   // bearer token, Version header, rate limits and faults apply
	company bool   // wants a Company token rather than a Location one
	write   bool   // changes data (counted in Counts.Writes)
	version string // a Version header accepted here besides supportedVersions ("" = none)
	h       handlerFunc
	shape   []string // pattern's path in segments, "" for a parameter (set by init)
}

// call is one request on its way through a handler.
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	p   [2]string // path parameters in pattern order
	tok *token
}

// reply is what a handler answers.
type reply struct {
	status   int
	body     any    // encoded as JSON unless raw is set
	raw      []byte // sent as is with ctype
	ctype    string
	location string // Location header (redirects)
}

const (
	rList = iota
	rCreate
	rUpsert
	rSearch
	rBusiness
	rBulkTags
	rBulkBusiness
	rGet
	rUpdate
	rDelete
	rTasks
	rTaskCreate
	rTaskGet
	rTaskUpdate
	rTaskDelete
	rTaskCompleted
	rNotes
	rNoteCreate
	rNoteGet
	rNoteUpdate
	rNoteDelete
	rAppointments
	rTagsAdd
	rTagsRemove
	rCustomFields
	rCustomFieldCreate
	rTaskSearch
	rCalendars
	rEvents
	rApptCreate
	rApptEdit
	rEventDelete
	rOAuthToken
	rLocationToken
	rInstalledLocations
	rChooseLocation
	rSandboxCounts
	nRoutes
)

const (
	scRead        = "contacts.readonly"
	scWrite       = "contacts.write"
	scFields      = "locations/customFields.readonly"
	scFieldsWrite = "locations/customFields.write"

	scTaskSearch = "locations/tasks.readonly"
	scCalendars  = "calendars.readonly"
	scEvents     = "calendars/events.readonly"

	// calendarsVersion is what calendars.json declares for its operations.
	calendarsVersion = "2021-04-15"
)

var routes = [nRoutes]*route{
	rList:              {method: "GET", pattern: "GET /contacts/", scope: scRead, api: true, h: (*Server).hList},
	rCreate:            {method: "POST", pattern: "POST /contacts/", scope: scWrite, api: true, write: true, h: (*Server).hCreate},
	rUpsert:            {method: "POST", pattern: "POST /contacts/upsert", scope: scWrite, api: true, write: true, h: (*Server).hUpsert},
	rSearch:            {method: "POST", pattern: "POST /contacts/search", scope: scRead, api: true, h: (*Server).hSearch},
	rBusiness:          {method: "GET", pattern: "GET /contacts/business/{businessId}", scope: scRead, api: true, h: (*Server).hBusiness},
	rBulkTags:          {method: "POST", pattern: "POST /contacts/bulk/tags/update/{type}", scope: scWrite, api: true, write: true, h: (*Server).hBulkTags},
	rBulkBusiness:      {method: "POST", pattern: "POST /contacts/bulk/business", scope: scWrite, api: true, write: true, h: (*Server).hBulkBusiness},
	rGet:               {method: "GET", pattern: "GET /contacts/{contactId}", scope: scRead, api: true, h: (*Server).hGet},
	rUpdate:            {method: "PUT", pattern: "PUT /contacts/{contactId}", scope: scWrite, api: true, write: true, h: (*Server).hUpdate},
	rDelete:            {method: "DELETE", pattern: "DELETE /contacts/{contactId}", scope: scWrite, api: true, write: true, h: (*Server).hDelete},
	rTasks:             {method: "GET", pattern: "GET /contacts/{contactId}/tasks", scope: scRead, api: true, h: (*Server).hTasks},
	rTaskCreate:        {method: "POST", pattern: "POST /contacts/{contactId}/tasks", scope: scWrite, api: true, write: true, h: (*Server).hTaskCreate},
	rTaskGet:           {method: "GET", pattern: "GET /contacts/{contactId}/tasks/{taskId}", scope: scRead, api: true, h: (*Server).hTaskGet},
	rTaskUpdate:        {method: "PUT", pattern: "PUT /contacts/{contactId}/tasks/{taskId}", scope: scWrite, api: true, write: true, h: (*Server).hTaskUpdate},
	rTaskDelete:        {method: "DELETE", pattern: "DELETE /contacts/{contactId}/tasks/{taskId}", scope: scWrite, api: true, write: true, h: (*Server).hTaskDelete},
	rTaskCompleted:     {method: "PUT", pattern: "PUT /contacts/{contactId}/tasks/{taskId}/completed", scope: scWrite, api: true, write: true, h: (*Server).hTaskCompleted},
	rNotes:             {method: "GET", pattern: "GET /contacts/{contactId}/notes", scope: scRead, api: true, h: (*Server).hNotes},
	rNoteCreate:        {method: "POST", pattern: "POST /contacts/{contactId}/notes", scope: scWrite, api: true, write: true, h: (*Server).hNoteCreate},
	rNoteGet:           {method: "GET", pattern: "GET /contacts/{contactId}/notes/{id}", scope: scRead, api: true, h: (*Server).hNoteGet},
	rNoteUpdate:        {method: "PUT", pattern: "PUT /contacts/{contactId}/notes/{id}", scope: scWrite, api: true, write: true, h: (*Server).hNoteUpdate},
	rNoteDelete:        {method: "DELETE", pattern: "DELETE /contacts/{contactId}/notes/{id}", scope: scWrite, api: true, write: true, h: (*Server).hNoteDelete},
	rAppointments:      {method: "GET", pattern: "GET /contacts/{contactId}/appointments", scope: scRead, api: true, h: (*Server).hAppointments},
	rTagsAdd:           {method: "POST", pattern: "POST /contacts/{contactId}/tags", scope: scWrite, api: true, write: true, h: (*Server).hTagsAdd},
	rTagsRemove:        {method: "DELETE", pattern: "DELETE /contacts/{contactId}/tags", scope: scWrite, api: true, write: true, h: (*Server).hTagsRemove},
	rCustomFields:      {method: "GET", pattern: "GET /locations/{locationId}/customFields", scope: scFields, api: true, h: (*Server).hCustomFields},
	rCustomFieldCreate: {method: "POST", pattern: "POST /locations/{locationId}/customFields", scope: scFieldsWrite, api: true, write: true, h: (*Server).hCustomFieldCreate},
	rTaskSearch:        {method: "POST", pattern: "POST /locations/{locationId}/tasks/search", scope: scTaskSearch, api: true, h: (*Server).hTaskSearch},
	rCalendars:         {method: "GET", pattern: "GET /calendars/", scope: scCalendars, api: true, version: calendarsVersion, h: (*Server).hCalendars},
	rEvents:            {method: "GET", pattern: "GET /calendars/events", scope: scEvents, api: true, version: calendarsVersion, h: (*Server).hEvents},
	rApptCreate:        {method: "POST", pattern: "POST /calendars/events/appointments", scope: scEventsWrite, api: true, write: true, version: calendarsVersion, h: (*Server).hApptCreate},
	rApptEdit:          {method: "PUT", pattern: "PUT /calendars/events/appointments/{eventId}", scope: scEventsWrite, api: true, write: true, version: calendarsVersion, h: (*Server).hApptEdit},
	rEventDelete:       {method: "DELETE", pattern: "DELETE /calendars/events/{eventId}", scope: scEventsWrite, api: true, write: true, version: calendarsVersion, h: (*Server).hEventDelete},
	rOAuthToken:        {method: "POST", pattern: "POST /oauth/token", h: (*Server).hOAuthToken},
	rLocationToken:     {method: "POST", pattern: "POST /oauth/locationToken", scope: "oauth.write", api: true, company: true, h: (*Server).hLocationToken},
	rChooseLocation:    {method: "GET", pattern: "GET /oauth/chooselocation", h: (*Server).hChooseLocation},

	rInstalledLocations: {method: "GET", pattern: "GET /oauth/installedLocations", scope: scOAuthRead, api: true, company: true, h: (*Server).hInstalledLocations},

	// Not HighLevel's: what the sandbox served so far, for benchmarks
	// that run it as a process (Counts as JSON). No secret in it.
	// (h is set by init: Counts reads routes.)
	rSandboxCounts: {method: "GET", pattern: "GET /_sandbox/counts"},
}

// byPrecedence is routes in the order match tries them: where two
// patterns of the same length could both fit a path, the one with a
// literal segment first wins over the one with a parameter there, so
// "/contacts/upsert" is not read as a contact id.
var byPrecedence []*route

func init() {
	routes[rSandboxCounts].h = (*Server).hCounts
	for i, r := range routes {
		r.id = i
		r.shape = shapeOf(r.pattern)
	}
	byPrecedence = slices.Clone(routes[:])
	slices.SortStableFunc(byPrecedence, func(a, b *route) int { return cmpShapes(a.shape, b.shape) })
}

// shapeOf splits a route pattern's path ("GET /contacts/{contactId}/tasks")
// into segments, with "" for each parameter: match never sees an empty
// segment, so "" cannot collide with a literal.
func shapeOf(pattern string) []string {
	_, path, _ := strings.Cut(pattern, " ")
	seg := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range seg {
		if strings.HasPrefix(s, "{") {
			seg[i] = ""
		}
	}
	return seg
}

// cmpShapes orders shapes by length, then literal before parameter at the
// first segment where they differ in kind.
func cmpShapes(a, b []string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	for i := range a {
		if pa, pb := a[i] == "", b[i] == ""; pa != pb {
			if pb {
				return -1
			}
			return 1
		}
	}
	return 0
}

// fit reports whether the path segments seg fit shape, and the path
// parameters in order.
func fit(shape, seg []string) (p [2]string, ok bool) {
	if len(shape) != len(seg) {
		return p, false
	}
	n := 0
	for i, want := range shape {
		switch want {
		case "":
			p[n] = seg[i]
			n++
		case seg[i]:
		default:
			return p, false
		}
	}
	return p, true
}

// match finds the route for method and path. A trailing slash is optional
// everywhere (the official SDK sends "/contacts/"), and the consent page
// also answers at /v2/oauth/chooselocation (the marketplace's link).
func match(method, path string) (*route, [2]string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if slices.Contains(seg, "") {
		return nil, [2]string{}
	}
	if len(seg) == 3 && seg[0] == "v2" && seg[1] == "oauth" && seg[2] == "chooselocation" {
		seg = seg[1:]
	}
	for _, r := range byPrecedence {
		if r.method != method {
			continue
		}
		if p, ok := fit(r.shape, seg); ok {
			return r, p
		}
	}
	return nil, [2]string{}
}

// ServeHTTP is the whole request path: route, faults, bearer, rate limits,
// Version header, scope, handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, params := match(r.Method, r.URL.Path)
	s.counts.request(r.Method, rt)
	if rt == nil {
		s.write(w, reply{status: http.StatusNotFound, body: errNotFound("Cannot " + r.Method + " " + r.URL.Path)})
		return
	}
	var fd faultDecision
	if rt.api && s.faults.active() {
		fd = s.faults.decide()
		if fd.latency > 0 {
			s.counts.fault(faultLatency)
			t := time.NewTimer(fd.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch fd.kind {
		case fault5xx:
			s.counts.fault(fault5xx)
			s.write(w, gatewayReply(fd.status))
			return
		case faultDropBefore:
			s.counts.fault(faultDropBefore)
			dropConn(w)
			return
		}
	}
	q := &call{w: w, r: r, p: params}
	if rt.api {
		tok, rep := s.authenticate(r, rt)
		if rep != nil {
			s.write(w, *rep)
			return
		}
		q.tok = tok
		lc := s.counts.location(tok.resource(), s.now())
		if st := s.locFaults.draw(tok.resource()); st != 0 {
			s.counts.fault(fault5xx)
			s.write(w, gatewayReply(st))
			return
		}
		if rep := s.rateLimit(w, tok); rep != nil {
			lc.throttle(s.now(), s.opt.Interval)
			s.write(w, *rep)
			return
		}
		if rep := checkVersion(r, rt); rep != nil {
			s.write(w, *rep)
			return
		}
		if rt.scope != "" && !tok.hasScope(rt.scope) {
			s.write(w, reply{status: http.StatusForbidden, body: errForbidden(msgScope)})
			return
		}
	}
	rep := rt.h(s, q)
	switch fd.kind {
	case faultDropAfter:
		s.counts.fault(faultDropAfter)
		dropConn(w)
		return
	case fault422After:
		// Documented for writes (#64: created, yet answered 422); a read
		// that draws it is answered as usual.
		if rt.write && rep.status < 300 {
			s.counts.fault(fault422After)
			rep = reply{status: http.StatusUnprocessableEntity, body: errUnprocessable("Unprocessable Entity")}
		}
	}
	s.write(w, rep)
}

// dropConn closes the client's connection without an answer.
func dropConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, as a dying proxy gives
			}
			_ = c.Close()
			return
		}
	}
	// HTTP/2 or a recorder: the standard way to abort a response.
	panic(http.ErrAbortHandler)
}

func (s *Server) write(w http.ResponseWriter, rep reply) {
	b := rep.raw
	ct := rep.ctype
	if b == nil && rep.body != nil {
		var err error
		b, err = json.Marshal(rep.body)
		if err != nil {
			rep.status = http.StatusInternalServerError
			b = []byte(`{"statusCode":500,"message":"Internal server error"}`)
		}
		ct = "application/json; charset=utf-8"
	}
	h := w.Header()
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	if rep.location != "" {
		h.Set("Location", rep.location)
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	s.counts.status(rep.status)
	w.WriteHeader(rep.status)
	_, _ = w.Write(b)
}

// maxBody is the largest request body read (the real API's is not documented).
const maxBody = 10 << 20

// readBody decodes a JSON object body into its fields. A body that is not
// declared application/json is read as {} (as express does), so that the
// DTO check reports what is missing.
func readBody(q *call) (map[string]json.RawMessage, *reply) {
	ct, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	if ct != "application/json" && !strings.HasSuffix(ct, "+json") {
		_, _ = io.Copy(io.Discard, io.LimitReader(q.r.Body, maxBody))
		return map[string]json.RawMessage{}, nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &reply{status: http.StatusRequestEntityTooLarge, body: map[string]any{"statusCode": 413, "message": "request entity too large", "error": "Payload Too Large"}}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// Options.ReadTimeout ran out: the answer a proxy's body
			// timeout gives (nginx: 408), then the server closes.
			return nil, &reply{status: http.StatusRequestTimeout, body: badRequest{StatusCode: 408, Message: "Request Timeout"}}
		}
		return nil, &reply{status: http.StatusBadRequest, body: errBadRequest("request aborted")}
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		pos := int64(0)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			pos = se.Offset
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, &reply{status: http.StatusBadRequest, body: errBadRequest("Request body must be a JSON object")}
		}
		return nil, &reply{status: http.StatusBadRequest, body: errBadRequest(fmt.Sprintf("Unexpected token in JSON at position %d", pos))}
	}
	if fields == nil { // the literal null
		fields = map[string]json.RawMessage{}
	}
	return fields, nil
}

// validate checks fields against the named DTO; a non-nil reply is the 422.
func (s *Server) validate(name string, fields map[string]json.RawMessage) *reply {
	if msgs := s.dtos[name].check(fields); len(msgs) > 0 {
		return &reply{status: http.StatusUnprocessableEntity, body: errUnprocessable(msgs...)}
	}
	return nil
}

// ---- counts ----

// Counts are the requests a Server has answered since New or ResetCounts.
type Counts struct {
	Total       int64            // every request, matched or not
	ByMethod    map[string]int64 // "GET", "POST", ...
	ByRoute     map[string]int64 // "POST /contacts/upsert", "GET /contacts/{contactId}", "unmatched"
	ByStatus    map[int]int64    // status codes answered (dropped connections have none)
	Writes      int64            // requests to routes that change data (POST /contacts/search is a read)
	RateLimited int64            // 429 answers
	Faults      map[string]int64 // injected faults by kind: "5xx", "drop-before", "drop-after", "422-after", "latency"
	// ByLocation are the API requests whose bearer was valid, by the
	// token's location (the company's id for a Company token).
	ByLocation map[string]LocationCounts
	// RateLimitedLate is the 429s (rate or daily limit) answered after
	// their location's first rate window (Options.Interval from its first
	// request): a client that paces from the X-RateLimit-* headers should
	// see none.
	RateLimitedLate int64
}

// LocationCounts are one location's API requests.
type LocationCounts struct {
	Requests        int64 // with a valid bearer, injected 5xx included
	RateLimited     int64 // answered 429
	RateLimitedLate int64 // answered 429 after the location's first rate window
}

// FaultsTotal is the number of faults injected, latency excluded.
func (c Counts) FaultsTotal() int64 {
	var n int64
	for k, v := range c.Faults {
		if k != "latency" {
			n += v
		}
	}
	return n
}

type counters struct {
	total, writes, unmatched atomic.Int64
	methods                  [5]atomic.Int64 // GET POST PUT DELETE other
	routes                   [nRoutes]atomic.Int64
	statuses                 [600]atomic.Int64
	faults                   [nFaultKinds]atomic.Int64
	locs                     sync.Map // location -> *locCount
}

// locCount counts one location's requests; first is set before it is shared.
type locCount struct {
	first                        time.Time
	requests, throttled, tooLate atomic.Int64
}

// location counts a request of location id, which opens its first rate
// window if it is its first.
func (c *counters) location(id string, now time.Time) *locCount {
	v, ok := c.locs.Load(id)
	if !ok {
		v, _ = c.locs.LoadOrStore(id, &locCount{first: now})
	}
	lc := v.(*locCount)
	lc.requests.Add(1)
	return lc
}

// throttle counts a 429, and whether it came after the first window.
func (lc *locCount) throttle(now time.Time, window time.Duration) {
	lc.throttled.Add(1)
	if now.Sub(lc.first) >= window {
		lc.tooLate.Add(1)
	}
}

var methodNames = [5]string{"GET", "POST", "PUT", "DELETE", "other"}

func (c *counters) request(method string, rt *route) {
	c.total.Add(1)
	i := 4
	switch method {
	case "GET":
		i = 0
	case "POST":
		i = 1
	case "PUT":
		i = 2
	case "DELETE":
		i = 3
	}
	c.methods[i].Add(1)
	if rt == nil {
		c.unmatched.Add(1)
		return
	}
	c.routes[rt.id].Add(1)
	if rt.write {
		c.writes.Add(1)
	}
}

func (c *counters) status(code int) {
	if code >= 0 && code < len(c.statuses) {
		c.statuses[code].Add(1)
	}
}

func (c *counters) fault(k faultKind) { c.faults[k].Add(1) }

// Counts returns a snapshot of the request counters.
func (s *Server) Counts() Counts {
	c := &s.counts
	out := Counts{
		Total:       c.total.Load(),
		Writes:      c.writes.Load(),
		RateLimited: c.statuses[429].Load(),
		ByMethod:    map[string]int64{},
		ByRoute:     map[string]int64{},
		ByStatus:    map[int]int64{},
		Faults:      map[string]int64{},
		ByLocation:  map[string]LocationCounts{},
	}
	c.locs.Range(func(k, v any) bool {
		lc := v.(*locCount)
		l := LocationCounts{Requests: lc.requests.Load(), RateLimited: lc.throttled.Load(), RateLimitedLate: lc.tooLate.Load()}
		out.ByLocation[k.(string)] = l
		out.RateLimitedLate += l.RateLimitedLate
		return true
	})
	for i, n := range methodNames {
		if v := c.methods[i].Load(); v > 0 {
			out.ByMethod[n] = v
		}
	}
	for i, r := range routes {
		if v := c.routes[i].Load(); v > 0 {
			out.ByRoute[r.pattern] = v
		}
	}
	if v := c.unmatched.Load(); v > 0 {
		out.ByRoute["unmatched"] = v
	}
	for i := range c.statuses {
		if v := c.statuses[i].Load(); v > 0 {
			out.ByStatus[i] = v
		}
	}
	for i := range c.faults {
		if v := c.faults[i].Load(); v > 0 {
			out.Faults[faultKind(i).String()] = v
		}
	}
	return out
}

// hCounts is GET /_sandbox/counts: Counts as JSON.
func (s *Server) hCounts(*call) reply {
	return reply{status: http.StatusOK, body: s.Counts()}
}

// ResetCounts zeroes the counters.
func (s *Server) ResetCounts() {
	c := &s.counts
	c.total.Store(0)
	c.writes.Store(0)
	c.unmatched.Store(0)
	for i := range c.methods {
		c.methods[i].Store(0)
	}
	for i := range c.routes {
		c.routes[i].Store(0)
	}
	for i := range c.statuses {
		c.statuses[i].Store(0)
	}
	for i := range c.faults {
		c.faults[i].Store(0)
	}
	c.locs.Clear()
}
