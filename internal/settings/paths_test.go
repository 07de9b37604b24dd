package settings

import (
	"path/filepath"
	"runtime"
	"testing"
)

// The cache directory: $XDG_CACHE_HOME/bbkey when absolute, else the platform's user
// cache directory under the home bbkey resolved, never a relative path.
func TestSystemPathsCacheDir(t *testing.T) {
	home := t.TempDir()
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	base := map[string]string{"HOME": home, "USERPROFILE": home, "APPDATA": filepath.Join(home, "AppData", "Roaming"),
		"LOCALAPPDATA": filepath.Join(home, "AppData", "Local"), "BBKEY_SSH_DIR": filepath.Join(home, ".ssh")}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	xdg := filepath.Join(home, "xdg-cache")
	p, err := SystemPaths(env(with("XDG_CACHE_HOME", xdg)))
	if err != nil || p.CacheDir != filepath.Join(xdg, "bbkey") {
		t.Errorf("XDG_CACHE_HOME: %q, %v", p.CacheDir, err)
	}
	want := filepath.Join(home, ".cache", "bbkey")
	switch runtime.GOOS {
	case "darwin":
		want = filepath.Join(home, "Library", "Caches", "bbkey")
	case "windows":
		want = filepath.Join(home, "AppData", "Local", "bbkey")
	}
	for _, v := range []string{"", "relative/cache"} {
		p, err := SystemPaths(env(with("XDG_CACHE_HOME", v)))
		if err != nil || p.CacheDir != want {
			t.Errorf("XDG_CACHE_HOME=%q: %q, %v; want %q", v, p.CacheDir, err, want)
		}
	}
}
