package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrOtherHost matches every *OtherHostError: a request (or a redirect)
// would have gone to a host other than the API's, and was not sent. The
// CLI exits 2 on it, and it is never retried.
var ErrOtherHost = errors.New("refused to send to a host other than the API's")

// OtherHostError is a redirect (or a request) to a host other than the
// API's, refused before anything was sent there: the bearer token, a
// token endpoint's form (client secret, refresh token) and contact data go
// only to the API's own scheme, host and port.
type OtherHostError struct {
	API      string // the API's origin, scheme://host:port
	To       string // the refused target's origin (never its path or query)
	Redirect bool   // the API answered with a redirect to To
}

func (e *OtherHostError) Error() string {
	what := "refused to send a request to " + e.To
	if e.Redirect {
		what = fmt.Sprintf("refused to follow a redirect from %s to %s", e.API, e.To)
	}
	return fmt.Sprintf("%s, another host: ghlbulk sends the token and contact data only to the API's own host "+
		"(check --api-url / GHL_API_URL; if %s is really HighLevel's API, set it as the API URL)", what, e.To)
}

// Is makes errors.Is(err, ErrOtherHost) hold.
func (e *OtherHostError) Is(target error) bool { return target == ErrOtherHost }

// NewClient is the one constructor of the http.Clients that talk to
// HighLevel (the API session, the token endpoint, login, the location
// token): none follows a redirect to another host (CheckRedirect), and
// with a token source the Transport adds the bearer token only to requests
// for apiURL's origin. A redirect within that origin follows the standard
// library's rules (at most 10; 307/308 replay the body). src nil: no
// Authorization header (the token endpoint); base nil:
// http.DefaultTransport.
func NewClient(apiURL string, base http.RoundTripper, src oauth2.TokenSource, timeout time.Duration) *http.Client {
	apiURL = Options{APIURL: apiURL}.apiURL()
	rt := base
	if src != nil {
		rt = &Transport{Source: src, Base: base, APIURL: apiURL}
	}
	return &http.Client{Transport: rt, Timeout: timeout, CheckRedirect: sameHostRedirects(apiURL)}
}

// sameHostRedirects follows a redirect only within apiURL's origin.
func sameHostRedirects(apiURL string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if err := checkOrigin(apiURL, req.URL); err != nil {
			var oh *OtherHostError
			if errors.As(err, &oh) {
				oh.Redirect = true
			}
			return err
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// checkOrigin returns an *OtherHostError unless u has apiURL's scheme,
// host and port (a missing port is the scheme's default).
func checkOrigin(apiURL string, u *url.URL) error {
	api, err := url.Parse(apiURL)
	if err != nil {
		return fmt.Errorf("the API URL %q is not a URL: %w", apiURL, err)
	}
	if origin(api) != origin(u) {
		return &OtherHostError{API: origin(api), To: origin(u)}
	}
	return nil
}

// origin is scheme://host:port, lower case, with the scheme's default port
// filled in, so that http://x and http://X:80 compare equal.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}
