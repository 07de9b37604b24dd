// Package apierr says what an error from the Bitbucket API means to the person running
// bbkey: the exit code it maps to and the hints printed under it. bbapi reports what
// Bitbucket answered; the words for the user, and the exit codes, live here, beside the
// command layer that prints them.
package apierr

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/errkind"
)

// Explain is the errkind.Explainer for bbapi's errors, Cloud's and a Data Center server's
// (bbapi/dc): a refused credential or a missing scope or permission is exit 4, a rate
// limit or a spent --max-wait exit 3.
func Explain(err error) (int, []string, bool) {
	switch e := err.(type) {
	case *bbapi.ErrorResponse:
		if dataCenter(e.URL) {
			return dcResponse(e)
		}
		code := 0
		switch {
		case bbapi.IsUnauthorized(e), e.StatusCode == http.StatusForbidden:
			code = errkind.ExitAuth
		case e.StatusCode == http.StatusTooManyRequests:
			code = errkind.ExitPartial
		}
		return code, responseHints(e), true
	case *bbapi.EnvCredentialError:
		return errkind.ExitAuth, []string{"set " + e.Missing + " as well, or unset " + e.Set}, true
	case *bbapi.DecodeError:
		if dataCenter(e.URL) {
			return 0, []string{
				"something other than the Bitbucket Data Center REST API answered: check the server URL (--server or BITBUCKET_SERVER) and any proxy or login page in front of " + serverOf(e.URL),
				debugHint,
			}, true
		}
		return 0, answeredByOtherHints, true
	case *bbapi.BodyTooLargeError:
		return 0, answeredByOtherHints, true
	case *bbapi.RetryBudgetError:
		return errkind.ExitPartial, []string{"re-run later to finish, or allow a longer wait with --max-wait (e.g. --max-wait 30m)"}, true
	case *dc.PermissionError:
		// Data Center answers 401 for a refused token and for a missing permission alike:
		// the second is exit 4 too, and its hint names the permission the call needed.
		return errkind.ExitAuth, permissionHints(e), true
	case *bbapi.RateLimitError:
		if dataCenter(e.URL) {
			return dcRateLimit(e)
		}
		return 0, nil, false
	}
	if u, ok := bbapi.TransportFailure(err); ok && !errors.Is(err, context.Canceled) {
		return 0, unreachableHints(u), true
	}
	if errors.Is(err, dc.ErrUnscopedKeyDelete) {
		return 0, []string{"this is a bug in bbkey: nothing was deleted; please report it with the command you ran"}, true
	}
	return 0, nil, false
}

// unreachableHints say what to check when a request got no answer: the URL it went to
// (a Data Center server's, typed by the user, or Cloud's API URL) and the way there.
func unreachableHints(u string) []string {
	if dataCenter(u) {
		return []string{serverOf(u) + " could not be reached: check the server URL (--server, BITBUCKET_SERVER, or the one config.json records: the base URL you open in a browser, e.g. https://bitbucket.example.com) and that this machine reaches it (network, VPN, proxy)"}
	}
	base := u
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		base = p.Scheme + "://" + p.Host
	}
	return []string{"Bitbucket could not be reached at " + base + ": check the network and any proxy; the API URL comes from --api-url or BITBUCKET_API_URL"}
}

// answeredByOtherHints point at what usually answers instead of Bitbucket.
var answeredByOtherHints = []string{
	"something other than Bitbucket's API answered: check BITBUCKET_API_URL (--api-url) and any proxy or captive portal between you and api.bitbucket.org, then re-run",
	debugHint,
}

const debugHint = "re-run with --debug to see the whole exchange (secrets are masked)"

// dataCenter reports a request URL of a Data Center server's REST API, whose paths all
// start with /rest/ (Cloud's with /2.0/).
func dataCenter(u string) bool { return strings.Contains(u, "/rest/") }

// ExitCode is errkind.ExitCode knowing bbapi's errors.
func ExitCode(err error) int { return errkind.ExitCode(err, Explain) }

// Hints is errkind.Hints knowing bbapi's errors.
func Hints(err error) []string { return errkind.Hints(err, Explain) }

// FirstHint is the first hint for err, or def when there is none.
func FirstHint(err error, def string) string {
	if h := Hints(err); len(h) > 0 {
		return h[0]
	}
	return def
}

const apiTokenURL = "https://id.atlassian.com/manage-profile/security/api-tokens"

// responseHints says what to do next, depending on the answer, the endpoint and the kind
// of credential.
func responseHints(e *bbapi.ErrorResponse) []string {
	switch {
	case bbapi.IsUnauthorized(e):
		return unauthorizedHints(e.CredentialKind)
	case e.StatusCode == http.StatusForbidden:
		return forbiddenHints(e)
	case e.StatusCode == http.StatusNotFound:
		return []string{"check the workspace, repository, project or key named; Bitbucket also answers 404 for what the credential may not see"}
	case e.StatusCode == http.StatusTooManyRequests:
		return []string{"Bitbucket allows about 1,000 API requests an hour per user; re-run later or allow a longer wait with --max-wait"}
	case e.StatusCode >= 500:
		return []string{
			"Bitbucket failed on its side: check " + statusPageURL + " and re-run later (a re-run picks up where this one stopped)",
			debugHint,
		}
	case e.StatusCode == http.StatusConflict:
		return []string{"the request conflicts with a change made meanwhile: check the key on Bitbucket, then re-run"}
	}
	return []string{"re-run with --debug to see Bitbucket's whole answer (secrets are masked)"}
}

// AccessTokenRepoKeysHint says what to use instead of an access token for a repository's
// access keys.
const AccessTokenRepoKeysHint = "access tokens cannot add, update or delete a repository's access keys: use an API token with scope admin:repository:bitbucket (BITBUCKET_EMAIL and BITBUCKET_API_TOKEN, or 'bbkey auth login'; create one at " + apiTokenURL + "); project access keys work with an access token"

// statusPageURL is Atlassian's status page for Bitbucket Cloud.
const statusPageURL = "https://bitbucket.status.atlassian.com"

func unauthorizedHints(k bbapi.Kind) []string {
	switch k {
	case bbapi.KindAPIToken:
		return []string{
			"check that BITBUCKET_EMAIL is the email of the Atlassian account the API token belongs to, and that the token has not expired",
			"run 'bbkey auth login' or set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN (create a token at " + apiTokenURL + ")",
		}
	case bbapi.KindAccessToken:
		return []string{"the access token was refused: it may have expired or been revoked; create a new one under Access tokens in the repository, project or workspace settings"}
	case bbapi.KindOAuth:
		return []string{"check BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET; the client credentials grant needs a private OAuth consumer"}
	}
	return []string{"run 'bbkey auth login' or set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN"}
}

func forbiddenHints(e *bbapi.ErrorResponse) []string {
	scope := bbapi.MissingScope(e)
	userKeys := strings.HasPrefix(e.Route, "/users/")
	switch e.CredentialKind {
	case bbapi.KindAccessToken:
		if userKeys {
			return []string{"access tokens cannot manage a person's SSH keys; use an API token (BITBUCKET_EMAIL and BITBUCKET_API_TOKEN, or 'bbkey auth login')"}
		}
		if bbapi.RepoAccessKeyWrite(e.Method, e.Route) {
			return []string{AccessTokenRepoKeysHint}
		}
		return []string{
			"the access token needs admin permission and scope " + scope + "; some workspaces refuse access tokens on access-key endpoints",
			"or use an API token with scopes " + strings.Join(bbapi.ScopesFor(e.Method, e.Route, bbapi.KindAPIToken), ", ") + " (create one at " + apiTokenURL + ")",
		}
	case bbapi.KindOAuth:
		return []string{"give the OAuth consumer the " + scope + " permission in the workspace settings under OAuth consumers"}
	}
	h := []string{"create an API token with scope " + scope + " at " + apiTokenURL + " (\"Create API token with scopes\", app Bitbucket)"}
	if strings.Contains(e.Route, "deploy-keys") {
		h = append(h, "adding access keys also needs admin permission on the repository or project")
	}
	return h
}
