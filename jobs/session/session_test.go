package session

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// Only an answer that says no is a refusal (exit 2); a network fault that
// outlived its retries is a failure (exit 1), a spent quota a stop (exit 3).
func TestRefusal(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"preflight says no", &auth.PreflightError{Need: auth.ScopeContactsWrite, Reason: "the token lacks contacts.write"}, pipeline.ExitRefused},
		{"no credentials", &auth.CredentialsError{Reason: "no token"}, pipeline.ExitRefused},
		{"403 answer", fmt.Errorf("reading custom fields: %w", &ghl.APIError{StatusCode: 403, Message: "The token is not authorized for this scope."}), pipeline.ExitRefused},
		{"503 after retries", &ghl.APIError{StatusCode: 503, Message: "Service Unavailable"}, pipeline.ExitFailed},
		{"connection reset", fmt.Errorf("preflight: %w", syscall.ECONNRESET), pipeline.ExitFailed},
		{"quota", pipeline.Stopped(&pace.QuotaError{}), pipeline.ExitStopped},
		{"host does not resolve", fmt.Errorf("preflight: %w", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "api.nowhere.invalid", IsNotFound: true}}), pipeline.ExitRefused},
	}
	for _, tt := range tests {
		if got := pipeline.ExitCode(Refusal(tt.err)); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}

// Open against the sandbox: a working token opens a session, every
// request goes through the command's hook, and what the API or the
// credentials refuse exits 2, a spent quota 3.
func TestOpenAgainstSandbox(t *testing.T) {
	tests := []struct {
		name     string
		token    func(sb *sandbox.Server, good string) string
		location func(sb *sandbox.Server) string
		need     auth.Scope
		want     int
	}{
		{"reads", nil, nil, auth.ScopeContactsRead, pipeline.ExitOK},
		{"bad token", func(*sandbox.Server, string) string { return "not-a-token" }, nil, auth.ScopeContactsRead, pipeline.ExitRefused},
		{"other location", nil, func(*sandbox.Server) string { return "nowhere" }, auth.ScopeContactsRead, pipeline.ExitRefused},
		{"read-only token asked to write", func(sb *sandbox.Server, _ string) string {
			tok, err := sb.IssueToken(sb.LocationID(), []string{"contacts.readonly"}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, nil, auth.ScopeContactsWrite, pipeline.ExitRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb, err := sandbox.New(sandbox.Options{Addr: "127.0.0.1:0", Rate: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			url, err := sb.Start()
			if err != nil {
				t.Fatal(err)
			}
			tok, err := sb.IssueToken(sb.LocationID(), sandbox.AllScopes, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != nil {
				tok = tt.token(sb, tok)
			}
			loc := sb.LocationID()
			if tt.location != nil {
				loc = tt.location(sb)
			}
			var sent atomic.Int64
			hook := func(next http.RoundTripper) http.RoundTripper {
				return roundTripFunc(func(r *http.Request) (*http.Response, error) { sent.Add(1); return next.RoundTrip(r) })
			}
			s, err := open(t.Context(), url, loc, tok, tt.need, hook)
			if got := pipeline.ExitCode(err); got != tt.want {
				t.Fatalf("exit %d, want %d: %v", got, tt.want, err)
			}
			if err == nil && (s.Location != loc || sent.Load() == 0) {
				t.Errorf("session for %q, %d requests through the hook", s.Location, sent.Load())
			}
		})
	}
}

func open(ctx context.Context, url, loc, token string, need auth.Scope, wrap func(http.RoundTripper) http.RoundTripper) (*Session, error) {
	getenv := func(k string) string {
		if k == "GHL_TOKEN" {
			return token
		}
		return ""
	}
	return Open(ctx, Options{
		Auth:     auth.Options{APIURL: url, TokenFile: "/nonexistent/token.json", Getenv: getenv},
		Location: loc, Need: need, Wrap: wrap,
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A call before the run that meets a spent daily quota stops (exit 3)
// rather than refusing: the same command goes on once the quota resets.
func TestBeforeRunStopsOnSpentQuota(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{Addr: "127.0.0.1:0", Rate: -1, Daily: 2, DailyWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	url, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sb.IssueToken(sb.LocationID(), sandbox.AllScopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, err := open(t.Context(), url, sb.LocationID(), tok, auth.ScopeContactsRead, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := s.Context(t.Context())
	search := func(ctx context.Context) error {
		_, err := s.Client.SearchContacts(ctx, ghl.SearchRequest{LocationID: s.Location, PageLimit: 1})
		return err
	}
	var last error
	for range 3 {
		if last = s.BeforeRun(ctx, search); last != nil {
			break
		}
	}
	if got := pipeline.ExitCode(last); got != pipeline.ExitStopped {
		t.Fatalf("exit %d, want %d: %v", got, pipeline.ExitStopped, last)
	}
	if left := s.DailyQuotaLeft(); left != "0 of 2" {
		t.Errorf("daily quota left %q, want 0 of 2", left)
	}
}

// A connection that fails is said at once, then retried; a host that does
// not resolve is not retried and is a refusal (exit 2) naming the fix.
func TestBeforeRunUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	nxdomain := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "api.nowhere.invalid", IsNotFound: true}}
	tests := []struct {
		name      string
		fail      error
		wantCalls int
		wantLog   string
		wantExit  int
	}{
		{"refused, then answered", refused, 2, "cannot reach http://127.0.0.1:9: dial tcp: connection refused; retrying up to 10 times", pipeline.ExitOK},
		{"no such host", nxdomain, 1, "", pipeline.ExitRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &Session{apiURL: "http://127.0.0.1:9", log: slog.New(slog.NewTextHandler(&logs, nil))}
			calls := 0
			err := s.BeforeRun(context.Background(), func(context.Context) error {
				calls++
				if calls == 1 {
					if logs.Len() != 0 {
						t.Errorf("logged before the first attempt: %s", logs.String())
					}
					return tt.fail
				}
				if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
					t.Errorf("second attempt, and the first failure not yet said: %q", logs.String())
				}
				return nil
			})
			if calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
			if got := pipeline.ExitCode(Refusal(err)); got != tt.wantExit {
				t.Errorf("exit %d, want %d (err %v)", got, tt.wantExit, err)
			}
			if tt.wantExit == pipeline.ExitRefused && !strings.Contains(Refusal(err).Error(), "--api-url") {
				t.Errorf("the refusal does not name the fix: %v", Refusal(err))
			}
		})
	}
}
