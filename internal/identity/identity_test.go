package identity

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
)

func TestAliases(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := state.New()
	st.AccessKeys["ci01"] = &state.AccessKey{Path: "/k/a"}
	if got := AccessAlias("ssh.bitbucket.org", st, "ci01"); got != "ssh.bitbucket.org" {
		t.Errorf("lone access key alias = %q, want the bare host", got)
	}
	st.Accounts["work"] = &state.Account{KeyPath: "/k/w", Created: t0.Add(time.Hour)}
	st.Accounts["ada"] = &state.Account{KeyPath: "/k/ada", Created: t0}
	for _, tt := range []struct{ got, want string }{
		{AccountAlias("ssh.bitbucket.org", st, "ada"), "ssh.bitbucket.org"},
		{AccountAlias("ssh.bitbucket.org", st, "work"), "ssh.bitbucket.org-work"},
		{AccessAlias("ssh.bitbucket.org", st, "ci01"), "ssh.bitbucket.org-access-ci01"},
	} {
		if tt.got != tt.want {
			t.Errorf("alias = %q, want %q", tt.got, tt.want)
		}
	}
}

// TestSyncAgainstSSH writes the files for two accounts and an access key and asks the real
// ssh what it would do for each alias.
func TestSyncAgainstSSH(t *testing.T) {
	testutil.RequireBinary(t, "ssh")
	h := testutil.NewHome(t)
	st := state.New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st.Accounts["ada"] = &state.Account{KeyPath: filepath.Join(h.SSHDir, "bbkey_ada_ed25519"), Created: t0}
	st.Accounts["work"] = &state.Account{KeyPath: filepath.Join(h.SSHDir, "bbkey_work_ed25519"), Created: t0.Add(time.Hour)}
	st.AccessKeys["ci01"] = &state.AccessKey{Path: filepath.Join(h.SSHDir, "bbkey_access_ci01_ed25519")}
	s := settings.Settings{SSHHost: "ssh.bitbucket.org", SSHEndpoint: "127.0.0.1:2222"}

	res, err := Sync(context.Background(), s, h.SSHDir, st, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ChangedFiles) != 3 {
		t.Errorf("changed %v, want known_hosts, config and the managed file", res.ChangedFiles)
	}
	cfg := filepath.Join(h.SSHDir, "config")
	for alias, key := range map[string]string{
		"ssh.bitbucket.org":             "bbkey_ada_ed25519",
		"ssh.bitbucket.org-work":        "bbkey_work_ed25519",
		"ssh.bitbucket.org-access-ci01": "bbkey_access_ci01_ed25519",
	} {
		out := testutil.Run(t, "", h.Env(), "ssh", "-G", "-F", cfg, alias)
		for _, want := range []string{
			"hostname 127.0.0.1", "port 2222", "user git",
			"identityfile " + filepath.Join(h.SSHDir, key),
			"hostkeyalias ssh.bitbucket.org",
			"userknownhostsfile " + filepath.Join(h.SSHDir, "bbkey", "known_hosts"),
			"stricthostkeychecking true",
		} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("ssh -G %s lacks %q", alias, want)
			}
		}
	}
	// The pinned keys are filed under the alias ssh matches them by.
	kh := testutil.Run(t, "", h.Env(), "ssh-keygen", "-F", "ssh.bitbucket.org", "-f", filepath.Join(h.SSHDir, "bbkey", "known_hosts"))
	if !strings.Contains(kh, "ssh-ed25519") {
		t.Errorf("ssh-keygen -F found no pinned ed25519 key:\n%s", kh)
	}

	before, _ := os.ReadFile(cfg)
	again, err := Sync(context.Background(), s, h.SSHDir, st, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.ChangedFiles) != 0 {
		t.Errorf("second Sync changed %v", again.ChangedFiles)
	}
	after, _ := os.ReadFile(cfg)
	if string(before) != string(after) {
		t.Error("second Sync rewrote ~/.ssh/config")
	}

	// Removing an account removes its block.
	delete(st.Accounts, "work")
	if _, err := Sync(context.Background(), s, h.SSHDir, st, false); err != nil {
		t.Fatal(err)
	}
	managed, _ := os.ReadFile(filepath.Join(h.SSHDir, "bbkey", "config"))
	if strings.Contains(string(managed), "ssh.bitbucket.org-work") {
		t.Errorf("block of the removed account is still there:\n%s", managed)
	}
}
