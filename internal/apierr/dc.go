package apierr

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/errkind"
)

// dcRateLimit explains a Data Center server's 429 that outlasted --max-wait.
func dcRateLimit(e *bbapi.RateLimitError) (int, []string, bool) {
	wait := ""
	if e.HasRetryAfter {
		wait = fmt.Sprintf(" (it asked for %s)", e.RetryAfter)
	}
	return errkind.ExitPartial, []string{
		serverOf(e.URL) + " limits how many requests a user makes: bbkey waited within --max-wait and stopped" + wait + "; re-run later to finish, or allow a longer wait with --max-wait (e.g. --max-wait 30m)",
	}, true
}

// dcResponse explains a Data Center answer that is neither a permission refusal nor a
// rate limit (or is the answer inside one: it adds nothing to their hints then).
func dcResponse(e *bbapi.ErrorResponse) (int, []string, bool) {
	server := serverOf(e.URL)
	switch {
	case e.PermissionRefusal():
		return errkind.ExitAuth, nil, true
	case e.StatusCode == http.StatusUnauthorized:
		return errkind.ExitAuth, []string{
			server + " refused the HTTP access token: it is wrong, has expired or was revoked",
			"make a new one (" + tokenPlaces + ") and run 'bbkey auth login --server " + server + "', or set BITBUCKET_SERVER_TOKEN (or pass --token-file FILE)",
		}, true
	case e.StatusCode == http.StatusTooManyRequests:
		return errkind.ExitPartial, nil, true
	case e.StatusCode == http.StatusBadRequest && e.Field("expiryDays"):
		return 0, []string{server + " limits how long an SSH key may be valid (its answer says for how long): give a shorter --expires-in, or leave it out and the server applies its maximum; a re-run uses the key file already made"}, true
	case e.StatusCode == http.StatusNotFound:
		return 0, []string{"check the project key, repository slug or key id named; " + server + " also answers 404 for what the token may not see"}, true
	case e.StatusCode == http.StatusConflict:
		return 0, []string{"the key is already on " + server + ", as another user's key or as an access key: a key can be registered only once; use another key (--key, or a new --name)"}, true
	case e.StatusCode >= 500:
		return 0, []string{
			server + " failed on its side: re-run later (a re-run picks up where this one stopped), or ask its administrators",
			debugHint,
		}, true
	}
	return 0, []string{"re-run with --debug to see the server's whole answer (secrets are masked)"}, true
}

// tokenPlaces says where each kind of HTTP access token is made.
const tokenPlaces = "a personal token under your profile picture → Manage account → HTTP access tokens; a project's or repository's under its settings → HTTP access tokens"

// permissionHints name the permission a refused call needed, and how to get a token
// holding it.
func permissionHints(e *dc.PermissionError) []string {
	server := serverOf(e.URL)
	login := "then run 'bbkey auth login --server " + server + "' with it, or set BITBUCKET_SERVER_TOKEN"
	switch e.Permission {
	case dc.LicensedUser:
		return []string{
			"managing SSH keys of a user needs a personal HTTP access token (LICENSED_USER): a project or repository token acts as no user; make one under your profile picture → Manage account → HTTP access tokens, " + login,
			"if it already is a personal token, " + server + " may not let tokens change account details: add the key under Manage account → SSH keys in the web interface",
		}
	case dc.RepoAdmin:
		return []string{"managing a repository's access keys needs REPO_ADMIN (" + server + " answers 401 without it): use a personal token of a repository admin made with Admin permission, or a repository HTTP access token with Admin permission; " + login}
	case dc.ProjectAdmin:
		return []string{"managing a project's access keys needs PROJECT_ADMIN (" + server + " answers 401 without it): use a personal token of a project admin made with Admin permission, or a project HTTP access token with Admin permission; " + login}
	case dc.RepoRead, dc.ProjectRead:
		return []string{"the token needs " + string(e.Permission) + " to see this (" + server + " answers 401 without it), or the name is wrong: check the project key and repository slug; " + login}
	}
	return []string{server + " refused the call for want of a permission the token lacks (it answers 401 for that): check the token's permissions (" + tokenPlaces + "); " + login}
}

// serverOf is the server's base URL of a request URL ("https://host/ctx/rest/…" gives
// "https://host/ctx").
func serverOf(u string) string {
	if i := strings.Index(u, "/rest/"); i > 0 {
		return u[:i]
	}
	if s, ok := strings.CutSuffix(u, "/rest"); ok {
		return s
	}
	if u == "" {
		return "the Data Center server"
	}
	return u
}
