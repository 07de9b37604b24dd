package dc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
)

// ErrorMessage is one entry of Data Center's error envelope
// {"errors": [{"context", "message", "exceptionName"}]}.
type ErrorMessage struct {
	// Context names the offending field, when there is one (the live API sends null
	// otherwise).
	Context string `json:"context"`
	Message string `json:"message"`
	// ExceptionName is the Java exception, e.g.
	// "com.atlassian.bitbucket.AuthorisationException".
	ExceptionName string `json:"exceptionName"`
}

// ErrorResponse is a non-2xx answer from a Data Center server. Every field has been
// scrubbed of the credential's secrets.
type ErrorResponse struct {
	Method string
	// URL is the request URL, redacted.
	URL string
	// Route is the endpoint template, e.g. "/keys/latest/projects/{projectKey}/ssh".
	Route      string
	StatusCode int
	// Errors is the decoded envelope; empty when the body was not one.
	Errors []ErrorMessage
	// Body is a capped snippet of a body that was not the envelope (a proxy's page).
	Body string
}

// Field reports whether one of the errors is about the request body's field name (the
// envelope's "context", e.g. "expiryDays" for a lifetime the server does not allow).
func (e *ErrorResponse) Field(name string) bool {
	for _, m := range e.Errors {
		if m.Context == name {
			return true
		}
	}
	return false
}

func (e *ErrorResponse) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	var msgs []string
	for _, m := range e.Errors {
		s := strings.TrimSpace(m.Message)
		if m.Context != "" {
			s = m.Context + ": " + s
		}
		if s != "" {
			msgs = append(msgs, s)
		}
	}
	switch {
	case len(msgs) > 0:
		b.WriteString(": ")
		b.WriteString(strings.Join(msgs, "; "))
	case e.Body != "":
		b.WriteString(": ")
		b.WriteString(e.Body)
	}
	return b.String()
}

// Exception reports whether any entry names the Java exception whose simple name is
// simple ("AuthorisationException" matches "com.atlassian.bitbucket.AuthorisationException").
func (e *ErrorResponse) Exception(simple string) bool {
	for _, m := range e.Errors {
		if m.ExceptionName == simple || strings.HasSuffix(m.ExceptionName, "."+simple) {
			return true
		}
	}
	return false
}

// text is every message and exception, lowercased, for matching.
func (e *ErrorResponse) text() string {
	var b strings.Builder
	for _, m := range e.Errors {
		b.WriteString(strings.ToLower(m.Message + " " + m.ExceptionName + " "))
	}
	b.WriteString(strings.ToLower(e.Body))
	return b.String()
}

// PermissionError is a refusal for want of a permission. Data Center answers it with
// 401 (an AuthorisationException), where Cloud says 403; a 403 is read the same way.
// Permission names what the call needs, so the caller can say which permission is
// missing although the server does not.
type PermissionError struct {
	*ErrorResponse
	// Permission is the Bitbucket permission the endpoint needs: REPO_ADMIN for a
	// repository's access keys, PROJECT_ADMIN for a project's, LICENSED_USER (a user, not
	// a project or repository token) for the user's own SSH keys; "" when not known.
	Permission Permission
}

func (e *PermissionError) Error() string {
	if e.Permission == "" {
		return e.ErrorResponse.Error()
	}
	return e.ErrorResponse.Error() + " (needs " + string(e.Permission) + ")"
}

func (e *PermissionError) Unwrap() error { return e.ErrorResponse }

// RateLimitError is a 429: the server's rate limit for the user. Data Center sends
// Retry-After (and the transport waits it out within the budget before giving up).
type RateLimitError struct {
	*ErrorResponse
	RetryAfter    time.Duration
	HasRetryAfter bool
}

func (e *RateLimitError) Unwrap() error { return e.ErrorResponse }

// convertError turns the transport's errors about a non-2xx answer into this package's:
// the Cloud-shaped *bbapi.ErrorResponse becomes an *ErrorResponse (or *PermissionError,
// *RateLimitError) decoded from the Data Center body; a *bbapi.RetryBudgetError keeps its
// type (the command layer knows it) with its last failure converted the same way.
func (c *Client) convertError(cl *call, err error, raw []byte) error {
	if be, ok := errors.AsType[*bbapi.RetryBudgetError](err); ok {
		cp := *be
		cp.Err = c.convertError(cl, be.Err, nil)
		return &cp
	}
	if rl, ok := errors.AsType[*bbapi.RateLimitError](err); ok {
		return &RateLimitError{ErrorResponse: c.newErrorResponse(cl, rl.ErrorResponse, raw), RetryAfter: rl.RetryAfter, HasRetryAfter: rl.HasRetryAfter}
	}
	if er, ok := errors.AsType[*bbapi.ErrorResponse](err); ok {
		e := c.newErrorResponse(cl, er, raw)
		if isPermissionRefusal(e) {
			return &PermissionError{ErrorResponse: e, Permission: neededPermission(cl.route)}
		}
		return e
	}
	return err
}

func (c *Client) newErrorResponse(cl *call, er *bbapi.ErrorResponse, raw []byte) *ErrorResponse {
	e := &ErrorResponse{Method: er.Method, URL: er.URL, Route: cl.route, StatusCode: er.StatusCode}
	body := raw
	if body == nil {
		body = []byte(er.Body) // already scrubbed and capped by the transport
	}
	var env struct {
		Errors []ErrorMessage `json:"errors"`
	}
	if t := strings.TrimSpace(string(body)); strings.HasPrefix(t, "{") && json.Unmarshal([]byte(t), &env) == nil && len(env.Errors) > 0 {
		for _, m := range env.Errors {
			e.Errors = append(e.Errors, ErrorMessage{
				Context:       capText(c.t.Redact(m.Context)),
				Message:       capText(c.t.Redact(m.Message)),
				ExceptionName: capText(c.t.Redact(m.ExceptionName)),
			})
		}
		return e
	}
	e.Body = er.Body
	if e.Body == "" && len(raw) > 0 {
		e.Body = c.t.Redact(snippet(raw, 500))
	}
	return e
}

func capText(s string) string { return snippet([]byte(s), 1000) }

// PermissionRefusal reports whether the answer refuses for want of a permission (the
// answer a PermissionError wraps), not the credential itself: what a command layer
// walking an error chain needs to tell a 401 of each kind apart.
func (e *ErrorResponse) PermissionRefusal() bool { return isPermissionRefusal(e) }

// isPermissionRefusal: a 403, or a 401 that is an AuthorisationException (the
// credential was accepted; what it acts as may not do this). A 401 for a refused
// credential names another exception.
func isPermissionRefusal(e *ErrorResponse) bool {
	switch e.StatusCode {
	case http.StatusForbidden:
		return true
	case http.StatusUnauthorized:
		return e.Exception("AuthorisationException") || strings.Contains(e.text(), "not permitted")
	}
	return false
}

// neededPermission is the permission an endpoint needs, from its route.
func neededPermission(route string) Permission {
	switch {
	case strings.HasPrefix(route, "/keys/") && strings.Contains(route, "/repos/"):
		return RepoAdmin
	case strings.HasPrefix(route, "/keys/") && strings.Contains(route, "/projects/"):
		return ProjectAdmin
	case strings.HasPrefix(route, "/ssh/latest/keys"):
		return LicensedUser
	case strings.Contains(route, "/repos/{repositorySlug}"):
		return RepoRead
	case strings.HasPrefix(route, "/api/latest/projects/{projectKey}"):
		return ProjectRead
	}
	return ""
}

// IsPermission reports a refusal for want of a permission (a *PermissionError), and the
// permission the call needed.
func IsPermission(err error) (Permission, bool) {
	pe, ok := errors.AsType[*PermissionError](err)
	if !ok {
		return "", false
	}
	return pe.Permission, true
}

// IsUnauthorized reports a refused credential: a 401 that is not about a permission
// (a wrong, expired or revoked token).
func IsUnauthorized(err error) bool {
	if _, ok := errors.AsType[*PermissionError](err); ok {
		return false
	}
	return hasStatus(err, http.StatusUnauthorized)
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsRateLimited reports a 429, also when it ended a call's wait budget.
func IsRateLimited(err error) bool {
	_, ok := errors.AsType[*RateLimitError](err)
	return ok
}

// IsDuplicateKey reports the server refusing a key that is already registered: 409
// "The SSH key already exists on the system." (a DuplicateSshKeyException), or a 400 or
// 409 saying so in other words.
func IsDuplicateKey(err error) bool {
	e, ok := errors.AsType[*ErrorResponse](err)
	if !ok {
		return false
	}
	switch e.StatusCode {
	case http.StatusConflict, http.StatusBadRequest:
	default:
		return false
	}
	if e.Exception("DuplicateSshKeyException") {
		return true
	}
	t := e.text()
	return strings.Contains(t, "already exists") || strings.Contains(t, "already in use") || strings.Contains(t, "already been added")
}

func hasStatus(err error, code int) bool {
	e, ok := errors.AsType[*ErrorResponse](err)
	return ok && e.StatusCode == code
}
