package bbapitest_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/testutil"
)

// sshEnv is a throw-away client side: keys, known_hosts and a git identity.
type sshEnv struct {
	t    *testing.T
	s    *bbapitest.Server
	dir  string
	kh   string
	port string
}

func newSSHEnv(t *testing.T, s *bbapitest.Server) *sshEnv {
	t.Helper()
	testutil.RequireBinary(t, "git", "ssh", "ssh-keygen")
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(s.SSHEndpoint())
	return &sshEnv{t: t, s: s, dir: dir, kh: kh, port: port}
}

// keygen makes a key pair with the real ssh-keygen and returns the private key path and
// the public key line.
func (e *sshEnv) keygen(name string) (string, string) {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@test", "-f", path).CombinedOutput()
	if err != nil {
		e.t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		e.t.Fatal(err)
	}
	return path, strings.TrimSpace(string(pub))
}

func (e *sshEnv) sshArgs(key string) []string {
	return []string{"-F", os.DevNull, "-i", key, "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + e.kh,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentityAgent=none", "-p", e.port}
}

// git runs the real git with GIT_SSH_COMMAND pointing ssh at the emulator with key.
func (e *sshEnv) git(key, dir string, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+e.dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_SSH_COMMAND=ssh "+strings.Join(e.sshArgs(key), " "),
	)
	var o, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &se
	err = cmd.Run()
	return o.String(), se.String(), err
}

func (e *sshEnv) ssh(key string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command("ssh", append(e.sshArgs(key), args...)...)
	var o, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &se
	err = cmd.Run()
	return o.String(), se.String(), err
}

func addAccountKey(t *testing.T, s *bbapitest.Server, pub string) {
	t.Helper()
	r := call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", ada(s), map[string]string{"key": pub, "label": "test"})
	wantStatus(t, r, 201)
}

func addRepoKey(t *testing.T, s *bbapitest.Server, repo, pub string) {
	t.Helper()
	r := call(t, "POST", s.APIURL()+"/repositories/acme/"+repo+"/deploy-keys", ada(s), map[string]string{"key": pub, "label": "ci"})
	wantStatus(t, r, 200)
}

func TestGitOverSSHAccountKey(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	e := newSSHEnv(t, s)
	key, pub := e.keygen("acct")
	addAccountKey(t, s, pub)

	work := t.TempDir()
	if _, se, err := e.git(key, work, "clone", "git@127.0.0.1:acme/api.git", "api"); err != nil {
		t.Fatalf("clone: %v\n%s", err, se)
	}
	readme, err := os.ReadFile(filepath.Join(work, "api", "README.md"))
	if err != nil || !strings.HasPrefix(string(readme), "# acme/api") {
		t.Fatalf("README after clone: %q, %v", readme, err)
	}

	clone := filepath.Join(work, "api")
	if err := os.WriteFile(filepath.Join(clone, "new.txt"), []byte("pushed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "new.txt"}, {"commit", "-q", "-m", "push test"}} {
		if _, se, err := e.git(key, clone, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, se)
		}
	}
	if _, se, err := e.git(key, clone, "push", "origin", "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, se)
	}
	local, _, _ := e.git(key, clone, "rev-parse", "HEAD")
	bare, err := s.RepoDir("acme", "api")
	if err != nil {
		t.Fatal(err)
	}
	remote, se, err := e.git(key, bare, "--git-dir="+bare, "rev-parse", "refs/heads/main")
	if err != nil {
		t.Fatalf("rev-parse on server: %v %s", err, se)
	}
	if strings.TrimSpace(local) != strings.TrimSpace(remote) {
		t.Fatalf("server main is %s, pushed %s", remote, local)
	}

	// ssh:// form with a leading slash, upper-case workspace and no .git suffix.
	if _, se, err := e.git(key, work, "clone", "ssh://git@127.0.0.1:"+e.port+"/ACME/web", "web"); err != nil {
		t.Fatalf("clone ssh:// form: %v\n%s", err, se)
	}
	if _, se, err := e.git(key, work, "clone", "git@127.0.0.1:acme/nope.git", "nope"); err == nil || !strings.Contains(se, "conq: repository does not exist.") {
		t.Fatalf("clone of a missing repository: err=%v stderr=%q", err, se)
	}

	keys := s.UserKeys(bbapitest.DefaultAccountID)
	if len(keys) != 1 || keys[0].LastUsed == nil {
		t.Fatalf("last_used not recorded: %+v", keys)
	}
}

func TestGitOverSSHAccessKey(t *testing.T) {
	s := bbapitest.Start(t)
	e := newSSHEnv(t, s)
	key, pub := e.keygen("deploy")
	addRepoKey(t, s, "web", pub)
	work := t.TempDir()

	if _, se, err := e.git(key, work, "clone", "git@127.0.0.1:acme/web.git", "web"); err != nil {
		t.Fatalf("clone with access key: %v\n%s", err, se)
	}
	clone := filepath.Join(work, "web")
	if err := os.WriteFile(filepath.Join(clone, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "x"}, {"commit", "-q", "-m", "x"}} {
		if _, se, err := e.git(key, clone, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, se)
		}
	}
	_, se, err := e.git(key, clone, "push", "origin", "main")
	if err == nil {
		t.Fatal("push with an access key succeeded")
	}
	if !strings.Contains(se, "repository access denied. access via a deployment key is read-only.") {
		t.Fatalf("push refusal text: %q", se)
	}
	if _, se, err := e.git(key, work, "clone", "git@127.0.0.1:acme/api.git", "api"); err == nil || !strings.Contains(se, "conq: repository access denied.") {
		t.Fatalf("clone of a repository the key is not on: err=%v stderr=%q", err, se)
	}

	// A project access key reads every repository of the project.
	pkey, ppub := e.keygen("project")
	r := call(t, "POST", s.APIURL()+"/workspaces/acme/projects/OPS/deploy-keys", ada(s), map[string]string{"key": ppub, "label": "proj"})
	wantStatus(t, r, 200)
	if _, se, err := e.git(pkey, work, "clone", "git@127.0.0.1:acme/infra.git", "infra"); err != nil {
		t.Fatalf("clone with project access key: %v\n%s", err, se)
	}
	if dk := s.RepoDeployKeys("acme", "web"); len(dk) != 1 || dk[0].LastUsed == nil {
		t.Fatalf("access key last_used not recorded: %+v", dk)
	}
}

func TestSSHRefusals(t *testing.T) {
	s := bbapitest.Start(t)
	e := newSSHEnv(t, s)
	work := t.TempDir()

	stranger, _ := e.keygen("stranger")
	_, se, err := e.git(stranger, work, "clone", "git@127.0.0.1:acme/api.git", "x")
	if err == nil || !strings.Contains(se, "Permission denied (publickey)") {
		t.Fatalf("unregistered key: err=%v stderr=%q", err, se)
	}

	key, pub := e.keygen("denied")
	addAccountKey(t, s, pub)
	keys := s.UserKeys(bbapitest.DefaultAccountID)
	s.DenySSH("SHA256:" + keys[0].Fingerprint)
	if _, se, err := e.git(key, work, "clone", "git@127.0.0.1:acme/api.git", "y"); err == nil || !strings.Contains(se, "Permission denied (publickey)") {
		t.Fatalf("denied key: err=%v stderr=%q", err, se)
	}
	s.AllowSSH(keys[0].Fingerprint)
	if _, se, err := e.git(key, work, "clone", "git@127.0.0.1:acme/api.git", "z"); err != nil {
		t.Fatalf("after AllowSSH: %v\n%s", err, se)
	}

	// A user other than git is refused even with a registered key.
	if _, se, err := e.ssh(key, "-T", "bob@127.0.0.1"); err == nil || !strings.Contains(se, "Permission denied (publickey)") {
		t.Fatalf("user bob: err=%v stderr=%q", err, se)
	}
	// Arbitrary commands are refused.
	if _, se, err := e.ssh(key, "git@127.0.0.1", "ls"); err == nil || !strings.Contains(se, "conq: invalid command syntax.") {
		t.Fatalf("exec ls: err=%v stderr=%q", err, se)
	}
}

func TestSSHGreeting(t *testing.T) {
	s := bbapitest.Start(t)
	e := newSSHEnv(t, s)
	key, pub := e.keygen("acct")
	addAccountKey(t, s, pub)
	out, se, err := e.ssh(key, "-T", "git@127.0.0.1")
	if err != nil || !strings.HasPrefix(out, "authenticated via ssh key.\n") {
		t.Fatalf("account greeting: err=%v stdout=%q stderr=%q", err, out, se)
	}
	dkey, dpub := e.keygen("deploy")
	addRepoKey(t, s, "api", dpub)
	out, se, err = e.ssh(dkey, "-T", "git@127.0.0.1")
	if err != nil || !strings.HasPrefix(out, "authenticated via a deploy key.\n") || !strings.Contains(out, "acme/api: ci") {
		t.Fatalf("deploy greeting: err=%v stdout=%q stderr=%q", err, out, se)
	}
}

// An expired account key no longer authenticates.
func TestSSHExpiredKey(t *testing.T) {
	clock := newFakeClock()
	s := bbapitest.Start(t, bbapitest.WithClock(clock.Now))
	e := newSSHEnv(t, s)
	key, pub := e.keygen("expiring")
	exp := clock.Now().Add(24 * time.Hour).Format(time.RFC3339)
	r := call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys?expires_on="+exp, ada(s), map[string]string{"key": pub})
	wantStatus(t, r, 201)
	if _, se, err := e.ssh(key, "-T", "git@127.0.0.1"); err != nil {
		t.Fatalf("before expiry: %v %s", err, se)
	}
	clock.Advance(25 * time.Hour)
	if _, se, err := e.ssh(key, "-T", "git@127.0.0.1"); err == nil || !strings.Contains(se, "Permission denied (publickey)") {
		t.Fatalf("after expiry: err=%v stderr=%q", err, se)
	}
}

// Close ends connections that never finish their handshake and sessions in progress.
func TestCloseWithOpenConnections(t *testing.T) {
	s, err := bbapitest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.SSHEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := net.Dial("tcp", strings.TrimPrefix(s.APIURL(), "http://")[:len(strings.TrimPrefix(s.APIURL(), "http://"))-len("/2.0")])
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fmt.Fprintf(h, "GET /2.0/user HTTP/1.1\r\nHost: x\r\n") // never finished
	s.Hang(bbapitest.MatchAll(), 1)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return with connections open")
	}
	if _, err := os.Stat(s.HostKeyFile()); !os.IsNotExist(err) {
		t.Fatalf("temporary directory left behind: %v", err)
	}
}
