package e2e

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// dcHostPort is the DC emulator's web host:port ("127.0.0.1:PORT"), as clone URLs name it.
func dcHostPort(emu *bbapitest.Server) string {
	return strings.TrimPrefix(emu.DataCenter().ServerURL(), "http://")
}

// dcKeyName is the key name setup gives the seeded user on the emulator:
// <user>-<server host>-<port>.
func dcKeyName(emu *bbapitest.Server) string {
	return "ada-" + strings.ReplaceAll(dcHostPort(emu), ":", "-")
}

// setup --server from an HTTPS clone URL carrying a secret: the key goes in with
// POST /rest/ssh/latest/keys, the host key the SSH server presents is pinned because it
// matches the settings, the remote becomes ssh://git@host:port/proj/repo.git, git fetch
// works over SSH with the written config alone, and the secret is gone from the URL,
// .netrc and .git-credentials (the Cloud entries there stay).
func TestDataCenterSetupFromHTTPSRemote(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	const secret = "BBDC-leaked-password-123"
	web := dcHostPort(w.Emu)
	repo := setupRepo(t, w, "api", "http://ada:"+secret+"@"+web+"/scm/ops/api.git")
	netrc := filepath.Join(w.Home.Dir, ".netrc")
	netrcBody := "machine bitbucket.org login ada password cloud-stays\nmachine 127.0.0.1 login ada password " + secret + "\n"
	if err := os.WriteFile(netrc, []byte(netrcBody), 0o600); err != nil {
		t.Fatal(err)
	}
	// .git-credentials as git's store helper writes it (a host on a port is written
	// 127.0.0.1%3aPORT), put there by the real git.
	gitCreds := filepath.Join(w.Home.Dir, ".git-credentials")
	for _, c := range []string{
		"protocol=https\nhost=bitbucket.org\nusername=ada\npassword=cloud-stays\n\n",
		"protocol=http\nhost=" + web + "\nusername=ada\npassword=" + secret + "\n\n",
	} {
		cmd := exec.Command("git", "-c", "credential.helper=store", "credential", "approve")
		cmd.Dir, cmd.Env, cmd.Stdin = w.Home.Dir, w.Env, strings.NewReader(c)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git credential approve: %v\n%s", err, out)
		}
	}
	if b, _ := os.ReadFile(gitCreds); !strings.Contains(string(b), secret) {
		t.Fatalf("git stored no credential:\n%s", b)
	}

	r := w.MustRun(repo, "setup", "--json", "--passphrase-file", w.PassFile, "--expires-in", "90d")
	var res struct {
		Server         string `json:"server"`
		Host           string `json:"host"`
		RemotesChanged []struct {
			New       string `json:"new"`
			HadSecret bool   `json:"had_secret"`
		} `json:"remotes_changed"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("stdout is not the JSON document: %v\n%s", err, r)
	}
	want := "ssh://git@" + w.Emu.SSHEndpoint() + "/ops/api.git"
	if res.Server != w.Emu.DataCenter().ServerURL() || len(res.RemotesChanged) != 1 || res.RemotesChanged[0].New != want || !res.RemotesChanged[0].HadSecret {
		t.Errorf("result = %+v\n%s", res, r)
	}
	if got := strings.TrimSpace(w.MustGit(repo, "remote", "get-url", "origin")); got != want {
		t.Errorf("origin = %q, want %q", got, want)
	}
	keys := w.Emu.DataCenter().UserKeys(bbapitest.DCDefaultUser)
	if len(keys) != 1 || keys[0].ExpiryDays != 90 {
		t.Errorf("keys on the server: %+v", keys)
	}
	// Real git over real ssh, through the config bbkey wrote.
	w.MustGit(repo, "fetch", "-q", "origin")
	if out := w.MustGit(repo, "branch", "-r"); !strings.Contains(out, "origin/") {
		t.Errorf("nothing fetched: %q", out)
	}
	// The secret is gone everywhere; the Cloud entries are left alone.
	for path, keep := range map[string]string{netrc: "machine bitbucket.org login ada password cloud-stays", gitCreds: "https://ada:cloud-stays@bitbucket.org"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) || !strings.Contains(string(b), keep) {
			t.Errorf("%s after setup:\n%s", path, b)
		}
	}
	if cfg, _ := os.ReadFile(filepath.Join(repo, ".git", "config")); strings.Contains(string(cfg), secret) {
		t.Errorf("the secret is still in the repository's config:\n%s", cfg)
	}
	if strings.Contains(r.Stdout+r.Stderr, secret) || strings.Contains(r.Stdout+r.Stderr, w.Emu.DataCenter().DefaultToken()) || strings.Contains(r.Stdout+r.Stderr, w.Passphrase) {
		t.Errorf("a secret reached the output:\n%s", r)
	}
	// Never the DELETE that removes every key of the user.
	for _, req := range w.Emu.Requests() {
		if req.Method == "DELETE" && strings.HasSuffix(strings.TrimRight(req.Path, "/"), "/ssh/latest/keys") {
			t.Errorf("sent %s %s", req.Method, req.Path)
		}
	}

	// A second run changes nothing.
	before := w.Snapshot()
	r = w.MustRun(repo, "setup", "--passphrase-file", w.PassFile, "--expires-in", "90d")
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("the re-run changed files:\n%s\n%s", d, r)
	}
}

// A Data Center SSH server presenting a host key the server's HTTPS answer does not
// vouch for is refused: exit 5, both fingerprints named, nothing pinned, uploaded or
// written.
func TestDataCenterSetupRefusesUnvouchedHostKey(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	w.Emu.DataCenter().SetReportedHostKeyFingerprint("SHA256:" + strings.Repeat("Q", 43))
	repo := setupRepo(t, w, "api", "https://"+dcHostPort(w.Emu)+"/scm/ops/api.git")
	before := w.Snapshot()
	r := w.Run(repo, "setup", "--passphrase-file", w.PassFile)
	if r.Code != 5 {
		t.Fatalf("exit %d, want 5\n%s", r.Code, r)
	}
	seen := ssh.FingerprintSHA256(w.Emu.HostPublicKey())
	if !strings.Contains(r.Stderr, "bbkey: error:") || !strings.Contains(r.Stderr, seen) || !strings.Contains(r.Stderr, strings.Repeat("Q", 43)) ||
		!strings.Contains(r.Stderr, "bbkey: hint:") || !strings.Contains(r.Stderr, "nothing was pinned") {
		t.Errorf("stderr does not explain the refusal:\n%s", r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(w.Home.SSHDir, "bbkey", "known_hosts")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("known_hosts was written: %v", err)
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
	if n := len(w.Emu.DataCenter().UserKeys(bbapitest.DCDefaultUser)); n != 0 {
		t.Errorf("%d keys uploaded", n)
	}
}

// One machine holds a Cloud account and a Data Center user at once: two key files that
// do not collide, two Host blocks, both servers' host keys pinned, and git fetching from
// both. `bbkey remote --server` rewrites a Data Center clone's remote; a Cloud setup run
// afterwards (--server cloud over the recorded server) changes nothing.
func TestCloudAndDataCenterOnOneMachine(t *testing.T) {
	w := NewWorld(t)
	dcEmu := bbapitest.Start(t, bbapitest.WithDataCenter())
	server := dcEmu.DataCenter().ServerURL()

	cloudRepo := setupRepo(t, w, "cloud", "https://ada@bitbucket.org/acme/api.git")
	w.MustRun(cloudRepo, "setup", "--passphrase-file", w.PassFile)
	// From here on Cloud's endpoint and pinned keys come from config.json, as for a
	// timer: the variables would otherwise apply to the selected Data Center server.
	w.Unsetenv("BBKEY_SSH_ENDPOINT")
	w.Unsetenv("BBKEY_SSH_HOST_KEYS")
	w.Setenv("BITBUCKET_SERVER_TOKEN", dcEmu.DataCenter().DefaultToken())

	dcRepo := setupRepo(t, w, "dc", "https://ada:pw@"+dcHostPort(dcEmu)+"/scm/~ada/notes.git")
	r := w.MustRun(dcRepo, "setup", "--server", server, "--passphrase-file", w.PassFile)
	wantDC := "ssh://git@" + dcEmu.SSHEndpoint() + "/~ada/notes.git"
	if got := strings.TrimSpace(w.MustGit(dcRepo, "remote", "get-url", "origin")); got != wantDC {
		t.Errorf("dc origin = %q, want %q\n%s", got, wantDC, r)
	}
	for _, name := range []string{"ada", dcKeyName(dcEmu)} {
		if _, err := os.Stat(filepath.Join(w.Home.SSHDir, "bbkey_"+name+"_ed25519")); err != nil {
			t.Errorf("key %s: %v", name, err)
		}
	}
	if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 1 {
		t.Errorf("%d keys on the Cloud account", n)
	}
	if n := len(dcEmu.DataCenter().UserKeys(bbapitest.DCDefaultUser)); n != 1 {
		t.Errorf("%d keys on the Data Center user", n)
	}

	// Both fetch, each with its own key and pinned host key.
	w.MustGit(cloudRepo, "remote", "set-url", "origin", "git@ssh.bitbucket.org:acme/api.git")
	w.MustGit(cloudRepo, "fetch", "-q", "origin")
	w.MustGit(dcRepo, "fetch", "-q", "origin")
	dst := filepath.Join(w.Home.Dir, "dc-clone")
	w.MustGit(w.Home.Dir, "clone", "-q", "ssh://git@"+dcEmu.SSHEndpoint()+"/ops/api.git", dst)

	// bbkey remote --server rewrites a Data Center clone's HTTPS remote.
	other := setupRepo(t, w, "dc-web", "https://"+dcHostPort(dcEmu)+"/scm/OPS/web.git")
	w.MustRun(other, "remote", "--server", server)
	if got, want := strings.TrimSpace(w.MustGit(other, "remote", "get-url", "origin")), "ssh://git@"+dcEmu.SSHEndpoint()+"/ops/web.git"; got != want {
		t.Errorf("remote --server: origin = %q, want %q", got, want)
	}
	w.MustGit(other, "fetch", "-q", "origin")

	// config.json now selects the server; --server cloud reaches Cloud again, and its
	// setup finds everything done.
	before := w.Snapshot()
	r = w.MustRun(cloudRepo, "setup", "--server", "cloud", "--passphrase-file", w.PassFile)
	if d := DiffSnapshots(before, w.Snapshot(), ".config/bbkey/config.json"); d != "" {
		t.Errorf("a Cloud re-run changed files:\n%s\n%s", d, r)
	}
	w.MustGit(cloudRepo, "fetch", "-q", "origin")
	w.MustGit(dcRepo, "fetch", "-q", "origin")
}

// Cloud and two Data Center servers on one machine at once, the same user name on each:
// three keys in three files, three Host blocks, three sets of pinned host keys, and git
// fetching from all three. The second server names its SSH host "localhost", as two real
// servers have SSH hosts of their own.
func TestCloudAndTwoDataCenterServers(t *testing.T) {
	if addrs, err := net.LookupHost("localhost"); err != nil || !slices.Contains(addrs, "127.0.0.1") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("localhost does not resolve to 127.0.0.1 (%v, %v)", addrs, err)
		}
		t.Skipf("localhost does not resolve to 127.0.0.1 here (%v, %v)", addrs, err)
	}
	w := NewWorld(t)
	dcA := bbapitest.Start(t, bbapitest.WithDataCenter())
	dcB := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithDataCenterSSHHost("localhost"))
	cloudRepo := setupRepo(t, w, "cloud", "https://bitbucket.org/acme/api.git")
	w.MustRun(cloudRepo, "setup", "--passphrase-file", w.PassFile)
	w.Unsetenv("BBKEY_SSH_ENDPOINT")
	w.Unsetenv("BBKEY_SSH_HOST_KEYS")

	for _, dc := range []*bbapitest.Server{dcA, dcB} {
		w.Setenv("BITBUCKET_SERVER_TOKEN", dc.DataCenter().DefaultToken())
		w.MustRun(w.Home.Dir, "setup", "--server", dc.DataCenter().ServerURL(), "--passphrase-file", w.PassFile, "--no-remotes")
		if n := len(dc.DataCenter().UserKeys(bbapitest.DCDefaultUser)); n != 1 {
			t.Errorf("%s: %d keys", dc.DataCenter().ServerURL(), n)
		}
	}
	_, portA, _ := net.SplitHostPort(dcA.SSHEndpoint())
	_, portB, _ := net.SplitHostPort(dcB.SSHEndpoint())
	for i, u := range []string{
		"git@ssh.bitbucket.org:acme/api.git",
		"ssh://git@127.0.0.1:" + portA + "/ops/api.git",
		"ssh://git@localhost:" + portB + "/~ada/notes.git",
	} {
		w.MustGit(w.Home.Dir, "clone", "-q", u, filepath.Join(w.Home.Dir, "clones", strconv.Itoa(i)))
	}
	kh, err := os.ReadFile(filepath.Join(w.Home.SSHDir, "bbkey", "known_hosts"))
	if err != nil || strings.Count(string(kh), "# Source: ") != 3 {
		t.Errorf("known_hosts does not hold three sets of pins: %v\n%s", err, kh)
	}
	keys, _ := filepath.Glob(filepath.Join(w.Home.SSHDir, "bbkey_ada*_ed25519"))
	if len(keys) != 3 {
		t.Errorf("key files %q, want three", keys)
	}
}
