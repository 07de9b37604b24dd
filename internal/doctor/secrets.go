package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/redact"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/text"
)

// AppPasswordsRemoved is when Bitbucket removed app passwords (API.md §1).
const AppPasswordsRemoved = "2026-07-28"

// secretKind names what a user name in a URL or netrc entry says about the secret beside
// it (API.md §2: the git-over-HTTPS user names of tokens); on a Data Center server
// (server != ""), which has no app passwords, it is the user's password or token.
func secretKind(user, server string) string {
	switch {
	case user == "" || user == "***":
		return "a token"
	case server != "":
		return "a password or HTTP access token of " + user
	case user == "x-bitbucket-api-token-auth":
		return "an API token"
	case user == "x-token-auth":
		return "an access token"
	}
	return "an app password or password of " + user + " (app passwords stopped working on " + AppPasswordsRemoved + ")"
}

// maskedUser returns the user name of a masked URL, and whether a secret was there. It
// reads the user information by hand: git's store helper writes a host with a port
// percent-encoded (host%3a7990), which url.Parse refuses.
func maskedUser(masked string) (string, bool) {
	_, rest, ok := strings.Cut(masked, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		return "", false
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if name, err := url.PathUnescape(user); err == nil {
		user = name
	}
	// A token used as the user name is masked whole.
	return user, hasPass || user == "***"
}

func checkSecrets(ctx context.Context, e *Env, _ Deps) Result {
	var details []string
	var fixes []*Fix
	// fixable: a secret doctor --fix removes; manual: one left alone; servers: the Data
	// Center servers with a secret on disk, remoteServers those whose remotes here hold one.
	var fixable, manual bool
	var servers, remoteServers []string
	known := e.knownServers()
	plan, perr := e.plan()
	if perr == nil {
		for _, rp := range plan.Repos {
			for _, c := range rp.Changes {
				if c.Secret {
					user, _ := maskedUser(c.Old)
					details = append(details, fmt.Sprintf("%s in %s: %s holds %s", c.Key(), rp.Repo.Dir, c.Old, secretKind(user, "")))
					fixable = true
					fixes = append(fixes, remotesFix(e))
				}
			}
			for _, sk := range rp.Skipped {
				if !sk.Secret {
					continue
				}
				user, _ := maskedUser(sk.Old)
				if srv := serverOfURL(sk.Old, known); srv != "" {
					details = append(details, fmt.Sprintf("%s in %s: %s holds %s of %s (a remote of that server: bbkey remote --server %s rewrites it to SSH without it)", sk.Field, rp.Repo.Dir, sk.Old, secretKind(user, srv), srv, srv))
					servers, remoteServers = appendOnce(servers, srv), appendOnce(remoteServers, srv)
					continue
				}
				details = append(details, fmt.Sprintf("%s in %s: %s holds %s (left alone: %s; remove it by hand)", sk.Field, rp.Repo.Dir, sk.Old, secretKind(user, ""), sk.Reason))
				manual = true
			}
		}
	} else if !errors.Is(perr, errNoRepo) {
		details = append(details, "could not read this repository's remotes: "+perr.Error())
	}

	plans, serr := e.scrubPlans(ctx)
	if errors.Is(serr, gitrun.ErrNotFound) {
		return Result{Status: Warn, Summary: "git is not installed: its credential files and helpers were not checked", Fix: "install git"}
	} else if serr != nil {
		return Result{Status: Warn, Summary: "could not read git's credential files and helpers: " + serr.Error()}
	}
	// url.<URL>.insteadOf with a secret in <URL>: CI images set one so every clone
	// authenticates; it outlives the move to SSH. Left for the user to remove.
	if out, err := e.Git.Run(ctx, "", "config", "--global", "--get-regexp", `^url\..*\.(push)?insteadof$`); err == nil {
		for line := range strings.Lines(out) {
			key, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			rule := key[strings.LastIndexByte(key, '.')+1:]
			u := strings.TrimSuffix(strings.TrimPrefix(key, "url."), "."+rule)
			pu, err := url.Parse(u)
			if err != nil || pu.User == nil || (!strings.EqualFold(pu.Hostname(), "bitbucket.org") && serverOfURL(u, known) == "") {
				continue
			}
			masked := redact.URLs(u)
			user, _ := maskedUser(masked)
			rule = map[string]string{"insteadof": "insteadOf", "pushinsteadof": "pushInsteadOf"}[rule]
			details = append(details, fmt.Sprintf("git's global config url.%s.%s: holds %s (left alone: remove that url section by hand)", masked, rule, secretKind(user, serverOfURL(u, known))))
			manual = true
		}
	}
	var store []string
	fileSecrets := false
	for _, sp := range plans {
		server := ""
		if sp.URL() != remote.CloudScrub.URL {
			server = sp.URL()
		}
		for _, f := range sp.Files {
			for _, entry := range f.Entries {
				user, _ := maskedUser(entry)
				if _, after, ok := strings.Cut(entry, " login "); ok && f.Format == remote.FormatNetrc {
					user = after
				}
				line := fmt.Sprintf("%s: %s holds %s", f.Path, entry, secretKind(user, server))
				if server != "" {
					line += " of " + server
					servers = appendOnce(servers, server)
				}
				details = append(details, line)
				fixable, fileSecrets = true, true
			}
		}
		for _, h := range sp.Helpers {
			if h == "store" || strings.HasPrefix(h, "store ") {
				store = appendOnce(store, h)
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
	if len(store) > 0 {
		details = append(details, fmt.Sprintf("git's credential helper %q writes passwords to ~/.git-credentials in clear text: remove it with git config --global --unset-all credential.helper", store[0]))
	}
	var parts []string
	switch {
	case manual:
		parts = append(parts, "remove the secrets left alone by hand; for the rest run: bbkey doctor --fix, then revoke each token at "+TokenURL)
	case fixable || len(servers) == 0:
		parts = append(parts, "run: bbkey doctor --fix (or bbkey remote --scrub), then revoke each token at "+TokenURL)
	}
	for _, srv := range remoteServers {
		parts = append(parts, "in this clone run: bbkey remote --server "+srv+" (it rewrites the server's remotes to SSH, dropping the secret)")
	}
	if len(servers) > 0 {
		parts = append(parts, "on "+strings.Join(servers, ", ")+": revoke the HTTP access token (Manage account → HTTP access tokens) or change the password")
	}
	n := len(details) - min(len(store), 1)
	return Result{Status: Fail, Summary: fmt.Sprintf("%d Bitbucket %s left on disk in clear text", n, text.Plural(n, "secret", "secrets")),
		Details: details, Fix: strings.Join(parts, "; "), fixes: fixes,
		Cause: "any program running as you can read them, and they travel with backups; treat each as leaked"}
}

// scrubFix removes the Bitbucket entries (Cloud's and each known Data Center server's)
// from the credential files (after backups) and asks the credential helpers to forget
// https://bitbucket.org and each server's URL.
func scrubFix(e *Env) *Fix {
	return &Fix{Key: "scrub", Description: "remove the Bitbucket entries from git's credential files (after a backup copy) and ask the credential helpers to forget https://bitbucket.org (and each Data Center server's URL)",
		apply: func(ctx context.Context) ([]string, error) {
			plans, err := e.scrubPlans(ctx)
			var changed []string
			var errs []error
			for _, sp := range plans {
				errs = append(errs, remote.Scrub(ctx, e.Git, sp, e.Now()))
				for _, f := range sp.Files {
					if f.Backup != "" {
						changed = append(changed, f.Path, f.Backup)
					}
				}
			}
			return changed, errors.Join(append(errs, err)...)
		}}
}

// serverOfURL is the Data Center server among servers whose URL a remote URL is under
// (host, port and context path), or "".
func serverOfURL(raw string, servers []string) string {
	for _, s := range servers {
		if (remote.DataCenterTarget{ServerURL: s}).Rewrite(raw).Status != remote.NotBitbucket {
			return s
		}
	}
	return ""
}
