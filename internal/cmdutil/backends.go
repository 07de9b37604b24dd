package cmdutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/credstore"
)

// The commands that look at every Bitbucket a machine holds keys on (list, doctor) build
// a Backend for each, not only for the selected one (Factory.Backend).

// SelectedServer is the Data Center server the settings select (--server >
// BITBUCKET_SERVER > config.json); "" for Bitbucket Cloud.
func (f *Factory) SelectedServer() (string, error) {
	s, err := f.Settings()
	return s.Server, err
}

// CloudBackend resolves the Bitbucket Cloud credential (ResolveCredential) and builds
// Cloud's Backend, whichever Bitbucket the settings select.
func (f *Factory) CloudBackend(ctx context.Context) (backend.Backend, ResolvedCredential, error) {
	s, err := f.Settings()
	if err != nil {
		return nil, ResolvedCredential{}, err
	}
	rc, err := f.ResolveCredential(ctx)
	if err != nil {
		return nil, rc, err
	}
	c, err := f.NewAPIClient(rc.Credential)
	if err != nil {
		return nil, rc, err
	}
	return backend.NewCloud(c, s), rc, nil
}

// ServerBackend resolves the credential of the Data Center server and builds its
// Backend. The selected server's credential is ResolveServerCredential's (--token-file,
// BITBUCKET_SERVER_TOKEN, the keychain); any other server's is its keychain entry alone,
// as the flag and the variable are the selected server's. The selected server keeps its
// --ssh-endpoint and --ssh-host-keys.
func (f *Factory) ServerBackend(ctx context.Context, server string) (backend.Backend, ResolvedCredential, error) {
	s, err := f.Settings()
	if err != nil {
		return nil, ResolvedCredential{}, err
	}
	var rc ResolvedCredential
	if server == s.Server {
		rc, err = f.ResolveServerCredential(ctx, server)
	} else {
		rc, err = f.storedServerCredential(ctx, server)
	}
	if err != nil {
		return nil, rc, err
	}
	c, err := dc.NewClient(server, rc.Credential, f.ClientOptions()...)
	if err != nil {
		return nil, rc, UsageError(err, "the server URL comes from --server, BITBUCKET_SERVER, config.json or bbkey's state")
	}
	dco := backend.DataCenterOptions{Now: f.Now}
	if server == s.Server {
		dco.SSHEndpoint, dco.SSHHostKeys = s.DC.SSHEndpoint, s.DC.SSHHostKeys
	}
	if f.Globals.Debug {
		dco.Trace = f.IOStreams.ErrOut
	}
	return backend.NewDataCenter(c, dco), rc, nil
}

// storedServerCredential is the server's keychain entry (or the opt-in file's).
func (f *Factory) storedServerCredential(ctx context.Context, server string) (ResolvedCredential, error) {
	none := AuthError(fmt.Errorf("%w: no stored HTTP access token for %s", ErrNoCredential, server),
		"run 'bbkey auth login --server "+server+"'")
	if f.CredStore == nil {
		return ResolvedCredential{}, none
	}
	store, err := f.CredStore(ctx, true)
	if err != nil {
		return ResolvedCredential{}, none
	}
	sec, err := credstore.GetServerToken(ctx, store, server)
	if errors.Is(err, credstore.ErrNotFound) {
		return ResolvedCredential{}, none
	}
	if err != nil {
		return ResolvedCredential{}, fmt.Errorf("reading the stored credential of %s: %w", server, err)
	}
	defer clear(sec.Secret)
	src := SourceStore
	if store.Kind() == "file" {
		src = SourceFileStore
	}
	return ResolvedCredential{Credential: dc.Token{Token: string(sec.Secret)}, Source: src}, nil
}
