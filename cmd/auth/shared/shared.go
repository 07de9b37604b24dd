// Package shared holds what `bbkey auth login` and `bbkey setup` both do with an
// Atlassian API token: say which scopes to tick and where tokens are made, read the email
// and the token from a flag, the environment or the terminal (never argv), check them
// with GET /user, and keep them in the credential store.
//
// Terminal contract: the token is typed with echo off on the controlling terminal, or read
// from the file --token-file names, or from BITBUCKET_API_TOKEN. Without a terminal a
// missing answer fails at once with a usage error naming the flag and the variable.
package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/secret"
)

// TokenPage is where Atlassian API tokens with scopes are created.
const TokenPage = "https://id.atlassian.com/manage-profile/security/api-tokens"

// Environment variables of the account credential (DESIGN.md).
const (
	EnvEmail = "BITBUCKET_EMAIL"
	EnvToken = "BITBUCKET_API_TOKEN"
)

// Scopes are the API-token scopes bbkey asks users to tick (API.md §2), with what each
// one is for. Write does not imply read on Bitbucket, so both are listed.
var Scopes = []Scope{
	{"read:user:bitbucket", "read who you are (every command)"},
	{"read:ssh-key:bitbucket", "list your SSH keys (setup, list, rotate)"},
	{"write:ssh-key:bitbucket", "add SSH keys (setup, rotate, add-access-key)"},
	{"delete:ssh-key:bitbucket", "delete SSH keys (rotate, remove)"},
	{"admin:repository:bitbucket", "manage repository access keys (add-access-key --repo)"},
	{"admin:project:bitbucket", "manage project access keys (add-access-key --project)"},
	{"read:repository:bitbucket", "list repositories (add-access-key --workspace)"},
	{"read:workspace:bitbucket", "list workspaces"},
	{"read:project:bitbucket", "list a workspace's projects (audit)"},
}

// SetupScopes are the scopes `bbkey setup` cannot work without: reading the user, and
// listing and adding the user's SSH keys.
var SetupScopes = []string{"read:user:bitbucket", "read:ssh-key:bitbucket", "write:ssh-key:bitbucket"}

// Scope is one API-token scope and why bbkey wants it.
type Scope struct {
	Name, Why string
}

// ScopeNames lists the names of Scopes.
func ScopeNames() []string {
	names := make([]string, len(Scopes))
	for i, s := range Scopes {
		names[i] = s.Name
	}
	return names
}

// PrintTokenHelp tells the user where to make a token and which scopes to tick; it is
// printed before the token is asked for.
func PrintTokenHelp(w io.Writer) {
	fmt.Fprintf(w, "Create an API token at %s\n", TokenPage)
	fmt.Fprintln(w, `("Create API token with scopes", app Bitbucket) and tick these scopes:`)
	for _, s := range Scopes {
		fmt.Fprintf(w, "  %-27s to %s\n", s.Name, s.Why)
	}
}

// Missing returns the scopes of need that granted lacks. It returns nil when granted is
// nil: Bitbucket did not say, so nothing is known to be missing.
func Missing(granted, need []string) []string {
	if granted == nil {
		return nil
	}
	var out []string
	for _, s := range need {
		if !slices.Contains(granted, s) {
			out = append(out, s)
		}
	}
	return out
}

// Input says where the email and the token may come from, in order: the flag, the
// environment, the terminal.
type Input struct {
	// Email is the --email flag ("" when not given).
	Email string
	// TokenFile is the global --token-file flag ("" when not given).
	TokenFile string
	// LookupEnv reads BITBUCKET_EMAIL and BITBUCKET_API_TOKEN.
	LookupEnv func(string) (string, bool)
	// Prompter asks at the terminal; it is only called when NoInput is false.
	Prompter func() prompt.Prompter
	// NoInput forbids prompting.
	NoInput bool
	// ErrOut receives the token help before the token is asked for.
	ErrOut io.Writer
}

// Origin says where the token came from.
type Origin string

// Origins of a token.
const (
	FromTokenFile Origin = "token-file"
	FromEnv       Origin = "environment"
	FromPrompt    Origin = "prompt"
)

// ReadAPIToken gathers an account email and an API token. Missing answers without a
// terminal fail at once, before any prompt, with a usage error naming what would supply
// them. The caller clears the token (Wipe) when done.
func ReadAPIToken(in Input) (*bbapi.APIToken, Origin, error) {
	env := func(k string) string {
		if in.LookupEnv == nil {
			return ""
		}
		v, _ := in.LookupEnv(k)
		return strings.TrimSpace(v)
	}
	email := strings.TrimSpace(in.Email)
	if email == "" {
		email = env(EnvEmail)
	}
	var token []byte
	origin := FromPrompt
	switch {
	case in.TokenFile != "":
		b, err := secret.ReadNonEmpty("--token-file", in.TokenFile)
		if err != nil {
			return nil, "", err
		}
		token, origin = b, FromTokenFile
	case env(EnvToken) != "":
		token, origin = []byte(env(EnvToken)), FromEnv
	}
	if in.NoInput && (email == "" || token == nil) {
		clear(token)
		var miss []string
		if email == "" {
			miss = append(miss, "the Atlassian account email (--email or "+EnvEmail+")")
		}
		if token == nil {
			miss = append(miss, "the API token (--token-file FILE or "+EnvToken+")")
		}
		return nil, "", errkind.UsageError(fmt.Errorf("cannot prompt for %s: no terminal or --no-input", strings.Join(miss, " and ")),
			"set "+EnvEmail+" and "+EnvToken+", or pass --email and --token-file FILE",
			"create an API token with scopes at "+TokenPage)
	}
	var p prompt.Prompter
	if email == "" || token == nil {
		p = in.Prompter()
	}
	for email == "" {
		e, err := p.Input("Atlassian account email", "")
		if err != nil {
			clear(token)
			return nil, "", promptErr("the email", err)
		}
		email = strings.TrimSpace(e)
		if email != "" && !strings.Contains(email, "@") {
			fmt.Fprintf(in.ErrOut, "%q is not an email address\n", email)
			email = ""
		}
	}
	if !strings.Contains(email, "@") {
		clear(token)
		return nil, "", errkind.UsageError(fmt.Errorf("%q is not an email address", email),
			"give the email of the Atlassian account the token belongs to (--email or "+EnvEmail+")")
	}
	if token == nil {
		PrintTokenHelp(in.ErrOut)
		for len(token) == 0 {
			t, err := p.Secret("API token")
			if err != nil {
				return nil, "", promptErr("the API token", err)
			}
			token = trimSpaceBytes(t)
		}
	}
	tok := &bbapi.APIToken{Email: email, Token: string(token)}
	clear(token)
	return tok, origin, nil
}

// trimSpaceBytes trims in place, so no untrimmed copy of a secret is left behind.
func trimSpaceBytes(b []byte) []byte {
	start, end := 0, len(b)
	for start < end && isSpace(b[start]) {
		start++
	}
	for end > start && isSpace(b[end-1]) {
		end--
	}
	n := copy(b, b[start:end])
	clear(b[n:])
	return b[:n]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func promptErr(what string, err error) error {
	if errors.Is(err, prompt.ErrCancelled) {
		return errkind.CancelError(fmt.Errorf("asking for %s: %w", what, err))
	}
	return fmt.Errorf("asking for %s: %w", what, err)
}

// Verified is a credential Bitbucket accepted.
type Verified struct {
	User *bbapi.User
	// Scopes are what Bitbucket says the credential holds (x-oauth-scopes), nil when it
	// did not say.
	Scopes []string
}

// Verify asks Bitbucket who the client's credential is (GET /user). A refused token is
// an auth error (exit 4) with hints; the error never contains the token.
func Verify(ctx context.Context, c *bbapi.Client) (Verified, error) {
	u, resp, err := c.Users.Current(ctx)
	if err != nil {
		// An unreachable Bitbucket's hint (check the network, --api-url) is apierr's.
		return Verified{}, fmt.Errorf("checking the credential with Bitbucket: %w", err)
	}
	v := Verified{User: u}
	if resp != nil {
		v.Scopes = resp.Scopes()
	}
	return v, nil
}

// RequireScopes fails with an auth error (exit 4) naming the scopes of need that
// Bitbucket says the token lacks. Nothing is known, and nothing fails, when Bitbucket did
// not list the scopes.
func RequireScopes(v Verified, need []string, what string) error {
	miss := Missing(v.Scopes, need)
	if len(miss) == 0 {
		return nil
	}
	return errkind.AuthError(fmt.Errorf("the API token lacks scope %s, which %s needs", strings.Join(miss, ", "), what),
		"create a new API token with scopes "+strings.Join(need, ", ")+" at "+TokenPage+" (\"Create API token with scopes\", app Bitbucket)",
		"then run 'bbkey auth login' or set "+EnvEmail+" and "+EnvToken)
}

// Store keeps the API token under credstore.DefaultAccount, replacing what was there.
func Store(ctx context.Context, s credstore.Store, tok *bbapi.APIToken, now time.Time) error {
	sec := credstore.Secret{Kind: credstore.KindAPIToken, Email: tok.Email, Secret: []byte(tok.Token), Created: now.UTC()}
	defer clear(sec.Secret)
	if err := s.Set(ctx, credstore.DefaultAccount, sec); err != nil {
		return fmt.Errorf("storing the API token in the %s: %w", s.Kind(), err)
	}
	return nil
}

// DisplayName is "Display Name (nickname)", or whichever of the two is known.
func DisplayName(u *bbapi.User) string {
	switch {
	case u == nil:
		return ""
	case u.DisplayName != "" && u.Nickname != "" && u.DisplayName != u.Nickname:
		return u.DisplayName + " (" + u.Nickname + ")"
	case u.DisplayName != "":
		return u.DisplayName
	case u.Nickname != "":
		return u.Nickname
	}
	return u.UUID
}
