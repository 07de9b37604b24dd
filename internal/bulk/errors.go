package bulk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/text"
)

// Fatal reports whether an error on one target means the others would fail the same way,
// so starting them only burns calls: the wait budget (--max-wait) is spent, a 429 was not
// retried, the credential is refused, a scope is missing, or (adding) the key is already
// an account key (an access key can never also be one).
func Fatal(err error) bool {
	if _, ok := errors.AsType[*bbapi.RetryBudgetError](err); ok {
		return true
	}
	if bbapi.IsRateLimited(err) || bbapi.IsUnauthorized(err) {
		return true
	}
	// Data Center, adding: a key that is a user's SSH key. A missing permission (401
	// there) is one repository's or project's problem.
	if dc.IsDuplicateKey(err) {
		return true
	}
	e, ok := errors.AsType[*bbapi.ErrorResponse](err)
	if !ok {
		return false
	}
	msg := strings.ToLower(e.Message + " " + e.Detail)
	if bbapi.IsForbidden(err) {
		// A missing permission on one repository is that repository's problem; a missing
		// scope or a credential kind the endpoint refuses is everyone's.
		return len(e.RequiredScopes) > 0 || strings.Contains(msg, "scope") || strings.Contains(msg, "authentication mechanism")
	}
	// "Someone has already added that SSH key." on an access-key endpoint: the key sits on
	// an account (the per-target duplicate says "access key").
	return bbapi.IsDuplicateKey(err) && strings.Contains(msg, "ssh key")
}

// Retryable reports whether running the same command again, with nothing else changed,
// may succeed where err failed: the wait budget (--max-wait) was spent, a rate limit
// (429), no whole answer (refused, unresolvable, timed out, cut off), a server error (5xx),
// or the run was interrupted. A missing permission or scope, a 404, a refused credential,
// a key or permission Bitbucket already holds otherwise fail the same way again.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := errors.AsType[*bbapi.RetryBudgetError](err); ok {
		return true
	}
	if bbapi.IsRateLimited(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || transport(err) {
		return true
	}
	e, ok := errors.AsType[*bbapi.ErrorResponse](err)
	return ok && e.StatusCode >= 500
}

// transport reports a request that got no whole HTTP answer anywhere in err's chain.
func transport(err error) bool {
	if _, ok := bbapi.TransportFailure(err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return transport(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if e != nil && transport(e) {
				return true
			}
		}
	}
	return false
}

// Describe says why a target failed in Bitbucket's words, without the request the error
// also names (the target names the repository already): "403 Forbidden: …".
func Describe(err error) string {
	if be, ok := errors.AsType[*bbapi.RetryBudgetError](err); ok {
		return fmt.Sprintf("%s; gave up after %s (--max-wait %s spent)", Describe(be.Err), text.Count(be.Attempts, "attempt", "attempts"), be.MaxWait)
	}
	if e, ok := errors.AsType[*dc.PermissionError](err); ok {
		return strings.TrimPrefix(e.Error(), e.Method+" "+e.URL+": ")
	}
	if e, ok := errors.AsType[*bbapi.ErrorResponse](err); ok {
		return strings.TrimPrefix(e.Error(), e.Method+" "+e.URL+": ")
	}
	if err == nil {
		return ""
	}
	return err.Error()
}
