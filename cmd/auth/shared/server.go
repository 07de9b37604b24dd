package shared

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
)

// Environment of a Data Center server (DESIGN.md, "Data Center").
const (
	EnvServer      = "BITBUCKET_SERVER"
	EnvServerToken = "BITBUCKET_SERVER_TOKEN"
)

// ServerTokenHelp says where Data Center HTTP access tokens are made.
const ServerTokenHelp = "make an HTTP access token on the server: a personal one under your profile picture → Manage account → HTTP access tokens (for your own SSH keys: setup, rotate), or a project's or repository's under its settings → HTTP access tokens (Admin permission, for its access keys)"

// SelectServer picks the Data Center server of an auth command: its own --server flag,
// else the run's selection (the global --server, BITBUCKET_SERVER, the server config.json
// records); "" (or "cloud") means Bitbucket Cloud. The URL comes back in
// settings.NormalizeServerURL form, the form its keychain entry is keyed by.
func SelectServer(flag string, runSettings func() (settings.Settings, error)) (string, error) {
	raw := strings.TrimSpace(flag)
	if raw == "" {
		if runSettings == nil {
			return "", nil
		}
		s, err := runSettings()
		if err != nil {
			return "", err
		}
		return s.Server, nil
	}
	if strings.EqualFold(raw, settings.CloudServer) {
		return "", nil
	}
	n, err := settings.NormalizeServerURL(raw)
	if err != nil {
		return "", errkind.UsageError(fmt.Errorf("--server: %w", err), "give the server's base URL as you open it in a browser, e.g. --server https://bitbucket.example.com")
	}
	return n, nil
}

// ServerInput says where a Data Center HTTP access token may come from, in order: the
// --token-file flag, BITBUCKET_SERVER_TOKEN, the terminal.
type ServerInput struct {
	Server    string
	TokenFile string
	LookupEnv func(string) (string, bool)
	Prompter  func() prompt.Prompter
	NoInput   bool
}

// ReadServerToken gathers the HTTP access token for in.Server. Without a terminal a
// missing token fails at once with a usage error naming what would supply it. The caller
// clears the token when done.
func ReadServerToken(in ServerInput) (*dc.Token, Origin, error) {
	switch {
	case in.TokenFile != "":
		b, err := secret.ReadNonEmpty("--token-file", in.TokenFile)
		if err != nil {
			return nil, "", err
		}
		defer clear(b)
		return &dc.Token{Token: string(b)}, FromTokenFile, nil
	case in.LookupEnv != nil:
		if v, _ := in.LookupEnv(EnvServerToken); strings.TrimSpace(v) != "" {
			return &dc.Token{Token: strings.TrimSpace(v)}, FromEnv, nil
		}
	}
	if in.NoInput {
		return nil, "", errkind.UsageError(fmt.Errorf("cannot prompt for the HTTP access token of %s: no terminal or --no-input", in.Server),
			"pass --token-file FILE or set "+EnvServerToken, ServerTokenHelp)
	}
	p := in.Prompter()
	for {
		t, err := p.Secret("HTTP access token for " + in.Server)
		if err != nil {
			return nil, "", promptErr("the HTTP access token", err)
		}
		t = trimSpaceBytes(t)
		if len(t) > 0 {
			tok := &dc.Token{Token: string(t)}
			clear(t)
			return tok, FromPrompt, nil
		}
	}
}

// countCap bounds the repositories and projects counted for status: enough to say what
// the token can do without walking a whole server.
const countCap = 1000

// ServerVerified is what a Data Center server says of an HTTP access token.
type ServerVerified struct {
	User    *dc.User
	Version string
	// UserKeys: the token may list (and so manage) its user's SSH keys; false for a
	// project or repository token, which acts as a service user.
	UserKeys bool
	// AdminRepositories and AdminProjects count (up to countCap) where the token may
	// manage access keys: REPO_ADMIN and PROJECT_ADMIN.
	AdminRepositories, AdminProjects int
	// SSH is the server's SSH settings; nil when they could not be read (SSHErr says why).
	SSH    *dc.SSHSettings
	SSHErr error
}

// VerifyServer asks the server whom the token acts as, then what it may do: its user's
// SSH keys, the repositories and projects it administers, and the SSH settings. A refused
// token is the server's 401 (exit 4 with hints); the error never contains the token.
func VerifyServer(ctx context.Context, c *dc.Client) (ServerVerified, error) {
	u, props, err := c.Users.Current(ctx)
	if err != nil {
		// An unreachable server's hint (check the URL, the network) is apierr's.
		return ServerVerified{}, fmt.Errorf("checking the HTTP access token with %s: %w", c.ServerURL(), err)
	}
	v := ServerVerified{User: u}
	if props != nil {
		v.Version = props.Version
	}
	switch _, err := first(c.SSHKeys.List(ctx, "")); {
	case err == nil:
		v.UserKeys = true
	case isPermission(err):
	default:
		return v, fmt.Errorf("listing the token's SSH keys on %s: %w", c.ServerURL(), err)
	}
	if v.AdminRepositories, err = count(c.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin})); err != nil && !isPermission(err) {
		return v, fmt.Errorf("listing the repositories the token administers on %s: %w", c.ServerURL(), err)
	}
	if v.AdminProjects, err = count(c.Projects.List(ctx, dc.ListProjectsOptions{Permission: dc.ProjectAdmin})); err != nil && !isPermission(err) {
		return v, fmt.Errorf("listing the projects the token administers on %s: %w", c.ServerURL(), err)
	}
	v.SSH, _, v.SSHErr = c.SSH.Settings(ctx)
	return v, nil
}

func isPermission(err error) bool {
	_, ok := dc.IsPermission(err)
	return ok
}

func first[T any](seq iter.Seq2[T, error]) (T, error) {
	var zero T
	for v, err := range seq {
		return v, err
	}
	return zero, nil
}

func count[T any](seq iter.Seq2[T, error]) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		if n++; n >= countCap {
			break
		}
	}
	return n, nil
}

// StoreServerToken keeps the token under credstore.ServerAccount(server), replacing what
// was there.
func StoreServerToken(ctx context.Context, s credstore.Store, server string, tok *dc.Token, now time.Time) error {
	account := credstore.ServerAccount(server)
	sec := credstore.Secret{Kind: credstore.KindHTTPAccessToken, Server: server, Secret: []byte(tok.Token), Created: now.UTC()}
	defer clear(sec.Secret)
	if err := s.Set(ctx, account, sec); err != nil {
		return fmt.Errorf("storing the HTTP access token of %s in the %s: %w", server, s.Kind(), err)
	}
	return nil
}

// DCStatus is what `auth status --server` says a Data Center token can do (the
// "data_center" object of the --json document, see docs/auth.md).
type DCStatus struct {
	// Version is the server's version.
	Version string `json:"version"`
	// UserType is NORMAL for a personal token, SERVICE for a project or repository token.
	UserType string `json:"user_type"`
	// UserKeys: the token may manage its user's own SSH keys (setup, rotate).
	UserKeys bool `json:"user_keys"`
	// AdminRepositories and AdminProjects count (up to 1000) the repositories and
	// projects whose access keys the token may manage (add-access-key).
	AdminRepositories int `json:"admin_repositories"`
	AdminProjects     int `json:"admin_projects"`
	// SSHEndpoint is the server's SSH host:port, "" when its settings could not be read.
	SSHEndpoint string `json:"ssh_endpoint"`
	// SSHEnabled and AccessKeysEnabled are the server's SSH settings.
	SSHEnabled        bool `json:"ssh_enabled"`
	AccessKeysEnabled bool `json:"access_keys_enabled"`
	// MissingPermissions are the permissions bbkey uses that the token is known to lack:
	// LICENSED_USER (a user's own SSH keys), REPO_ADMIN or PROJECT_ADMIN (access keys,
	// when it administers none).
	MissingPermissions []string `json:"missing_permissions"`
}

// SetServerVerified fills the user and the data_center object from what the server said.
func (s *Status) SetServerVerified(v ServerVerified) {
	if v.User != nil {
		s.User = &StatusUser{Nickname: v.User.Slug, DisplayName: v.User.DisplayName}
	}
	d := &DCStatus{Version: v.Version, UserKeys: v.UserKeys, AdminRepositories: v.AdminRepositories, AdminProjects: v.AdminProjects, MissingPermissions: []string{}}
	if v.User != nil {
		d.UserType = v.User.Type
	}
	if !v.UserKeys {
		d.MissingPermissions = append(d.MissingPermissions, string(dc.LicensedUser))
	}
	if v.AdminRepositories == 0 {
		d.MissingPermissions = append(d.MissingPermissions, string(dc.RepoAdmin))
	}
	if v.AdminProjects == 0 {
		d.MissingPermissions = append(d.MissingPermissions, string(dc.ProjectAdmin))
	}
	if v.SSH != nil {
		d.SSHEnabled, d.AccessKeysEnabled = v.SSH.Enabled, v.SSH.AccessKeysEnabled
		if host, port, err := v.SSH.Endpoint(); err == nil {
			d.SSHEndpoint = fmt.Sprintf("%s:%d", host, port)
		}
	}
	s.DataCenter = d
	s.Scopes = nil
	s.MissingScopes = []string{}
}

// Ability is one thing a Data Center token can or cannot do, or a note on the server.
type Ability struct {
	OK   bool
	Text string
}

// Can says, one line each, what a Data Center token can and cannot do, for the terminal.
func (d *DCStatus) Can() []Ability {
	var out []Ability
	if d.UserKeys {
		out = append(out, Ability{true, "the token may manage its user's own SSH keys (setup, rotate)"})
	} else {
		out = append(out, Ability{false, "the token cannot manage a user's SSH keys: setup and rotate need a personal token (a project or repository token acts as no user)"})
	}
	if d.AdminRepositories == 0 && d.AdminProjects == 0 {
		out = append(out, Ability{false, "the token cannot manage access keys anywhere: add-access-key needs REPO_ADMIN or PROJECT_ADMIN"})
	} else {
		out = append(out, Ability{true, fmt.Sprintf("the token may manage the access keys of %s and %s (add-access-key)", countText(d.AdminRepositories, "repository", "repositories"), countText(d.AdminProjects, "project", "projects"))})
	}
	switch {
	case d.SSHEndpoint == "":
		out = append(out, Ability{false, "the server's SSH settings could not be read"})
	case !d.SSHEnabled:
		out = append(out, Ability{false, "the server's SSH access is turned off: no key works until an admin turns it on"})
	case !d.AccessKeysEnabled:
		out = append(out, Ability{false, "the server's access keys are turned off: add-access-key cannot work until an admin turns them on"})
	}
	return out
}

func countText(n int, one, many string) string {
	switch {
	case n >= countCap:
		return fmt.Sprintf("%d+ %s", countCap, many)
	case n == 1:
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
