package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/hostkeys"
)

// auditBuiltinPins are Bitbucket's published host keys as "type SHA256:…" and as the
// base64 blob a known_hosts line carries.
func auditBuiltinPins(t *testing.T) (fps, blobs []string) {
	t.Helper()
	for _, k := range hostkeys.Builtin() {
		fps = append(fps, k.Type()+" "+ssh.FingerprintSHA256(k))
		blobs = append(blobs, strings.Fields(string(ssh.MarshalAuthorizedKey(k)))[1])
	}
	if len(fps) != 3 {
		t.Fatalf("%d built-in host keys, want Bitbucket's three", len(fps))
	}
	return fps, blobs
}

// TestAuditSetupRefusesAnUnpinnedServer: setup with the default (built-in) pins against
// the emulator, whose host key is not among them, is a server presenting another key. The
// proof stops with exit 5 naming the key presented and every pinned one, and where to
// check them; the uploaded key is taken back, the pins and ssh config are not left behind,
// and the agent does not keep the key. Pinned to the emulator's key, a re-run reuses the
// key files and succeeds.
func TestAuditSetupRefusesAnUnpinnedServer(t *testing.T) {
	w := NewWorld(t)
	w.Unsetenv("BBKEY_SSH_HOST_KEYS")
	pinned, _ := auditBuiltinPins(t)
	seen := w.Emu.HostPublicKey().Type() + " " + ssh.FingerprintSHA256(w.Emu.HostPublicKey())
	before, agentBefore := w.Snapshot(), w.AgentList()

	r := w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	proofCheckFailure(t, r, 5)
	for _, fp := range append([]string{seen}, pinned...) {
		if !strings.Contains(r.Stderr, fp) {
			t.Errorf("the refusal does not name %s\n%s", fp, r)
		}
	}
	if !strings.Contains(r.Stderr, "bbkey: hint: check them at "+hostkeys.CheckURL) {
		t.Errorf("the refusal does not say where to check the fingerprints\n%s", r)
	}
	if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 0 {
		t.Errorf("%d keys left on the account after the refused proof", n)
	}
	// Documented: the key files stay for the re-run; nothing else is written.
	keyFiles := []string{".ssh/bbkey_ada_ed25519", ".ssh/bbkey_ada_ed25519.pub"}
	if diff := proofFilterDiff(DiffSnapshots(before, w.Snapshot()), keyFiles); diff != "" {
		t.Errorf("the refused run left files behind:\n%s", diff)
	}
	if got := w.AgentList(); got != agentBefore {
		t.Errorf("the agent changed:\nbefore: %s\nafter:  %s", agentBefore, got)
	}

	pubPath := filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519.pub")
	pub, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatalf("the key files should stay for the re-run: %v", err)
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}

	w.Setenv("BBKEY_SSH_HOST_KEYS", w.Emu.HostKeyFile())
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if after, _ := os.ReadFile(pubPath); string(after) != string(pub) {
		t.Errorf("the re-run did not reuse the key files:\nbefore %s\nafter  %s", pub, after)
	}
	keys := w.Emu.UserKeys(bbapitest.DefaultAccountID)
	if len(keys) != 1 || "SHA256:"+keys[0].Fingerprint != ssh.FingerprintSHA256(pk) {
		t.Errorf("after the re-run the account holds %+v, want the key files' key %s", keys, ssh.FingerprintSHA256(pk))
	}
}

// TestAuditBuiltinPinsWrittenAndEnforced: with the default settings the pinned file
// holds Bitbucket's three published keys, and the real ssh-keygen -F finds each of them
// under every name bbkey pins them for. The written config is strict: the real ssh
// refuses the emulator (whose key is not pinned), and so does add-access-key --verify,
// naming the key presented and the pinned ones (exit 5).
func TestAuditBuiltinPinsWrittenAndEnforced(t *testing.T) {
	w := NewWorld(t)
	w.Unsetenv("BBKEY_SSH_HOST_KEYS")
	pinned, blobs := auditBuiltinPins(t)
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile,
		"--agent", "--write-ssh-config")

	kh := filepath.Join(w.Home.SSHDir, "bbkey", "known_hosts")
	for _, host := range []string{"ssh.bitbucket.org", "bitbucket.org", "[altssh.bitbucket.org]:443"} {
		out, err := rotateExec(w, "ssh-keygen", "-F", host, "-f", kh)
		if err != nil {
			t.Errorf("ssh-keygen -F %s -f %s: %v\n%s", host, kh, err, out)
			continue
		}
		for i, b := range blobs {
			if !strings.Contains(out, b) {
				t.Errorf("ssh-keygen -F %s does not find the pinned %s:\n%s", host, pinned[i], out)
			}
		}
	}
	if out, err := rotateExec(w, "ssh-keygen", "-F", "github.com", "-f", kh); err == nil || strings.Contains(out, "ssh-") {
		t.Errorf("ssh-keygen -F github.com finds a key in bbkey's pins:\n%s", out)
	}

	// OpenSSH itself, through the written config, refuses the unpinned server.
	out, err := w.Git(w.Home.Dir, "ls-remote", "git@ssh.bitbucket.org:acme/api.git")
	if err == nil || !strings.Contains(out, "Host key verification failed") {
		t.Errorf("git ls-remote through the written config reached a server whose key is not pinned: %v\n%s", err, out)
	}

	seen := w.Emu.HostPublicKey().Type() + " " + ssh.FingerprintSHA256(w.Emu.HostPublicKey())
	r := w.Run("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--verify")
	proofCheckFailure(t, r, 5)
	for _, fp := range append([]string{seen}, pinned...) {
		if !strings.Contains(r.Stderr, fp) {
			t.Errorf("the refusal does not name %s\n%s", fp, r)
		}
	}
	if !strings.Contains(r.Stderr, hostkeys.CheckURL) {
		t.Errorf("the refusal does not say where to check the fingerprints\n%s", r)
	}
}
