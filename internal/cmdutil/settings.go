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

// Settings resolves the settings for this run. The server is --server >
// BITBUCKET_SERVER > config.json; "cloud" selects Bitbucket Cloud over a recorded server.
// With a server selected, --ssh-endpoint, --ssh-host-keys and their environment
// variables are the server's (over what config.json records for it), and Cloud's SSH
// settings come from config.json and the defaults alone.
func (f *Factory) Settings() (settings.Settings, error) {
	file, err := f.readSettings()
	if err != nil {
		return settings.Settings{}, err
	}
	server, err := resolveServer(pick(f.Globals.Server, f.Getenv("BITBUCKET_SERVER"), file.Server))
	if err != nil {
		return settings.Settings{}, err
	}
	return f.resolveSettings(file, server, true)
}

// settingsFor resolves the settings of one Bitbucket the state names ("" for Cloud),
// whichever --server selects: the SSH flags and variables apply only when it is the
// selected one.
func (f *Factory) settingsFor(server string) (settings.Settings, error) {
	file, err := f.readSettings()
	if err != nil {
		return settings.Settings{}, err
	}
	selected, err := resolveServer(pick(f.Globals.Server, f.Getenv("BITBUCKET_SERVER"), file.Server))
	if err != nil {
		return settings.Settings{}, err
	}
	return f.resolveSettings(file, server, server == selected)
}

func (f *Factory) readSettings() (settingsFile, error) {
	if f.Paths == nil {
		return settingsFile{}, nil
	}
	p, err := f.Paths()
	if err != nil {
		return settingsFile{}, nil
	}
	file, _, err := readSettingsFile(settings.SettingsFile(p))
	return file, err
}

// resolveSettings is flag > environment > config.json > default for the Bitbucket
// server ("" Cloud); sshFlags says whether the SSH flags and variables are this one's.
func (f *Factory) resolveSettings(file settingsFile, server string, sshFlags bool) (settings.Settings, error) {
	g := f.Globals
	endpointFlag, endpointEnv := g.SSHEndpoint, f.Getenv("BBKEY_SSH_ENDPOINT")
	keysFlag, keysEnv := g.SSHHostKeys, f.Getenv("BBKEY_SSH_HOST_KEYS")
	if !sshFlags {
		endpointFlag, endpointEnv, keysFlag, keysEnv = "", "", "", ""
	}
	// --ssh-host and BBKEY_SSH_HOST are Cloud's (the Host line and remotes of
	// ssh.bitbucket.org); a Data Center server's SSH host comes from its own settings. With
	// a server selected the flag is a mistake, and neither may become Cloud's recorded one.
	hostFlag, hostEnv := g.SSHHost, f.Getenv("BBKEY_SSH_HOST")
	if server != "" && sshFlags && strings.TrimSpace(hostFlag) != "" {
		return settings.Settings{}, errkind.UsageError(
			fmt.Errorf("--ssh-host names Bitbucket Cloud's SSH host; the SSH host of %s comes from its own SSH settings", server),
			"leave --ssh-host out; to connect to the server's SSH elsewhere (a proxy, a forwarded port) use --ssh-endpoint HOST:PORT, and --ssh-host-keys FILE for the keys it presents")
	}
	if server != "" || !sshFlags {
		hostFlag, hostEnv = "", ""
	}
	var dcs settings.ServerSettings
	if server != "" {
		rec := file.Servers[server]
		dcs = settings.ServerSettings{
			SSHEndpoint: pick(endpointFlag, endpointEnv, rec.SSHEndpoint),
			SSHHostKeys: pick(keysFlag, keysEnv, rec.SSHHostKeys),
		}
		endpointFlag, endpointEnv, keysFlag, keysEnv = "", "", "", ""
	}
	s := settings.Settings{
		APIURL:        pick(g.APIURL, f.Getenv("BITBUCKET_API_URL"), file.APIURL, settings.DefaultAPIURL),
		OAuthTokenURL: pick("", f.Getenv("BITBUCKET_OAUTH_TOKEN_URL"), file.OAuthTokenURL, settings.DefaultOAuthTokenURL),
		SSHHost:       pick(hostFlag, hostEnv, file.SSHHost, settings.DefaultSSHHost),
		SSHEndpoint:   pick(endpointFlag, endpointEnv, file.SSHEndpoint, settings.DefaultSSHEndpoint),
		SSHHostKeys:   pick(keysFlag, keysEnv, file.SSHHostKeys, ""),
		Server:        server,
		DC:            dcs,
	}
	if _, _, err := settings.SplitEndpoint(s.SSHEndpoint); err != nil {
		return s, errkind.UsageError(err, "give the endpoint as HOST:PORT, e.g. --ssh-endpoint altssh.bitbucket.org:443")
	}
	if s.DC.SSHEndpoint != "" {
		if _, _, err := settings.SplitEndpoint(s.DC.SSHEndpoint); err != nil {
			return s, errkind.UsageError(err, "give the endpoint as HOST:PORT, e.g. --ssh-endpoint bitbucket.example.com:7999")
		}
	}
	return s, nil
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

// PersistSettings records in config.json the settings of this run that differ from the
// defaults (given by flag or environment), so later runs (a scheduled rotate, doctor)
// reach the same endpoint with the same pinned keys. It returns the file when it changed.
func (f *Factory) PersistSettings(s settings.Settings) (string, error) {
	p, err := f.Paths()
	if err != nil {
		return "", err
	}
	path := settings.SettingsFile(p)
	curFile, _, err := readSettingsFile(path)
	if err != nil {
		return "", err
	}
	cur := curFile.Settings
	next := cur
	set := func(dst *string, v, def string) {
		if v != "" && v != def {
			*dst = v
		} else if v == def {
			*dst = ""
		}
	}
	set(&next.APIURL, s.APIURL, settings.DefaultAPIURL)
	set(&next.OAuthTokenURL, s.OAuthTokenURL, settings.DefaultOAuthTokenURL)
	set(&next.SSHHost, s.SSHHost, settings.DefaultSSHHost)
	set(&next.SSHEndpoint, s.SSHEndpoint, settings.DefaultSSHEndpoint)
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		return filepath.Abs(p)
	}
	if next.SSHHostKeys, err = abs(s.SSHHostKeys); err != nil {
		return "", err
	}
	next.Server = s.Server
	servers := maps.Clone(curFile.Servers)
	if s.Server != "" {
		rec := s.DC
		if rec.SSHHostKeys, err = abs(rec.SSHHostKeys); err != nil {
			return "", err
		}
		if rec == (settings.ServerSettings{}) {
			delete(servers, s.Server)
		} else {
			if servers == nil {
				servers = map[string]settings.ServerSettings{}
			}
			servers[s.Server] = rec
		}
	}
	if next == cur && maps.Equal(servers, curFile.Servers) {
		return "", nil
	}
	b, err := json.MarshalIndent(settingsFile{Settings: next, Servers: servers}, "", "  ")
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
// object (a syntax error, a cut file, null, a list) is an error with a hint, never
// silently replaced: the file holds the endpoint later runs must reach.
func readSettingsFile(path string) (settingsFile, bool, error) {
	var s settingsFile
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("reading %s: %w", path, err)
	}
	hint := fmt.Sprintf("%s holds the settings bbkey recorded for later runs (api_url, ssh_host, ssh_endpoint, ssh_host_keys, server, servers): fix it, or move it aside and give the settings again (flags or BBKEY_SSH_ENDPOINT…) in a run that records them", path)
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return s, true, errkind.WithHint(fmt.Errorf("reading %s: not a JSON object", path), hint)
	}
	if err := json.Unmarshal(trimmed, &s); err != nil {
		return s, true, errkind.WithHint(fmt.Errorf("reading %s: %w", path, err), hint)
	}
	return s, true, nil
}
