package settings

import (
	"path/filepath"
)

// Paths are the directories bbkey reads and writes.
type Paths struct {
	// Home is the home directory git and the user's shell use: $HOME; on Windows, as Git
	// for Windows finds it, %HOME%, else %HOMEDRIVE%%HOMEPATH% (a home share on domain
	// PCs), else %USERPROFILE%. Everything bbkey reads or scrubs on git's behalf is there:
	// .git-credentials, .netrc/_netrc, .gitconfig, the XDG fallback.
	Home string
	// SSHDir is where OpenSSH reads its config and keys: BBKEY_SSH_DIR, else .ssh in the
	// passwd entry's home on Unix (ssh ignores $HOME), %USERPROFILE%\.ssh on Windows.
	SSHDir string
	// SSHDirFromEnv is true when BBKEY_SSH_DIR chose SSHDir.
	SSHDirFromEnv bool
	// ConfigDir is $XDG_CONFIG_HOME/bbkey (os.UserConfigDir): settings and state.
	ConfigDir string
	// CacheDir is $XDG_CACHE_HOME/bbkey (os.UserCacheDir): what can be thrown away and
	// listed again, such as the audit cache.
	CacheDir string
	// HomeMismatch is set when $HOME differs from the home OpenSSH uses, so a warning can
	// say that ssh will not look where the shell's ~ points.
	HomeMismatch string
}

// BbkeyDir is ~/.ssh/bbkey, the directory bbkey owns inside the ssh directory.
func (p Paths) BbkeyDir() string { return filepath.Join(p.SSHDir, "bbkey") }

// SystemPaths resolves Paths from the environment and the OS account database.
func SystemPaths(lookupEnv func(string) (string, bool)) (Paths, error) {
	var p Paths
	home, err := gitHomeDir(lookupEnv)
	if err != nil {
		return p, err
	}
	p.Home = home
	if d, ok := lookupEnv("BBKEY_SSH_DIR"); ok && d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return p, err
		}
		p.SSHDir, p.SSHDirFromEnv = abs, true
	} else {
		sshHome, err := sshHomeDir(lookupEnv)
		if err != nil {
			return p, err
		}
		p.SSHDir = filepath.Join(sshHome, ".ssh")
		if filepath.Clean(sshHome) != filepath.Clean(home) {
			p.HomeMismatch = sshHome
		}
	}
	cfg, ok := lookupEnv("XDG_CONFIG_HOME")
	if !ok || cfg == "" || !filepath.IsAbs(cfg) {
		c, err := userConfigDir(lookupEnv, home)
		if err != nil {
			return p, err
		}
		cfg = c
	}
	p.ConfigDir = filepath.Join(cfg, "bbkey")
	cache, ok := lookupEnv("XDG_CACHE_HOME")
	if !ok || cache == "" || !filepath.IsAbs(cache) {
		c, err := userCacheDir(lookupEnv, home)
		if err != nil {
			// Nowhere better: a cache beside the state still saves the calls.
			c = filepath.Join(p.ConfigDir, "cache")
			p.CacheDir = c
			return p, nil
		}
		cache = c
	}
	p.CacheDir = filepath.Join(cache, "bbkey")
	return p, nil
}
