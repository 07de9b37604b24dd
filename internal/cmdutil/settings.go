package cmdutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bbkey/bbkey/internal/fsutil"
)

// Settings resolves the settings for this run.
func (f *Factory) Settings() (Settings, error) {
	var file Settings
	if f.Paths != nil {
		if p, err := f.Paths(); err == nil {
			var err error
			if file, _, err = readSettingsFile(SettingsFile(p)); err != nil {
				return Settings{}, err
			}
		}
	}
	g := f.Globals
	s := Settings{
		APIURL:        pick(g.APIURL, f.Getenv("BITBUCKET_API_URL"), file.APIURL, DefaultAPIURL),
		OAuthTokenURL: pick("", f.Getenv("BITBUCKET_OAUTH_TOKEN_URL"), file.OAuthTokenURL, DefaultOAuthTokenURL),
		SSHHost:       pick(g.SSHHost, f.Getenv("BBKEY_SSH_HOST"), file.SSHHost, DefaultSSHHost),
		SSHEndpoint:   pick(g.SSHEndpoint, f.Getenv("BBKEY_SSH_ENDPOINT"), file.SSHEndpoint, DefaultSSHEndpoint),
		SSHHostKeys:   pick(g.SSHHostKeys, f.Getenv("BBKEY_SSH_HOST_KEYS"), file.SSHHostKeys, ""),
	}
	if _, _, err := SplitEndpoint(s.SSHEndpoint); err != nil {
		return s, UsageError(err, "give the endpoint as HOST:PORT, e.g. --ssh-endpoint altssh.bitbucket.org:443")
	}
	return s, nil
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
func (f *Factory) PersistSettings(s Settings) (string, error) {
	p, err := f.Paths()
	if err != nil {
		return "", err
	}
	path := SettingsFile(p)
	cur, _, err := readSettingsFile(path)
	if err != nil {
		return "", err
	}
	next := cur
	set := func(dst *string, v, def string) {
		if v != "" && v != def {
			*dst = v
		} else if v == def {
			*dst = ""
		}
	}
	set(&next.APIURL, s.APIURL, DefaultAPIURL)
	set(&next.OAuthTokenURL, s.OAuthTokenURL, DefaultOAuthTokenURL)
	set(&next.SSHHost, s.SSHHost, DefaultSSHHost)
	set(&next.SSHEndpoint, s.SSHEndpoint, DefaultSSHEndpoint)
	if s.SSHHostKeys != "" {
		abs, err := filepath.Abs(s.SSHHostKeys)
		if err != nil {
			return "", err
		}
		next.SSHHostKeys = abs
	} else {
		next.SSHHostKeys = ""
	}
	if next == cur {
		return "", nil
	}
	if next == (Settings{}) && errors.Is(err, fs.ErrNotExist) {
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
// object (a syntax error, a cut file, null, a list) is an error with a hint, never
// silently replaced: the file holds the endpoint later runs must reach.
func readSettingsFile(path string) (Settings, bool, error) {
	var s Settings
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("reading %s: %w", path, err)
	}
	hint := fmt.Sprintf("%s holds the settings bbkey recorded for later runs (api_url, ssh_host, ssh_endpoint, ssh_host_keys): fix it, or move it aside and give the settings again (flags or BBKEY_SSH_ENDPOINT…) in a run that records them", path)
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return s, true, WithHint(fmt.Errorf("reading %s: not a JSON object", path), hint)
	}
	if err := json.Unmarshal(trimmed, &s); err != nil {
		return s, true, WithHint(fmt.Errorf("reading %s: %w", path, err), hint)
	}
	return s, true, nil
}
