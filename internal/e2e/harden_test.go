package e2e

import (
	"errors"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/testhook"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hardenSilentAPI listens on loopback, accepts every connection and never answers: a
// hung API. It returns the base URL.
func hardenSilentAPI(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// Issue 13, defect 4: against an API that accepts connections and never answers, setup
// and add-access-key end within --max-wait (every attempt included) with exit 3 and the
// documented message and hint; setup changes nothing. (The harness kills a run after
// three minutes; a run that counted only the pauses between attempts would go on for 19
// attempts of up to a minute each, as the report of the defect measured.)
func TestMaxWaitHungAPI(t *testing.T) {
	w := NewWorld(t)
	api := hardenSilentAPI(t) + "/2.0"
	before := w.Snapshot()
	r := w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes", "--api-url", api, "--max-wait", "3s")
	if r.Code != 3 || !strings.Contains(r.Stderr, "no answer") || !strings.Contains(r.Stderr, "(max wait 3s)") ||
		!strings.Contains(r.Stderr, "bbkey: hint: re-run later to finish, or allow a longer wait with --max-wait") {
		t.Errorf("%s", r)
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("a setup that never got an answer changed files:\n%s", d)
	}
	// add-access-key makes and records its key first (a re-run reuses it), then stops.
	r = w.Run("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--api-url", api, "--max-wait", "3s")
	if r.Code != 3 || !strings.Contains(r.Stderr, "no answer") || !strings.Contains(r.Stderr, "(max wait 3s)") ||
		!strings.Contains(r.Stderr, "bbkey: hint: run the same command again to finish") {
		t.Errorf("%s", r)
	}
}

// Issue 13, defect 3: add-access-key --verify against an endpoint whose host key is not
// pinned exits 5, and nothing of it is recorded: no key added anywhere (the host key is
// checked before the first write), no config.json holding the endpoint (which made every
// later rotate exit 5 and doctor --fix write the port into the ssh config).
func TestVerifyRefusedEndpointNotRecorded(t *testing.T) {
	w := NewWorld(t)
	w.Unsetenv("BBKEY_SSH_HOST_KEYS") // the built-in pins: the emulator's key is not one
	before := w.Snapshot()
	r := w.Run("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--verify")
	if r.Code != 5 || !strings.Contains(r.Stderr, "bbkey: hint: check them at") {
		t.Fatalf("%s", r)
	}
	if keys := rotateRepoKeys(w, "api"); len(keys) != 0 {
		t.Errorf("acme/api got keys %v from a run refused before its first write", keys)
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("the refused run wrote:\n%s", d)
	}
	// Pinned to the emulator's key the same command works and records the endpoint.
	w.Setenv("BBKEY_SSH_HOST_KEYS", w.Emu.HostKeyFile())
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--verify")
	if cfg, err := os.ReadFile(filepath.Join(w.Home.ConfigDir, "bbkey", "config.json")); err != nil || !strings.Contains(string(cfg), w.Emu.SSHEndpoint()) {
		t.Errorf("config.json after a proven run: %q, %v", cfg, err)
	}
}

// Issue 13, defect 12: setup failing between the upload and the proof (here ~/.ssh/bbkey
// becomes unusable while setup is stopped right after the upload, as a full disk would
// fail the pinning) takes the unproven key back off the account, as rotate does, and says
// so; a re-run after the cause is gone reuses the key files and succeeds.
func TestSetupTakesBackUnprovenKey(t *testing.T) {
	w := NewWorld(t)
	hook := t.TempDir()
	env := append(slices.Clone(w.Env), testhook.PauseEnv+"=setup:uploaded", testhook.PauseDirEnv+"="+hook)
	p := raceStart(t, w, env, []string{"setup", "--passphrase-file", w.PassFile, "--no-remotes"})
	raceUntil(t, p, "the pause after the upload", func() bool {
		_, err := os.Stat(filepath.Join(hook, "setup-uploaded.paused"))
		return err == nil
	})
	if n := len(w.Emu.UserKeys(bbapitest.DefaultAccountID)); n != 1 {
		t.Fatalf("%d keys on the account after the upload", n)
	}
	blocker := filepath.Join(w.Home.SSHDir, "bbkey")
	if err := os.WriteFile(blocker, []byte("in the way\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hook, "setup-uploaded.resume"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := p.wait(t)
	if r.Code == 0 || !strings.Contains(r.Stderr, "✗ host keys failed") ||
		!strings.Contains(r.Stderr, "bbkey: hint: the key was removed from Bitbucket again") {
		t.Errorf("%s", r)
	}
	if keys := w.Emu.UserKeys(bbapitest.DefaultAccountID); len(keys) != 0 {
		t.Errorf("the unproven key stayed on the account: %v", keys)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519.pub"))
	if err != nil {
		t.Fatalf("the key files should stay for the re-run: %v", err)
	}
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if after, _ := os.ReadFile(filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519.pub")); string(after) != string(pub) {
		t.Error("the re-run made a new key instead of reusing the files")
	}
	if keys := rotateAccountKeys(w); len(keys) != 1 {
		t.Errorf("account keys after the re-run: %v", keys)
	}
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
}

// Issue 13, defect 10: a hand edit of bbkey's own ~/.ssh/bbkey/config made rotate stop
// after uploading (two keys on the account, exit 1, a hint that looped). The edit is
// found before the first remote write: nothing is uploaded, the message says the file is
// bbkey's and what to do with the edit; after `bbkey doctor --fix` regenerates it, rotate
// works.
func TestRotateRefusesEditedBbkeyConfig(t *testing.T) {
	w := NewWorld(t)
	old := rotateSetup(t, w)
	cfg := filepath.Join(w.Home.SSHDir, "bbkey", "config")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "  IdentitiesOnly yes\n", "  IdentitiesOnly yes\n  ServerAliveInterval 30\n", 1)
	if edited == string(b) {
		t.Fatalf("no IdentitiesOnly line to edit after in:\n%s", b)
	}
	if err := os.WriteFile(cfg, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	before := w.Snapshot()
	r := w.Run("", "rotate", "--passphrase-file", w.PassFile)
	if r.Code != 1 || !strings.Contains(r.Stderr, "is bbkey's own file") || !strings.Contains(r.Stderr, "serveraliveinterval") ||
		!strings.Contains(r.Stderr, "bbkey: hint: then run `bbkey doctor --fix` to regenerate it") {
		t.Errorf("%s", r)
	}
	if keys := rotateAccountKeys(w); len(keys) != 1 || keys[0] != old {
		t.Errorf("account keys after the refused rotation: %v, want only %s", keys, old)
	}
	for line := range strings.Lines(DiffSnapshots(before, w.Snapshot())) {
		if !strings.Contains(line, filepath.Join(".config", "bbkey")) {
			t.Errorf("the refused rotation changed: %s", line)
		}
	}
	// doctor names the edit; --fix regenerates the file, keeping the edited one.
	d := w.Run("", "doctor")
	if d.Code != 1 || !strings.Contains(d.Stdout, "is bbkey's own file") {
		t.Errorf("%s", d)
	}
	w.MustRun("", "doctor", "--fix", "--yes", "--passphrase-file", w.PassFile)
	kept, _ := filepath.Glob(cfg + ".edited-*")
	if len(kept) != 1 {
		t.Fatalf("edited copies kept: %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != edited {
		t.Errorf("the kept copy is not the edited file:\n%s", b)
	}
	r = w.MustRun("", "rotate", "--passphrase-file", w.PassFile)
	if fp := rotateConfigKey(t, w, "ssh.bitbucket.org"); fp == old {
		t.Errorf("not rotated:\n%s", r)
	}
	rotateOnly(t, "account keys", rotateAccountKeys(w), rotateConfigKey(t, w, "ssh.bitbucket.org"))
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
}

// Issue 13, defect 9: remove --everywhere of a key given to setup with --key
// ~/.ssh/id_ed25519 moved the user's personal key into ~/.ssh/bbkey/retired/, breaking
// every other host that uses it. It stays where it is (byte for byte), the run says so,
// and the rest of --everywhere is done: off Bitbucket, out of the state and the ssh config.
func TestRemoveEverywhereKeepsUsersOwnKey(t *testing.T) {
	w := NewWorld(t)
	own := filepath.Join(w.Home.SSHDir, "id_ed25519")
	if out, err := rotateExec(w, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ada@laptop", "-f", own); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	priv, _ := os.ReadFile(own)
	pub, _ := os.ReadFile(own + ".pub")
	w.MustRun("", "setup", "--key", own, "--no-remotes")
	fp := raceFileKey(t, w, own)
	r := w.MustRun("", "remove", fp, "--everywhere", "--yes", "--force")
	if !strings.Contains(r.Stderr, "Kept "+own+" where it is") {
		t.Errorf("the run does not say the key stays:\n%s", r)
	}
	if b, err := os.ReadFile(own); err != nil || string(b) != string(priv) {
		t.Errorf("%s after remove --everywhere: %v", own, err)
	}
	if b, err := os.ReadFile(own + ".pub"); err != nil || string(b) != string(pub) {
		t.Errorf("%s.pub after remove --everywhere: %v", own, err)
	}
	if moved, _ := filepath.Glob(filepath.Join(w.Home.SSHDir, "bbkey", "retired", "id_ed25519*")); len(moved) != 0 {
		t.Errorf("moved into retired: %v", moved)
	}
	if keys := rotateAccountKeys(w); len(keys) != 0 {
		t.Errorf("still on the account: %v", keys)
	}
	if st := raceState(t, w); len(st.Accounts) != 0 {
		t.Errorf("still in the state: %+v", st.Accounts)
	}
}

// Issue 13, defect 8: remote --scrub left "machine api.bitbucket.org … password …" in
// .netrc. Every Bitbucket host's entry goes (bitbucket.org, api.bitbucket.org,
// altssh.bitbucket.org, ssh.bitbucket.org, in any case), in .netrc and git's store file;
// other hosts' bytes stay, and the secrets are never shown.
func TestScrubEveryBitbucketHost(t *testing.T) {
	w := NewWorld(t)
	repo := setupRepo(t, w, "api", "https://bitbucket.org/acme/api.git")
	netrc := filepath.Join(w.Home.Dir, ".netrc")
	doctorWrite(t, netrc, "machine api.bitbucket.org login ada password s3cret-api\n"+
		"machine example.com login x password y\n"+
		"machine ALTSSH.bitbucket.org login ada password s3cret-alt\n"+
		"machine ssh.bitbucket.org login ada password s3cret-ssh\n"+
		"machine bitbucket.org login ada password s3cret-web\n", 0o600)
	store := filepath.Join(w.Home.Dir, ".git-credentials")
	doctorWrite(t, store, "https://ada:s3cret-store@api.bitbucket.org\nhttps://bob:gh1@github.com\n", 0o600)
	r := w.MustRun(repo, "remote", "--scrub")
	for _, s := range []string{"s3cret-api", "s3cret-alt", "s3cret-ssh", "s3cret-web", "s3cret-store"} {
		if strings.Contains(r.Stdout+r.Stderr, s) {
			t.Errorf("the output shows %q\n%s", s, r)
		}
	}
	if b, _ := os.ReadFile(netrc); string(b) != "machine example.com login x password y\n" {
		t.Errorf(".netrc after --scrub = %q", b)
	}
	if b, _ := os.ReadFile(store); string(b) != "https://bob:gh1@github.com\n" {
		t.Errorf(".git-credentials after --scrub = %q", b)
	}
}

// Issue 13, defect 11: runs killed while writing left *.tmp-* files behind, encrypted
// private keys among them. The next rotation removes the stale ones next to the files it
// writes (the key, bbkey's config, the state).
func TestRotateRemovesStaleTemporaries(t *testing.T) {
	w := NewWorld(t)
	rotateSetup(t, w)
	old := time.Now().Add(-time.Hour)
	var stale []string
	for _, p := range []string{
		filepath.Join(w.Home.SSHDir, ".bbkey_ada_ed25519.next.tmp-1234567"),
		filepath.Join(w.Home.SSHDir, "bbkey", ".config.tmp-7654321"),
		filepath.Join(w.Home.ConfigDir, "bbkey", ".state.json.tmp-42"),
		// Files no later write touches again: swept on the next run all the same.
		filepath.Join(w.Home.SSHDir, ".bbkey_access_gone_ed25519.tmp-99"),
		filepath.Join(w.Home.ConfigDir, "bbkey", ".rotation-journal.json.tmp-5"),
	} {
		doctorWrite(t, p, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		stale = append(stale, p)
	}
	// Not bbkey's: kept, however old.
	foreign := filepath.Join(w.Home.SSHDir, ".id_rsa.tmp-1")
	doctorWrite(t, foreign, "x", 0o600)
	if err := os.Chtimes(foreign, old, old); err != nil {
		t.Fatal(err)
	}
	w.MustRun("", "rotate", "--passphrase-file", w.PassFile)
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a temporary file that is not bbkey's was removed: %v", err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left after the next run: %v", p, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(w.Home.SSHDir, ".bbkey*.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files in ~/.ssh: %v", left)
	}
}

// Issue 13, defect 6: with the ssh directory under a path containing "%d", setup said it
// worked and git failed, because ssh expands %-tokens in IdentityFile and
// UserKnownHostsFile. bbkey writes every % there as %%: the real ssh finds the key and
// the pins, and git works; a re-run changes nothing.
func TestPercentInSSHDirPath(t *testing.T) {
	w := NewWorld(t)
	odd := filepath.Join(w.Home.Dir, "50%done %d", ".ssh")
	if err := os.MkdirAll(odd, 0o700); err != nil {
		t.Fatal(err)
	}
	w.Home.SSHDir = odd
	w.Setenv("BBKEY_SSH_DIR", odd)
	w.Setenv("GIT_SSH_COMMAND", "ssh -F '"+filepath.Join(odd, "config")+"'")
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	cfg, _ := os.ReadFile(filepath.Join(odd, "bbkey", "config"))
	if !strings.Contains(string(cfg), "50%%done %%d") {
		t.Errorf("bbkey's config does not escape %%:\n%s", cfg)
	}
	// The real ssh, through the written config, with the agent emptied: the key must be
	// found by its IdentityFile (unencrypted copy not needed: ssh fails without it, so
	// load it again through the path ssh resolves).
	if out, err := rotateExec(w, "ssh-add", "-D"); err != nil {
		t.Fatalf("ssh-add -D: %v\n%s", err, out)
	}
	// ssh -G prints the value before it expands %-tokens.
	id := rotateIdentityFile(t, w, "ssh.bitbucket.org")
	if id != strings.ReplaceAll(filepath.Join(odd, "bbkey_ada_ed25519"), "%", "%%") {
		t.Errorf("ssh resolves IdentityFile %q", id)
	}
	w.MustRun("", "doctor", "--fix", "--yes", "--passphrase-file", w.PassFile)
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
	before := w.Snapshot()
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("a re-run changed:\n%s", d)
	}
}

// Issue 13, defect 5: with global overrides in the user's ssh config (a password
// manager's IdentityAgent, IdentityAgent none, another IdentityFile, IdentitiesOnly no, a
// ProxyJump, a Match block), setup and doctor said yes while git said no: the proof did
// not go the way git's ssh resolves. bbkey's Host block now sets what must win (the agent
// it loads the key into, no proxy), so after setup and doctor say yes, the real git works
// through the real ssh and config; the user's lines are kept.
func TestGlobalSSHOverrides(t *testing.T) {
	for name, conf := range map[string]string{
		"IdentityAgent socket": "Host *\n  IdentityAgent ~/.1password/agent.sock\n",
		"IdentityAgent none":   "Host *\n  IdentityAgent none\n",
		"IdentityFile":         "Host *\n  IdentityFile ~/.ssh/id_other\n  IdentitiesOnly no\n",
		"IdentitiesOnly":       "Host *\n  IdentitiesOnly no\n  AddKeysToAgent no\n",
		"ProxyJump":            "Host *\n  ProxyJump nobody@127.0.0.1:1\n",
		"Match":                "Match all\n  IdentityAgent none\n  ProxyCommand false\n",
	} {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			t.Parallel()
			w := NewWorld(t)
			user := filepath.Join(w.Home.SSHDir, "config")
			doctorWrite(t, user, conf, 0o600)
			w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
			if b, _ := os.ReadFile(user); !strings.HasSuffix(string(b), "\n"+conf) {
				t.Errorf("the user's lines were not kept:\n%s", b)
			}
			if d := w.Run("", "doctor"); d.Code != 0 {
				t.Errorf("doctor after setup: %s", d)
			}
			rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
		})
	}
}

// Issue 13, defect 7: remote --recursive followed symlinks out of the tree it was given:
// it rewrote a repository outside it, and a link to / walked the whole file system. Links
// that lead out are skipped and named; one inside the tree is still followed (once).
func TestRemoteRecursiveStaysInTree(t *testing.T) {
	w := NewWorld(t)
	inside := setupRepo(t, w, "tree/api", "https://bitbucket.org/acme/api.git")
	outside := setupRepo(t, w, "elsewhere", "https://bitbucket.org/acme/web.git")
	tree := filepath.Dir(inside)
	for name, target := range map[string]string{"out": outside, "root": "/", "again": inside} {
		if err := os.Symlink(target, filepath.Join(tree, name)); err != nil {
			t.Fatal(err)
		}
	}
	r := w.MustRun("", "remote", "--recursive", tree)
	if got := w.MustGit(inside, "remote", "get-url", "origin"); got != "git@ssh.bitbucket.org:acme/api.git\n" {
		t.Errorf("inside origin = %q", got)
	}
	if got := w.MustGit(outside, "remote", "get-url", "origin"); got != "https://bitbucket.org/acme/web.git\n" {
		t.Errorf("the repository outside the tree was rewritten: %q\n%s", got, r)
	}
	for _, link := range []string{"out", "root"} {
		if !strings.Contains(r.Stderr, "skipped "+filepath.Join(tree, link)+": a link to") {
			t.Errorf("the skipped link %s is not named:\n%s", link, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "skipped "+filepath.Join(tree, "again")) {
		t.Errorf("a link inside the tree was skipped:\n%s", r.Stderr)
	}
}

// Issue 13, defect 13: a read-only ~/.ssh/config was replaced without a word, one owned by
// someone else became the user's, and a hard-linked one was split in two. bbkey leaves
// such a file as it is and stops before its first remote write, giving the line to add by
// hand; with the line added, setup works and git too.
func TestUserSSHConfigKept(t *testing.T) {
	const content = "Host example\n  User me\n"
	for name, prep := range map[string]func(t *testing.T, path string){
		"read-only": func(t *testing.T, path string) {
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
		},
		"owned by another user": func(t *testing.T, path string) {
			if os.Geteuid() != 0 {
				t.Skip("making a file someone else's needs root")
			}
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		},
		"hard-linked": func(t *testing.T, path string) {
			if err := os.Link(path, filepath.Join(filepath.Dir(filepath.Dir(path)), "dotfiles-ssh-config")); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			t.Parallel()
			w := NewWorld(t)
			user := filepath.Join(w.Home.SSHDir, "config")
			doctorWrite(t, user, content, 0o644)
			prep(t, user)
			before, _ := os.Stat(user)
			r := w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
			include := "Include " + filepath.Join(w.Home.SSHDir, "bbkey", "config")
			if r.Code != 1 || !strings.Contains(r.Stderr, "bbkey leaves the file as it is") || !strings.Contains(r.Stderr, "bbkey: hint: add this line at the very top of "+user) ||
				!strings.Contains(r.Stderr, include) {
				t.Errorf("%s", r)
			}
			if n := len(rotateAccountKeys(w)); n != 0 {
				t.Errorf("%d keys uploaded by a run that had to stop", n)
			}
			after, _ := os.Stat(user)
			if b, _ := os.ReadFile(user); string(b) != content || !os.SameFile(before, after) || after.Mode() != before.Mode() {
				t.Errorf("the file changed: %q, mode %v", b, after.Mode())
			}
			// The user adds the line; setup then works and leaves the file alone.
			if err := os.Chmod(user, 0o644); err != nil {
				t.Fatal(err)
			}
			const lead = "yourself, then run the command again: "
			i := strings.Index(r.Stderr, lead)
			if i < 0 {
				t.Fatalf("no line to add in the hint:\n%s", r)
			}
			line := strings.SplitN(r.Stderr[i+len(lead):], "\n", 2)[0]
			if err := os.WriteFile(user, []byte(line+"\n"+content), 0o644); err != nil {
				t.Fatal(err)
			}
			w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
			if b, _ := os.ReadFile(user); string(b) != line+"\n"+content {
				t.Errorf("setup changed the file after the line was added:\n%s", b)
			}
			rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
		})
	}
}

// Issue 13, defect 14: add-access-key without --write-ssh-config on a machine with an
// account key left doctor exiting 1 for a Host block nobody asked for. The key is recorded
// as having none: doctor passes, and the account key's block and git are untouched; a
// later --write-ssh-config adds the block, and doctor still passes.
func TestAccessKeyWithoutSSHConfigDoctor(t *testing.T) {
	w := NewWorld(t)
	rotateSetup(t, w)
	cfg := filepath.Join(w.Home.SSHDir, "bbkey", "config")
	before, _ := os.ReadFile(cfg)
	r := w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--agent")
	if !strings.Contains(r.Stdout, "Host ssh.bitbucket.org-access-ci") {
		t.Errorf("the block to install is no longer shown:\n%s", r)
	}
	if after, _ := os.ReadFile(cfg); string(after) != string(before) {
		t.Errorf("bbkey's config changed without --write-ssh-config:\n%s", after)
	}
	if d := w.Run("", "doctor"); d.Code != 0 {
		t.Errorf("doctor: %s", d)
	}
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--agent", "--write-ssh-config")
	if after, _ := os.ReadFile(cfg); !strings.Contains(string(after), "Host ssh.bitbucket.org-access-ci") {
		t.Errorf("--write-ssh-config did not add the block:\n%s", after)
	}
	if d := w.Run("", "doctor"); d.Code != 0 {
		t.Errorf("doctor after --write-ssh-config: %s", d)
	}
}

// Issue 13, defect 10 (check before the first remote write): something in the way of
// ~/.ssh/bbkey stops setup before the upload, not after it.
func TestSetupChecksBbkeyDirFirst(t *testing.T) {
	w := NewWorld(t)
	doctorWrite(t, filepath.Join(w.Home.SSHDir, "bbkey"), "not a directory\n", 0o600)
	r := w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "is not a directory") || !strings.Contains(r.Stderr, "bbkey: hint: move ") {
		t.Errorf("%s", r)
	}
	if keys := rotateAccountKeys(w); len(keys) != 0 {
		t.Errorf("uploaded %v before stopping", keys)
	}
}
