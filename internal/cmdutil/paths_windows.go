//go:build windows

package cmdutil

import (
	"errors"
)

// sshHomeDir is %USERPROFILE%, where Windows OpenSSH looks (not %HOME%).
func sshHomeDir(lookupEnv func(string) (string, bool)) (string, error) {
	if p, ok := lookupEnv("USERPROFILE"); ok && p != "" {
		return p, nil
	}
	return "", errors.New("USERPROFILE is not set (set BBKEY_SSH_DIR)")
}

func userConfigDir(lookupEnv func(string) (string, bool), _ string) (string, error) {
	if p, ok := lookupEnv("APPDATA"); ok && p != "" {
		return p, nil
	}
	return "", errors.New("APPDATA is not set (set XDG_CONFIG_HOME)")
}

func userCacheDir(lookupEnv func(string) (string, bool), _ string) (string, error) {
	if p, ok := lookupEnv("LOCALAPPDATA"); ok && p != "" {
		return p, nil
	}
	return "", errors.New("LOCALAPPDATA is not set (set XDG_CACHE_HOME)")
}
