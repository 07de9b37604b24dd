package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// TokenURL is where Atlassian API tokens with scopes are made.
const TokenURL = "https://id.atlassian.com/manage-profile/security/api-tokens"

// TokenMaxLifetime is the longest an Atlassian API token lives; a stored token older
// than this less ExpiryWarning is reported as expiring soon.
const TokenMaxLifetime = 365 * 24 * time.Hour

// ExpiryWarning is how early an expiry (of a token or a key) is announced.
const ExpiryWarning = 30 * 24 * time.Hour

// sourceNames name where a credential came from, for messages.
var sourceNames = map[settings.CredentialSource]string{settings.SourceTokenFile: "--token-file",
	settings.SourceEnv: "the environment", settings.SourceStore: "the OS keychain", settings.SourceFileStore: "a clear-text file"}

func sourceName(s settings.CredentialSource) string { return cmp.Or(sourceNames[s], string(s)) }

// renewFix says how to replace the credential where it came from.
func renewFix(s settings.CredentialSource) string {
	then := map[settings.CredentialSource]string{settings.SourceEnv: " and put it in BITBUCKET_API_TOKEN",
		settings.SourceTokenFile: " and write it to the --token-file file"}[s]
	return "create a new API token with scopes at " + TokenURL + cmp.Or(then, ", then run: bbkey auth login")
}

func checkCredential(ctx context.Context, e *Env, _ Deps) Result {
	ui, err := e.user()
	if err != nil {
		return credentialFailure(ctx, e, ui, err)
	}
	r := Result{Status: OK, Summary: fmt.Sprintf("%s from %s, valid for %s", ui.Cred.Credential, sourceName(ui.Cred.Source), ui.User.Display())}
	if ui.Cred.Source == settings.SourceFileStore {
		r.Status = Warn
		r.Details = append(r.Details, fmt.Sprintf("stored in a clear-text file: %s", filepath.Join(e.Paths.ConfigDir, credstore.FileName)))
		r.Cause = "no OS keychain answered when it was stored: anyone who can read that file can use the token"
		r.Fix = "when a keychain is available, run: bbkey auth logout && bbkey auth login"
	}
	if ui.Cred.Credential.Kind() == bbapi.KindAPIToken && (ui.Cred.Source == settings.SourceStore || ui.Cred.Source == settings.SourceFileStore) && e.CredStore != nil {
		if created, ok := storedCreated(ctx, e); ok {
			expires := created.Add(TokenMaxLifetime)
			if left := expires.Sub(e.Now()); left < ExpiryWarning {
				r.Status = Warn
				r.Details = append(r.Details, fmt.Sprintf("stored on %s: API tokens live at most a year, so it expires by %s at the latest",
					created.UTC().Format(time.DateOnly), expires.UTC().Format(time.DateOnly)))
				r.Cause = "an expired token stops every bbkey command that talks to Bitbucket, scheduled rotations included"
				r.Fix = renewFix(ui.Cred.Source)
			}
		}
	}
	return r
}

// storedCreated reads when the stored credential was saved (zero when unknown).
func storedCreated(ctx context.Context, e *Env) (time.Time, bool) {
	store, err := e.CredStore(ctx)
	if err != nil {
		return time.Time{}, false
	}
	sec, err := store.Get(ctx, credstore.DefaultAccount)
	if err != nil {
		return time.Time{}, false
	}
	clear(sec.Secret)
	return sec.Created, !sec.Created.IsZero()
}

func credentialFailure(ctx context.Context, e *Env, ui userInfo, err error) Result {
	r := Result{Status: Fail}
	switch {
	case errors.Is(err, settings.ErrNoCredential):
		r.Summary = "no Bitbucket credential: not logged in and none in the environment"
		r.Cause = "bbkey needs an API token to read and manage the account's SSH keys"
		r.Fix = "run: bbkey auth login (or set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN; API tokens are made at " + TokenURL + ")"
		if e.CredStore == nil {
			break
		}
		if _, kerr := e.CredStore(ctx); errors.Is(kerr, credstore.ErrNoKeychain) {
			// auth login would fail the same way: say what works without a keychain.
			r.Summary = "no Bitbucket credential: none in the environment, and " + kerr.Error()
			r.Fix = "set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN for each run (API tokens are made at " + TokenURL +
				"), or run: bbkey auth login --insecure-storage (a clear-text file), or bbkey auth login where a keychain is unlocked"
		}
	case bbapi.IsUnauthorized(err):
		r.Summary = fmt.Sprintf("Bitbucket refused the %s from %s", ui.Cred.Credential, sourceName(ui.Cred.Source))
		r.Cause = "the token is mistyped, expired or revoked (API tokens always expire; app passwords stopped working on " + AppPasswordsRemoved + ")"
		r.Fix = renewFix(ui.Cred.Source)
	case bbapi.IsForbidden(err):
		r.Summary = fmt.Sprintf("the %s may not read the account (GET /user)", ui.Cred.Credential)
		r.Cause = "the token lacks the scope read:user:bitbucket"
		r.Fix = renewFix(ui.Cred.Source) + " (with read:user:bitbucket)"
	case isNetErr(err):
		r.Summary = fmt.Sprintf("cannot reach the Bitbucket API at %s: %v", e.Settings.APIURL, err)
		r.Cause = "no network, a proxy in the way, or a wrong API URL"
		r.Fix = "check the connection; the API URL comes from --api-url or BITBUCKET_API_URL"
	default:
		r.Summary, r.Fix = err.Error(), apierr.FirstHint(err, "")
	}
	return r
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// The scopes of an API token (API.md §2) that list --workspace and add-access-key
// --workspace use.
var listScopes = []string{"read:repository:bitbucket", "read:workspace:bitbucket"}

func checkScopes(_ context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("credential"); bad {
		return skip(d)
	}
	ui, err := e.user()
	if err != nil {
		return Result{Status: Skipped, Summary: "skipped: the credential could not be checked"}
	}
	mks, _ := e.cloudKeys()
	uses := [3]bool{len(mks) == 0 || slices.ContainsFunc(mks, func(k managedKey) bool { return k.Kind == keys.KindAccount }), false, false}
	for _, k := range mks {
		for _, t := range k.Targets {
			uses[1] = uses[1] || t.Kind == state.TargetRepo
			uses[2] = uses[2] || t.Kind == state.TargetProject
		}
	}
	kind := ui.Cred.Credential.Kind()
	if kind == bbapi.KindAccessToken {
		if uses[0] {
			return Result{Status: Fail,
				Summary: "the credential is an access token, which cannot manage a person's SSH keys",
				Cause:   "repository, project and workspace access tokens act as a pseudo-user; account keys need a user's API token",
				Fix:     "use an API token: set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN, or run: bbkey auth login (tokens are made at " + TokenURL + ")"}
		}
		return Result{Status: OK, Summary: "access token: enough for access keys"}
	}
	// The scopes account keys, repository and project access keys need.
	need := [3][]string{{"read:user:bitbucket", "read:ssh-key:bitbucket", "write:ssh-key:bitbucket", "delete:ssh-key:bitbucket"},
		{"admin:repository:bitbucket"}, {"admin:project:bitbucket"}}
	what := "the API token"
	if kind == bbapi.KindOAuth {
		need, what = [3][]string{{"account:write"}, {"repository:admin"}, {"project:admin"}}, "the OAuth consumer"
	}
	if ui.User.Scopes == nil {
		return Result{Status: OK, Summary: "Bitbucket did not list the scopes of " + what + "; each is checked when it is used"}
	}
	var missing []string
	for i, use := range uses {
		for _, sc := range need[i] {
			if use && !slices.Contains(ui.User.Scopes, sc) {
				missing = append(missing, sc)
			}
		}
	}
	switch {
	case len(missing) > 0 && kind == bbapi.KindOAuth:
		return Result{Status: Fail, Summary: "the OAuth consumer lacks " + strings.Join(missing, ", "),
			Cause: "bbkey cannot manage these keys without them",
			Fix:   "add the permissions " + strings.Join(missing, ", ") + " to the consumer in the workspace settings (OAuth consumers)"}
	case len(missing) > 0:
		return Result{Status: Fail, Summary: "the API token lacks " + strings.Join(missing, ", "),
			Cause: "without them bbkey cannot list, add, rotate or remove the keys this machine uses",
			Fix:   renewFix(ui.Cred.Source) + " (include " + strings.Join(missing, ", ") + ")"}
	case kind == bbapi.KindOAuth:
		return Result{Status: OK, Summary: "OAuth consumer scopes: " + strings.Join(ui.User.Scopes, ", ")}
	}
	optMissing := slices.DeleteFunc(slices.Clone(listScopes), func(s string) bool { return slices.Contains(ui.User.Scopes, s) })
	if len(optMissing) > 0 {
		return Result{Status: Warn,
			Summary: "the API token has what this machine needs, but lacks " + strings.Join(optMissing, ", "),
			Cause:   "add-access-key --workspace and list --workspace cannot list repositories without them",
			Fix:     renewFix(ui.Cred.Source) + " (include " + strings.Join(optMissing, ", ") + ")"}
	}
	return Result{Status: OK, Summary: "the API token has every scope bbkey uses here"}
}
