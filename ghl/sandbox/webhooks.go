package sandbox

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WebhookOptions make the sandbox send HighLevel's webhooks for its writes,
// signed as HighLevel signs them: x-ghl-signature (Ed25519) and the legacy
// x-wh-signature (RSA-SHA256), both over the body, with keys made when the
// sandbox starts (WebhookPublicKeys). Delivery is asynchronous, from a
// bounded queue, so a write's answer never waits for a webhook: when the
// queue is full the event is dropped and counted (WebhookStats.Dropped).
type WebhookOptions struct {
	URL      string        // "" = no webhooks
	AppID    string        // the events' appId; "" = the default client's ("ghlbulk", as the SDK derives it)
	Queue    int           // events waiting to be sent; 0 = 10000
	Workers  int           // concurrent deliveries; 0 = 4
	Attempts int           // tries per event (retried on any non-2xx or a failed connection); 0 = 8
	Client   *http.Client  // nil = a client with a 10 s timeout
	MaxWait  time.Duration // the longest wait between tries (and the cap on Retry-After); 0 = 5s
}

// WebhookStats count the webhooks sent so far.
type WebhookStats struct {
	Queued    int64 // events made by writes
	Delivered int64 // answered 2xx
	Dropped   int64 // the queue was full
	Failed    int64 // no 2xx after every attempt
	Attempts  int64 // requests sent
}

type webhookSender struct {
	opt   WebhookOptions
	ed    ed25519.PrivateKey
	rsa   *rsa.PrivateKey
	queue chan []byte
	logf  func(string, ...any)

	queued, delivered, dropped, failed, attempts atomic.Int64
	pending                                      atomic.Int64 // events queued and not yet settled
	stop                                         context.CancelFunc
	done                                         sync.WaitGroup
}

func newWebhookSender(opt WebhookOptions, logf func(string, ...any)) (*webhookSender, error) {
	if opt.AppID == "" {
		opt.AppID, _, _ = strings.Cut(DefaultClientID, "-")
	}
	opt.Queue = cmpOr(opt.Queue, 10000)
	opt.Workers = cmpOr(opt.Workers, 4)
	opt.Attempts = cmpOr(opt.Attempts, 8)
	if opt.MaxWait <= 0 {
		opt.MaxWait = 5 * time.Second
	}
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: 10 * time.Second}
	}
	_, ed, err := ed25519.GenerateKey(cryptorand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sandbox: webhook key: %w", err)
	}
	rk, err := rsa.GenerateKey(cryptorand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("sandbox: webhook key: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhookSender{opt: opt, ed: ed, rsa: rk, queue: make(chan []byte, opt.Queue), logf: logf, stop: cancel}
	for range opt.Workers {
		w.done.Add(1)
		go w.work(ctx)
	}
	return w, nil
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// publicKeys are the two public keys as PEM: what a receiver verifies with.
func (w *webhookSender) publicKeys() []byte {
	var out []byte
	for _, pub := range []any{w.ed.Public(), &w.rsa.PublicKey} {
		der, _ := x509.MarshalPKIXPublicKey(pub)
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	return out
}

// enqueue queues one event's body; it never waits.
func (w *webhookSender) enqueue(body []byte) {
	w.queued.Add(1)
	w.pending.Add(1)
	select {
	case w.queue <- body:
	default:
		w.pending.Add(-1)
		w.dropped.Add(1)
		w.logf("webhooks: queue full (%d): an event was dropped", w.opt.Queue)
	}
}

func (w *webhookSender) work(ctx context.Context) {
	defer w.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case body := <-w.queue:
			w.deliver(ctx, body)
			w.pending.Add(-1)
		}
	}
}

// deliver sends one event until a 2xx, retrying with a doubling wait. The
// body and its signatures stay the same across tries, as HighLevel's
// retries keep the webhookId.
func (w *webhookSender) deliver(ctx context.Context, body []byte) {
	sum := sha256.Sum256(body)
	rsaSig, err := rsa.SignPKCS1v15(cryptorand.Reader, w.rsa, crypto.SHA256, sum[:])
	if err != nil {
		w.failed.Add(1)
		return
	}
	edSig := base64.StdEncoding.EncodeToString(ed25519.Sign(w.ed, body))
	whSig := base64.StdEncoding.EncodeToString(rsaSig)
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		retryAfter, ok := w.post(ctx, body, edSig, whSig)
		if ok {
			w.delivered.Add(1)
			return
		}
		if attempt >= w.opt.Attempts || ctx.Err() != nil {
			w.failed.Add(1)
			w.logf("webhooks: no 2xx from %s after %d attempts: an event was not delivered", w.opt.URL, attempt)
			return
		}
		d := min(max(wait, retryAfter), w.opt.MaxWait)
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		wait *= 2
	}
}

func (w *webhookSender) post(ctx context.Context, body []byte, edSig, whSig string) (retryAfter time.Duration, ok bool) {
	w.attempts.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opt.URL, bytes.NewReader(body))
	if err != nil {
		return 0, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-ghl-signature", edSig)
	req.Header.Set("x-wh-signature", whSig)
	resp, err := w.opt.Client.Do(req)
	if err != nil {
		return 0, false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return retryAfter, resp.StatusCode/100 == 2
}

func (w *webhookSender) stats() WebhookStats {
	return WebhookStats{Queued: w.queued.Load(), Delivered: w.delivered.Load(), Dropped: w.dropped.Load(),
		Failed: w.failed.Load(), Attempts: w.attempts.Load()}
}

// close stops the workers: what is still queued is not sent.
func (w *webhookSender) close() {
	w.stop()
	w.done.Wait()
}

// The documented payload fields of each event (webhook-events/*.md); what
// the sandbox stores beyond them is left out.
var (
	contactEventFields = []string{"id", "address1", "city", "state", "companyName", "country", "source", "dateAdded",
		"dateOfBirth", "dnd", "email", "name", "firstName", "lastName", "phone", "postalCode", "tags", "website",
		"attachments", "assignedTo", "customFields"}
	noteEventFields = []string{"id", "body", "contactId", "dateAdded"}
	taskEventFields = []string{"id", "assignedTo", "body", "contactId", "title", "dateAdded", "dueDate"}
)

// webhookBody is the body of one event: the documented fields of v, then
// the envelope (type, locationId, appId, webhookId, timestamp).
func (s *Server) webhookBody(typ, locationID string, v any, fields []string) []byte {
	raw, _ := json.Marshal(v)
	var all map[string]json.RawMessage
	_ = json.Unmarshal(raw, &all)
	m := map[string]any{}
	for _, f := range fields {
		if x, ok := all[f]; ok {
			m[f] = x
		}
	}
	if typ == "ContactDndUpdate" {
		if x, ok := all["dndSettings"]; ok {
			m["dndSettings"] = x
		}
	}
	if strings.HasPrefix(typ, "Appointment") {
		m = map[string]any{"appointment": v}
	}
	m["type"], m["locationId"], m["appId"] = typ, locationID, s.hooks.opt.AppID
	m["webhookId"], m["timestamp"] = webhookID(), time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(m)
	return b
}

func webhookID() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// webhook queues the event typ for v, if webhooks are on. Writes call it
// with the lock held: it only builds the body and queues it.
func (s *Server) webhook(typ, locationID string, v any) {
	if s.hooks == nil {
		return
	}
	fields := contactEventFields
	switch {
	case strings.HasPrefix(typ, "Note"):
		fields = noteEventFields
	case strings.HasPrefix(typ, "Task"):
		fields = taskEventFields
	}
	s.hooks.enqueue(s.webhookBody(typ, locationID, v, fields))
}

// contactChanged queues the events of an update from old to c:
// ContactTagUpdate when the tags changed, ContactDndUpdate when DND did,
// and ContactUpdate when anything else did (or nothing did: an update that
// changes nothing is still an update).
func (s *Server) contactChanged(locationID string, old, c *contact) {
	if s.hooks == nil {
		return
	}
	if old == nil {
		s.webhook("ContactUpdate", locationID, c)
		return
	}
	tags := !slices.Equal(old.Tags, c.Tags)
	dnd := old.DND != c.DND || !jsonEqual(old.DNDSettings, c.DNDSettings)
	if !(tags || dnd) || otherFieldsChanged(old, c) {
		s.webhook("ContactUpdate", locationID, c)
	}
	if tags {
		s.webhook("ContactTagUpdate", locationID, c)
	}
	if dnd {
		s.webhook("ContactDndUpdate", locationID, c)
	}
}

// otherFieldsChanged: a and b differ beyond tags, DND and their update time.
func otherFieldsChanged(a, b *contact) bool {
	x, y := *a, *b
	x.Tags, y.Tags = nil, nil
	x.DND, y.DND = false, false
	x.DNDSettings, y.DNDSettings = nil, nil
	x.DateUpdated, y.DateUpdated = "", ""
	x.updatedMs, y.updatedMs = 0, 0
	return !jsonEqual(&x, &y)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// WebhookPublicKeys are the public halves of the keys the sandbox signs
// webhooks with, as PEM (Ed25519, then RSA); nil when webhooks are off.
func (s *Server) WebhookPublicKeys() []byte {
	if s.hooks == nil {
		return nil
	}
	return s.hooks.publicKeys()
}

// WebhookStats counts the webhooks sent so far.
func (s *Server) WebhookStats() WebhookStats {
	if s.hooks == nil {
		return WebhookStats{}
	}
	return s.hooks.stats()
}

// WebhooksIdle waits until every queued webhook is delivered, failed or
// dropped, or ctx is done.
func (s *Server) WebhooksIdle(ctx context.Context) error {
	if s.hooks == nil {
		return nil
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.hooks.pending.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
