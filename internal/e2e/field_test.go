package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"

	"github.com/bbkey/bbkey/internal/testhook"
)

// TestOutputWriteFailureIsAnError: stdout on a full disk (`bbkey --json audit > report.json`
// in a cron job, say). A command whose output could not be written must not exit 0: the
// caller would take the empty or cut-off file for the answer.
func TestOutputWriteFailureIsAnError(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/dev/full (a file whose every write fails with ENOSPC) is Linux's")
	}
	w := NewWorld(t)
	rotateSetup(t, w)
	for _, args := range [][]string{{"--json", "list"}, {"rotate", "--status"}} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bbkeyBin, args...)
		cmd.Dir, cmd.Env, cmd.Stdout = w.Home.Dir, w.Env, full
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err = cmd.Run()
		full.Close()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("bbkey %s > /dev/full: %v (want exit 1)\n%s", strings.Join(args, " "), err, errb.String())
		}
		if !strings.Contains(errb.String(), "bbkey: error: ") || !strings.Contains(errb.String(), "no space left on device") {
			t.Errorf("bbkey %s > /dev/full does not say the output was lost:\n%s", strings.Join(args, " "), errb.String())
		}
	}
}

// TestSecretFileEncodings: secret files written by Windows tools. Notepad and Windows
// PowerShell's `Set-Content -Encoding utf8` start the file with a UTF-8 byte-order mark,
// which is not part of the secret: the key must open with the passphrase the user types
// (real ssh-keygen), and the token must be the token. Windows PowerShell's `>` writes
// UTF-16, which is refused before anything is made, naming the encoding.
func TestSecretFileEncodings(t *testing.T) {
	w := NewWorld(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(w.Home.Dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var u16 []byte
	for _, c := range "\ufeff" + w.Passphrase + "\r\n" {
		u16 = append(u16, byte(c), byte(c>>8))
	}
	r := w.Run("", "setup", "--no-remotes", "--passphrase-file", write("pass-utf16.txt", u16))
	if r.Code != 2 || !strings.Contains(r.Stderr, "UTF-16") {
		t.Errorf("a UTF-16 passphrase file: want exit 2 naming UTF-16\n%s", r)
	}
	if keys := rotateAccountKeys(w); len(keys) != 0 {
		t.Errorf("a refused passphrase file added keys: %v", keys)
	}

	w.MustRun("", "setup", "--no-remotes", "--passphrase-file", write("pass-bom.txt", []byte("\xef\xbb\xbf"+w.Passphrase+"\r\n")))
	key := filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519")
	if out, err := exec.Command("ssh-keygen", "-y", "-P", w.Passphrase, "-f", key).CombinedOutput(); err != nil {
		t.Errorf("the key does not open with the passphrase typed without the byte-order mark: %v\n%s", err, out)
	}

	w.Unsetenv("BITBUCKET_API_TOKEN")
	w.MustRun("", "auth", "status", "--token-file", write("token-bom.txt", []byte("\xef\xbb\xbf"+w.Emu.DefaultAPIToken()+"\r\n")))
}

// TestScheduledJobSurvivesUpgrade: bbkey installed through a symlink, as Homebrew on Linux
// (bin/bbkey -> ../Cellar/bbkey/1.0/bin/bbkey) and nix profiles do. The timer must run the
// link the user ran, not the versioned file behind it, which the next upgrade deletes:
// after an "upgrade" (1.0 gone, the link pointing at 1.1) the cron job still rotates.
func TestScheduledJobSurvivesUpgrade(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinked installs and cron are Unix's")
	}
	w := NewWorld(t)
	old := rotateSetup(t, w)
	w.MustRun("", "auth", "login", "--insecure-storage")
	fake := rotateFakeTimerTools(t, w, false)
	prefix := filepath.Join(w.Home.Dir, "brew")
	install := func(version string) {
		dir := filepath.Join(prefix, "Cellar", "bbkey", version, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(bbkeyBin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bbkey"), b, 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(prefix, "bin", "bbkey")
		_ = os.MkdirAll(filepath.Dir(link), 0o755)
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join("..", "Cellar", "bbkey", version, "bin", "bbkey"), link); err != nil {
			t.Fatal(err)
		}
	}
	install("1.0")
	w.Setenv("PATH", strings.Join([]string{filepath.Join(prefix, "bin"), fake, os.Getenv("PATH")}, string(os.PathListSeparator)))
	// The user types `bbkey`: the shell finds the link on PATH and passes argv[0] "bbkey".
	cmd := exec.Command(filepath.Join(prefix, "bin", "bbkey"), "rotate", "--schedule", "daily", "--if-older-than", "1s", "--passphrase-file", w.PassFile)
	cmd.Args[0] = "bbkey"
	cmd.Dir, cmd.Env = w.Home.Dir, append(w.Env, "BBKEY_TEST_SCHEDULER=cron")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rotate --schedule: %v\n%s", err, out)
	}
	if err := os.RemoveAll(filepath.Join(prefix, "Cellar", "bbkey", "1.0")); err != nil {
		t.Fatal(err)
	}
	install("1.1")
	job := cronJob(t, w, fake)
	code, out := scheduledExec(t, job)
	if code != 0 || rotateConfigKey(t, w, "ssh.bitbucket.org") == old {
		t.Fatalf("after the upgrade the cron job (%q) exited %d and did not rotate:\n%s", job.argv, code, out)
	}
}

// TestRotateTerminatedTakesBackUnprovenKey: SIGTERM (a shutdown stopping the timer's
// service, Ctrl-C) while rotate has uploaded the new key but not proven it. The run ends
// as cancelled (exit 2, not 5: no proof failed) and takes the unproven key back off the
// account itself (its rollback must not die with the cancelled run), leaving no journal:
// the old key alone, still working.
func TestRotateTerminatedTakesBackUnprovenKey(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is Unix's")
	}
	w := NewWorld(t)
	old := rotateSetup(t, w)
	hook := t.TempDir()
	env := append(slices.Clone(w.Env), testhook.PauseEnv+"=rotate:upload", testhook.PauseDirEnv+"="+hook)
	p := raceStart(t, w, env, []string{"rotate", "--passphrase-file", w.PassFile})
	raceUntil(t, p, "the pause after the upload", func() bool {
		_, err := os.Stat(filepath.Join(hook, "rotate-upload.paused"))
		return err == nil
	})
	if n := len(rotateAccountKeys(w)); n != 2 {
		t.Fatalf("%d keys on the account after the upload, want 2", n)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hook, "rotate-upload.resume"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := p.wait(t)
	if r.Code != 2 || !strings.Contains(r.Stderr, "bbkey: error: interrupted before the new key was proven") || strings.Contains(r.Stderr, "undoing the rotation") {
		t.Errorf("rotate after SIGTERM:\n%s", r)
	}
	rotateOnly(t, "account keys after the terminated run", rotateAccountKeys(w), old)
	if _, err := os.Stat(filepath.Join(w.Home.ConfigDir, "bbkey", "rotation-journal.json")); err == nil {
		t.Error("the rotation journal is left: the rollback did not finish")
	}
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
}

// TestNoColorOnTerminal: on a terminal bbkey colours its marks unless NO_COLOR is set to a
// non-empty value (no-color.org: "when present and not an empty string"); an empty
// NO_COLOR, as `export NO_COLOR=` leaves it, keeps colour.
func TestNoColorOnTerminal(t *testing.T) {
	w := NewWorld(t)
	for _, c := range []struct {
		env    []string
		colour bool
	}{{nil, true}, {[]string{"NO_COLOR="}, true}, {[]string{"NO_COLOR=1"}, false}} {
		env := slices.DeleteFunc(slices.Clone(w.Env), func(kv string) bool { return strings.HasPrefix(kv, "NO_COLOR=") })
		cmd := exec.Command(bbkeyBin, "auth", "status")
		cmd.Dir, cmd.Env = w.Home.Dir, append(append(env, "TERM=xterm"), c.env...)
		ptmx, err := pty.Start(cmd)
		if errors.Is(err, pty.ErrUnsupported) {
			t.Skipf("no pseudo-terminals here: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, _ = io.Copy(&out, ptmx) // until EIO: bbkey has ended
		_ = cmd.Wait()
		ptmx.Close()
		if got := strings.Contains(out.String(), "\x1b["); got != c.colour {
			t.Errorf("environment %q: colour %v, want %v\n%q", c.env, got, c.colour, out.String())
		}
	}
}

// TestVerifyIgnoresUserMultiplexing: a user whose ssh config multiplexes every connection
// (Host * ControlMaster auto, ControlPersist), as many do, already has a master connection
// to Bitbucket open, authenticated with the account key. add-access-key --verify through
// that config must prove the new access key itself, not ride the master: there the account
// key could push, and the read-only access key was reported as "can push" (exit 5); a key
// that does not work at all would have been "proven".
func TestVerifyIgnoresUserMultiplexing(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("OpenSSH for Windows does not multiplex connections")
	}
	w := NewWorld(t)
	sockets, err := os.MkdirTemp("", "cm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockets) })
	userConfig := filepath.Join(w.Home.SSHDir, "config")
	if err := os.MkdirAll(w.Home.SSHDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mux := "Host *\n  ControlMaster auto\n  ControlPath " + sockets + "/%r@%h:%p\n  ControlPersist 60\n"
	if err := os.WriteFile(userConfig, []byte(mux), 0o600); err != nil {
		t.Fatal(err)
	}
	rotateSetup(t, w)
	w.MustGit(w.Home.Dir, "ls-remote", "git@ssh.bitbucket.org:acme/api.git") // opens the master
	t.Cleanup(func() { _, _ = rotateExec(w, "ssh", "-F", userConfig, "-O", "exit", "ssh.bitbucket.org") })
	if m, _ := filepath.Glob(filepath.Join(sockets, "*")); len(m) == 0 {
		t.Fatal("the user's ssh left no master connection: the test proves nothing")
	}
	r := w.Run("", "add-access-key", "--repo", "acme/web", "--name", "ci", "--passphrase-file", w.PassFile, "--write-ssh-config", "--verify")
	if r.Code != 0 || !strings.Contains(r.Stderr, "a push is refused as read-only") {
		t.Errorf("--verify went through the user's master connection:\n%s", r)
	}
}

// TestSetupSaysWhenItTakesTheAccessKeysHost: a build server's access key answers for
// ssh.bitbucket.org (no account key yet) and its clones use git@ssh.bitbucket.org:…; then
// someone runs `bbkey setup` there. The account key takes ssh.bitbucket.org over (DESIGN:
// the access key moves to ssh.bitbucket.org-access-<name>), so those clones silently
// switched to a person's key, or broke where only the access key is loaded. Setup must
// say so, naming the access key's new host.
func TestSetupSaysWhenItTakesTheAccessKeysHost(t *testing.T) {
	w := NewWorld(t)
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--agent", "--write-ssh-config")
	clone := filepath.Join(w.Home.Dir, "api")
	w.MustGit(w.Home.Dir, "clone", "-q", "git@ssh.bitbucket.org:acme/api.git", clone)
	r := w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	want := "access key ci, which answered for ssh.bitbucket.org, now answers for ssh.bitbucket.org-access-ci"
	if !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "git@ssh.bitbucket.org-access-ci:") {
		t.Errorf("setup took ssh.bitbucket.org from the access key without saying so (want %q):\n%s", want, r)
	}
	// What the warning says works: the clone, pointed at the access key's new host.
	w.MustGit(clone, "remote", "set-url", "origin", "git@ssh.bitbucket.org-access-ci:acme/api.git")
	w.MustGit(clone, "fetch", "-q")
	// A second setup changes no alias: no warning.
	if r := w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes"); strings.Contains(r.Stderr, "now answers for") {
		t.Errorf("a re-run warns again:\n%s", r)
	}
}

// TestSetupHomeMismatchWarning: $HOME is not the passwd entry's home (sudo keeping HOME, a
// CI runner's HOME=/github/home): ssh reads the passwd home's ~/.ssh, and setup warns so.
// The warning said only "bbkey: warning: /root". A dry run, so the real ~/.ssh is only read.
func TestSetupHomeMismatchWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no passwd entry: ssh uses the profile directory")
	}
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		t.Skipf("no passwd entry for this user: %v", err)
	}
	w := NewWorld(t)
	w.Unsetenv("BBKEY_SSH_DIR")
	r := w.MustRun("", "setup", "--dry-run", "--no-remotes", "--passphrase-file", w.PassFile)
	want := "bbkey: warning: ssh reads " + filepath.Join(u.HomeDir, ".ssh") + ", in the home of your account, not HOME=" + w.Home.Dir
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("want %q:\n%s", want, r)
	}
}

// TestAuditWithoutWritableCache: a home bbkey cannot write to (a container with a
// read-only root file system, XDG_CACHE_HOME unset). The audit's cache is only a saving
// ("safe to delete"): the audit must still run to the end, warning that it keeps none.
func TestAuditWithoutWritableCache(t *testing.T) {
	w := NewWorld(t)
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile)
	blocker := filepath.Join(w.Home.Dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w.Setenv("XDG_CACHE_HOME", filepath.Join(blocker, "cache")) // mkdir fails, for root too
	r := w.Run("", "audit", "--workspace", "acme", "--json")
	if (r.Code != 0 && r.Code != 6) || !strings.Contains(r.Stderr, "bbkey: warning: ") || !strings.Contains(r.Stderr, "cache") {
		t.Fatalf("audit with an unwritable cache directory: %s", r)
	}
	var doc struct {
		Complete bool `json:"complete"`
		Keys     []struct {
			Name string `json:"name"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || !doc.Complete || len(doc.Keys) == 0 {
		t.Errorf("the audit did not run to the end (%v):\n%s", err, r)
	}
}

// TestDoctorFindsSecretInInsteadOf: the CI way to clone over HTTPS puts the token in git's
// global config, `git config --global url."https://x-token-auth:TOKEN@bitbucket.org/".insteadOf
// https://bitbucket.org/`, where it stays after the move to SSH. doctor's secrets check
// must report it (masked), as it reports one in a remote URL or ~/.git-credentials.
func TestDoctorFindsSecretInInsteadOf(t *testing.T) {
	w := NewWorld(t)
	const token = "ATCTT3xFieldInsteadOfSecret0123456789"
	w.MustGit(w.Home.Dir, "config", "--global", "url.https://x-token-auth:"+token+"@bitbucket.org/.insteadOf", "https://bitbucket.org/")
	r := w.Run("", "doctor", "--json")
	var doc struct {
		Checks []struct {
			ID      string   `json:"id"`
			Status  string   `json:"status"`
			Details []string `json:"details"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	found := false
	for _, c := range doc.Checks {
		if c.ID == "secrets" {
			found = c.Status == "fail" && strings.Contains(strings.Join(c.Details, "\n"), "url.https://x-token-auth:***@bitbucket.org/.insteadOf")
		}
	}
	if !found || strings.Contains(r.Stdout+r.Stderr, token) {
		t.Errorf("doctor does not report the token in the insteadOf rule (or prints it):\n%s", r)
	}
}
