package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
)

// A Cloud account and a Data Center server's keys on one machine: each server's keys get
// Host blocks for its SSH host (its own port and HostKeyAlias), its pinned host key is
// written beside Cloud's, and a server whose keys are gone leaves nothing behind.
func TestSyncServersAgainstSSH(t *testing.T) {
	testutil.RequireBinary(t, "ssh", "ssh-keygen")
	h := testutil.NewHome(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := state.New()
	st.Accounts["ada"] = &state.Account{KeyPath: filepath.Join(h.SSHDir, "bbkey_ada_ed25519"), Created: t0}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	hk, _ := ssh.NewPublicKey(pub)
	v := st.EnsureServer("https://git.example.com")
	v.SSHHost, v.SSHPort, v.SSHEndpoint = "git.example.com", 7999, "10.0.0.5:7999"
	v.HostKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hk)))}
	v.HostKeySource = "https://git.example.com/rest/ssh/latest/settings"
	v.Accounts["ada-git.example.com"] = &state.Account{KeyPath: filepath.Join(h.SSHDir, "bbkey_ada-git.example.com_ed25519"), Created: t0}
	v.Accounts["ops"] = &state.Account{KeyPath: filepath.Join(h.SSHDir, "bbkey_ops_ed25519"), Created: t0.Add(time.Hour)}
	v.AccessKeys["ci01"] = &state.AccessKey{Path: filepath.Join(h.SSHDir, "bbkey_access_ci01_ed25519")}
	// A second server, with a user of the same name.
	w := st.EnsureServer("https://other.example.org")
	w.SSHHost, w.SSHPort, w.SSHEndpoint = "other.example.org", 22, "other.example.org:22"
	w.HostKeys, w.HostKeySource = v.HostKeys, "https://other.example.org/rest/ssh/latest/settings"
	w.Accounts["ada-other.example.org"] = &state.Account{KeyPath: filepath.Join(h.SSHDir, "bbkey_ada-other.example.org_ed25519"), Created: t0}
	s := settings.Settings{SSHHost: "ssh.bitbucket.org", SSHEndpoint: "127.0.0.1:2222"}

	if _, err := Sync(t.Context(), s, h.SSHDir, st, false); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(h.SSHDir, "config")
	for alias, want := range map[string][]string{
		"ssh.bitbucket.org":           {"hostname 127.0.0.1", "port 2222", "hostkeyalias ssh.bitbucket.org", "identityfile " + filepath.Join(h.SSHDir, "bbkey_ada_ed25519")},
		"git.example.com":             {"hostname 10.0.0.5", "port 7999", "hostkeyalias git.example.com", "identityfile " + filepath.Join(h.SSHDir, "bbkey_ada-git.example.com_ed25519")},
		"git.example.com-ops":         {"hostname 10.0.0.5", "port 7999", "hostkeyalias git.example.com", "identityfile " + filepath.Join(h.SSHDir, "bbkey_ops_ed25519")},
		"other.example.org":           {"hostname other.example.org", "port 22", "hostkeyalias other.example.org", "identityfile " + filepath.Join(h.SSHDir, "bbkey_ada-other.example.org_ed25519")},
		"git.example.com-access-ci01": {"hostname 10.0.0.5", "hostkeyalias git.example.com", "identityfile " + filepath.Join(h.SSHDir, "bbkey_access_ci01_ed25519")},
	} {
		out := testutil.Run(t, "", h.Env(), "ssh", "-G", "-F", cfg, alias)
		for _, w := range append(want, "user git", "stricthostkeychecking true") {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("ssh -G %s lacks %q", alias, w)
			}
		}
	}
	kh := filepath.Join(h.SSHDir, "bbkey", "known_hosts")
	if out := testutil.Run(t, "", h.Env(), "ssh-keygen", "-F", "git.example.com", "-f", kh); !strings.Contains(out, strings.Fields(v.HostKeys[0])[1]) {
		t.Errorf("ssh-keygen -F git.example.com:\n%s", out)
	}
	if out := testutil.Run(t, "", h.Env(), "ssh-keygen", "-F", "ssh.bitbucket.org", "-f", kh); !strings.Contains(out, "ssh-ed25519") {
		t.Errorf("Cloud's pins are gone:\n%s", out)
	}

	if out := testutil.Run(t, "", h.Env(), "ssh-keygen", "-F", "other.example.org", "-f", kh); !strings.Contains(out, "ssh-ed25519") {
		t.Errorf("the second server's pins:\n%s", out)
	}

	// The server's keys gone: its blocks and pins go too, the other server's stay.
	delete(st.Servers, "https://git.example.com")
	if _, err := Sync(t.Context(), s, h.SSHDir, st, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{kh, filepath.Join(h.SSHDir, "bbkey", "config")} {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "git.example.com") || !strings.Contains(string(b), "other.example.org") {
			t.Errorf("%s after the server's keys went:\n%s", f, b)
		}
	}
}
