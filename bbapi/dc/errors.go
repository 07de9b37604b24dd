package dc

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
)

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
	Errors []bbapi.ErrorMessage
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
// an *ErrorResponse (or *PermissionError, *RateLimitError). A *bbapi.RetryBudgetError
// keeps its type (the command layer knows it) with its last failure converted the same way.
func convertError(err error) error {
	if be, ok := errors.AsType[*bbapi.RetryBudgetError](err); ok {
		cp := *be
		cp.Err = convertError(be.Err)
		return &cp
	}
	er, ok := errors.AsType[*bbapi.ErrorResponse](err)
	if !ok {
		return err
	}
	e := &ErrorResponse{Method: er.Method, URL: er.URL, Route: er.Route, StatusCode: er.StatusCode, Errors: er.Errors, Body: er.Body}
	if rl, ok := errors.AsType[*bbapi.RateLimitError](err); ok {
		return &RateLimitError{ErrorResponse: e, RetryAfter: rl.RetryAfter, HasRetryAfter: rl.HasRetryAfter}
	}
	if isPermissionRefusal(e) {
		return &PermissionError{ErrorResponse: e, Permission: neededPermission(e.Route)}
	}
	return e
}

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
