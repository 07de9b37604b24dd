package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/testutil"
)

var setupKeysPath = "/2.0/users/" + bbapitest.DefaultAccountID + "/ssh-keys"

// setupJSON is the part of `bbkey setup --json` these tests read.
type setupJSON struct {
	Key struct {
		Path        string `json:"path"`
		Fingerprint string `json:"fingerprint"`
	} `json:"key"`
	BitbucketKey struct {
		UUID string `json:"uuid"`
	} `json:"bitbucket_key"`
	FilesChanged   []string `json:"files_changed"`
	RemotesChanged []struct {
		Remote string `json:"remote"`
		Old    string `json:"old"`
		New    string `json:"new"`
	} `json:"remotes_changed"`
}

func TestSetupNonInteractiveThenClone(t *testing.T) {
	w := NewWorld(t)
	repo := setupRepo(t, w, "api", "https://ada@bitbucket.org/acme/api.git")

	r := w.MustRun(repo, "setup", "--json", "--passphrase-file", w.PassFile)
	var res setupJSON
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("stdout is not the JSON document: %v\n%s", err, r)
	}

	// Exactly two API calls for a fresh key.
	if got, want := setupRequests(w), []string{"GET /2.0/user", "POST " + setupKeysPath}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	// Key files with OpenSSH's modes.
	key := filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519")
	if res.Key.Path != key {
		t.Errorf("key path %q, want %q", res.Key.Path, key)
	}
	if m := setupMode(t, key); m != 0o600 {
		t.Errorf("private key mode %v", m)
	}
	if m := setupMode(t, key+".pub"); m != 0o644 {
		t.Errorf("public key mode %v", m)
	}
	// ssh-keygen reads the key with the passphrase from the file and agrees on the fingerprint.
	fp := strings.Fields(testutil.Run(t, "", nil, "ssh-keygen", "-l", "-f", key+".pub"))[1]
	if fp != res.Key.Fingerprint {
		t.Errorf("ssh-keygen says %s, bbkey %s", fp, res.Key.Fingerprint)
	}
	// In the agent, on the account, in the config.
	if list := w.AgentList(); !strings.Contains(list, fp) {
		t.Errorf("ssh-add -l:\n%s", list)
	}
	uk := w.Emu.UserKeys(bbapitest.DefaultAccountID)
	if len(uk) != 1 || "SHA256:"+uk[0].Fingerprint != fp || !strings.HasPrefix(uk[0].Label, "bbkey:ada:") {
		t.Errorf("account keys = %+v", uk)
	}
	cfg, err := os.ReadFile(filepath.Join(w.Home.SSHDir, "config"))
	if err != nil || !strings.Contains(string(cfg), "Include") {
		t.Errorf("~/.ssh/config: %v\n%s", err, cfg)
	}
	kh, err := os.ReadFile(filepath.Join(w.Home.SSHDir, "bbkey", "known_hosts"))
	if err != nil || !strings.Contains(string(kh), "ssh.bitbucket.org") {
		t.Errorf("known_hosts: %v\n%s", err, kh)
	}
	// The repository's HTTPS remote was switched.
	if got := strings.TrimSpace(w.MustGit(repo, "remote", "get-url", "origin")); got != "git@ssh.bitbucket.org:acme/api.git" {
		t.Errorf("origin = %q", got)
	}
	if len(res.RemotesChanged) != 1 || res.RemotesChanged[0].New != "git@ssh.bitbucket.org:acme/api.git" {
		t.Errorf("remotes_changed = %+v", res.RemotesChanged)
	}

	// Real git and ssh, through the written config only: clone and fetch work.
	dst := filepath.Join(w.Home.Dir, "clone")
	w.MustGit(w.Home.Dir, "clone", "-q", "git@ssh.bitbucket.org:acme/api.git", dst)
	if _, err := os.Stat(filepath.Join(dst, "README.md")); err != nil {
		t.Errorf("the clone has no README: %v", err)
	}
	w.MustGit(repo, "fetch", "-q", "origin")

	// A second run: two calls, no file changed, no second key.
	before := w.Snapshot()
	w.Emu.ResetRequests()
	r = w.MustRun(repo, "setup", "--passphrase-file", w.PassFile)
	if got, want := setupRequests(w), []string{"GET /2.0/user", "GET " + setupKeysPath}; !slices.Equal(got, want) {
		t.Errorf("re-run requests = %q, want %q", got, want)
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("the re-run changed files:\n%s\n%s", d, r)
	}
	if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 1 {
		t.Errorf("%d keys on the account after the re-run", n)
	}
	if strings.Contains(r.Stdout+r.Stderr, w.Passphrase) || strings.Contains(r.Stdout+r.Stderr, w.Emu.DefaultAPIToken()) {
		t.Error("a secret reached the output")
	}
}

func TestSetupInteractive(t *testing.T) {
	w := NewWorld(t)
	tok := w.Emu.DefaultAPIToken()
	w.Unsetenv("BITBUCKET_EMAIL")
	w.Unsetenv("BITBUCKET_API_TOKEN")
	term := setupStartTerm(t, w, w.Home.Dir, "setup")
	term.expect("Atlassian account email: ")
	term.send(bbapitest.DefaultEmail + "\r")
	term.expect("write:ssh-key:bitbucket")
	term.expect("API token: ")
	term.sendSecret(tok + "\r")
	term.expect("Passphrase for the new key: ")
	term.sendSecret("first passphrase\r")
	term.expect("Same passphrase again: ")
	term.sendSecret("another passphrase\r")
	term.expect("The passphrases differ; passphrase for the new key: ")
	term.sendSecret(w.Passphrase + "\r")
	term.expect("Same passphrase again: ")
	term.sendSecret(w.Passphrase + "\r")
	term.expect("✓ proof:")
	if code := term.wait(); code != 0 {
		t.Fatalf("exit %d; terminal:\n%s", code, term.output())
	}
	out := term.output()
	t.Logf("terminal:\n%s", out)
	for _, secret := range []string{tok, w.Passphrase, "first passphrase"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q was echoed on the terminal:\n%s", secret, out)
		}
	}
	// The key is encrypted with the passphrase typed twice.
	key := filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519")
	if _, err := testutil.RunErr("", nil, "ssh-keygen", "-y", "-P", w.Passphrase, "-f", key); err != nil {
		t.Errorf("ssh-keygen cannot open the key with the passphrase: %v", err)
	}
	if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 1 {
		t.Errorf("%d keys on the account", n)
	}
}

func TestSetupCtrlCAtPassphraseWritesNothing(t *testing.T) {
	w := NewWorld(t)
	before := w.Snapshot()
	term := setupStartTerm(t, w, w.Home.Dir, "setup")
	term.expect("Passphrase for the new key: ")
	term.sendSecret("half a pass")
	term.send("\x03")
	if code := term.wait(); code != 2 {
		t.Fatalf("exit %d, want 2; terminal:\n%s", code, term.output())
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("Ctrl-C left files:\n%s", d)
	}
	if got := setupRequests(w); !slices.Equal(got, []string{"GET /2.0/user"}) {
		t.Errorf("requests = %q", got)
	}
	if list := w.AgentList(); strings.Contains(list, "SHA256:") {
		t.Errorf("the agent holds a key:\n%s", list)
	}
}

func TestSetupFailuresLeaveNoPartialState(t *testing.T) {
	t.Run("bad token", func(t *testing.T) {
		w := NewWorld(t)
		w.Setenv("BITBUCKET_API_TOKEN", "not-a-token")
		before := w.Snapshot()
		r := w.Run("", "setup", "--passphrase-file", w.PassFile)
		setupCheckFailure(t, w, before, r, 4, "")
		if strings.Contains(r.Stderr, "not-a-token") {
			t.Error("the token was printed")
		}
	})
	t.Run("missing scope", func(t *testing.T) {
		w := NewWorld(t)
		tok, err := w.Emu.AddAPIToken(bbapitest.DefaultEmail, "read:user:bitbucket", "read:ssh-key:bitbucket")
		if err != nil {
			t.Fatal(err)
		}
		w.Setenv("BITBUCKET_API_TOKEN", tok)
		before := w.Snapshot()
		r := w.Run("", "setup", "--passphrase-file", w.PassFile)
		setupCheckFailure(t, w, before, r, 4, "write:ssh-key:bitbucket")
	})
	t.Run("no input names the flag", func(t *testing.T) {
		w := NewWorld(t)
		before := w.Snapshot()
		r := w.Run("", "setup")
		setupCheckFailure(t, w, before, r, 2, "--passphrase-file")
	})
	t.Run("emulator down", func(t *testing.T) {
		w := NewWorld(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + l.Addr().String() + "/2.0"
		l.Close()
		w.Setenv("BITBUCKET_API_URL", dead)
		before := w.Snapshot()
		r := w.Run("", "setup", "--max-wait", "2s", "--passphrase-file", w.PassFile)
		if r.Code != 1 || !strings.Contains(r.Stderr, "could not be reached") {
			t.Fatalf("against a dead API: want exit 1 with an error\n%s", r)
		}
		t.Logf("%s", r)
		if d := DiffSnapshots(before, w.Snapshot()); d != "" {
			t.Errorf("files written:\n%s", d)
		}
	})
	t.Run("key on another account", func(t *testing.T) {
		w := NewWorld(t)
		key := filepath.Join(w.Home.SSHDir, "id_ed25519")
		testutil.Run(t, "", nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shared", "-f", key)
		bob, err := w.Emu.AddUser(bbapitest.User{Email: "bob@example.com", Nickname: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		bobTok, err := w.Emu.AddAPIToken("bob@example.com", bbapitest.AllScopes...)
		if err != nil {
			t.Fatal(err)
		}
		c, err := bbapi.NewClient(w.Emu.APIURL(), &bbapi.APIToken{Email: "bob@example.com", Token: bobTok})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := os.ReadFile(key + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.SSHKeys.Add(t.Context(), bob.AccountID, bbapi.AddSSHKeyOptions{Key: string(pub), Label: "bob"}); err != nil {
			t.Fatal(err)
		}
		w.Emu.ResetRequests()
		before := w.Snapshot()
		r := w.Run("", "setup", "--key", key)
		setupCheckFailure(t, w, before, r, 1, "one key, one account")
		if list := w.AgentList(); strings.Contains(list, "SHA256:") {
			t.Errorf("the refused key stayed in the agent:\n%s", list)
		}
	})
	t.Run("SSH proof fails", func(t *testing.T) {
		w := NewWorld(t)
		key := filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519")
		testutil.Run(t, "", nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mine", "-f", key)
		fp := strings.Fields(testutil.Run(t, "", nil, "ssh-keygen", "-l", "-f", key+".pub"))[1]
		w.Emu.DenySSH(fp)
		before := w.Snapshot()
		r := w.Run("", "setup")
		setupCheckFailure(t, w, before, r, 5, "removed from Bitbucket again")
		if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 0 {
			t.Errorf("the unproven key stayed on the account")
		}
		if !strings.Contains(r.Stderr, "✗ proof failed") {
			t.Errorf("no ✗ line:\n%s", r.Stderr)
		}
	})
}

// setupCheckFailure asserts the exit code, a message, and that nothing changed: no file
// under the home, no key on the account.
func setupCheckFailure(t *testing.T, w *World, before map[string]string, r Result, code int, says string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("exit %d, want %d\n%s", r.Code, code, r)
	}
	if !strings.Contains(r.Stderr, says) {
		t.Errorf("stderr does not say %q:\n%s", says, r.Stderr)
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
	if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 0 {
		t.Errorf("%d keys on the account", n)
	}
}

func TestSetupRateLimitedThenRecovers(t *testing.T) {
	w := NewWorld(t)
	w.Emu.FailNext(bbapitest.Match("POST", "/2.0/users/*/ssh-keys"), 1, 429, "Rate limit for this resource has been exceeded.")
	r := w.MustRun("", "setup", "--passphrase-file", w.PassFile)
	if got, want := setupRequests(w), []string{"GET /2.0/user", "POST " + setupKeysPath, "POST " + setupKeysPath}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 1 {
		t.Errorf("%d keys on the account", n)
	}
	if !strings.Contains(r.Stderr, "waiting") {
		t.Errorf("the wait was not shown:\n%s", r.Stderr)
	}
}

func TestSetupNoAgentWarns(t *testing.T) {
	w := NewWorld(t)
	w.Unsetenv("SSH_AUTH_SOCK")
	r := w.MustRun("", "setup", "--passphrase-file", w.PassFile)
	if !strings.Contains(r.Stderr, "! agent:") || !strings.Contains(r.Stderr, "ssh-agent") {
		t.Errorf("no agent warning with the fix:\n%s", r.Stderr)
	}
	if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 1 {
		t.Errorf("%d keys on the account", n)
	}
}

func TestSetupSecondAccountAlias(t *testing.T) {
	w := NewWorld(t)
	w.MustRun("", "setup", "--passphrase-file", w.PassFile)
	if _, err := w.Emu.AddUser(bbapitest.User{Email: "ada@work.example", Nickname: "ada-work"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Emu.AddMember(bbapitest.DefaultWorkspace, "ada@work.example", bbapitest.PermRead); err != nil {
		t.Fatal(err)
	}
	tok, err := w.Emu.AddAPIToken("ada@work.example", bbapitest.AllScopes...)
	if err != nil {
		t.Fatal(err)
	}
	w.Setenv("BITBUCKET_EMAIL", "ada@work.example")
	w.Setenv("BITBUCKET_API_TOKEN", tok)
	repo := setupRepo(t, w, "web", "https://bitbucket.org/acme/web.git")
	r := w.MustRun(repo, "setup", "--name", "work", "--passphrase-file", w.PassFile)
	if !strings.Contains(r.Stderr, "git@ssh.bitbucket.org-work:WORKSPACE/REPO.git") {
		t.Errorf("the remote form for the account is not said:\n%s", r.Stderr)
	}
	if got := strings.TrimSpace(w.MustGit(repo, "remote", "get-url", "origin")); got != "git@ssh.bitbucket.org-work:acme/web.git" {
		t.Errorf("origin = %q", got)
	}
	// Each alias authenticates as its own account, through the written config.
	w.MustGit(repo, "fetch", "-q", "origin")
	w.MustGit(w.Home.Dir, "ls-remote", "git@ssh.bitbucket.org:acme/api.git")
}

func TestSetupCtrlCAtEmailWritesNothing(t *testing.T) {
	w := NewWorld(t)
	w.Unsetenv("BITBUCKET_EMAIL")
	w.Unsetenv("BITBUCKET_API_TOKEN")
	before := w.Snapshot()
	term := setupStartTerm(t, w, w.Home.Dir, "setup")
	term.expect("Atlassian account email: ")
	term.send("ada@")
	term.send("\x03")
	if code := term.wait(); code != 2 {
		t.Fatalf("exit %d, want 2; terminal:\n%s", code, term.output())
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("Ctrl-C left files:\n%s", d)
	}
	if got := setupRequests(w); len(got) != 0 {
		t.Errorf("requests = %q", got)
	}
}
