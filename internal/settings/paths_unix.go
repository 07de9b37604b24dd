//go:build !windows

package settings

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
)

// sshHomeDir is the home OpenSSH uses: the passwd entry's, never $HOME.
func sshHomeDir(_ func(string) (string, bool)) (string, error) {
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		return "", fmt.Errorf("cannot read the passwd entry of the current user (set BBKEY_SSH_DIR): %v", err)
	}
	return u.HomeDir, nil
}

// userConfigDir mirrors os.UserConfigDir with the home bbkey resolved.
func userConfigDir(_ func(string) (string, bool), home string) (string, error) {
	if runtime.GOOS == "darwin" {
		return filepath.Join(home, "Library", "Application Support"), nil
	}
	return filepath.Join(home, ".config"), nil
}

// userCacheDir mirrors os.UserCacheDir with the home bbkey resolved.
func userCacheDir(_ func(string) (string, bool), home string) (string, error) {
	if runtime.GOOS == "darwin" {
		return filepath.Join(home, "Library", "Caches"), nil
	}
	return filepath.Join(home, ".cache"), nil
}

// gitHomeDir is the home git uses: $HOME, else the account's.
func gitHomeDir(lookupEnv func(string) (string, bool)) (string, error) {
	if h, ok := lookupEnv("HOME"); ok && h != "" {
		return h, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("cannot find the home directory: set HOME")
	}
	return h, nil
}
