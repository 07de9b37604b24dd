package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
)

// noCredentialHints say every way to supply a credential.
var noCredentialHints = []string{
	"run 'bbkey auth login', or set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN (or pass --token-file FILE)",
	"create an API token with scopes at https://id.atlassian.com/manage-profile/security/api-tokens",
}

// noCredential is the error for no Cloud credential anywhere.
func (f *Factory) noCredential() error {
	return errkind.AuthError(settings.ErrNoCredential, append(f.ServerTokenHints(), noCredentialHints...)...)
}

// ServerTokenHints say, when BITBUCKET_SERVER_TOKEN is set but no Data Center server is
// selected (the variable naming it forgotten), that the run went to Bitbucket Cloud and
// how to use the token. Nil otherwise, and when Cloud was chosen by name (--server cloud).
func (f *Factory) ServerTokenHints() []string {
	if strings.EqualFold(pick(f.Globals.Server, f.Getenv("BITBUCKET_SERVER")), settings.CloudServer) {
		return nil
	}
	s, err := f.Settings()
	if err != nil {
		return nil
	}
	return ServerTokenHints(f.Getenv("BITBUCKET_SERVER_TOKEN") != "", s.Server)
}

// ServerTokenHints is Factory.ServerTokenHints for a command that has the environment and
// the selected server ("" Cloud) at hand.
func ServerTokenHints(serverTokenSet bool, selected string) []string {
	if !serverTokenSet || selected != "" {
		return nil
	}
	return []string{"BITBUCKET_SERVER_TOKEN is set, but no Data Center server is selected, so this run went to Bitbucket Cloud: add --server URL (or set BITBUCKET_SERVER) to use the token"}
}

// ResolveCredential finds the Bitbucket credential: --token-file > environment > the
// stored one (keychain, or the opt-in file). Without any it returns an AuthError.
func (f *Factory) ResolveCredential(ctx context.Context) (settings.ResolvedCredential, error) {
	return f.resolveCloud(ctx, f.Globals.TokenFile)
}

// resolveCloud is ResolveCredential with the --token-file given: "" when the file is
// another Bitbucket's (a Data Center server's, when one is selected).
func (f *Factory) resolveCloud(ctx context.Context, tokenFile string) (settings.ResolvedCredential, error) {
	s, err := f.Settings()
	if err != nil {
		return settings.ResolvedCredential{}, err
	}
	if tokenFile != "" {
		tok, err := secret.ReadNonEmpty("--token-file", tokenFile)
		if err != nil {
			return settings.ResolvedCredential{}, err
		}
		defer clear(tok)
		// With an account email the file holds an Atlassian API token (Basic auth);
		// without one it is a repository, project or workspace access token (Bearer).
		kind, id := bbapi.KindAccessToken, ""
		if email := f.Getenv("BITBUCKET_EMAIL"); email != "" {
			kind, id = bbapi.KindAPIToken, email
		}
		cred, err := bbapi.NewCredential(kind, id, string(tok), s.OAuthTokenURL)
		if err != nil {
			return settings.ResolvedCredential{}, errkind.UsageError(err)
		}
		return settings.ResolvedCredential{Credential: cred, Source: settings.SourceTokenFile}, nil
	}
	cred, err := bbapi.CredentialFromEnv(f.LookupEnv, s.OAuthTokenURL)
	var half *bbapi.EnvCredentialError
	switch {
	case errors.As(err, &half) && half.Set == "BITBUCKET_EMAIL":
		// The email alone in the environment (the token in the keychain) is a normal
		// setup, not half a credential: go on to the stored one.
	case err != nil:
		return settings.ResolvedCredential{}, err
	case cred != nil:
		return settings.ResolvedCredential{Credential: cred, Source: settings.SourceEnv}, nil
	}
	if f.CredStore == nil {
		return settings.ResolvedCredential{}, f.noCredential()
	}
	// A file store the user opted into earlier is found as well as the keychain.
	store, err := f.CredStore(ctx, true)
	if err != nil {
		return settings.ResolvedCredential{}, f.noCredential()
	}
	sec, err := store.Get(ctx, credstore.DefaultAccount)
	if err != nil {
		if errors.Is(err, credstore.ErrNotFound) {
			return settings.ResolvedCredential{}, f.noCredential()
		}
		return settings.ResolvedCredential{}, fmt.Errorf("reading the stored credential: %w", err)
	}
	defer clear(sec.Secret)
	kind, id := bbapi.KindAPIToken, sec.Email
	switch sec.Kind {
	case credstore.KindAccessToken:
		kind = bbapi.KindAccessToken
	case credstore.KindOAuthClient:
		kind, id = bbapi.KindOAuth, sec.ClientID
	}
	cred, err = bbapi.NewCredential(kind, id, string(sec.Secret), s.OAuthTokenURL)
	if err != nil {
		return settings.ResolvedCredential{}, fmt.Errorf("the stored credential is unusable (run 'bbkey auth login' again): %w", err)
	}
	src := settings.SourceStore
	if store.Kind() == "file" {
		src = settings.SourceFileStore
		if w := credstore.Warning(store); w != "" {
			f.IOStreams.Warnf("%s", w)
		}
	}
	return settings.ResolvedCredential{Credential: cred, Source: src}, nil
}

// NewAPIClient builds a Bitbucket client for cred with the run's settings, version,
// --max-wait budget and --debug trace; extra options (a wait hook for progress output)
// come last.
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

// ClientOptions are the transport options of every Bitbucket client of a run, Cloud's or
// a Data Center server's: the version, the --max-wait budget, the clock, the HTTP client
// and the --debug trace; extra options come last.
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

// APIClient resolves the credential and builds a client with it.
func (f *Factory) APIClient(ctx context.Context) (*bbapi.Client, settings.ResolvedCredential, error) {
	rc, err := f.ResolveCredential(ctx)
	if err != nil {
		return nil, rc, err
	}
	c, err := f.NewAPIClient(rc.Credential)
	return c, rc, err
}
