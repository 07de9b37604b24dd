//go:build windows

package settings

import (
	"errors"
	"os"
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

// gitHomeDir is the home Git for Windows uses (compat/mingw.c): %HOME%, else
// %HOMEDRIVE%%HOMEPATH% when that is a directory (on domain PCs a home share such as H:\,
// where _netrc and .git-credentials then live), else %USERPROFILE%.
func gitHomeDir(lookupEnv func(string) (string, bool)) (string, error) {
	get := func(k string) string { v, _ := lookupEnv(k); return v }
	if h := get("HOME"); h != "" {
		return h, nil
	}
	if d, p := get("HOMEDRIVE"), get("HOMEPATH"); d != "" && p != "" {
		if fi, err := os.Stat(d + p); err == nil && fi.IsDir() {
			return d + p, nil
		}
	}
	if h := get("USERPROFILE"); h != "" {
		return h, nil
	}
	return "", errors.New("cannot find the home directory: set HOME or USERPROFILE")
}
