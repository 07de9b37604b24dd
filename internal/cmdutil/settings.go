package cmdutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/settings"
)

// settingsFile is config.json: Cloud's settings at the top, the selected Data Center
// server ("server") and each server's own SSH settings ("servers", by base URL).
type settingsFile struct {
	settings.Settings
	Servers map[string]settings.ServerSettings `json:"servers,omitempty"`
}

// Settings resolves the settings for this run: flag > environment > config.json >
// default. The server is --server > BITBUCKET_SERVER > config.json; "cloud" selects
// Bitbucket Cloud over a recorded server. With a server selected, --ssh-endpoint,
// --ssh-host-keys and their variables are the server's, and Cloud's SSH settings come
// from config.json and the defaults alone.
func (f *Factory) Settings() (settings.Settings, error) {
	s, _, err := f.settingsFor(nil)
	return s, err
}

// settingsFor resolves the settings of one Bitbucket the state names (*server, "" for
// Cloud), or of the selected one (nil); selected says whether it is the one --server
// selects, the only one the SSH flags and variables apply to.
func (f *Factory) settingsFor(server *string) (s settings.Settings, selected bool, err error) {
	file, err := f.readSettings()
	if err != nil {
		return s, false, err
	}
	sel, err := resolveServer(pick(f.Globals.Server, f.Getenv("BITBUCKET_SERVER"), file.Server))
	if err != nil {
		return s, false, err
	}
	if server == nil {
		server = &sel
	}
	selected = *server == sel
	g := f.Globals
	// The SSH flags and variables are the selected Bitbucket's; --ssh-host and
	// BBKEY_SSH_HOST name Cloud's SSH host (its Host line and remotes) alone.
	flag := func(v, env string) string {
		if !selected {
			return ""
		}
		return pick(v, f.Getenv(env))
	}
	host := flag(g.SSHHost, "BBKEY_SSH_HOST")
	endpoint, hostKeys := flag(g.SSHEndpoint, "BBKEY_SSH_ENDPOINT"), flag(g.SSHHostKeys, "BBKEY_SSH_HOST_KEYS")
	if *server != "" {
		if selected && strings.TrimSpace(g.SSHHost) != "" {
			return s, selected, errkind.UsageError(
				fmt.Errorf("--ssh-host names Bitbucket Cloud's SSH host; the SSH host of %s comes from its own SSH settings", *server),
				"leave --ssh-host out; to connect to the server's SSH elsewhere (a proxy, a forwarded port) use --ssh-endpoint HOST:PORT, and --ssh-host-keys FILE for the keys it presents")
		}
		rec := file.Servers[*server]
		s.DC = settings.ServerSettings{SSHEndpoint: pick(endpoint, rec.SSHEndpoint), SSHHostKeys: pick(hostKeys, rec.SSHHostKeys)}
		host, endpoint, hostKeys = "", "", ""
	}
	s.APIURL = pick(g.APIURL, f.Getenv("BITBUCKET_API_URL"), file.APIURL, settings.DefaultAPIURL)
	s.OAuthTokenURL = pick(f.Getenv("BITBUCKET_OAUTH_TOKEN_URL"), file.OAuthTokenURL, settings.DefaultOAuthTokenURL)
	s.SSHHost = pick(host, file.SSHHost, settings.DefaultSSHHost)
	s.SSHEndpoint = pick(endpoint, file.SSHEndpoint, settings.DefaultSSHEndpoint)
	s.SSHHostKeys = pick(hostKeys, file.SSHHostKeys)
	s.Server = *server
	if _, _, err := settings.SplitEndpoint(s.SSHEndpoint); err != nil {
		return s, selected, errkind.UsageError(err, "give the endpoint as HOST:PORT, e.g. --ssh-endpoint altssh.bitbucket.org:443")
	}
	if s.DC.SSHEndpoint != "" {
		if _, _, err := settings.SplitEndpoint(s.DC.SSHEndpoint); err != nil {
			return s, selected, errkind.UsageError(err, "give the endpoint as HOST:PORT, e.g. --ssh-endpoint bitbucket.example.com:7999")
		}
	}
	return s, selected, nil
}

func (f *Factory) readSettings() (settingsFile, error) {
	if f.Paths == nil {
		return settingsFile{}, nil
	}
	p, err := f.Paths()
	if err != nil {
		return settingsFile{}, nil
	}
	return readSettingsFile(settings.SettingsFile(p))
}

// resolveServer reads the --server value: "" or "cloud" is Bitbucket Cloud, anything
// else a Data Center base URL.
func resolveServer(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, settings.CloudServer) {
		return "", nil
	}
	u, err := settings.NormalizeServerURL(v)
	if err != nil {
		return "", errkind.UsageError(err, "give the Data Center server's base URL as users open it, e.g. --server https://bitbucket.example.com (or BITBUCKET_SERVER); --server cloud selects Bitbucket Cloud")
	}
	return u, nil
}

func pick(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// ConfiguredServers are the Data Center servers config.json names: the one it selects
// and those it keeps SSH settings for, sorted, each once. A name that is not a server URL
// is left out (selecting it fails in Settings, where it is reported).
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

// RememberServer records the Data Center server among config.json's "servers" (with no
// settings of its own when it has none yet), so `auth status` lists a server whose token
// `auth login --server` stored before any setup. It selects nothing. It returns
// config.json's path when the file changed.
func (f *Factory) RememberServer(server string) (string, error) {
	if server == "" {
		return "", nil
	}
	return f.updateSettings(func(file *settingsFile) error {
		if _, ok := file.Servers[server]; !ok {
			file.Servers[server] = settings.ServerSettings{}
		}
		return nil
	})
}

// PersistSettings records in config.json the settings of this run that differ from the
// defaults (given by flag or environment), so later runs (a scheduled rotate, doctor)
// reach the same endpoint with the same pinned keys. It returns the file when it changed.
func (f *Factory) PersistSettings(s settings.Settings) (string, error) {
	return f.updateSettings(func(file *settingsFile) error {
		next := &file.Settings
		set := func(dst *string, v, def string) {
			if v == def {
				*dst = ""
			} else if v != "" {
				*dst = v
			}
		}
		set(&next.APIURL, s.APIURL, settings.DefaultAPIURL)
		set(&next.OAuthTokenURL, s.OAuthTokenURL, settings.DefaultOAuthTokenURL)
		set(&next.SSHHost, s.SSHHost, settings.DefaultSSHHost)
		set(&next.SSHEndpoint, s.SSHEndpoint, settings.DefaultSSHEndpoint)
		var err error
		if next.SSHHostKeys, err = absPath(s.SSHHostKeys); err != nil {
			return err
		}
		if next.Server = s.Server; s.Server == "" {
			return nil
		}
		rec := s.DC
		if rec.SSHHostKeys, err = absPath(rec.SSHHostKeys); err != nil {
			return err
		}
		if rec == (settings.ServerSettings{}) {
			delete(file.Servers, s.Server)
		} else {
			file.Servers[s.Server] = rec
		}
		return nil
	})
}

func absPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return filepath.Abs(p)
}

// updateSettings applies change to config.json and writes the file when that changed
// it; it returns the file's path then.
func (f *Factory) updateSettings(change func(*settingsFile) error) (string, error) {
	if f.Paths == nil {
		return "", nil
	}
	p, err := f.Paths()
	if err != nil {
		return "", err
	}
	path := settings.SettingsFile(p)
	cur, err := readSettingsFile(path)
	if err != nil {
		return "", err
	}
	next := settingsFile{Settings: cur.Settings, Servers: maps.Clone(cur.Servers)}
	if next.Servers == nil {
		next.Servers = map[string]settings.ServerSettings{}
	}
	if err := change(&next); err != nil {
		return "", err
	}
	if next.Settings == cur.Settings && maps.Equal(next.Servers, cur.Servers) {
		return "", nil
	}
	b, err := json.MarshalIndent(next, "", "  ")
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

// readSettingsFile reads config.json; a missing file is no settings. Anything but a JSON
// object is an error with a hint, never silently replaced: the file holds the endpoint
// later runs must reach.
func readSettingsFile(path string) (settingsFile, error) {
	var s settingsFile
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading %s: %w", path, err)
	}
	hint := fmt.Sprintf("%s holds the settings bbkey recorded for later runs (api_url, ssh_host, ssh_endpoint, ssh_host_keys, server, servers): fix it, or move it aside and give the settings again (flags or BBKEY_SSH_ENDPOINT…) in a run that records them", path)
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return s, errkind.WithHint(fmt.Errorf("reading %s: not a JSON object", path), hint)
	}
	if err := json.Unmarshal(trimmed, &s); err != nil {
		return s, errkind.WithHint(fmt.Errorf("reading %s: %w", path, err), hint)
	}
	return s, nil
}
