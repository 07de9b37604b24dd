// Package auth is `bbkey auth` login, logout and status: they store, remove and show the
// Bitbucket credential bbkey uses, an Atlassian API token for Cloud or an HTTP access
// token per Data Center server. It also holds what `bbkey setup` shares with login:
// reading the email and the token (a file, the environment or the terminal with echo
// off, never argv), the scopes to tick, and keeping the token in the credential store.
package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/secret"
)

// NewCmdAuth builds `bbkey auth` with its subcommands.
func NewCmdAuth(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth <command>",
		Short: "Store, remove or show the Bitbucket credential (OS keychain)",
		Long: `Manage the Bitbucket credential bbkey uses: an Atlassian API token with scopes, kept in
the OS keychain by 'bbkey auth login'. The environment (BITBUCKET_EMAIL and
BITBUCKET_API_TOKEN, BITBUCKET_ACCESS_TOKEN, BITBUCKET_CLIENT_ID and
BITBUCKET_CLIENT_SECRET) and --token-file take precedence over the stored one.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCmdLogin(f), newCmdLogout(f), newCmdStatus(f))
	return cmd
}

// serverFlag binds an auth command's own --server to the global one, so the run's
// settings select the server whichever gives it.
func serverFlag(cmd *cobra.Command, f *cmdutil.Factory, usage string) {
	cmd.Flags().StringVar(&f.Globals.Server, "server", "", usage+" Bitbucket Data Center `URL` (env "+EnvServer+")")
}

// TokenPage is where Atlassian API tokens with scopes are created.
const TokenPage = "https://id.atlassian.com/manage-profile/security/api-tokens"

// Environment variables of the credentials (DESIGN.md).
const (
	EnvEmail       = "BITBUCKET_EMAIL"
	EnvToken       = "BITBUCKET_API_TOKEN"
	EnvServer      = "BITBUCKET_SERVER"
	EnvServerToken = cmdutil.ServerTokenEnv
)

// serverTokenHelp says where Data Center HTTP access tokens are made.
const serverTokenHelp = "make an HTTP access token on the server: a personal one under your profile picture → Manage account → HTTP access tokens (for your own SSH keys: setup, rotate), or a project's or repository's under its settings → HTTP access tokens (Admin permission, for its access keys)"

// Scopes are the API-token scopes bbkey asks users to tick (API.md §2), with what each
// one is for. Write does not imply read on Bitbucket, so both are listed.
var Scopes = []struct{ Name, Why string }{
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

// missingScopes returns the scopes bbkey uses that granted lacks, with what each is for;
// nil when granted is nil: Bitbucket did not say, so nothing is known to be missing.
func missingScopes(granted []string) (names, whys []string) {
	for _, s := range Scopes {
		if granted != nil && !slices.Contains(granted, s.Name) {
			names, whys = append(names, s.Name), append(whys, s.Why)
		}
	}
	return names, whys
}

// RequireScopes fails with an auth error (exit 4) naming the scopes of need that
// Bitbucket says the token lacks (granted; nil when it did not say: nothing fails then).
func RequireScopes(granted, need []string, what string) error {
	var miss []string
	for _, s := range need {
		if granted != nil && !slices.Contains(granted, s) {
			miss = append(miss, s)
		}
	}
	if len(miss) == 0 {
		return nil
	}
	return errkind.AuthError(fmt.Errorf("the API token lacks scope %s, which %s needs", strings.Join(miss, ", "), what),
		"create a new API token with scopes "+strings.Join(need, ", ")+" at "+TokenPage+" (\"Create API token with scopes\", app Bitbucket)",
		"then run 'bbkey auth login' or set "+EnvEmail+" and "+EnvToken)
}

// fileOrEnv reads the token from --token-file, else the variable env; nil when neither
// holds one, and then the origin is the prompt that will ask for it.
func fileOrEnv(f *cmdutil.Factory, env string) (token []byte, origin string, err error) {
	if f.Globals.TokenFile != "" {
		b, err := secret.ReadNonEmpty("--token-file", f.Globals.TokenFile)
		return b, "--token-file", err
	}
	if v := strings.TrimSpace(f.Getenv(env)); v != "" {
		return []byte(v), env, nil
	}
	return nil, "the prompt", nil
}

// ReadAPIToken gathers an account email (--email, else BITBUCKET_EMAIL, else the
// terminal) and an API token (--token-file, BITBUCKET_API_TOKEN, the terminal with echo
// off), and says where the token came from. Missing answers without a terminal fail at
// once, before any prompt, with a usage error naming what would supply them. The caller
// clears the token when done.
func ReadAPIToken(f *cmdutil.Factory, email string) (*bbapi.APIToken, string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		email = strings.TrimSpace(f.Getenv(EnvEmail))
	}
	token, origin, err := fileOrEnv(f, EnvToken)
	if err != nil {
		return nil, "", err
	}
	if f.NoInput() && (email == "" || token == nil) {
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
	for email == "" {
		e, err := f.Prompter().Input("Atlassian account email", "")
		if err != nil {
			clear(token)
			return nil, "", promptErr("the email", err)
		}
		email = strings.TrimSpace(e)
		if email != "" && !strings.Contains(email, "@") {
			fmt.Fprintf(f.IOStreams.ErrOut, "%q is not an email address\n", email)
			email = ""
		}
	}
	if !strings.Contains(email, "@") {
		clear(token)
		return nil, "", errkind.UsageError(fmt.Errorf("%q is not an email address", email),
			"give the email of the Atlassian account the token belongs to (--email or "+EnvEmail+")")
	}
	if token == nil {
		fmt.Fprintf(f.IOStreams.ErrOut, "Create an API token at %s\n", TokenPage)
		fmt.Fprintln(f.IOStreams.ErrOut, `("Create API token with scopes", app Bitbucket) and tick these scopes:`)
		for _, s := range Scopes {
			fmt.Fprintf(f.IOStreams.ErrOut, "  %-27s to %s\n", s.Name, s.Why)
		}
		if token, err = askSecret(f.Prompter(), "API token", "the API token"); err != nil {
			return nil, "", err
		}
	}
	tok := &bbapi.APIToken{Email: email, Token: string(token)}
	clear(token)
	return tok, origin, nil
}

// readServerToken gathers the HTTP access token of the Data Center server: --token-file,
// BITBUCKET_SERVER_TOKEN, the terminal.
func readServerToken(f *cmdutil.Factory, server string) (*dc.Token, string, error) {
	token, origin, err := fileOrEnv(f, EnvServerToken)
	if err != nil {
		return nil, "", err
	}
	if token == nil && f.NoInput() {
		return nil, "", errkind.UsageError(fmt.Errorf("cannot prompt for the HTTP access token of %s: no terminal or --no-input", server),
			"pass --token-file FILE or set "+EnvServerToken, serverTokenHelp)
	}
	if token == nil {
		if token, err = askSecret(f.Prompter(), "HTTP access token for "+server, "the HTTP access token"); err != nil {
			return nil, "", err
		}
	}
	defer clear(token)
	return &dc.Token{Token: string(token)}, origin, nil
}

// askSecret asks for a secret with echo off until the answer is not blank. The answer is
// trimmed without a copy, so clearing it clears the secret.
func askSecret(p prompt.Prompter, label, what string) ([]byte, error) {
	for {
		b, err := p.Secret(label)
		if err != nil {
			return nil, promptErr(what, err)
		}
		if b = bytes.TrimSpace(b); len(b) > 0 {
			return b, nil
		}
	}
}

func promptErr(what string, err error) error {
	err = fmt.Errorf("asking for %s: %w", what, err)
	if errors.Is(err, prompt.ErrCancelled) {
		return errkind.CancelError(err)
	}
	return err
}

// Store keeps Cloud's API token under credstore.DefaultAccount, or (server not "") a
// Data Center server's HTTP access token under credstore.ServerAccount(server),
// replacing what was there.
func Store(ctx context.Context, s credstore.Store, server string, cred bbapi.Credential, now time.Time) error {
	sec := credstore.Secret{Created: now.UTC()}
	account, what := credstore.DefaultAccount, "the API token"
	switch c := cred.(type) {
	case *bbapi.APIToken:
		sec.Kind, sec.Email, sec.Secret = credstore.KindAPIToken, c.Email, []byte(c.Token)
	case *dc.Token:
		sec.Kind, sec.Server, sec.Secret = credstore.KindHTTPAccessToken, server, []byte(c.Token)
		account, what = credstore.ServerAccount(server), "the HTTP access token of "+server
	}
	defer clear(sec.Secret)
	if err := s.Set(ctx, account, sec); err != nil {
		return fmt.Errorf("storing %s in the %s: %w", what, s.Kind(), err)
	}
	return nil
}

// Status is the --json document of `bbkey auth status` and `bbkey auth login` (see
// docs/auth.md).
type Status struct {
	DryRun   bool   `json:"dry_run,omitempty"`
	LoggedIn bool   `json:"logged_in"`
	Server   string `json:"server,omitempty"`
	// Source is where the credential came from: keychain, file, environment or token-file.
	Source string      `json:"source,omitempty"`
	Kind   string      `json:"kind,omitempty"`
	Email  string      `json:"email,omitempty"`
	User   *StatusUser `json:"user"`
	// Scopes are what Bitbucket says the credential holds; null when it did not say.
	Scopes        []string   `json:"scopes"`
	MissingScopes []string   `json:"missing_scopes"`
	ExpiresOn     *time.Time `json:"expires_on"`
	Error         string     `json:"error,omitempty"`
	DataCenter    *DCStatus  `json:"data_center,omitempty"`
	// Servers are, in `auth status` with no Bitbucket selected, the Data Center servers
	// with a stored token, each checked.
	Servers []Status `json:"servers,omitempty"`
}

// StatusUser is the Bitbucket account of a credential.
type StatusUser struct {
	UUID        string `json:"uuid"`
	Nickname    string `json:"nickname"`
	DisplayName string `json:"display_name"`
	AccountID   string `json:"account_id"`
}

// name is "Display Name (nickname)", or whichever of the two is known (as
// backend.Account.Display words it).
func (u *StatusUser) name() string {
	if u == nil {
		return "an unnamed user"
	}
	return (&backend.Account{ID: u.UUID, Nickname: u.Nickname, DisplayName: u.DisplayName}).Display()
}

// DCStatus is what a Data Center token can do (the "data_center" object).
type DCStatus struct {
	Version string `json:"version"`
	// UserType is NORMAL for a personal token, SERVICE for a project or repository token.
	UserType string `json:"user_type"`
	// UserKeys: the token may manage its user's own SSH keys (setup, rotate).
	UserKeys bool `json:"user_keys"`
	// AdminRepositories and AdminProjects count (up to countCap) where the token may
	// manage access keys (add-access-key).
	AdminRepositories int    `json:"admin_repositories"`
	AdminProjects     int    `json:"admin_projects"`
	SSHEndpoint       string `json:"ssh_endpoint"`
	SSHEnabled        bool   `json:"ssh_enabled"`
	AccessKeysEnabled bool   `json:"access_keys_enabled"`
	// MissingPermissions are those bbkey uses that the token is known to lack.
	MissingPermissions []string `json:"missing_permissions"`
}
