//go:build windows

package settings

import (
	"path/filepath"
	"testing"
)

// The home bbkey scrubs and reads on git's behalf is the one Git for Windows uses:
// %HOME%, else %HOMEDRIVE%%HOMEPATH% when it is a directory (a home share), else
// %USERPROFILE%; the ssh directory stays under %USERPROFILE%, where OpenSSH looks.
func TestGitHomeOnWindows(t *testing.T) {
	profile, share, home := t.TempDir(), t.TempDir(), t.TempDir()
	drive, path := filepath.VolumeName(share), share[len(filepath.VolumeName(share)):]
	cfg := t.TempDir()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"HOME wins", map[string]string{"HOME": home, "HOMEDRIVE": drive, "HOMEPATH": path, "USERPROFILE": profile}, home},
		{"home share", map[string]string{"HOMEDRIVE": drive, "HOMEPATH": path, "USERPROFILE": profile}, share},
		{"home share missing", map[string]string{"HOMEDRIVE": drive, "HOMEPATH": path + `\gone`, "USERPROFILE": profile}, profile},
		{"profile", map[string]string{"USERPROFILE": profile}, profile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["XDG_CONFIG_HOME"] = cfg
			p, err := SystemPaths(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			if p.Home != tc.want {
				t.Errorf("home = %s, want %s", p.Home, tc.want)
			}
			if p.SSHDir != filepath.Join(profile, ".ssh") {
				t.Errorf("ssh dir = %s, want under %%USERPROFILE%%", p.SSHDir)
			}
		})
	}
	if _, err := SystemPaths(func(string) (string, bool) { return "", false }); err == nil {
		t.Error("no HOME, HOMEDRIVE/HOMEPATH or USERPROFILE: no error")
	}
}
