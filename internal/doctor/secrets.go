package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/text"
)

// AppPasswordsRemoved is when Bitbucket removed app passwords (API.md §1).
const AppPasswordsRemoved = "2026-07-28"

// secretKind names what a Bitbucket user name in a URL or netrc entry says about the
// secret beside it (API.md §2: the git-over-HTTPS user names of tokens).
func secretKind(user string) string {
	switch user {
	case "x-bitbucket-api-token-auth":
		return "an API token"
	case "x-token-auth":
		return "an access token"
	case "", "***":
		return "a token"
	}
	return "an app password or password of " + user + " (app passwords stopped working on " + AppPasswordsRemoved + ")"
}

// maskedUser returns the user name of a masked URL, and whether a secret was there.
func maskedUser(masked string) (string, bool) {
	u, err := url.Parse(masked)
	if err != nil {
		// git's store helper writes a host with a port percent-encoded (host%3a7990),
		// which url.Parse refuses: read the user information by hand.
		_, rest, ok := strings.Cut(masked, "://")
		at := strings.LastIndex(rest, "@")
		if !ok || at < 0 {
			return "", false
		}
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if name, err := url.PathUnescape(user); err == nil {
			user = name
		}
		return user, hasPass || user == "***"
	}
	if u.User == nil {
		return "", false
	}
	if _, has := u.User.Password(); has {
		return u.User.Username(), true
	}
	// A token used as the user name is masked whole.
	return "", u.User.Username() == "***"
}

func checkSecrets(ctx context.Context, e *Env, _ Deps) Result {
	var details []string
	var fixes []*Fix
	manual := false
	var servers []string       // Data Center servers with a secret on disk
	var remoteServers []string // those whose remotes here carry one
	dcItems := 0               // details that are a Data Center server's
	known := e.knownServers()

	plan, perr := e.plan()
	if perr == nil {
		for _, rp := range plan.Repos {
			urlFix := false
			for _, c := range rp.Changes {
				if !c.Secret {
					continue
				}
				user, _ := maskedUser(c.Old)
				details = append(details, fmt.Sprintf("%s in %s: %s holds %s", c.Key(), rp.Repo.Dir, c.Old, secretKind(user)))
				urlFix = true
			}
			for _, s := range rp.Skipped {
				if srv := serverOfURL(s.URL, known); s.Secret && srv != "" {
					user, _ := maskedUser(s.URL)
					details = append(details, fmt.Sprintf("%s in %s: %s holds %s of %s (a remote of that server: bbkey remote --server %s rewrites it to SSH without it)", s.Field, rp.Repo.Dir, s.URL, serverSecretKind(user), srv, srv))
					dcItems++
					for _, list := range []*[]string{&servers, &remoteServers} {
						if !slices.Contains(*list, srv) {
							*list = append(*list, srv)
						}
					}
					continue
				}
				if s.Secret {
					user, _ := maskedUser(s.URL)
					details = append(details, fmt.Sprintf("%s in %s: %s holds %s (left alone: %s; remove it by hand)", s.Field, rp.Repo.Dir, s.URL, secretKind(user), s.Reason))
					manual = true
				}
			}
			if urlFix {
				fixes = append(fixes, remotesFix(e))
			}
		}
	} else if !errors.Is(perr, errNoRepo) {
		details = append(details, "could not read this repository's remotes: "+perr.Error())
	}

	plans, serr := e.scrub()
	if serr != nil {
		if errors.Is(serr, gitrun.ErrNotFound) {
			return Result{Status: Warn, Summary: "git is not installed: its credential files and helpers were not checked",
				Fix: "install git"}
		}
		return Result{Status: Warn, Summary: "could not read git's credential files and helpers: " + serr.Error()}
	}
	fileSecrets := false
	var store []string
	for _, sp := range plans {
		server := ""
		if sp.URL() != remote.CloudScrub.URL {
			server = sp.URL()
		}
		for _, f := range sp.Files {
			for _, entry := range f.Entries {
				user := ""
				if f.Format == remote.FormatNetrc {
					if _, after, ok := strings.Cut(entry, " login "); ok {
						user = after
					}
				} else {
					user, _ = maskedUser(entry)
				}
				if server != "" {
					details = append(details, fmt.Sprintf("%s: %s holds %s of %s", f.Path, entry, serverSecretKind(user), server))
					dcItems++
					if !slices.Contains(servers, server) {
						servers = append(servers, server)
					}
				} else {
					details = append(details, fmt.Sprintf("%s: %s holds %s", f.Path, entry, secretKind(user)))
				}
				fileSecrets = true
			}
		}
		for _, h := range sp.Helpers {
			if (h == "store" || strings.HasPrefix(h, "store ")) && !slices.Contains(store, h) {
				store = append(store, h)
			}
		}
	}
	if fileSecrets {
		fixes = append(fixes, scrubFix(e))
	}

	if len(details) == 0 {
		if len(store) > 0 {
			return Result{Status: Warn,
				Summary: fmt.Sprintf("no Bitbucket secret on disk, but git's credential helper is %q", store[0]),
				Cause:   "the store helper writes every password git is given to ~/.git-credentials in clear text",
				Fix:     "remove it (git config --global --unset-all credential.helper) and use a keychain helper such as manager, osxkeychain or libsecret"}
		}
		return Result{Status: OK, Summary: "no Bitbucket secret in remote URLs, ~/.git-credentials, .netrc or _netrc"}
	}
	r := Result{Status: Fail,
		Summary: fmt.Sprintf("%d Bitbucket %s left on disk in clear text", len(details), text.Plural(len(details), "secret", "secrets")),
		Details: details,
		Cause:   "any program running as you can read them, and they travel with backups; treat each as leaked",
		Fix:     "run: bbkey doctor --fix (or bbkey remote --scrub), then revoke each token at " + TokenURL,
	}
	if len(store) > 0 {
		r.Details = append(r.Details, fmt.Sprintf("git's credential helper %q writes passwords to ~/.git-credentials in clear text: remove it with git config --global --unset-all credential.helper", store[0]))
	}
	if manual {
		r.Fix = "remove the secrets left alone by hand; for the rest run: bbkey doctor --fix, then revoke each token at " + TokenURL
	}
	var parts []string
	if len(details) > dcItems || fileSecrets {
		parts = append(parts, r.Fix)
	}
	for _, srv := range remoteServers {
		parts = append(parts, "in this clone run: bbkey remote --server "+srv+" (it rewrites the server's remotes to SSH, dropping the secret)")
	}
	if len(servers) > 0 {
		parts = append(parts, "on "+strings.Join(servers, ", ")+": revoke the HTTP access token (Manage account → HTTP access tokens) or change the password")
	}
	r.Fix = strings.Join(parts, "; ")
	r.fixes = fixes
	return r
}

// serverSecretKind is secretKind for a Data Center server, which has no app passwords:
// a user name beside a secret is the user's password or an HTTP access token.
func serverSecretKind(user string) string {
	if user == "" || user == "***" {
		return "a token"
	}
	return "a password or HTTP access token of " + user
}

// scrubFix removes the Bitbucket entries (Cloud's and each known Data Center server's)
// from the credential files (after backups) and asks the credential helpers to forget
// https://bitbucket.org and each server's URL.
func scrubFix(e *Env) *Fix {
	return &Fix{Key: "scrub", Description: "remove the Bitbucket entries from git's credential files (after a backup copy) and ask the credential helpers to forget https://bitbucket.org (and each Data Center server's URL)",
		apply: func(ctx context.Context) ([]string, error) {
			var changed []string
			var errs []error
			for _, t := range e.scrubTargets() {
				sp, err := remote.PlanScrubFor(ctx, e.Git, e.Paths.Home, e.getenv("XDG_CONFIG_HOME"), t)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if err := remote.Scrub(ctx, e.Git, sp, e.now()); err != nil {
					errs = append(errs, err)
				}
				for _, f := range sp.Files {
					if f.Backup != "" {
						changed = append(changed, f.Path, f.Backup)
					}
				}
			}
			return changed, errors.Join(errs...)
		}}
}

// serverOfURL is the Data Center server among servers whose URL a remote URL is under
// (host, port and context path), or "".
func serverOfURL(raw string, servers []string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	for _, s := range servers {
		su, err := url.Parse(s)
		if err != nil {
			continue
		}
		if strings.EqualFold(u.Hostname(), su.Hostname()) && portOf(u) == portOf(su) && strings.HasPrefix(u.Path, strings.TrimRight(su.Path, "/")+"/") {
			return s
		}
	}
	return ""
}

// portOf is a URL's port, the scheme's default when it names none.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}
