package listen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Path is where HighLevel posts webhooks.
const Path = "/webhooks/highlevel"

// Defaults the zero Options stand for.
const (
	DefaultAddr        = "127.0.0.1:8090"
	DefaultWindow      = 5 * time.Minute
	DefaultMaxBody     = 1 << 20 // HighLevel's events are a few KB; a contact with many custom fields stays well under
	DefaultMaxInFlight = 512
	DefaultQueue       = 4096
	DefaultMaxBatch    = 512
	DefaultHeartbeat   = 2 * time.Second
	retryAfterSeconds  = 1
)

// Options configure a Listener.
type Options struct {
	Journal *Journal // required; the Listener writes it, the caller closes it
	Keys    Keys     // the keys events are verified with (HighLevelKeys, or --public-key)

	// AppID, when set, keeps only events whose appId is it, as the SDK's
	// middleware does (appId = the OAuth client id up to its first '-',
	// AppIDOf); others are answered 200 and not journaled.
	AppID string

	Window      time.Duration // an event's timestamp must be within this of now; 0 = DefaultWindow
	MaxBody     int64         // 0 = DefaultMaxBody; larger bodies are answered 413
	MaxInFlight int           // requests handled at once; 0 = DefaultMaxInFlight; more are answered 429
	Queue       int           // events waiting for the writer; 0 = DefaultQueue; more are answered 429
	MaxBatch    int           // events per transaction; 0 = DefaultMaxBatch
	Heartbeat   time.Duration // how often the uptime span is marked alive; 0 = DefaultHeartbeat

	// Relays is the --relay/--rules config: each event a rule matches is
	// owed deliveries, journaled with it and sent by the listener's sender.
	Relays *Config
	Tasks  Tasks // for create_task rules; nil when no rule acts

	Logger *slog.Logger     // nil = discard
	Now    func() time.Time // nil = time.Now; tests move it
}

func (o *Options) setDefaults() {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Stats count what the listener answered.
type Stats struct {
	Journaled, Repeats, OtherApp, BadSignature, Stale, Malformed, TooLarge, Busy int64
}

type counters struct {
	journaled, repeats, otherApp, badSig, stale, malformed, tooLarge, busy atomic.Int64
}

// Listener is the webhook receiver: an http.Handler over a journal.
type Listener struct {
	opt      Options
	w        *writer
	span     int64
	inFlight chan struct{}
	n        counters
	stopBeat chan struct{}
	beatDone chan struct{}
	sender   *sender // nil without rules
}

// New journals the listener's start and starts its writer. Close it.
func New(opt Options) (*Listener, error) {
	if opt.Journal == nil {
		return nil, errors.New("listen: no journal")
	}
	if len(opt.Keys.Ed25519)+len(opt.Keys.RSA) == 0 {
		return nil, errors.New("no public key to verify webhooks with: give --public-key PEM")
	}
	opt.setDefaults()
	span, err := opt.Journal.startSpan(opt.Now())
	if err != nil {
		return nil, err
	}
	w, err := newWriter(opt.Journal, span, opt.Queue, opt.MaxBatch, func(err error) {
		opt.Logger.Warn("journal: cannot checkpoint the WAL; it will grow until one succeeds", "journal", opt.Journal.Path(), "err", err)
	})
	if err != nil {
		return nil, err
	}
	l := &Listener{
		opt: opt, span: span, w: w,
		inFlight: make(chan struct{}, opt.MaxInFlight),
		stopBeat: make(chan struct{}), beatDone: make(chan struct{}),
	}
	if len(opt.Relays.rules()) > 0 {
		l.sender = newSender(opt.Journal, opt.Relays, opt.Tasks, opt.Logger, opt.Now)
		l.w.route, l.w.wake = l.route, l.sender.wake
	}
	go l.heartbeat()
	return l, nil
}

// route is what ev owes; a condition that cannot run is logged, no match.
func (l *Listener) route(ev *Event) []outboxRow {
	rows, errs := l.opt.Relays.route(ev)
	for _, err := range errs {
		l.opt.Logger.Warn("rules: a condition failed; taken as no match", "err", err)
	}
	return rows
}

// heartbeat marks the uptime span alive, so that a killed listener's gap
// starts no later than one beat before it died.
func (l *Listener) heartbeat() {
	defer close(l.beatDone)
	t := time.NewTicker(l.opt.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-l.stopBeat:
			return
		case <-t.C:
			if err := l.opt.Journal.seeSpan(l.span, l.opt.Now()); err != nil {
				l.opt.Logger.Warn("journal: cannot mark the listener alive", "journal", l.opt.Journal.Path(), "err", err)
			}
		}
	}
}

// Close writes what is queued and journals the listener's stop. Stop the
// HTTP server first, so that no request is left waiting.
func (l *Listener) Close() error {
	l.w.close()
	if l.sender != nil {
		l.sender.close()
	}
	close(l.stopBeat)
	<-l.beatDone
	return l.opt.Journal.stopSpan(l.span, l.opt.Now())
}

// Stats is what the listener has answered so far.
func (l *Listener) Stats() Stats {
	return Stats{
		Journaled: l.n.journaled.Load(), Repeats: l.n.repeats.Load(), OtherApp: l.n.otherApp.Load(),
		BadSignature: l.n.badSig.Load(), Stale: l.n.stale.Load(), Malformed: l.n.malformed.Load(),
		TooLarge: l.n.tooLarge.Load(), Busy: l.n.busy.Load(),
	}
}

// Handler serves POST Path and GET /healthz.
func (l *Listener) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, l.serveWebhook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, "ok")
	})
	return mux
}

// reply is an answer's body; a struct, not a map, marshals without
// reflection over map keys (the fields keep the map's sorted order).
type reply struct {
	Message string `json:"message"`
	Status  int    `json:"status"`
}

func answer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(reply{Message: msg, Status: status})
	_, _ = w.Write(b)
}

func (l *Listener) busy(w http.ResponseWriter, msg string) {
	l.n.busy.Add(1)
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	answer(w, http.StatusTooManyRequests, msg)
}

// serveWebhook answers one delivery: 200 only once the event is in the
// journal (or was before).
func (l *Listener) serveWebhook(w http.ResponseWriter, r *http.Request) {
	select {
	case l.inFlight <- struct{}{}:
		defer func() { <-l.inFlight }()
	default:
		l.busy(w, "too many deliveries at once; retry")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, l.opt.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			l.n.tooLarge.Add(1)
			answer(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", l.opt.MaxBody))
			return
		}
		l.n.malformed.Add(1)
		answer(w, http.StatusBadRequest, "cannot read the body")
		return
	}
	status, msg := l.accept(r.Context(), r.Header, body)
	if status == http.StatusTooManyRequests {
		l.busy(w, msg)
		return
	}
	answer(w, status, msg)
}

// envelope is what the listener reads of an event; the body is kept whole.
type envelope struct {
	Type       string          `json:"type"`
	LocationID string          `json:"locationId"`
	WebhookID  string          `json:"webhookId"`
	Timestamp  json.RawMessage `json:"timestamp"`
	AppID      *string         `json:"appId"`
}

// accept verifies, checks and journals one body; it returns the answer.
func (l *Listener) accept(ctx context.Context, h http.Header, body []byte) (int, string) {
	sig, err := l.opt.Keys.Verify(h, body)
	if err != nil {
		l.n.badSig.Add(1)
		return http.StatusUnauthorized, err.Error()
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		l.n.malformed.Add(1)
		return http.StatusBadRequest, "the body is not a JSON object: " + err.Error()
	}
	if l.opt.AppID != "" && (env.AppID == nil || *env.AppID != l.opt.AppID) {
		l.n.otherApp.Add(1)
		return http.StatusOK, "not for this app: ignored"
	}
	now := l.opt.Now()
	ts, tsText, err := eventTime(env.Timestamp)
	if err != nil {
		l.n.malformed.Add(1)
		return http.StatusBadRequest, err.Error()
	}
	if d := now.Sub(ts); d > l.opt.Window || d < -l.opt.Window {
		l.n.stale.Add(1)
		return http.StatusBadRequest, fmt.Sprintf("timestamp %s is outside the %s window: refused as a possible replay", tsText, l.opt.Window)
	}
	return l.journal(ctx, &Event{
		WebhookID: webhookID(env.WebhookID, body), Type: env.Type, LocationID: env.LocationID,
		Timestamp: tsText, ReceivedAt: now, Signature: sig, Body: json.RawMessage(body),
	})
}

func (l *Listener) journal(ctx context.Context, ev *Event) (int, string) {
	kept, err := l.w.submit(ctx, ev)
	switch {
	case errors.Is(err, ErrBusy):
		return http.StatusTooManyRequests, "the journal is full for now; retry"
	case err != nil:
		l.opt.Logger.Error("journal: cannot write an event; answered 429", "journal", l.opt.Journal.Path(),
			"webhookId", ev.WebhookID, "err", err)
		return http.StatusTooManyRequests, "the journal cannot take the event now; retry"
	case !kept:
		l.n.repeats.Add(1)
		return http.StatusOK, "already journaled"
	}
	l.n.journaled.Add(1)
	return http.StatusOK, "journaled"
}

// webhookID is the event's webhookId; an event without one (none seen so
// far) is keyed by its body's hash, so that a repeat of it is still one.
func webhookID(id string, body []byte) string {
	if id != "" {
		return id
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// eventTime reads the event's timestamp: RFC 3339 as documented, or Unix
// milliseconds.
func eventTime(raw json.RawMessage) (time.Time, string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, "", errors.New("no timestamp in the event: cannot tell a replay; refused")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("timestamp %q: want RFC 3339 such as 2025-01-28T14:35:00Z", s)
		}
		return t, s, nil
	}
	var ms int64
	if err := json.Unmarshal(raw, &ms); err != nil {
		return time.Time{}, "", fmt.Errorf("timestamp %s: want RFC 3339 such as 2025-01-28T14:35:00Z", raw)
	}
	return time.UnixMilli(ms), string(raw), nil
}

// Server is the HTTP server around a handler, with the limits a public
// endpoint needs: a stalled or trickling sender cannot hold a connection.
func Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
}

// IsLoopback reports whether addr (HOST:PORT) binds only the loopback
// interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
