// Package testutil gives tests the real parts they run against: the OpenSSH and git
// binaries (failing under CI=true when one is missing, skipping with a clear message
// elsewhere), a throw-away home, and a real ssh-agent.
package testutil

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where missing tools are failures.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// RequireBinary returns the path of each named binary in order, or fails (CI) or skips
// (elsewhere) the test when one is not installed. On Windows it only skips: CI runs the
// Windows tests under Wine (.ci/wine-tests), which has no git, OpenSSH or Go.
func RequireBinary(tb testing.TB, names ...string) []string {
	tb.Helper()
	paths := make([]string, 0, len(names))
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			msg := fmt.Sprintf("%s is not installed: this test needs the real binary (apt-get install openssh-client git)", n)
			if runtime.GOOS == "windows" {
				tb.Skipf("%s is not installed on this Windows (under Wine there is none): this test needs the real binary", n)
			}
			if InCI() {
				tb.Fatal(msg)
			}
			tb.Skip(msg)
		}
		paths = append(paths, p)
	}
	return paths
}

// Home is a throw-away home directory with the layout bbkey expects.
type Home struct {
	Dir       string // $HOME
	SSHDir    string // $BBKEY_SSH_DIR ($HOME/.ssh)
	ConfigDir string // $XDG_CONFIG_HOME ($HOME/.config)
	CacheDir  string // $XDG_CACHE_HOME ($HOME/.cache), made on first use
}

// NewHome makes a home under t.TempDir() with .ssh (0700) and .config.
func NewHome(tb testing.TB) *Home {
	tb.Helper()
	dir := tb.TempDir()
	h := &Home{
		Dir:       dir,
		SSHDir:    filepath.Join(dir, ".ssh"),
		ConfigDir: filepath.Join(dir, ".config"),
		CacheDir:  filepath.Join(dir, ".cache"),
	}
	for _, d := range []string{h.SSHDir, h.ConfigDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	return h
}

// Env returns the environment variables that point bbkey, git and ssh tools at the home.
func (h *Home) Env() []string {
	return []string{
		"HOME=" + h.Dir,
		"USERPROFILE=" + h.Dir,
		"XDG_CONFIG_HOME=" + h.ConfigDir,
		"XDG_CACHE_HOME=" + h.CacheDir,
		"BBKEY_SSH_DIR=" + h.SSHDir,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
	}
}

// LookupEnv returns a lookup function over the home's variables, falling back to the
// process environment for everything else (PATH and the like).
func (h *Home) LookupEnv(extra ...string) func(string) (string, bool) {
	m := map[string]string{}
	for _, kv := range append(h.Env(), extra...) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) (string, bool) {
		if v, ok := m[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
}

// StartAgent runs a real ssh-agent in the foreground on a socket in a short temp path
// (Unix sockets have a ~100-byte path limit) and returns the socket path. The agent is
// killed when the test ends.
func StartAgent(tb testing.TB) string {
	tb.Helper()
	bin := RequireBinary(tb, "ssh-agent")[0]
	dir, err := os.MkdirTemp("", "bbagent")
	if err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("starting ssh-agent: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	})
	go func() { // drain the "SSH_AUTH_SOCK=…" lines so the agent never blocks on stdout
		s := bufio.NewScanner(stdout)
		for s.Scan() {
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	// The socket file appears a moment before the agent accepts connections: wait until one
	// succeeds, so the first ssh-add of a test never sees "connection refused".
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("ssh-agent did not create %s", sock)
	return ""
}

// Run runs a command with env appended to the process environment and returns its
// combined output, failing the test on error.
func Run(tb testing.TB, dir string, env []string, name string, args ...string) string {
	tb.Helper()
	out, err := RunErr(dir, env, name, args...)
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr is Run without failing the test.
func RunErr(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// SlashPaths turns the Windows paths in a command's output (text or JSON, where each
// backslash is escaped) into forward-slash form, so one expected output, written with
// filepath.ToSlash'd paths, holds on every OS. Elsewhere s is returned unchanged.
func SlashPaths(s string) string {
	if runtime.GOOS != "windows" {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, `\\`, "/"), `\`, "/")
}
