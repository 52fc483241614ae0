package main

import (
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// TestAuthStatusChecksEnvToken: with GHL_TOKEN set, auth status asks
// HighLevel whether the token works and says valid or invalid, never
// printing the token; invalid exits 2.
func TestAuthStatusChecksEnvToken(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1})
	const bad = "pit-0000-not-a-live-token"
	cases := []struct {
		name  string
		env   []string
		token string
		code  int
		want  string
	}{
		{"valid", s.env(), s.Token, 0, "token:       valid"},
		{"invalid", []string{"GHL_API_URL=" + s.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN=" + bad}, bad, exitRefused, "token:       invalid"},
		{"no location", []string{"GHL_API_URL=" + s.URL, "GHL_TOKEN=" + s.Token}, s.Token, 0, "token:       not checked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, c.env, "auth", "status")
			if r.code != c.code || !strings.Contains(r.stdout, c.want) {
				t.Fatalf("auth status: exit %d (want %d), stdout lacks %q:\n%s%s", r.code, c.code, c.want, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, c.token) {
				t.Errorf("auth status printed the token:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}
