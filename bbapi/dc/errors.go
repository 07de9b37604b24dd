package dc

import (
	"errors"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
)

// PermissionError is a refusal for want of a permission. Data Center answers it with
// 401 (an AuthorisationException), where Cloud says 403; a 403 is read the same way.
// Permission names what the call needs, so the caller can say which permission is
// missing although the server does not.
type PermissionError struct {
	*bbapi.ErrorResponse
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

// permissionError makes an answer refusing for want of a permission a *PermissionError.
func permissionError(err error) error {
	if e, ok := err.(*bbapi.ErrorResponse); ok && e.PermissionRefusal() {
		return &PermissionError{ErrorResponse: e, Permission: neededPermission(e.Route)}
	}
	return err
}

// neededPermission is the permission an endpoint needs, from its route.
func neededPermission(route string) Permission {
	switch {
	case strings.HasPrefix(route, "/keys/") && strings.Contains(route, "/repos/"):
		return RepoAdmin
	case strings.HasPrefix(route, "/keys/"):
		return ProjectAdmin
	case strings.HasPrefix(route, routeUserKeys):
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

// answer is the Data Center answer in err's chain: every route of this package has a
// `latest` segment, Cloud's have none.
func answer(err error) (*bbapi.ErrorResponse, bool) {
	e, ok := errors.AsType[*bbapi.ErrorResponse](err)
	return e, ok && strings.Contains(e.Route, "/latest")
}

// IsRateLimited reports a Data Center server's 429, also when it ended a call's wait
// budget.
func IsRateLimited(err error) bool {
	_, ok := answer(err)
	return ok && bbapi.IsRateLimited(err)
}

// IsDuplicateKey reports the server refusing a key that is already registered: 409
// "The SSH key already exists on the system." (a DuplicateSshKeyException), or a 400 or
// 409 saying so in other words.
func IsDuplicateKey(err error) bool {
	_, ok := answer(err)
	return ok && bbapi.IsDuplicateKey(err)
}
