package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/testutil"
)

// A reviewer's checks of the Data Center commands as a user meets them: the real binary
// against the Data Center emulator over HTTP and SSH, in a throw-away home.

// hintLines are the `bbkey: hint:` lines of stderr.
func hintLines(stderr string) []string {
	var out []string
	for line := range strings.Lines(stderr) {
		if h, ok := strings.CutPrefix(strings.TrimSpace(line), "bbkey: hint:"); ok {
			out = append(out, strings.TrimSpace(h))
		}
	}
	return out
}

func anyContains(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// A token lacking REPO_ADMIN / PROJECT_ADMIN: Data Center answers 401, each target fails
// naming the permission, and the run's hints say which permission the token lacks and how
// to get one that has it (not only "run the same command again", which fails the same way).
func TestReviewDataCenterAccessKeyHintNamesMissingPermission(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	tok, err := w.Emu.DataCenter().AddPersonalToken(bbapitest.DCDefaultUser, bbapitest.PermRead, bbapitest.PermRead)
	if err != nil {
		t.Fatal(err)
	}
	w.Setenv("BITBUCKET_SERVER_TOKEN", tok)
	for _, c := range []struct{ flag, target, perm string }{
		{"--repo", "OPS/api", "REPO_ADMIN"},
		{"--project", "OPS", "PROJECT_ADMIN"},
	} {
		r := w.Run("", "add-access-key", c.flag, c.target, "--passphrase-file", w.PassFile)
		if r.Code != 3 && r.Code != 4 {
			t.Errorf("%s %s: exit %d, want 3 or 4\n%s", c.flag, c.target, r.Code, r)
		}
		hints := hintLines(r.Stderr)
		if !anyContains(hints, c.perm) || !anyContains(hints, "auth login --server") {
			t.Errorf("%s %s: no hint names %s and how to get a token with it: %q\n%s", c.flag, c.target, c.perm, hints, r)
		}
		if strings.Contains(r.Stdout+r.Stderr, tok) {
			t.Errorf("the token reached the output\n%s", r)
		}
	}
}

// closedURL is an http URL on loopback where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// A --server nobody answers at (a typo, no VPN): exit 1 with a hint that says what to
// check, and nothing written.
func TestReviewDataCenterUnreachableServerHint(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	bad := closedURL(t)
	for _, args := range [][]string{
		{"setup", "--server", bad, "--passphrase-file", w.PassFile},
		{"add-access-key", "--server", bad, "--repo", "OPS/api", "--passphrase-file", w.PassFile},
		{"auth", "status", "--server", bad},
	} {
		before := w.Snapshot()
		r := w.Run("", args...)
		if r.Code != 1 {
			t.Errorf("exit %d, want 1\n%s", r.Code, r)
		}
		hints := hintLines(r.Stderr)
		if !anyContains(hints, "--server") || !anyContains(hints, "BITBUCKET_SERVER") {
			t.Errorf("%s: no hint to check the server URL: %q\n%s", args[0], hints, r)
		}
		if d := DiffSnapshots(before, w.Snapshot()); d != "" {
			t.Errorf("%s changed files against an unreachable server:\n%s", args[0], d)
		}
	}
}

// auth login --server on a machine without a keychain: the hints offer the file
// (--insecure-storage) or the server's own environment variable, never Cloud's
// BITBUCKET_EMAIL/BITBUCKET_API_TOKEN, which a Data Center server does not read.
// auth logout --server then says what it did in words that fit a server.
func TestReviewDataCenterAuthWithoutKeychain(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	w.Unsetenv("DBUS_SESSION_BUS_ADDRESS")
	server := w.Emu.DataCenter().ServerURL()
	tokFile := filepath.Join(w.Home.Dir, "token")
	if err := os.WriteFile(tokFile, []byte(w.Emu.DataCenter().DefaultToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.Unsetenv("BITBUCKET_SERVER_TOKEN")
	w.Unsetenv("BITBUCKET_SERVER")

	r := w.Run("", "auth", "login", "--server", server, "--token-file", tokFile)
	if r.Code == 0 {
		t.Skipf("this machine has a usable keychain; the no-keychain hints are not reachable\n%s", r)
	}
	hints := hintLines(r.Stderr)
	if !anyContains(hints, "--insecure-storage") || !anyContains(hints, "BITBUCKET_SERVER_TOKEN") || anyContains(hints, "BITBUCKET_EMAIL") {
		t.Errorf("hints for a server's token without a keychain: %q\n%s", hints, r)
	}

	w.MustRun("", "auth", "login", "--server", server, "--token-file", tokFile, "--insecure-storage")
	r = w.MustRun("", "auth", "logout", "--server", server, "--yes")
	if got := strings.TrimSpace(r.Stdout); got != "logged out of "+server {
		t.Errorf("first logout printed %q", got)
	}
	r = w.MustRun("", "auth", "logout", "--server", server, "--yes")
	if got := strings.TrimSpace(r.Stdout); got != "not logged in to "+server {
		t.Errorf("second logout printed %q", got)
	}
}

// doctor on a Data Center machine: a password of the server left in ~/.netrc and
// ~/.git-credentials (as git's store helper writes it) is a leaked secret as much as a
// Cloud one; doctor names it, and --fix removes it (after a backup) and keeps the rest.
func TestReviewDataCenterDoctorFindsServerSecrets(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	web := dcHostPort(w.Emu)
	repo := setupRepo(t, w, "api", "https://"+web+"/scm/ops/api.git")
	w.MustRun(repo, "setup", "--passphrase-file", w.PassFile)

	const secret = "dc-password-left-behind"
	host, _, _ := strings.Cut(web, ":")
	netrc := filepath.Join(w.Home.Dir, ".netrc")
	creds := filepath.Join(w.Home.Dir, ".git-credentials")
	if err := os.WriteFile(netrc, []byte("machine "+host+" login ada password "+secret+"\nmachine example.com login bob password stays\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	approve := exec.Command("git", "-c", "credential.helper=store", "credential", "approve")
	approve.Env, approve.Dir = w.Env, w.Home.Dir
	approve.Stdin = strings.NewReader("protocol=http\nhost=" + web + "\nusername=ada\npassword=" + secret + "\n\n")
	if out, err := approve.CombinedOutput(); err != nil {
		t.Fatalf("git credential approve: %v\n%s", err, out)
	}

	r := w.Run(repo, "doctor", "--json")
	var rep struct {
		Checks []struct {
			ID      string   `json:"id"`
			Status  string   `json:"status"`
			Details []string `json:"details"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	found := false
	for _, c := range rep.Checks {
		if c.ID == "secrets" {
			found = true
			joined := strings.Join(c.Details, "\n")
			if c.Status != "fail" || !strings.Contains(joined, netrc) || !strings.Contains(joined, creds) {
				t.Errorf("secrets check = %+v, want a failure naming %s and %s", c, netrc, creds)
			}
			for _, d := range c.Details {
				if strings.HasPrefix(d, creds+":") && !strings.Contains(d, "password or HTTP access token of ada") {
					t.Errorf("the entry git's store helper wrote (host%%3aport) is not said to be ada's: %q", d)
				}
			}
			if strings.Contains(joined, "app passwords stopped working") {
				t.Errorf("a Data Center password is not a Cloud app password: %q", joined)
			}
		}
	}
	if !found {
		t.Fatalf("no secrets check\n%s", r)
	}
	if strings.Contains(r.Stdout+r.Stderr, secret) {
		t.Errorf("doctor printed the secret\n%s", r)
	}

	w.Run(repo, "doctor", "--fix", "--yes", "--passphrase-file", w.PassFile)
	for _, p := range []string{netrc, creds} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s still holds the server's secret after doctor --fix:\n%s", p, b)
		}
	}
	if b, _ := os.ReadFile(netrc); !strings.Contains(string(b), "machine example.com login bob password stays") {
		t.Errorf(".netrc lost another host's entry:\n%s", b)
	}
}

// --server given a page or clone URL of the server (copied from the browser or from
// `git remote -v`) is a usage error (exit 2) naming the base URL to give instead, not a
// 404 whose hint talks about project keys; a context path is kept.
func TestReviewDataCenterServerURLThatIsAPage(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	base := w.Emu.DataCenter().ServerURL()
	for _, c := range []struct{ given, want string }{
		{base + "/scm/ops/api.git", base},
		{base + "/projects/OPS/repos/api/browse", base},
		{base + "/users/ada/repos/notes/browse", base},
		{base + "/bitbucket/scm/ops/api.git", base + "/bitbucket"},
		{base + "/rest/api/latest", base},
	} {
		r := w.Run("", "auth", "status", "--server", c.given)
		if r.Code != 2 || !strings.Contains(r.Stderr, "--server "+c.want+"\n") && !strings.Contains(r.Stderr, "--server "+c.want+" ") {
			t.Errorf("--server %s: exit %d, want 2 and a hint naming --server %s\n%s", c.given, r.Code, c.want, r)
		}
	}
	// The base URL itself, and one with a context path, are taken as they are.
	if r := w.Run("", "auth", "status", "--server", base+"/"); r.Code != 0 {
		t.Errorf("--server %s/: exit %d\n%s", base, r.Code, r)
	}
}

// One access key name on Cloud and on a Data Center server would make two state entries
// share one key file, and `rotate --access-keys` then replaces the file for the first
// and fails the second half-way (the file holds neither its old key nor its new one).
// add-access-key refuses the name on the second Bitbucket before anything is made
// (exit 2, naming --name); with a name of its own, one rotate replaces both keys, each on
// its own Bitbucket.
func TestReviewAccessKeyNameOnCloudAndDataCenter(t *testing.T) {
	w := NewWorld(t)
	dcEmu := bbapitest.Start(t, bbapitest.WithDataCenter())
	d := dcEmu.DataCenter()
	cloudEnv := slices.Clone(w.Env)
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile)

	// The Cloud emulator's SSH variables would be taken as the server's.
	w.Unsetenv("BBKEY_SSH_ENDPOINT")
	w.Unsetenv("BBKEY_SSH_HOST_KEYS")
	w.Setenv("BITBUCKET_SERVER_TOKEN", d.DefaultToken())
	before := w.Snapshot()
	r := w.Run("", "add-access-key", "--server", d.ServerURL(), "--repo", "OPS/api", "--name", "ci", "--passphrase-file", w.PassFile)
	if r.Code != 2 || !anyContains(hintLines(r.Stderr), "--name") {
		t.Errorf("the Cloud access key's name on a Data Center server: exit %d, want 2 with a hint naming --name\n%s", r.Code, r)
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("the refused run changed files:\n%s", diff)
	}
	if keys := d.RepoAccessKeys("OPS", "api"); len(keys) != 0 {
		t.Errorf("the refused run added %d access keys on the server", len(keys))
	}

	w.MustRun("", "add-access-key", "--server", d.ServerURL(), "--repo", "OPS/api", "--name", "ci-dc", "--passphrase-file", w.PassFile)
	w.Env = append(cloudEnv, "BITBUCKET_SERVER_TOKEN="+d.DefaultToken())
	res := w.Run("", "rotate", "--access-keys", "--passphrase-file", w.PassFile)
	if res.Code != 0 {
		t.Fatalf("rotate --access-keys: exit %d\n%s", res.Code, res)
	}
	fp := func(name string) string {
		out := testutil.Run(t, "", w.Env, "ssh-keygen", "-lf", filepath.Join(w.Home.SSHDir, "bbkey_access_"+name+"_ed25519.pub"))
		return strings.Fields(out)[1]
	}
	if keys := w.Emu.RepoDeployKeys(bbapitest.DefaultWorkspace, "api"); len(keys) != 1 || "SHA256:"+keys[0].Fingerprint != fp("ci") {
		t.Errorf("Cloud acme/api keys %+v, want only the file's %s", keys, fp("ci"))
	}
	if keys := d.RepoAccessKeys("OPS", "api"); len(keys) != 1 || "SHA256:"+keys[0].Fingerprint != fp("ci-dc") {
		t.Errorf("Data Center OPS/api keys %+v, want only the file's %s", keys, fp("ci-dc"))
	}
}

// The token expires between setup and a rotation: rotate stops with exit 4 and the
// auth login --server hint before it makes anything; the key files, state, ssh config and
// the key on the server are as they were, and git still fetches.
func TestReviewDataCenterRotateWithExpiredToken(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	d := w.Emu.DataCenter()
	tok, err := d.AddPersonalToken(bbapitest.DCDefaultUser, bbapitest.PermAdmin, bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	w.Setenv("BITBUCKET_SERVER_TOKEN", tok)
	repo := setupRepo(t, w, "api", "https://"+dcHostPort(w.Emu)+"/scm/ops/api.git")
	w.MustRun(repo, "setup", "--passphrase-file", w.PassFile)
	keysBefore := d.UserKeys(bbapitest.DCDefaultUser)
	if err := d.ExpireToken(tok, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	before := w.Snapshot()
	r := w.Run(repo, "rotate", "--passphrase-file", w.PassFile)
	if r.Code != 4 || !anyContains(hintLines(r.Stderr), "auth login --server") {
		t.Errorf("exit %d, want 4 with the auth login --server hint\n%s", r.Code, r)
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("a rotation refused by the server changed files:\n%s", diff)
	}
	if after := d.UserKeys(bbapitest.DCDefaultUser); len(after) != len(keysBefore) || after[0].Fingerprint != keysBefore[0].Fingerprint {
		t.Errorf("keys on the server %+v, were %+v", after, keysBefore)
	}
	if strings.Contains(r.Stdout+r.Stderr, tok) {
		t.Errorf("the token reached the output\n%s", r)
	}
	w.MustGit(repo, "fetch", "-q", "origin")
}

// --ssh-host names Bitbucket Cloud's SSH host; a Data Center server's comes from its own
// SSH settings. With a server selected it was silently ignored for the server and recorded
// as Cloud's in config.json (so a later Cloud setup wrote remotes for that name). It is
// now a usage error before anything is done, and config.json is left alone.
func TestReviewDataCenterSSHHostFlag(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	before := w.Snapshot()
	r := w.Run("", "setup", "--ssh-host", "myalias", "--passphrase-file", w.PassFile, "--no-remotes")
	if r.Code != 2 || !anyContains(hintLines(r.Stderr), "--ssh-endpoint") {
		t.Errorf("setup --server with --ssh-host: exit %d, want 2 with a hint naming --ssh-endpoint\n%s", r.Code, r)
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("the refused run changed files:\n%s", diff)
	}
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if b, err := os.ReadFile(filepath.Join(w.Home.ConfigDir, "bbkey", "config.json")); err != nil || strings.Contains(string(b), "ssh_host\"") {
		t.Errorf("config.json: %v\n%s", err, b)
	}
}

// A server that caps an SSH key's lifetime refuses a longer --expires-in with a 400 on
// expiryDays: the hint says to give a shorter --expires-in or leave it out (the server then
// applies its maximum), and the re-run without it finishes with the key already made.
func TestReviewDataCenterExpiresInOverServerMaximum(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	d := w.Emu.DataCenter()
	d.SetMaxExpiryDays(30)
	r := w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes", "--expires-in", "90d")
	if r.Code == 0 || !anyContains(hintLines(r.Stderr), "--expires-in") {
		t.Errorf("exit %d, want a failure whose hint names --expires-in\n%s", r.Code, r)
	}
	if n := len(d.UserKeys(bbapitest.DCDefaultUser)); n != 0 {
		t.Errorf("%d keys on the server after the refusal", n)
	}
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if keys := d.UserKeys(bbapitest.DCDefaultUser); len(keys) != 1 || keys[0].ExpiryDays != 30 {
		t.Errorf("keys on the server: %+v, want one with the server's 30 days", keys)
	}
}

// A server that refuses personal tokens on the user-key endpoints (401, LICENSED_USER):
// rotate stops with exit 4, the hint names the permission, the error names the server
// once, and nothing changed.
func TestReviewDataCenterRotateRefusedOnUserKeys(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	d := w.Emu.DataCenter()
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	d.RefusePersonalTokensOnUserKeys(true)
	before := w.Snapshot()
	r := w.Run("", "rotate", "--passphrase-file", w.PassFile)
	if r.Code != 4 || !anyContains(hintLines(r.Stderr), "LICENSED_USER") {
		t.Errorf("exit %d, want 4 with a hint naming LICENSED_USER\n%s", r.Code, r)
	}
	for line := range strings.Lines(r.Stderr) {
		if strings.HasPrefix(line, "bbkey: error:") {
			head, _, _ := strings.Cut(line, ": GET ")
			if n := strings.Count(head, d.ServerURL()); n != 1 {
				t.Errorf("the error names the server %d times: %q", n, head)
			}
		}
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("the refused rotation changed files:\n%s", diff)
	}
}

// add-access-key against a server whose SSH server presents a host key its HTTPS settings
// do not vouch for: exit 5 before any key is made or added, nothing pinned or written.
func TestReviewDataCenterAccessKeyUnvouchedHostKey(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	d := w.Emu.DataCenter()
	d.SetReportedHostKeyFingerprint("SHA256:" + strings.Repeat("Q", 43))
	before := w.Snapshot()
	for _, args := range [][]string{
		{"add-access-key", "--repo", "OPS/api", "--passphrase-file", w.PassFile},
		{"add-access-key", "--repo", "OPS/api", "--passphrase-file", w.PassFile, "--write-ssh-config", "--verify"},
	} {
		r := w.Run("", args...)
		if r.Code != 5 {
			t.Errorf("%v: exit %d, want 5\n%s", args, r.Code, r)
		}
		if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
			t.Errorf("%v changed files:\n%s", args, diff)
		}
		if keys := d.RepoAccessKeys("OPS", "api"); len(keys) != 0 {
			t.Errorf("%v added %d access keys", args, len(keys))
		}
	}
}

// BITBUCKET_SERVER_TOKEN set without a server selected (the variable that names the server
// forgotten in a CI job): the run goes to Bitbucket Cloud and finds no credential there;
// the hints say the server's token is set and that --server (or BITBUCKET_SERVER) uses it.
func TestReviewServerTokenWithoutServer(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	w.Unsetenv("BITBUCKET_SERVER")
	for _, args := range [][]string{
		{"setup", "--passphrase-file", w.PassFile, "--no-remotes"},
		{"add-access-key", "--repo", "OPS/api", "--passphrase-file", w.PassFile},
		{"auth", "status"},
	} {
		r := w.Run("", args...)
		if r.Code == 0 || !anyContains(hintLines(r.Stderr), "BITBUCKET_SERVER_TOKEN is set") {
			t.Errorf("%v: exit %d, want a failure whose hint says the server token is set but no server selected\n%s", args, r.Code, r)
		}
	}
}

// doctor in a clone whose remote is a Data Center server this machine uses, with a
// password in its URL: the secret is that server's (not a Cloud app password), and the fix
// names the command that rewrites the remote and drops it (bbkey remote --server URL),
// not "remove it by hand"; that command does it.
func TestReviewDataCenterDoctorRemoteSecret(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	server := w.Emu.DataCenter().ServerURL()
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	repo := setupRepo(t, w, "api", "http://ada:remote-secret-1@"+dcHostPort(w.Emu)+"/scm/ops/api.git")
	r := w.Run(repo, "doctor", "--json")
	var rep struct {
		Checks []struct {
			ID      string   `json:"id"`
			Status  string   `json:"status"`
			Details []string `json:"details"`
			Fix     string   `json:"fix"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r)
	}
	for _, c := range rep.Checks {
		if c.ID != "secrets" {
			continue
		}
		joined := strings.Join(c.Details, "\n")
		if c.Status != "fail" || !strings.Contains(joined, "password or HTTP access token of ada") || strings.Contains(joined, "app password") {
			t.Errorf("secrets check: %+v", c)
		}
		if !strings.Contains(c.Fix, "bbkey remote --server "+server) {
			t.Errorf("the fix does not name bbkey remote --server %s: %q", server, c.Fix)
		}
	}
	if strings.Contains(r.Stdout+r.Stderr, "remote-secret-1") {
		t.Errorf("doctor printed the secret\n%s", r)
	}
	w.MustRun(repo, "remote", "--server", server)
	if got := w.MustGit(repo, "remote", "get-url", "origin"); strings.Contains(got, "remote-secret-1") {
		t.Errorf("origin still carries the secret: %s", got)
	}
}
