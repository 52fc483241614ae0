// Package sandbox is a local HighLevel API (v2) that a developer can point
// HighLevel's official SDK, or ghlbulk, at. It serves the Contacts
// endpoints ghlbulk uses, the custom field definitions of a location and
// the OAuth token endpoints, in memory by default or written through to a
// SQLite file (Options.DataPath), and behaves as the real API does where
// that is known; DEVIATIONS.md lists every place where the official files
// are wrong or silent and what the sandbox chose.
//
// # Served
//
//	GET    /contacts/                 POST /contacts/            POST /contacts/upsert
//	POST   /contacts/search           GET  /contacts/business/{businessId}
//	GET|PUT|DELETE /contacts/{contactId}
//	GET|POST /contacts/{contactId}/tasks   GET|PUT|DELETE /contacts/{contactId}/tasks/{taskId}
//	PUT    /contacts/{contactId}/tasks/{taskId}/completed
//	GET|POST /contacts/{contactId}/notes   GET|PUT|DELETE /contacts/{contactId}/notes/{id}
//	GET    /contacts/{contactId}/appointments
//	POST|DELETE /contacts/{contactId}/tags
//	POST   /contacts/bulk/tags/update/{add|remove}   POST /contacts/bulk/business
//	GET    /locations/{locationId}/customFields
//	POST   /locations/{locationId}/tasks/search
//	GET    /calendars/?locationId=   GET /calendars/events
//	POST   /calendars/events/appointments   PUT /calendars/events/appointments/{eventId}
//	DELETE /calendars/events/{eventId}
//	POST   /oauth/token   POST /oauth/locationToken   GET /oauth/chooselocation
//
// A trailing slash is accepted on every path. Every API request needs a
// bearer token (401 without a valid one), a Version header of 2021-07-28 or
// 2023-02-21 (also 2021-04-15 on the calendars endpoints, as calendars.json
// declares; 400 without), the route's scope (403 "The token is not
// authorized for this scope.") and, where the request names a location,
// the token's own location (403 "The token does not have access to this
// location."). Bodies are checked against the DTOs of contacts.json: an
// unknown property, a missing required one or a wrong type is a 422
// UnprocessableDTO with class-validator's messages.
//
// # Rate limits
//
// Per app (OAuth client) and location: Options.Rate requests per
// Options.Interval (default 100 per 10 s) and Options.Daily per
// Options.DailyWindow (default 200,000 per 24 h), each a fixed window
// opened by its first request. Every authenticated answer carries
// X-RateLimit-Limit-Daily, X-RateLimit-Daily-Remaining,
// X-RateLimit-Interval-Milliseconds, X-RateLimit-Max and
// X-RateLimit-Remaining; past a limit the answer is 429 with Retry-After,
// and a spent daily quota shows X-RateLimit-Daily-Remaining: 0. A negative
// Rate turns the burst limit off and a negative Daily the daily one, for
// benchmarks; the headers are still sent (with limits of 2^30), so that a
// client's pacer learns that it may go fast.
//
// # Faults
//
// Options.Faults, parsed by ParseFaults from the --faults flag, injects
// failures into API requests (never into /oauth). The syntax is
// comma-separated key=value pairs:
//
//	5xx=0.05          share answered 500 (JSON) or 502/503 (an HTML gateway page)
//	drop-before=0.02  share whose connection is reset before the request is applied
//	drop-after=0.02   share applied, then the connection reset with no answer
//	422-after=0.01    share of writes applied, then answered 422 (the real API
//	                  has created a contact and still answered 422); a read
//	                  that draws it is answered as usual
//	latency=20ms      added to every request; latency=5ms-50ms draws uniformly
//	seed=7            seed of the draws (default 1)
//	location=ID:5xx=1         share of location ID's requests answered 500/502/503
//	                          (1: a storm); the other locations serve normally
//	location=ID:daily=spent   location ID's daily quota spent from the start:
//	                          429 "Daily request limit exceeded" with
//	                          X-RateLimit-Daily-Remaining: 0 until the daily
//	                          window rolls over
//
// for example "5xx=0.05,drop-before=0.02,drop-after=0.02,latency=20ms,seed=7".
// Shares are probabilities (or percentages: "5%") and add up to at most 1.
// The fate of the n-th API request depends only on the seed and n, so a
// test that sends its requests one at a time replays exactly. Tests reach
// the location faults through StormLocation and SpendDailyQuota too (and
// revoke an install with RefuseLocation).
//
// # Seed data
//
// Options.Contacts seeds that many contacts in the default location, with
// tasks, notes, appointments, businesses and custom field values; the same
// Options.Seed and location give the same data. Every location has the same
// six custom field definitions (TEXT, NUMERICAL, DATE, SINGLE_OPTIONS,
// MULTIPLE_OPTIONS, and an opportunity field), with ids that depend only on
// the location id. With a DataPath, seeding happens only when the file is
// new.
//
// # OAuth
//
// IssueToken mints a Location token directly. The OAuth flow works as the
// real one: GET /oauth/chooselocation redirects straight to redirect_uri
// with a code (the real page is on the marketplace site and asks a human),
// POST /oauth/token exchanges it (authorization_code) and refreshes
// (refresh_token; each refresh returns a new refresh token and the old one
// stops working), and POST /oauth/locationToken turns a Company token into a
// Location one. The default client is "ghlbulk-sandbox" with secret
// "sandbox-secret" — unless Options.Addr binds beyond loopback (":8089",
// "0.0.0.0:8089", a LAN address; see IsLoopback), where anyone who reaches
// the port could otherwise get tokens: then the secret is random, and
// ClientSecret tells it.
//
// # Serving
//
// Start's server cuts slow clients off: Options.ReadHeaderTimeout (10 s),
// ReadTimeout (60 s for a request's headers and body; a body cut off is
// answered 408), WriteTimeout (ReadTimeout + 60 s), IdleTimeout (2 min for
// a keep-alive connection) and MaxHeaderBytes (64 KiB; beyond, 431). A
// DataPath file and its -wal and -shm companions are mode 0600: they hold
// tokens.
//
// Counts reports what was served, for tests that assert, say, zero writes,
// by location too (Counts.ByLocation), and counts the 429s answered after a
// location's first rate window (Counts.RateLimitedLate); GET
// /_sandbox/counts (not HighLevel's; no token needed, no secret in it)
// serves the same as JSON, for benchmarks that run the sandbox as a process.
//
// Floor 1 (docs/design.md): imports only ghl/spec; nothing of ghlbulk's engine or jobs.
package sandbox
