//go:build !windows

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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

// rotate reads the new keys' passphrase only when a key is made: its dry run refuses a
// --passphrase-file the run would refuse (exit 2, the same hints, nothing changed), and
// with --json prints what the run prints.
func TestRotateDryRunRefusesPassphraseFileOthersCanRead(t *testing.T) {
	w := NewWorld(t)
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	pass := filepath.Join(w.Home.Dir, "mounted-pass")
	if err := os.WriteFile(pass, []byte(w.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pass, 0o440); err != nil {
		t.Fatal(err)
	}
	var cases []usageCase
	for _, args := range [][]string{
		{"rotate", "--passphrase-file", pass},
		{"rotate", "--passphrase-file", pass, "--dry-run"},
	} {
		cases = append(cases,
			usageCase{args, 2, "--passphrase-file: unsafe permissions: " + pass + " is readable by other users (mode 0440)", "chmod 600 " + pass},
			usageCase{args, 2, "--passphrase-file: unsafe permissions", "set BBKEY_PASSPHRASE"})
	}
	usageCheck(t, w, cases)
	// A key too young to rotate needs no passphrase: the dry run, as the run, passes.
	if r := w.Run("", "rotate", "--passphrase-file", pass, "--dry-run", "--if-older-than", "30d"); r.Code != 0 {
		t.Errorf("no key due: exit %d, want 0\n%s", r.Code, r)
	}
	run := w.Run("", "rotate", "--passphrase-file", pass, "--json")
	dry := w.Run("", "rotate", "--passphrase-file", pass, "--json", "--dry-run")
	if dry.Code != 2 || !json.Valid([]byte(dry.Stdout)) || !strings.Contains(dry.Stderr, "bbkey: error: --passphrase-file: unsafe permissions") {
		t.Errorf("--dry-run --json: want exit 2, a JSON document and the error\n%s", dry)
	}
	// The documents differ only in dry_run.
	if got, want := strings.Replace(dry.Stdout, `"dry_run": true`, `"dry_run": false`, 1), run.Stdout; got != want {
		t.Errorf("--dry-run --json printed\n%s\nthe run printed\n%s", dry.Stdout, run.Stdout)
	}
}
