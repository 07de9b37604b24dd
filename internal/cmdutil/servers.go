package cmdutil

import (
	"context"
	"maps"
	"slices"

	"github.com/bbkey/bbkey/internal/settings"
)

// ConfiguredServers are the Data Center servers config.json names: the one it selects
// ("server") and those it keeps SSH settings for ("servers"), in
// settings.NormalizeServerURL form, sorted, each once. A name config.json holds that is
// not a server URL is left out (selecting it fails in Settings, where it is reported).
func (f *Factory) ConfiguredServers() ([]string, error) {
	file, err := f.readSettings()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, raw := range append([]string{file.Server}, slices.Collect(maps.Keys(file.Servers))...) {
		if u, err := resolveServer(raw); err == nil && u != "" {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// StoredServerCredential is the credential `bbkey auth login --server URL` stored for
// the Data Center server (its keychain entry, or the opt-in file's), ignoring
// --token-file and BITBUCKET_SERVER_TOKEN, which belong to the selected Bitbucket. No
// stored token is an error matching settings.ErrNoCredential.
func (f *Factory) StoredServerCredential(ctx context.Context, server string) (settings.ResolvedCredential, error) {
	return f.storedServerCredential(ctx, server)
}
