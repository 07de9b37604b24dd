package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// An account key may not take a name that names an access key's file or Host alias
// (bbkey_access_x_ed25519, <ssh-host>-access-x): setup refuses it, exit 2 with a hint,
// before anything is written, and the access key called x keeps working.
func TestSetupRefusesAccessKeyNames(t *testing.T) {
	w := NewWorld(t)
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "x", "--passphrase-file", w.PassFile, "--write-ssh-config")
	access := filepath.Join(w.Home.SSHDir, "bbkey_access_x_ed25519")
	for _, name := range []string{"access_x", "access-x", "Access-X"} {
		before := w.Snapshot()
		w.Emu.ResetRequests()
		r := w.Run("", "setup", "--name", name, "--passphrase-file", w.PassFile)
		setupCheckFailure(t, w, before, r, 2, "bbkey: error: --name")
		if !strings.Contains(r.Stderr, "bbkey: hint:") {
			t.Errorf("setup --name %s: no hint:\n%s", name, r.Stderr)
		}
		if reqs := w.Emu.Requests(); len(reqs) != 0 {
			t.Errorf("setup --name %s called the API: %v", name, reqs)
		}
	}
	if _, err := os.Stat(access); err != nil {
		t.Fatal(err)
	}
	// The access key is reused, and another access key may still be called access-y.
	w.MustRun("", "add-access-key", "--repo", "acme/web", "--name", "x", "--passphrase-file", w.PassFile)
	w.MustRun("", "add-access-key", "--repo", "acme/web", "--name", "access-y", "--passphrase-file", w.PassFile)
	// An account whose nickname starts with "access-" is told to pick a name.
	if _, err := w.Emu.AddUser(bbapitest.User{Email: "acc@example.com", Nickname: "access-x"}); err != nil {
		t.Fatal(err)
	}
	tok, err := w.Emu.AddAPIToken("acc@example.com", bbapitest.AllScopes...)
	if err != nil {
		t.Fatal(err)
	}
	w.Setenv("BITBUCKET_EMAIL", "acc@example.com")
	w.Setenv("BITBUCKET_API_TOKEN", tok)
	before := w.Snapshot()
	r := w.Run("", "setup", "--passphrase-file", w.PassFile)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--name") {
		t.Errorf("nickname access-x: want exit 2 naming --name\n%s", r)
	}
	// The name is the key step's: the ✗ line names it, not the step before.
	if !strings.Contains(r.Stderr, "✗ key failed") || strings.Contains(r.Stderr, "ssh settings failed") {
		t.Errorf("nickname access-x: want the ✗ line on the key step\n%s", r)
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
}

// A Cloud --name equal to a Data Center user's key name (bbkey_<user>-<host>-<port>) would
// share its key file: whichever comes second is refused, exit 2, nothing written.
func TestCloudNameCollidesWithDataCenterKey(t *testing.T) {
	for _, cloudFirst := range []bool{true, false} {
		w := NewWorld(t)
		dcEmu := bbapitest.Start(t, bbapitest.WithDataCenter())
		server := dcEmu.DataCenter().ServerURL()
		name := dcKeyName(dcEmu)
		cloud := func() Result {
			return w.Run("", "setup", "--server", "cloud", "--name", name, "--passphrase-file", w.PassFile)
		}
		dc := func() Result {
			// The Cloud emulator's SSH endpoint and host keys would apply to the server.
			cloudEnv := slices.Clone(w.Env)
			defer func() { w.Env = cloudEnv }()
			w.Unsetenv("BBKEY_SSH_ENDPOINT")
			w.Unsetenv("BBKEY_SSH_HOST_KEYS")
			w.Setenv("BITBUCKET_SERVER_TOKEN", dcEmu.DataCenter().DefaultToken())
			return w.Run("", "setup", "--server", server, "--passphrase-file", w.PassFile)
		}
		first, second := cloud, dc
		if !cloudFirst {
			first, second = dc, cloud
		}
		if r := first(); r.Code != 0 {
			t.Fatalf("cloud first %v: %s", cloudFirst, r)
		}
		key, _ := os.ReadFile(filepath.Join(w.Home.SSHDir, "bbkey_"+name+"_ed25519"))
		before := w.Snapshot()
		r := second()
		if r.Code != 2 || !strings.Contains(r.Stderr, "bbkey: hint:") || !strings.Contains(r.Stderr, "--name") {
			t.Errorf("cloud first %v: the second setup: want exit 2 with a hint naming --name\n%s", cloudFirst, r)
		}
		if !strings.Contains(r.Stderr, "✗ key failed") || strings.Contains(r.Stderr, "ssh settings failed") {
			t.Errorf("cloud first %v: the second setup: want the ✗ line on the key step\n%s", cloudFirst, r)
		}
		if d := DiffSnapshots(before, w.Snapshot()); d != "" {
			t.Errorf("cloud first %v: files changed:\n%s", cloudFirst, d)
		}
		if after, _ := os.ReadFile(filepath.Join(w.Home.SSHDir, "bbkey_"+name+"_ed25519")); string(after) != string(key) || len(key) == 0 {
			t.Errorf("cloud first %v: the first key file changed", cloudFirst)
		}
	}
}
