package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/text"
	"github.com/bbkey/bbkey/keys"
)

// ServerTokenEnv holds a Data Center server's HTTP access token.
const ServerTokenEnv = "BITBUCKET_SERVER_TOKEN"

// ServerTokenHints say, when BITBUCKET_SERVER_TOKEN is set but no Data Center server is
// selected (the variable naming it forgotten), that the run went to Bitbucket Cloud and
// how to use the token. Nil otherwise, and when Cloud was chosen by name (--server cloud).
func (f *Factory) ServerTokenHints() []string {
	if f.Getenv(ServerTokenEnv) == "" || strings.EqualFold(pick(f.Globals.Server, f.Getenv("BITBUCKET_SERVER")), settings.CloudServer) {
		return nil
	}
	if s, err := f.Settings(); err != nil || s.Server != "" {
		return nil
	}
	return []string{"BITBUCKET_SERVER_TOKEN is set, but no Data Center server is selected, so this run went to Bitbucket Cloud: add --server URL (or set BITBUCKET_SERVER) to use the token"}
}

// noCredential is the error for no credential of the server ("" Cloud) anywhere, with
// every way to supply one.
func (f *Factory) noCredential(server string) error {
	if server != "" {
		return errkind.AuthError(fmt.Errorf("%w: no credential for %s", settings.ErrNoCredential, server),
			"set "+ServerTokenEnv+" (or pass --token-file FILE) to an HTTP access token of "+server+", or run 'bbkey auth login --server "+server+"'",
			"create a personal HTTP access token under your profile picture > Manage account > HTTP access tokens (project and repository tokens work for access keys, not for your own SSH keys)")
	}
	return errkind.AuthError(settings.ErrNoCredential, append(f.ServerTokenHints(),
		"run 'bbkey auth login', or set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN (or pass --token-file FILE)",
		"create an API token with scopes at https://id.atlassian.com/manage-profile/security/api-tokens")...)
}

// credential finds the credential of the Bitbucket s names (s.Server, "" for Cloud):
// --token-file > environment > the stored one (keychain, or the opt-in file). It is the
// one place a credential is decided. --token-file and BITBUCKET_SERVER_TOKEN are the
// selected Bitbucket's alone, so a token is never sent to a Bitbucket it was not given
// for. Without any it returns an AuthError matching settings.ErrNoCredential.
func (f *Factory) credential(ctx context.Context, s settings.Settings, selected bool) (settings.ResolvedCredential, error) {
	var rc settings.ResolvedCredential
	if selected && f.Globals.TokenFile != "" {
		tok, err := secret.ReadNonEmpty("--token-file", f.Globals.TokenFile)
		if err != nil {
			return rc, err
		}
		defer clear(tok)
		// For Cloud, with an account email the file holds an Atlassian API token (Basic
		// auth); without one a repository, project or workspace access token (Bearer).
		sec := credstore.Secret{Kind: credstore.KindAccessToken, Secret: tok}
		if s.Server != "" {
			sec.Kind = credstore.KindHTTPAccessToken
		} else if email := f.Getenv("BITBUCKET_EMAIL"); email != "" {
			sec.Kind, sec.Email = credstore.KindAPIToken, email
		}
		cred, err := toCredential(sec, s.OAuthTokenURL)
		if err != nil {
			return rc, errkind.UsageError(err)
		}
		return settings.ResolvedCredential{Credential: cred, Source: settings.SourceTokenFile}, nil
	}
	if s.Server == "" {
		cred, err := bbapi.CredentialFromEnv(f.LookupEnv, s.OAuthTokenURL)
		var half *bbapi.EnvCredentialError
		switch {
		case errors.As(err, &half) && half.Set == "BITBUCKET_EMAIL":
			// The email alone in the environment (the token in the keychain) is a normal
			// setup, not half a credential: go on to the stored one.
		case err != nil:
			return rc, err
		case cred != nil:
			return settings.ResolvedCredential{Credential: cred, Source: settings.SourceEnv}, nil
		}
	} else if v := f.Getenv(ServerTokenEnv); selected && v != "" {
		return settings.ResolvedCredential{Credential: dc.Token{Token: v}, Source: settings.SourceEnv}, nil
	}
	return f.storedCredential(ctx, s)
}

// storedCredential is the credential `bbkey auth login` stored for the Bitbucket s names,
// in the keychain or the opt-in file (found as well as the keychain).
func (f *Factory) storedCredential(ctx context.Context, s settings.Settings) (settings.ResolvedCredential, error) {
	var rc settings.ResolvedCredential
	if f.CredStore == nil {
		return rc, f.noCredential(s.Server)
	}
	store, err := f.CredStore(ctx, true)
	if err != nil {
		return rc, f.noCredential(s.Server)
	}
	var sec credstore.Secret
	what, login := "the stored credential", "bbkey auth login"
	if s.Server == "" {
		sec, err = store.Get(ctx, credstore.DefaultAccount)
	} else {
		sec, err = credstore.GetServerToken(ctx, store, s.Server)
		what, login = what+" of "+s.Server, login+" --server "+s.Server
	}
	defer clear(sec.Secret)
	if errors.Is(err, credstore.ErrNotFound) {
		return rc, f.noCredential(s.Server)
	}
	if err != nil {
		return rc, errkind.WithHint(fmt.Errorf("reading %s: %w", what, err), "run '"+login+"' again")
	}
	if rc.Credential, err = toCredential(sec, s.OAuthTokenURL); err != nil {
		return rc, fmt.Errorf("%s is unusable (run '%s' again): %w", what, login, err)
	}
	rc.Source = settings.SourceStore
	if store.Kind() == "file" {
		rc.Source = settings.SourceFileStore
		if w := credstore.Warning(store); w != "" {
			f.IOStreams.Warnf("%s", w)
		}
	}
	return rc, nil
}

// toCredential is the API credential of a stored secret.
func toCredential(sec credstore.Secret, oauthURL string) (bbapi.Credential, error) {
	secret := string(sec.Secret)
	var c bbapi.Credential
	switch sec.Kind {
	case credstore.KindHTTPAccessToken:
		return dc.Token{Token: secret}, nil
	case credstore.KindAccessToken:
		c = &bbapi.AccessToken{Token: secret}
	case credstore.KindOAuthClient:
		c = &bbapi.OAuthClient{ClientID: sec.ClientID, ClientSecret: secret, TokenURL: oauthURL}
	default:
		c = &bbapi.APIToken{Email: sec.Email, Token: secret}
	}
	switch {
	case secret == "":
		return nil, fmt.Errorf("%s credential: empty secret", c.Kind())
	case c.Kind() == bbapi.KindAPIToken && sec.Email == "":
		return nil, errors.New("api token credential: missing the account email")
	case c.Kind() == bbapi.KindOAuth && sec.ClientID == "":
		return nil, errors.New("oauth credential: missing the client id")
	}
	return c, nil
}

// ResolveCredential finds the Bitbucket Cloud credential, --token-file included.
func (f *Factory) ResolveCredential(ctx context.Context) (settings.ResolvedCredential, error) {
	s, err := f.Settings()
	if err != nil {
		return settings.ResolvedCredential{}, err
	}
	s.Server = ""
	return f.credential(ctx, s, true)
}

// ResolveServerCredential finds the credential of the Data Center server (its base URL in
// settings.NormalizeServerURL form), --token-file and BITBUCKET_SERVER_TOKEN included.
func (f *Factory) ResolveServerCredential(ctx context.Context, server string) (settings.ResolvedCredential, error) {
	return f.credential(ctx, settings.Settings{Server: server}, true)
}

// StoredServerCredential is the credential `bbkey auth login --server URL` stored for
// the Data Center server alone, without --token-file and BITBUCKET_SERVER_TOKEN.
func (f *Factory) StoredServerCredential(ctx context.Context, server string) (settings.ResolvedCredential, error) {
	return f.credential(ctx, settings.Settings{Server: server}, false)
}

// ResolveSelected finds the credential of the Bitbucket the settings select.
func (f *Factory) ResolveSelected(ctx context.Context) (settings.ResolvedCredential, error) {
	s, err := f.Settings()
	if err != nil {
		return settings.ResolvedCredential{}, err
	}
	return f.credential(ctx, s, true)
}

// ClientOptions are the transport options of every Bitbucket client of a run: the
// version, the --max-wait budget, the clock, the HTTP client and the --debug trace;
// extra options come last.
func (f *Factory) ClientOptions(extra ...bbapi.Option) []bbapi.Option {
	opts := []bbapi.Option{
		bbapi.WithVersion(f.AppVersion),
		bbapi.WithMaxWait(f.Globals.MaxWait),
		bbapi.WithClock(f.Now),
	}
	if f.HTTPClient != nil {
		opts = append(opts, bbapi.WithHTTPClient(f.HTTPClient()))
	}
	if f.Globals.Debug {
		opts = append(opts, bbapi.WithDebug(f.IOStreams.ErrOut))
	}
	return append(opts, extra...)
}

// NewAPIClient builds a Bitbucket Cloud client for cred with the run's settings and
// ClientOptions.
func (f *Factory) NewAPIClient(cred bbapi.Credential, extra ...bbapi.Option) (*bbapi.Client, error) {
	s, err := f.Settings()
	if err != nil {
		return nil, err
	}
	c, err := bbapi.NewClient(s.APIURL, cred, f.ClientOptions(extra...)...)
	if err != nil {
		return nil, errkind.UsageError(err, "the API URL comes from --api-url or BITBUCKET_API_URL")
	}
	return c, nil
}

// NewDCClient builds a client of the Data Center server for cred with ClientOptions.
func (f *Factory) NewDCClient(server string, cred bbapi.Credential, extra ...bbapi.Option) (*dc.Client, error) {
	c, err := dc.NewClient(server, cred, f.ClientOptions(extra...)...)
	if err != nil {
		return nil, errkind.UsageError(err, "the server URL comes from --server, BITBUCKET_SERVER or config.json")
	}
	return c, nil
}

// APIClient resolves the Cloud credential and builds a client with it.
func (f *Factory) APIClient(ctx context.Context) (*bbapi.Client, settings.ResolvedCredential, error) {
	rc, err := f.ResolveCredential(ctx)
	if err != nil {
		return nil, rc, err
	}
	c, err := f.NewAPIClient(rc.Credential)
	return c, rc, err
}

// NewBackend builds the Backend of the Bitbucket the settings select, authenticating
// with cred; extra options (a wait hook) come last.
func (f *Factory) NewBackend(cred bbapi.Credential, extra ...bbapi.Option) (backend.Backend, error) {
	s, err := f.Settings()
	if err != nil {
		return nil, err
	}
	return f.newBackend(s, cred, extra...)
}

func (f *Factory) newBackend(s settings.Settings, cred bbapi.Credential, extra ...bbapi.Option) (backend.Backend, error) {
	if s.Server == "" {
		c, err := f.NewAPIClient(cred, extra...)
		if err != nil {
			return nil, err
		}
		return backend.NewCloud(c, s), nil
	}
	c, err := f.NewDCClient(s.Server, cred, extra...)
	if err != nil {
		return nil, err
	}
	dco := backend.DataCenterOptions{Now: f.Now, SSHEndpoint: s.DC.SSHEndpoint, SSHHostKeys: s.DC.SSHHostKeys}
	if f.Globals.Debug {
		dco.Trace = f.IOStreams.ErrOut
	}
	return backend.NewDataCenter(c, dco), nil
}

// Backend resolves the selected Bitbucket's credential and builds its Backend: what a
// command that talks to Bitbucket starts with.
func (f *Factory) Backend(ctx context.Context, extra ...bbapi.Option) (backend.Backend, settings.ResolvedCredential, error) {
	return f.backendFor(ctx, nil, extra...)
}

// BackendFor is Backend for one Bitbucket the state names ("" for Cloud, else a Data
// Center server's base URL), whichever --server selects: for a command that acts on
// several (rotate, list).
func (f *Factory) BackendFor(ctx context.Context, server string, extra ...bbapi.Option) (backend.Backend, settings.ResolvedCredential, error) {
	return f.backendFor(ctx, &server, extra...)
}

func (f *Factory) backendFor(ctx context.Context, server *string, extra ...bbapi.Option) (backend.Backend, settings.ResolvedCredential, error) {
	s, selected, err := f.settingsFor(server)
	if err != nil {
		return nil, settings.ResolvedCredential{}, err
	}
	rc, err := f.credential(ctx, s, selected)
	if err != nil {
		return nil, rc, err
	}
	b, err := f.newBackend(s, rc.Credential, extra...)
	return b, rc, err
}

// AccessTokenRepoKeysError is the up-front refusal (exit 4) of work that would add,
// update or delete a repository's access keys with an access token, which Bitbucket
// refuses; what names that work.
func AccessTokenRepoKeysError(what string) error {
	return errkind.AuthError(fmt.Errorf("%s needs an API token: Bitbucket answers an access token on a repository's access keys with 403 \"This API is not accessible by this authentication mechanism.\"", what),
		apierr.AccessTokenRepoKeysHint)
}

// KeyExistsHint adds, to a key generation that found its file taken, the flags that get
// around it: another --name, or the existing key with --key.
func KeyExistsHint(err error) error {
	var ee *keys.ExistsError
	if !errors.As(err, &ee) {
		return err
	}
	return errkind.WithHint(err, "choose another --name, or use the existing key with --key "+text.CommandQuote(ee.Path))
}
