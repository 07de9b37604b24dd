package cmdutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
)

// ServerTokenEnv holds a Data Center server's HTTP access token.
const ServerTokenEnv = "BITBUCKET_SERVER_TOKEN"

// serverCredentialHints say every way to supply a Data Center credential.
func serverCredentialHints(server string) []string {
	return []string{
		"set " + ServerTokenEnv + " (or pass --token-file FILE) to an HTTP access token of " + server + ", or run 'bbkey auth login --server " + server + "'",
		"create a personal HTTP access token under your profile picture > Manage account > HTTP access tokens (project and repository tokens work for access keys, not for your own SSH keys)",
	}
}

// ResolveServerCredential finds the credential of the Data Center server (its base URL
// in settings.NormalizeServerURL form): --token-file > BITBUCKET_SERVER_TOKEN > the
// keychain entry `bbkey auth login --server URL` stored (credstore.ServerAccount(server)).
// It is the one place a server's credential is decided. Without any it returns an
// AuthError matching ErrNoCredential.
func (f *Factory) ResolveServerCredential(ctx context.Context, server string) (settings.ResolvedCredential, error) {
	if f.Globals.TokenFile != "" {
		tok, err := secret.ReadNonEmpty("--token-file", f.Globals.TokenFile)
		if err != nil {
			return settings.ResolvedCredential{}, err
		}
		defer clear(tok)
		return settings.ResolvedCredential{Credential: dc.Token{Token: string(tok)}, Source: settings.SourceTokenFile}, nil
	}
	if v := f.Getenv(ServerTokenEnv); v != "" {
		return settings.ResolvedCredential{Credential: dc.Token{Token: v}, Source: settings.SourceEnv}, nil
	}
	return f.storedServerCredential(ctx, server)
}

// storedServerCredential is the server's keychain entry (or the opt-in file's) alone.
func (f *Factory) storedServerCredential(ctx context.Context, server string) (settings.ResolvedCredential, error) {
	noCred := errkind.AuthError(fmt.Errorf("%w: no credential for %s", settings.ErrNoCredential, server), serverCredentialHints(server)...)
	if f.CredStore == nil {
		return settings.ResolvedCredential{}, noCred
	}
	store, err := f.CredStore(ctx, true)
	if err != nil {
		return settings.ResolvedCredential{}, noCred
	}
	sec, err := credstore.GetServerToken(ctx, store, server)
	if err != nil {
		if errors.Is(err, credstore.ErrNotFound) {
			return settings.ResolvedCredential{}, noCred
		}
		return settings.ResolvedCredential{}, errkind.WithHint(fmt.Errorf("reading the stored credential of %s: %w", server, err),
			"run 'bbkey auth login --server "+server+"' again")
	}
	defer clear(sec.Secret)
	src := settings.SourceStore
	if store.Kind() == "file" {
		src = settings.SourceFileStore
		if w := credstore.Warning(store); w != "" {
			f.IOStreams.Warnf("%s", w)
		}
	}
	return settings.ResolvedCredential{Credential: dc.Token{Token: string(sec.Secret)}, Source: src}, nil
}

// ResolveSelected finds the credential of the Bitbucket the settings select: Cloud's
// (ResolveCredential) or the Data Center server's (ResolveServerCredential).
func (f *Factory) ResolveSelected(ctx context.Context) (settings.ResolvedCredential, error) {
	s, err := f.Settings()
	if err != nil {
		return settings.ResolvedCredential{}, err
	}
	if s.Server == "" {
		return f.ResolveCredential(ctx)
	}
	return f.ResolveServerCredential(ctx, s.Server)
}

// NewBackend builds the Backend of the Bitbucket the settings select, authenticating
// with cred, with the run's version, --max-wait budget, clock and --debug trace; extra
// options (a wait hook) come last.
func (f *Factory) NewBackend(cred bbapi.Credential, extra ...bbapi.Option) (backend.Backend, error) {
	s, err := f.Settings()
	if err != nil {
		return nil, err
	}
	return f.newBackendFor(s, cred, extra...)
}

func (f *Factory) newBackendFor(s settings.Settings, cred bbapi.Credential, extra ...bbapi.Option) (backend.Backend, error) {
	if s.Server == "" {
		c, err := f.NewAPIClient(cred, extra...)
		if err != nil {
			return nil, err
		}
		return backend.NewCloud(c, s), nil
	}
	dco := backend.DataCenterOptions{Now: f.Now, SSHEndpoint: s.DC.SSHEndpoint, SSHHostKeys: s.DC.SSHHostKeys}
	if f.Globals.Debug {
		dco.Trace = f.IOStreams.ErrOut
	}
	c, err := dc.NewClient(s.Server, cred, f.ClientOptions(extra...)...)
	if err != nil {
		return nil, errkind.UsageError(err, "the server URL comes from --server, BITBUCKET_SERVER or config.json")
	}
	return backend.NewDataCenter(c, dco), nil
}

// BackendFor resolves the credential of one Bitbucket, named as the state names it
// ("" for Cloud, else a Data Center server's base URL), and builds its Backend: for a
// command that acts on what the state holds on several Bitbucket (rotate, list) rather
// than on the one --server selects. A server's SSH overrides come from config.json, or
// from --ssh-endpoint / --ssh-host-keys when it is the selected one.
func (f *Factory) BackendFor(ctx context.Context, server string, extra ...bbapi.Option) (backend.Backend, settings.ResolvedCredential, error) {
	s, err := f.Settings()
	if err != nil {
		return nil, settings.ResolvedCredential{}, err
	}
	selected := s.Server
	if server != s.Server {
		if s, err = f.settingsFor(server); err != nil {
			return nil, settings.ResolvedCredential{}, err
		}
	}
	// --token-file and BITBUCKET_SERVER_TOKEN are the selected Bitbucket's: another one's
	// credential never comes from them, so a token is never sent to a Bitbucket it was
	// not given for.
	var rc settings.ResolvedCredential
	switch {
	case server == "" && selected == "":
		rc, err = f.ResolveCredential(ctx)
	case server == "":
		rc, err = f.resolveCloud(ctx, "")
	case server == selected:
		rc, err = f.ResolveServerCredential(ctx, server)
	default:
		rc, err = f.storedServerCredential(ctx, server)
	}
	if err != nil {
		return nil, rc, err
	}
	b, err := f.newBackendFor(s, rc.Credential, extra...)
	return b, rc, err
}

// Backend resolves the selected Bitbucket's credential and builds its Backend: what a
// command that talks to Bitbucket starts with.
func (f *Factory) Backend(ctx context.Context, extra ...bbapi.Option) (backend.Backend, settings.ResolvedCredential, error) {
	rc, err := f.ResolveSelected(ctx)
	if err != nil {
		return nil, rc, err
	}
	b, err := f.NewBackend(rc.Credential, extra...)
	return b, rc, err
}
