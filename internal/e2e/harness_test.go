package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/testutil"
)

// bbkeyBin is the binary built once for the whole package.
var bbkeyBin string

func TestMain(m *testing.M) {
	// BBKEY_TEST_BIN is a bbkey built beforehand: the Wine runner (.ci/wine-tests) builds
	// bbkey.exe on Linux, as Wine has no Go to build it with.
	if bin := os.Getenv("BBKEY_TEST_BIN"); bin != "" {
		bbkeyBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "bbkey-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bbkeyBin = filepath.Join(dir, "bbkey")
	if runtime.GOOS == "windows" {
		bbkeyBin += ".exe"
	}
	// The tag lets BBKEY_TEST_KDF_ROUNDS (set in every World) lower the KDF cost of the keys
	// bbkey writes; no test here checks the KDF (keys' own tests do).
	build := exec.Command("go", "build", "-tags", "bbkey_e2e", "-o", bbkeyBin, "github.com/bbkey/bbkey")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bbkey:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// World is one throw-away machine: a home, an agent, an emulator, and the environment
// that points bbkey at them.
type World struct {
	t         *testing.T
	Emu       *bbapitest.Server
	Home      *testutil.Home
	AgentSock string
	// PassFile holds the key passphrase (0600), for --passphrase-file.
	PassFile   string
	Passphrase string
	// Env is the complete environment bbkey runs with (no inherited secrets).
	Env []string
}

// NewWorld starts an emulator (with opts) and a real ssh-agent, and makes a home.
func NewWorld(t *testing.T, opts ...bbapitest.Option) *World {
	t.Helper()
	testutil.RequireBinary(t, "git", "ssh", "ssh-agent", "ssh-add", "ssh-keygen")
	w := &World{t: t, Emu: bbapitest.Start(t, opts...), Home: testutil.NewHome(t)}
	w.AgentSock = testutil.StartAgent(t)
	w.Passphrase = "correct horse battery staple"
	w.PassFile = filepath.Join(w.Home.Dir, "passphrase.txt")
	if err := os.WriteFile(w.PassFile, []byte(w.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"SSH_AUTH_SOCK=" + w.AgentSock,
		"LANG=C.UTF-8",
		"NO_COLOR=1",
		"BBKEY_TEST_KDF_ROUNDS=1",
	}, w.Home.Env()...)
	w.Env = append(w.Env, w.Emu.Env()...)
	w.Env = append(w.Env, "GIT_SSH_COMMAND=ssh -F "+filepath.Join(w.Home.SSHDir, "config"))
	return w
}

// Setenv sets (or replaces) a variable in the world's environment.
func (w *World) Setenv(key, value string) {
	w.Unsetenv(key)
	w.Env = append(w.Env, key+"="+value)
}

// Unsetenv removes a variable from the world's environment.
func (w *World) Unsetenv(key string) {
	out := w.Env[:0]
	for _, kv := range w.Env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	w.Env = out
}

// Result is one run of the binary.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("bbkey %s: exit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// Run runs bbkey in dir (the home when empty) with no stdin.
func (w *World) Run(dir string, args ...string) Result {
	return w.RunInput(dir, "", args...)
}

// RunInput runs bbkey with stdin (not a terminal, so bbkey acts as with --no-input).
func (w *World) RunInput(dir, stdin string, args ...string) Result {
	w.t.Helper()
	if dir == "" {
		dir = w.Home.Dir
	}
	cmd := exec.Command(bbkeyBin, args...)
	cmd.Dir = dir
	cmd.Env = w.Env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				w.t.Fatalf("running bbkey: %v", err)
			}
			code = ee.ExitCode()
		}
		return Result{Args: args, Stdout: out.String(), Stderr: errb.String(), Code: code}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		w.t.Fatalf("bbkey %v did not finish in 3 minutes\nstderr: %s", args, errb.String())
	}
	return Result{}
}

// MustRun runs bbkey and fails the test unless it exits 0.
func (w *World) MustRun(dir string, args ...string) Result {
	w.t.Helper()
	r := w.Run(dir, args...)
	if r.Code != 0 {
		w.t.Fatalf("%s", r)
	}
	return r
}

// Git runs the real git with the world's environment (ssh through the written config).
func (w *World) Git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = w.Env
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// MustGit runs git and fails the test on error.
func (w *World) MustGit(dir string, args ...string) string {
	w.t.Helper()
	out, err := w.Git(dir, args...)
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// AgentList returns `ssh-add -l` output against the world's agent.
func (w *World) AgentList() string {
	cmd := exec.Command("ssh-add", "-l")
	cmd.Env = w.Env
	b, _ := cmd.CombinedOutput()
	return string(b)
}

// Snapshot maps every file and directory under the home (minus skip: relative paths) to
// its mode and content hash, so a test can assert a run changed nothing.
func (w *World) Snapshot(skip ...string) map[string]string {
	w.t.Helper()
	return testutil.Snapshot(w.t, w.Home.Dir, skip...)
}

// DiffSnapshots describes what changed between two snapshots ("" when nothing did).
var DiffSnapshots = testutil.DiffSnapshots
