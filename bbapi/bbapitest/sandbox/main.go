// Command sandbox runs the Bitbucket emulator (package bbapitest) on loopback so bbkey can
// be tried without an account and without touching the real ~/.ssh.
//
//	go run ./bbapi/bbapitest/sandbox
//	    starts the emulator, prints the `export` lines that point bbkey at it, and waits
//	    for Ctrl-C.
//	go run ./bbapi/bbapitest/sandbox -- go run . setup
//	    also makes a throw-away home (HOME, XDG_CONFIG_HOME and BBKEY_SSH_DIR inside it, a
//	    fresh ssh-agent, a passphrase file, and a clone of acme/api whose origin is
//	    https://ada@bitbucket.org/acme/api.git), runs the command inside that clone, prints
//	    what changed, and exits with the command's exit code.
//
// A leading `go run PKG` is built in the current directory first and the binary is run
// inside the clone, so `go run .` means bbkey's own source, not the clone. Flags: -keep
// keeps the home for a look afterwards; -latency delays every API request; -datacenter
// emulates Bitbucket Data Center instead of Cloud (BITBUCKET_SERVER and
// BITBUCKET_SERVER_TOKEN, and a clone of OPS/api whose origin is
// http://ada@127.0.0.1:PORT/scm/ops/api.git).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/text"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep", false, "keep the throw-away home after the command")
	latency := fs.Duration("latency", 0, "delay every API request by this much (e.g. 100ms)")
	datacenter := fs.Bool("datacenter", false, "emulate Bitbucket Data Center instead of Cloud")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sandbox [-keep] [-latency D] [-datacenter] [-- COMMAND ARGS...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	opts := []bbapitest.Option{bbapitest.WithLatency(*latency)}
	if *datacenter {
		opts = append(opts, bbapitest.WithDataCenter())
	}
	srv, err := bbapitest.NewServer(opts...)
	if err != nil {
		fmt.Fprintf(stderr, "sandbox: error: %v\n", err)
		return 1
	}
	defer srv.Close()
	if fs.NArg() == 0 {
		return serve(srv, stdout, stderr)
	}
	code, err := runCommand(srv, fs.Args(), *keep, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sandbox: error: %v\n", err)
		return 1
	}
	return code
}

func serve(srv *bbapitest.Server, stdout, stderr io.Writer) int {
	printExports(srv, stdout)
	if srv.IsDataCenter() {
		serveMessageDataCenter(srv, stderr)
	} else {
		fmt.Fprintf(stderr, "sandbox: Bitbucket emulator at %s (SSH %s): user %s, workspace %s, repositories %s; Ctrl-C stops it\n",
			srv.APIURL(), srv.SSHEndpoint(), bbapitest.DefaultEmail, bbapitest.DefaultWorkspace, strings.Join(bbapitest.DefaultRepos, ", "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Fprintln(stderr, "sandbox: stopped")
	return 0
}

// printExports prints Env() as POSIX shell export lines.
func printExports(srv *bbapitest.Server, w io.Writer) {
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(w, "export %s=%s\n", k, text.ShellQuote(v))
	}
}

// home is the throw-away home a command runs in.
type home struct {
	dir, sshDir, configDir, passFile, clone, bin string
	origin                                       string // the clone's origin
	agent                                        *exec.Cmd
	agentSock                                    string
}

func runCommand(srv *bbapitest.Server, argv []string, keep bool, stdout, stderr io.Writer) (int, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	h, err := newHome(srv)
	if err != nil {
		return 0, err
	}
	defer func() {
		h.stopAgent()
		if keep {
			fmt.Fprintf(stderr, "sandbox: kept the home at %s\n", h.dir)
		} else {
			_ = os.RemoveAll(h.dir)
		}
	}()
	argv, err = prepareCommand(argv, cwd, h.bin, stderr)
	if err != nil {
		return 0, err
	}

	env := h.env(srv)
	fmt.Fprintf(stderr, "sandbox: emulator at %s (SSH %s)\n", srv.APIURL(), srv.SSHEndpoint())
	fmt.Fprintf(stderr, "sandbox: home %s; running in %s (origin %s)\n", h.dir, h.clone, h.origin)
	fmt.Fprintf(stderr, "sandbox: passphrase file %s (BBKEY_PASSPHRASE is unset: pass --passphrase-file or type one)\n", h.passFile)
	if h.agentSock != "" {
		fmt.Fprintf(stderr, "sandbox: ssh-agent at %s\n", h.agentSock)
	}
	fmt.Fprintf(stderr, "sandbox: $ %s\n", strings.Join(argv, " "))

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = h.clone
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	// The terminal sends Ctrl-C to the command too; the sandbox outlives it to clean up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return 0, fmt.Errorf("run %s: %w", argv[0], err)
		}
		code = ee.ExitCode()
		if code < 0 {
			code = 1
		}
	}
	report(srv, h, code, stderr)
	return code, nil
}

func newHome(srv *bbapitest.Server) (*home, error) {
	dir, err := os.MkdirTemp("", "bbkey-sandbox-")
	if err != nil {
		return nil, err
	}
	h := &home{
		dir:       dir,
		sshDir:    filepath.Join(dir, ".ssh"),
		configDir: filepath.Join(dir, ".config"),
		passFile:  filepath.Join(dir, "passphrase"),
		clone:     filepath.Join(dir, "work", "api"),
		bin:       filepath.Join(dir, "bin"),
	}
	for _, d := range []string{h.sshDir, h.configDir, h.bin, filepath.Dir(h.clone)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	pass := make([]byte, 12)
	_, _ = rand.Read(pass)
	// O_EXCL and 0600: it is a secret, even a throw-away one.
	f, err := os.OpenFile(h.passFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintln(f, "sandbox-"+hex.EncodeToString(pass)); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	gitconfig := "[user]\n\tname = " + bbapitest.DefaultDisplayName + "\n\temail = " + bbapitest.DefaultEmail + "\n[init]\n\tdefaultBranch = main\n"
	if err := os.WriteFile(filepath.Join(dir, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		return nil, err
	}
	bare, origin, err := cloneSource(srv)
	if err != nil {
		return nil, err
	}
	h.origin = origin
	gitEnv := append(baseEnv(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	for _, args := range [][]string{
		{"clone", "--quiet", bare, h.clone},
		{"-C", h.clone, "remote", "set-url", "origin", h.origin},
	} {
		c := exec.Command("git", args...)
		c.Env = gitEnv
		if out, err := c.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
		}
	}
	if err := h.startAgent(); err != nil {
		return nil, err
	}
	return h, nil
}

// startAgent runs a fresh ssh-agent in the foreground on a socket inside the home; without
// the binary (or on Windows) the command runs without an agent.
func (h *home) startAgent() error {
	if runtime.GOOS == "windows" {
		return nil
	}
	path, err := exec.LookPath("ssh-agent")
	if err != nil {
		return nil
	}
	sock := filepath.Join(h.dir, "agent.sock")
	cmd := exec.Command(path, "-D", "-a", sock)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ssh-agent: %w", err)
	}
	h.agent = cmd
	for range 500 {
		if _, err := os.Stat(sock); err == nil {
			h.agentSock = sock
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.stopAgent()
	return errors.New("ssh-agent did not create its socket")
}

func (h *home) stopAgent() {
	if h.agent != nil && h.agent.Process != nil {
		_ = h.agent.Process.Kill()
		_ = h.agent.Wait()
		h.agent = nil
	}
}

// baseEnv is the caller's environment without anything that would point at the real
// home, agent, Bitbucket credentials or git configuration.
func baseEnv() []string {
	drop := []string{"HOME=", "USERPROFILE=", "XDG_CONFIG_HOME=", "SSH_AUTH_SOCK=", "SSH_AGENT_PID=", "BBKEY_", "BITBUCKET_", "GIT_"}
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return slices.ContainsFunc(drop, func(p string) bool { return strings.HasPrefix(kv, p) })
	})
}

func (h *home) env(srv *bbapitest.Server) []string {
	env := baseEnv()
	env = append(env,
		"HOME="+h.dir, "USERPROFILE="+h.dir,
		"XDG_CONFIG_HOME="+h.configDir,
		"BBKEY_SSH_DIR="+h.sshDir,
		"GIT_CONFIG_NOSYSTEM=1",
		"PATH="+h.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	if h.agentSock != "" {
		env = append(env, "SSH_AUTH_SOCK="+h.agentSock)
	}
	return append(env, srv.Env()...)
}

// goRunValueFlags are the `go run` flags that take their value as the next argument.
var goRunValueFlags = []string{"-tags", "-ldflags", "-gcflags", "-asmflags", "-mod", "-exec", "-p", "-modfile", "-overlay", "-pgo"}

// prepareCommand builds a leading `go run PKG` in cwd and makes a relative program path
// absolute, because the command runs inside the clone.
func prepareCommand(argv []string, cwd, bin string, stderr io.Writer) ([]string, error) {
	if len(argv) >= 3 && argv[0] == "go" && argv[1] == "run" {
		var flags []string
		i := 2
		for ; i < len(argv) && strings.HasPrefix(argv[i], "-"); i++ {
			flags = append(flags, argv[i])
			if slices.Contains(goRunValueFlags, argv[i]) && i+1 < len(argv) {
				i++
				flags = append(flags, argv[i])
			}
		}
		if i == len(argv) {
			return nil, errors.New("go run: no package given")
		}
		pkg := argv[i]
		name := "bbkey"
		if pkg != "." {
			name = strings.TrimSuffix(filepath.Base(pkg), ".go")
		}
		out := filepath.Join(bin, name)
		if runtime.GOOS == "windows" {
			out += ".exe"
		}
		fmt.Fprintf(stderr, "sandbox: building %s\n", pkg)
		build := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), pkg)...)
		build.Dir = cwd
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("go build %s: %w", pkg, err)
		}
		return append([]string{out}, argv[i+1:]...), nil
	}
	if strings.ContainsRune(argv[0], filepath.Separator) || strings.ContainsRune(argv[0], '/') {
		if !filepath.IsAbs(argv[0]) {
			argv = slices.Clone(argv)
			argv[0] = filepath.Join(cwd, argv[0])
		}
	}
	return argv, nil
}

// report prints what the command changed: keys on the account and on the repositories,
// files in the ssh directory, and the clone's remotes.
func report(srv *bbapitest.Server, h *home, code int, w io.Writer) {
	fmt.Fprintf(w, "\nsandbox: the command exited with %d\n", code)
	if srv.IsDataCenter() {
		reportDataCenter(srv, w)
	} else {
		reportCloud(srv, w)
	}
	reportHome(h, w)
}

func reportCloud(srv *bbapitest.Server, w io.Writer) {
	keys := srv.UserKeys(bbapitest.DefaultAccountID)
	fmt.Fprintf(w, "sandbox: account keys of %s: %d\n", bbapitest.DefaultEmail, len(keys))
	for _, k := range keys {
		fmt.Fprintf(w, "  SHA256:%s  %s  %s\n", k.Fingerprint, k.Label, k.Comment)
	}
	for _, r := range bbapitest.DefaultRepos {
		for _, k := range srv.RepoDeployKeys(bbapitest.DefaultWorkspace, r) {
			fmt.Fprintf(w, "sandbox: access key on acme/%s: SHA256:%s  %s\n", r, k.Fingerprint, k.Label)
		}
	}
	for _, k := range srv.ProjectDeployKeys(bbapitest.DefaultWorkspace, bbapitest.DefaultProject) {
		fmt.Fprintf(w, "sandbox: access key on project OPS: SHA256:%s  %s\n", k.Fingerprint, k.Label)
	}
}

func reportHome(h *home, w io.Writer) {
	var files []string
	_ = filepath.WalkDir(h.sshDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(h.sshDir, p)
			files = append(files, rel)
		}
		return nil
	})
	fmt.Fprintf(w, "sandbox: files in %s: %s\n", h.sshDir, strings.Join(files, ", "))
	c := exec.Command("git", "-C", h.clone, "remote", "-v")
	c.Env = append(baseEnv(), "HOME="+h.dir, "GIT_CONFIG_NOSYSTEM=1")
	if out, err := c.Output(); err == nil {
		fmt.Fprintf(w, "sandbox: remotes of the clone:\n%s", indent(string(out)))
	}
}

func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString("  " + line)
	}
	return b.String()
}
