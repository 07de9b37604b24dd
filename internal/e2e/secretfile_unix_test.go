//go:build !windows

package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// A secret file others can read is refused, but a secret a Kubernetes or CI secret store
// mounts (read-only, 0440 or 0444) cannot be chmod'ed by the job: the hint also names the
// environment variable that gives the same secret. A dry run refuses the file the same
// way (exit 2, the same hints), so it predicts the real run.
func TestSecretFileOthersCanReadNamesTheVariable(t *testing.T) {
	w := NewWorld(t)
	key, _, _, _, _ := usageFiles(t, w) // an encrypted key that exists
	pass := filepath.Join(w.Home.Dir, "mounted-pass")
	token := filepath.Join(w.Home.Dir, "mounted-token")
	for f, mode := range map[string]os.FileMode{pass: 0o440, token: 0o444} {
		s := w.Passphrase + "\n"
		if f == token {
			s = w.Emu.DefaultAPIToken() + "\n"
		}
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
	}
	var cases []usageCase
	for _, args := range [][]string{
		{"add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", pass},
		{"add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", pass, "--dry-run"},
		{"add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", pass, "--dry-run", "--json"},
		{"setup", "--passphrase-file", pass, "--no-remotes"},
		{"setup", "--passphrase-file", pass, "--no-remotes", "--dry-run"},
		{"add-access-key", "--repo", "acme/api", "--key", key + ".pub", "--agent", "--passphrase-file", pass},
		{"add-access-key", "--repo", "acme/api", "--key", key + ".pub", "--agent", "--passphrase-file", pass, "--dry-run"},
		{"setup", "--key", key, "--passphrase-file", pass, "--no-remotes"},
		{"setup", "--key", key, "--passphrase-file", pass, "--no-remotes", "--dry-run"},
	} {
		cases = append(cases,
			usageCase{args, 2, "--passphrase-file: unsafe permissions: " + pass + " is readable by other users (mode 0440)", "chmod 600 " + pass},
			usageCase{args, 2, "--passphrase-file: unsafe permissions", "set BBKEY_PASSPHRASE"})
	}
	for _, args := range [][]string{{"list", "--token-file", token}, {"auth", "status", "--token-file", token}} {
		cases = append(cases,
			usageCase{args, 2, "--token-file: unsafe permissions: " + token + " is readable by other users (mode 0444)", "chmod 600 " + token},
			usageCase{args, 2, "--token-file: unsafe permissions", "BITBUCKET_API_TOKEN"},
			usageCase{args, 2, "--token-file: unsafe permissions", "BITBUCKET_SERVER_TOKEN"})
	}
	usageCheck(t, w, cases)
}
