package auth

import (
	"regexp"
	"strings"
)

// minSecret is the shortest string Redact replaces: shorter ones would
// blank innocent words.
const minSecret = 4

// secretPatterns catch a token wherever it is shaped like one: an
// Authorization header, and the OAuth parameters of a URL, a form body or
// JSON. The bare words "code" and "token" count as a key only before "="
// or as a quoted JSON key: in prose ("the access token: the token
// endpoint answered 400") they are words, and blanking the word after
// them made messages unreadable.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+`),
	regexp.MustCompile(`(?i)((?:access_token|refresh_token|client_secret|id_token|code_verifier)["']?\s*[=:]\s*["']?)[^&\s"',}]+`),
	regexp.MustCompile(`(?i)(\b(?:code|token)=)[^&\s"',}]+`),
	regexp.MustCompile(`(?i)(["'](?:code|token)["']\s*:\s*["']?)[^&\s"',}]+`),
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
