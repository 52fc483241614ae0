package sandbox

import (
	"fmt"
	"math/rand/v2"
	"net/http"
)

// The error bodies of common-schemas.json.

// badRequest is BadRequestDTO.
type badRequest struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// unauthorized is UnauthorizedDTO.
type unauthorized struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	Error      string `json:"error"`
}

// unprocessable is UnprocessableDTO.
type unprocessable struct {
	StatusCode int      `json:"statusCode"`
	Message    []string `json:"message"`
	Error      string   `json:"error"`
}

// forbidden is the 403 body: {statusCode, message} (DEVIATIONS.md).
type forbidden struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// Messages the sandbox answers with; see DEVIATIONS.md for where each
// comes from.
const (
	msgScope           = "The token is not authorized for this scope."
	msgLocation        = "The token does not have access to this location."
	msgTokenMissing    = "Invalid token: access token is missing"
	msgTokenInvalid    = "Invalid token: access token is invalid"
	msgTokenExpired    = "Invalid token: access token has expired"
	msgVersionMissing  = "Version header was not found"
	msgVersionInvalid  = "Version header is invalid"
	msgContactNotFound = "Contact not found"
	msgTaskNotFound    = "Task not found"
	msgNoteNotFound    = "Note not found"
	msgDuplicate       = "This location does not allow duplicated contacts."
)

func errBadRequest(msg string) badRequest { return badRequest{StatusCode: 400, Message: msg} }

func errUnauthorized(msg string) unauthorized {
	return unauthorized{StatusCode: 401, Message: msg, Error: "Unauthorized"}
}

func errForbidden(msg string) forbidden { return forbidden{StatusCode: 403, Message: msg} }

func errUnprocessable(msgs ...string) unprocessable {
	return unprocessable{StatusCode: 422, Message: msgs, Error: "Unprocessable Entity"}
}

func errNotFound(msg string) unauthorized {
	return unauthorized{StatusCode: 404, Message: msg, Error: "Not Found"}
}

func rep400(msg string) reply { return reply{status: http.StatusBadRequest, body: errBadRequest(msg)} }

func rep422(msgs ...string) reply {
	return reply{status: http.StatusUnprocessableEntity, body: errUnprocessable(msgs...)}
}

func rep403(msg string) reply { return reply{status: http.StatusForbidden, body: errForbidden(msg)} }

// gatewayReply is an injected 5xx: a JSON 500 from the service, or the HTML
// page a load balancer gives for 502 and 503.
func gatewayReply(status int) reply {
	if status == http.StatusInternalServerError {
		return reply{status: status, body: badRequest{StatusCode: 500, Message: "Internal server error"}}
	}
	text := http.StatusText(status)
	page := fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n</body>\r\n</html>\r\n", status, text, status, text)
	return reply{status: status, raw: []byte(page), ctype: "text/html"}
}

// supportedVersions are the Version header values accepted: the files'
// 2021-07-28 and the official SDK's default 2023-02-21.
var supportedVersions = map[string]bool{"2021-07-28": true, "2023-02-21": true}

func checkVersion(r *http.Request, rt *route) *reply {
	v := r.Header.Get("Version")
	if v == "" {
		rep := rep400(msgVersionMissing)
		return &rep
	}
	if !supportedVersions[v] && (rt.version == "" || v != rt.version) {
		rep := rep400(msgVersionInvalid)
		return &rep
	}
	return nil
}

// traceID is a fresh trace id like the API's (a UUID v4).
func traceID() string {
	a, b := rand.Uint64(), rand.Uint64()
	a = (a &^ (0xf << 12)) | (4 << 12)
	b = (b &^ (0x3 << 62)) | (0x2 << 62)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}
