package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// doctorEveryFailSaysWhatToDo asserts that each failing check carries a fix.
func doctorEveryFailSaysWhatToDo(t *testing.T, doc doctorDoc) {
	t.Helper()
	for _, c := range doc.Checks {
		if c.Status == "fail" && c.Fix == "" {
			t.Errorf("%s fails without a fix: %s", c.ID, c.Summary)
		}
	}
}

// TestDoctorInTheField runs doctor as it runs on a broken machine, without a terminal:
// no agent, an agent whose socket is left behind, no keychain and no credential, a
// state.json that is not JSON, a key others can read. Each time exactly the checks that
// look at what broke fail (the ones that need them skip), each with what to do, and
// --fix without --yes changes nothing.
func TestDoctorInTheField(t *testing.T) {
	d := newDoctorEnv(t)
	cases := []struct {
		name   string
		break_ func(t *testing.T)
		want   map[string]string
	}{
		{"no agent", func(*testing.T) { d.Unsetenv("SSH_AUTH_SOCK") },
			map[string]string{"agent": "fail", "agent-key": "skipped", "proof": "skipped"}},
		{"agent socket left behind", func(t *testing.T) {
			sock := filepath.Join(d.Home.Dir, "stale.sock")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close()
			d.Setenv("SSH_AUTH_SOCK", sock)
		}, map[string]string{"agent": "fail", "agent-key": "skipped", "proof": "skipped"}},
		{"no keychain, no credential", func(*testing.T) {
			d.Setenv("SSH_AUTH_SOCK", d.AgentSock)
			d.Unsetenv("BITBUCKET_API_TOKEN")
			d.Unsetenv("DBUS_SESSION_BUS_ADDRESS")
		}, map[string]string{"credential": "fail", "scopes": "skipped", "key-on-bitbucket": "skipped"}},
		{"corrupt state", func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(d.Home.ConfigDir, "bbkey", "state.json"), []byte(`{"accounts": [1,2`), 0o600); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"credential": "fail", "scopes": "skipped", "key-on-bitbucket": "skipped",
			"key-files": "fail", "key-permissions": "skipped", "key-passphrase": "skipped", "key-age": "skipped", "agent-key": "skipped",
			"ssh-include": "skipped", "ssh-hosts": "skipped", "ssh-resolve": "skipped", "pinned-host-keys": "skipped",
			"schedule": "skipped", "proof": "skipped"}},
	}
	for _, tc := range cases {
		tc.break_(t)
		r, doc := d.doctorJSON(t, d.Repo)
		t.Logf("%s: %s", tc.name, r.Stderr)
		doctorExpect(t, r, doc, tc.want)
		doctorEveryFailSaysWhatToDo(t, doc)
	}
	if c, _ := d.doctorJSON(t, d.Repo); !strings.Contains(c.Stdout, "no usable OS keychain") {
		t.Errorf("the credential check does not say that no keychain answers:\n%s", c.Stdout)
	}

	// A key others can read, with the state back: --fix without --yes and without a
	// terminal lists the fix in --json and changes nothing.
	d2 := newDoctorEnv(t)
	if err := os.Chmod(d2.Key, 0o644); err != nil {
		t.Fatal(err)
	}
	before := d2.Snapshot()
	r, doc := d2.doctorJSON(t, d2.Repo, "--fix", "--no-input")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") || len(doc.Fixes) != 1 || doc.Fixes[0].Key != "chmod" || doc.Fixes[0].Applied {
		t.Fatalf("--fix --no-input: want exit 2 naming --yes and the chmod fix unapplied\n%s", r)
	}
	doctorEveryFailSaysWhatToDo(t, doc)
	if diff := DiffSnapshots(before, d2.Snapshot()); diff != "" {
		t.Fatalf("--fix without --yes changed files:\n%s", diff)
	}
}
