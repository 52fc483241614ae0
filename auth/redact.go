package auth

import (
	"regexp"
	"strings"
)

// minSecret is the shortest string Redact replaces: shorter ones would
// blank innocent words.
const minSecret = 4

// secretPatterns catch a token wherever it is shaped like one: an
// Authorization header, and the OAuth parameters of a URL or form body.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+`),
	regexp.MustCompile(`(?i)((?:access_token|refresh_token|client_secret|code|id_token|token)["']?\s*[=:]\s*["']?)[^&\s"',}]+`),
}

// Redact returns s with each of secrets (those at least 4 characters long)
// and anything shaped like a bearer token or an OAuth secret parameter
// replaced by REDACTED. Use it on any URL, error or dump that might carry a
// token before it is printed.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= minSecret {
			s = strings.ReplaceAll(s, sec, "REDACTED")
		}
	}
	for _, re := range secretPatterns {
		s = re.ReplaceAllString(s, "${1}REDACTED")
	}
	return s
}
