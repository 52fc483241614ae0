package listen

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// The kinds of relay, told by the URL.
const (
	KindSlack = "slack" // {"text": ...}
	KindTeams = "teams" // a MessageCard
	KindHTTP  = "http"  // the event's JSON, signed
	KindSMTP  = "smtp"  // an email
)

// Secrets are a relay's credentials, read from the environment variables
// the rules file names: never flags, never logged.
type Secrets struct {
	HMAC               string // KindHTTP: the X-Ghlbulk-Signature key
	Username, Password string // KindSMTP: PLAIN auth
}

// Relay is one place alerts go.
type Relay struct {
	Name, Kind string
	endpoint   string // http(s) URL, or host:port for smtp
	from       string
	to         []string
	sec        Secrets
}

// NewRelay reads a relay's URL: hooks.slack.com is Slack, a
// webhook.office.com (or logic.azure.com) host is Teams, smtp:// is email,
// any other http(s) URL is generic JSON; "slack+", "teams+" or "http+"
// before the scheme forces the kind (a proxy, a test receiver).
func NewRelay(name, raw string, sec Secrets) (*Relay, error) {
	kind, rest, forced := "", raw, false
	if k, r, ok := strings.Cut(raw, "+"); ok && (k == KindSlack || k == KindTeams || k == KindHTTP) {
		kind, rest, forced = k, r, true
	}
	u, err := url.Parse(rest)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("URL %q is not an absolute URL", raw)
	}
	r := &Relay{Name: name, Kind: kind, endpoint: rest, sec: sec}
	switch {
	case u.Scheme == "smtp" && !forced:
		return r.smtp(u)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q is not http, https or smtp", u.Scheme)
	case forced:
	case u.Host == "hooks.slack.com":
		r.Kind = KindSlack
	case strings.HasSuffix(u.Host, "webhook.office.com") || strings.HasSuffix(u.Host, "logic.azure.com"):
		r.Kind = KindTeams
	default:
		r.Kind = KindHTTP
	}
	return r, nil
}

func (r *Relay) smtp(u *url.URL) (*Relay, error) {
	r.Kind, r.endpoint = KindSMTP, u.Host
	if u.Port() == "" {
		r.endpoint = net.JoinHostPort(u.Hostname(), "25")
	}
	q := u.Query()
	r.from = q.Get("from")
	for _, t := range strings.Split(q.Get("to"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			r.to = append(r.to, t)
		}
	}
	if r.from == "" || len(r.to) == 0 {
		return nil, errors.New("an smtp relay needs ?from=ADDRESS&to=ADDRESS[,ADDRESS]")
	}
	if u.User != nil {
		return nil, errors.New("credentials do not go in the URL: name their variables in the rules file (username_env, password_env)")
	}
	return r, nil
}

// Message is one delivery: Key is its idempotency key (webhookId + relay
// name), sent as Idempotency-Key (HTTP) or X-Idempotency-Key (email).
type Message struct {
	Key     string
	Subject string
	Text    string
	JSON    json.RawMessage // KindHTTP's body: the event (or a run's summary)
}

// Send delivers m once. An error is a failed attempt; the outbox retries.
func (r *Relay) Send(ctx context.Context, hc *http.Client, m Message) error {
	switch r.Kind {
	case KindSMTP:
		return r.sendMail(ctx, m)
	case KindSlack:
		return r.post(ctx, hc, m.Key, mustJSON(map[string]string{"text": m.Text}))
	case KindTeams:
		return r.post(ctx, hc, m.Key, mustJSON(map[string]string{
			"@type": "MessageCard", "@context": "https://schema.org/extensions",
			"summary": m.Subject, "title": m.Subject, "text": m.Text,
		}))
	}
	return r.post(ctx, hc, m.Key, m.JSON)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Signature is X-Ghlbulk-Signature's value for body under key.
func Signature(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (r *Relay) post(ctx context.Context, hc *http.Client, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	if r.Kind == KindHTTP && r.sec.HMAC != "" {
		req.Header.Set("X-Ghlbulk-Signature", Signature(r.sec.HMAC, body))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("relay %s: %w", r.Name, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("relay %s: answered %s: %s", r.Name, resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// sendMail is one SMTP conversation, bounded by ctx (net/smtp has no
// context of its own: the deadline is the connection's).
func (r *Relay) sendMail(ctx context.Context, m Message) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", r.endpoint)
	if err != nil {
		return fmt.Errorf("relay %s: %w", r.Name, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(r.endpoint)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("relay %s: %w", r.Name, err)
	}
	defer c.Close()
	if err := r.mailSteps(c, host, m); err != nil {
		return fmt.Errorf("relay %s: %w", r.Name, err)
	}
	return c.Quit()
}

func (r *Relay) mailSteps(c *smtp.Client, host string, m Message) error {
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(tlsConfig(host)); err != nil {
			return err
		}
	}
	if r.sec.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", r.sec.Username, r.sec.Password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(r.from); err != nil {
		return err
	}
	for _, t := range r.to {
		if err := c.Rcpt(t); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(r.mail(m)); err != nil {
		return err
	}
	return w.Close()
}

// mail is the message's bytes: headers (the key as X-Idempotency-Key and in
// the Message-ID, so that a repeat is recognisable), then the text.
func (r *Relay) mail(m Message) []byte {
	var b bytes.Buffer
	subject := m.Subject
	if subject == "" {
		subject = "ghlbulk alert"
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\n", r.from, strings.Join(r.to, ", "), oneLine(subject))
	fmt.Fprintf(&b, "Message-ID: <%x@ghlbulk>\r\nX-Idempotency-Key: %s\r\n", sha256.Sum256([]byte(m.Key)), oneLine(m.Key))
	fmt.Fprintf(&b, "Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", time.Now().Format(time.RFC1123Z))
	b.WriteString(m.Text) // the DATA writer stuffs dots and ends lines with CRLF
	b.WriteString("\n")
	return b.Bytes()
}

// oneLine keeps a header value on its line: an event's text cannot add
// headers.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
