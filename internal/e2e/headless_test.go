package e2e

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sshagent "golang.org/x/crypto/ssh/agent"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// The headless matrix: every command that touches the user's ssh-agent, run the way a
// scheduler or a server runs it (no terminal: stdin is not one), in each agent
// environment such a run meets. No case may panic; each is a warning with the rotation
// or setup completed, or a clear error with a hint and its documented exit code, and
// afterwards git works with the key bbkey left in the config.

// headlessAgentEnv is one environment the user's agent can be in.
type headlessAgentEnv struct {
	name string
	// apply puts the world into the environment; it runs after setup when afterSetup.
	apply      func(t *testing.T, w *World)
	afterSetup bool
	// warn is what setup and rotate say about the agent (a warning, exit 0).
	warn string
	// addAgentCode is the exit code of `add-access-key --agent` (0: it works).
	addAgentCode int
	addAgentErr  string
	// keepsKey: the failed add-access-key made its key pair first and keeps it for the
	// next run (documented), so only Bitbucket is checked to be unchanged.
	keepsKey bool
}

func headlessAgentEnvs() []headlessAgentEnv {
	return []headlessAgentEnv{
		{
			name:  "no-agent",
			apply: func(t *testing.T, w *World) { w.Unsetenv("SSH_AUTH_SOCK") },
			warn:  "SSH_AUTH_SOCK is not set", addAgentCode: 1, addAgentErr: "bbkey: error: no ssh agent: SSH_AUTH_SOCK is not set",
		},
		{
			// The agent died and left its socket file: connecting is refused.
			name:  "dead-socket",
			apply: func(t *testing.T, w *World) { w.Setenv("SSH_AUTH_SOCK", headlessDeadSocket(t)) },
			warn:  "cannot reach the agent at SSH_AUTH_SOCK=", addAgentCode: 1, addAgentErr: "bbkey: error: no ssh agent: cannot reach the agent",
		},
		{
			// `ssh-add -x`: the real agent lists nothing and refuses every add and remove.
			name:  "locked",
			apply: headlessLockAgent,
			warn:  "the agent refused", addAgentCode: 1, addAgentErr: "the agent refused", keepsKey: true,
		},
		{
			// An agent that lists and signs but refuses to take keys (a policy, a
			// hardware-backed agent): x/crypto's agent behind a real socket.
			name:  "refuses-add",
			apply: func(t *testing.T, w *World) { w.Setenv("SSH_AUTH_SOCK", headlessRefusingAgent(t)) },
			warn:  "the agent refused", addAgentCode: 1, addAgentErr: "the agent refused", keepsKey: true,
		},
		{
			// The user loaded the key with confirm-before-use (`ssh-add -c`) and nobody is
			// there to confirm: the agent's askpass refuses every signature.
			name:       "confirm-required",
			apply:      headlessConfirmOldKey,
			afterSetup: true,
		},
	}
}

func TestHeadlessAgentMatrix(t *testing.T) {
	for _, env := range headlessAgentEnvs() {
		t.Run(env.name, func(t *testing.T) {
			t.Parallel()
			headlessRunAgentEnv(t, env)
		})
	}
}

func headlessRunAgentEnv(t *testing.T, env headlessAgentEnv) {
	w := NewWorld(t)
	headlessAskpass(t, w)
	if !env.afterSetup {
		env.apply(t, w)
	}
	r := w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	headlessCheck(t, r, 0, env.warn)
	if env.afterSetup {
		env.apply(t, w)
	}
	old := rotateConfigKey(t, w, "ssh.bitbucket.org")

	r = w.Run("", "list")
	headlessCheck(t, r, 0, "")
	if !strings.Contains(r.Stdout, old) {
		t.Errorf("list does not show the key %s:\n%s", old, r)
	}

	r = w.Run("", "rotate", "--passphrase-file", w.PassFile)
	headlessCheck(t, r, 0, env.warn)
	newFP := rotateConfigKey(t, w, "ssh.bitbucket.org")
	if newFP == old {
		t.Fatalf("the config still names the old key\n%s", r)
	}
	rotateOnly(t, "account keys", rotateAccountKeys(w), newFP)
	if rotateAgentHolds(w, old) {
		t.Errorf("the revoked key %s is still in the agent:\n%s", old, w.AgentList())
	}
	// git works with the new key: through the agent where it took it, else ssh reads the
	// file with the passphrase (from askpass, as a user would type it).
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")

	// The access-key path of the engine, without and with --agent.
	w.MustRun("", "add-access-key", "--name", "ci", "--repo", "acme/web", "--passphrase-file", w.PassFile)
	r = w.Run("", "rotate", "--access-keys", "--passphrase-file", w.PassFile)
	headlessCheck(t, r, 0, env.warn)
	if got := rotateRepoKeys(w, "web"); len(got) != 1 {
		t.Errorf("acme/web access keys after the rotation = %v, want one", got)
	}

	before := w.Snapshot()
	r = w.Run("", "add-access-key", "--name", "deploy", "--repo", "acme/api", "--passphrase-file", w.PassFile, "--agent")
	headlessCheck(t, r, env.addAgentCode, env.addAgentErr)
	if env.addAgentCode != 0 {
		if !strings.Contains(r.Stderr, "bbkey: hint:") {
			t.Errorf("no hint:\n%s", r)
		}
		if diff := DiffSnapshots(before, w.Snapshot()); diff != "" && !env.keepsKey {
			t.Errorf("add-access-key --agent failed but wrote files:\n%s", diff)
		}
		if got := rotateRepoKeys(w, "api"); len(got) != 0 {
			t.Errorf("add-access-key --agent failed but added %v", got)
		}
	}

	r = w.Run("", "doctor")
	if strings.Contains(r.Stderr, "panic") || (r.Code != 0 && r.Code != 1) {
		t.Errorf("doctor: %s", r)
	}
	r = w.Run("", "remove", newFP, "--everywhere", "--force", "--yes")
	headlessCheck(t, r, 0, "")
	if got := rotateAccountKeys(w); len(got) != 0 {
		t.Errorf("account keys after remove = %v", got)
	}
}

// headlessCheck asserts the exit code, that nothing panicked, and that stderr says want.
func headlessCheck(t *testing.T, r Result, code int, want string) {
	t.Helper()
	if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "goroutine ") {
		t.Fatalf("panicked:\n%s", r)
	}
	if r.Code != code {
		t.Fatalf("exit %d, want %d\n%s", r.Code, code, r)
	}
	if want != "" && !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr lacks %q\n%s", want, r)
	}
}

// headlessDeadSocket returns the path of a socket file nothing listens on any more.
func headlessDeadSocket(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bbdead")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	return sock
}

// headlessAskpass makes ssh (and ssh-add) read answers from a program instead of a
// terminal: the key passphrase, as the user would type it at first use.
func headlessAskpass(t *testing.T, w *World) {
	askpass := filepath.Join(w.Home.Dir, "askpass.sh")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\ncat '"+w.PassFile+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	w.Setenv("SSH_ASKPASS", askpass)
	w.Setenv("SSH_ASKPASS_REQUIRE", "force")
}

// headlessLockAgent locks the world's real agent with `ssh-add -x` (the lock password
// comes from askpass).
func headlessLockAgent(t *testing.T, w *World) {
	if out, err := rotateExec(w, "ssh-add", "-x"); err != nil {
		t.Fatalf("ssh-add -x: %v\n%s", err, out)
	}
	if out, _ := rotateExec(w, "ssh-add", "-l"); !strings.Contains(out, "no identities") {
		t.Fatalf("the locked agent lists keys:\n%s", out)
	}
}

// headlessRefusingAgent serves x/crypto's in-memory agent on a socket, refusing adds.
func headlessRefusingAgent(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bbrefuse")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); os.RemoveAll(dir) })
	ag := refusingAgent{sshagent.NewKeyring().(sshagent.ExtendedAgent)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = sshagent.ServeAgent(ag, c) }()
		}
	}()
	return sock
}

type refusingAgent struct{ sshagent.ExtendedAgent }

func (refusingAgent) Add(sshagent.AddedKey) error { return errRefused }

// errRefused is any error: the protocol answers SSH_AGENT_FAILURE.
var errRefused = errors.New("adding keys is not allowed here")

// headlessConfirmOldKey reloads the key setup made with confirm-before-use into the real
// agent; the agent's askpass (none here: SSH_ASKPASS of the agent's own process) cannot
// confirm, so the agent refuses to sign with it.
func headlessConfirmOldKey(t *testing.T, w *World) {
	id := rotateIdentityFile(t, w, "ssh.bitbucket.org")
	k, err := keys.LoadPrivate(id, []byte(w.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	c, err := net.Dial("unix", w.AgentSock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ac := sshagent.NewClient(c)
	if err := ac.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	if err := ac.Add(sshagent.AddedKey{PrivateKey: k.Private, Comment: "confirm", ConfirmBeforeUse: true}); err != nil {
		t.Fatal(err)
	}
}

// TestHeadlessPanicAtEveryStep injects a panic (a bug) right after each step of a
// scheduled account rotation: the run ends with `bbkey: error: internal error: …`, a hint
// and exit 1, never a Go stack dump; its outcome is recorded for --status; and the next
// run finishes (or undoes and redoes) the rotation, leaving exactly the new key.
func TestHeadlessPanicAtEveryStep(t *testing.T) {
	for _, step := range rotateSteps {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			w := NewWorld(t)
			old := rotateSetup(t, w)
			w.Setenv("BBKEY_SCHEDULED", "bbkey-rotate")
			w.Setenv("BBKEY_TEST_PANIC_AFTER", step)
			r := w.Run("", "rotate", "--passphrase-file", w.PassFile, "--if-older-than", "1s")
			if r.Code != 1 || !strings.Contains(r.Stderr, "bbkey: error: internal error: test hook BBKEY_TEST_PANIC_AFTER="+step+"\n") ||
				!strings.Contains(r.Stderr, "bbkey: hint: this is a bug in bbkey: please report it with the output of the same command run with --debug") ||
				strings.Contains(r.Stderr, "goroutine ") {
				t.Fatalf("want exit 1 with an internal error and its hint, no stack:\n%s", r)
			}
			w.Unsetenv("BBKEY_TEST_PANIC_AFTER")
			w.Unsetenv("BBKEY_SCHEDULED")
			st := w.MustRun("", "rotate", "--status")
			if !strings.Contains(st.Stdout, "failed (exit 1): internal error: test hook") {
				t.Errorf("--status does not show the failed scheduled run:\n%s", st)
			}

			r = w.Run("", "rotate", "--passphrase-file", w.PassFile, "--json")
			if r.Code != 0 {
				t.Fatalf("the run after the panic: %s", r)
			}
			newFP := rotateConfigKey(t, w, "ssh.bitbucket.org")
			if newFP == old {
				t.Fatalf("the old key is still in use\n%s", r)
			}
			rotateOnly(t, "account keys", rotateAccountKeys(w), newFP)
			if _, err := os.Stat(filepath.Join(w.Home.ConfigDir, "bbkey", "rotation-journal.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the journal is still there: %v", err)
			}
			if !rotateAgentHolds(w, newFP) || rotateAgentHolds(w, old) {
				t.Errorf("agent:\n%s", w.AgentList())
			}
			rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
		})
	}
}

// TestHeadlessKeychainMatrix: the commands that store or read the keychain, where the
// Secret Service cannot be reached: no session bus (cron, ssh sessions), a bus address
// naming a dead socket, and a real session bus with no Secret Service on it. Each is a
// clear error with a hint and its documented exit code, quickly (never a hang), or works
// without the keychain where it does not need it.
func TestHeadlessKeychainMatrix(t *testing.T) {
	envs := []struct {
		name  string
		apply func(t *testing.T, w *World)
		// why is what the error says about the keychain.
		why string
	}{
		{"no-session-bus", func(t *testing.T, w *World) { w.Unsetenv("DBUS_SESSION_BUS_ADDRESS") }, "no D-Bus session bus"},
		{"dead-bus", func(t *testing.T, w *World) {
			w.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+headlessDeadSocket(t))
		}, "no usable OS keychain"},
		{"bus-without-secret-service", func(t *testing.T, w *World) {
			w.Setenv("DBUS_SESSION_BUS_ADDRESS", headlessDBus(t))
		}, "no usable OS keychain"},
		{"locked-keychain", headlessLockedKeyring, "unlock"},
	}
	for _, env := range envs {
		t.Run(env.name, func(t *testing.T) {
			t.Parallel()
			w := NewWorld(t)
			env.apply(t, w)
			start := time.Now()
			r := w.Run("", "auth", "login")
			headlessCheck(t, r, 1, env.why)
			if !strings.Contains(r.Stderr, "--insecure-storage") {
				t.Errorf("no hint naming --insecure-storage:\n%s", r)
			}
			if d := time.Since(start); d > time.Minute {
				t.Errorf("auth login took %v without a keychain", d)
			}
			// The credential in the environment needs no keychain.
			headlessCheck(t, w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes"), 0, "")
			headlessCheck(t, w.Run("", "rotate", "--passphrase-file", w.PassFile), 0, "")
			// A timer's job could not read a credential that is only in the environment.
			rotateFakeTimerTools(t, w, true)
			headlessCheck(t, w.Run("", "rotate", "--schedule", "daily", "--passphrase-file", w.PassFile), 2,
				"the timer's job would have no Bitbucket credential")
			// Without the environment: not logged in, exit 4, naming auth login.
			w.Unsetenv("BITBUCKET_EMAIL")
			w.Unsetenv("BITBUCKET_API_TOKEN")
			headlessCheck(t, w.Run("", "rotate", "--passphrase-file", w.PassFile), 4, "bbkey auth login")
			headlessCheck(t, w.Run("", "auth", "status"), 4, "")
			if r := w.Run("", "doctor"); r.Code != 1 || strings.Contains(r.Stderr, "panic") || !strings.Contains(r.Stdout, "✗ Bitbucket credential") {
				t.Errorf("doctor: %s", r)
			}
			// With the opt-in file, which needs no keychain, everything works again.
			w.Setenv("BITBUCKET_EMAIL", bbapitest.DefaultEmail)
			w.Setenv("BITBUCKET_API_TOKEN", w.Emu.DefaultAPIToken())
			headlessCheck(t, w.Run("", "auth", "login", "--insecure-storage"), 0, "")
			w.Unsetenv("BITBUCKET_EMAIL")
			w.Unsetenv("BITBUCKET_API_TOKEN")
			headlessCheck(t, w.Run("", "rotate", "--passphrase-file", w.PassFile), 0, "")
			headlessCheck(t, w.Run("", "rotate", "--schedule", "daily"), 2, "the timer needs a passphrase for the new keys and has no terminal to ask")
		})
	}
}

// headlessLockedKeyring runs a real gnome-keyring (Secret Service) on a private session
// bus, never unlocked: storing into its default collection is refused, as on a desktop
// whose keyring stayed locked or on a server where nobody logged in to unlock it.
func headlessLockedKeyring(t *testing.T, w *World) {
	bin := testutil.RequireBinary(t, "gnome-keyring-daemon", "dbus-send")[0]
	bus := headlessDBus(t)
	dir := t.TempDir()
	rt, data := filepath.Join(dir, "run"), filepath.Join(dir, "data")
	for _, d := range []string{rt, data} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--foreground", "--components=secrets")
	cmd.Env = []string{"DBUS_SESSION_BUS_ADDRESS=" + bus, "XDG_RUNTIME_DIR=" + rt, "XDG_DATA_HOME=" + data, "HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// It owns org.freedesktop.secrets once it is ready.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := exec.Command("dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
			"org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets")
		c.Env = []string{"DBUS_SESSION_BUS_ADDRESS=" + bus}
		if out, err := c.Output(); err == nil && strings.Contains(string(out), "boolean true") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gnome-keyring-daemon did not take org.freedesktop.secrets")
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.Setenv("DBUS_SESSION_BUS_ADDRESS", bus)
	w.Setenv("XDG_DATA_HOME", data)
}

// headlessDBus starts a real session bus (dbus-daemon) with nothing on it and returns its
// address.
func headlessDBus(t *testing.T) string {
	bin := testutil.RequireBinary(t, "dbus-daemon")[0]
	dir, err := os.MkdirTemp("", "bbdbus")
	if err != nil {
		t.Fatal(err)
	}
	addr := "unix:path=" + filepath.Join(dir, "bus")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", filepath.Join(dir, "bus")); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("dbus-daemon did not listen")
	return ""
}
