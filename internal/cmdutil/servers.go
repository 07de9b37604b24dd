package cmdutil

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"

	"github.com/bbkey/bbkey/internal/fsutil"
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

// RememberServer records the Data Center server (settings.NormalizeServerURL form) among
// config.json's "servers", with no settings of its own when it has none yet, so what
// lists the servers this machine knows (auth status) finds one whose token `auth login
// --server` stored before any setup recorded keys on it. It selects nothing. It returns
// config.json's path when the file changed.
func (f *Factory) RememberServer(server string) (string, error) {
	if f.Paths == nil || server == "" {
		return "", nil
	}
	p, err := f.Paths()
	if err != nil {
		return "", err
	}
	path := settings.SettingsFile(p)
	cur, _, err := readSettingsFile(path)
	if err != nil {
		return "", err
	}
	if _, ok := cur.Servers[server]; ok {
		return "", nil
	}
	servers := maps.Clone(cur.Servers)
	if servers == nil {
		servers = map[string]settings.ServerSettings{}
	}
	servers[server] = settings.ServerSettings{}
	b, err := json.MarshalIndent(settingsFile{Settings: cur.Settings, Servers: servers}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(p.ConfigDir, 0o700); err != nil {
		return "", err
	}
	if err := fsutil.WriteFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	return path, nil
}
