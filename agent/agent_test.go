package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/testutil"
)

func newKey(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ssh.NewPublicKey(priv.Public())
	return priv, ssh.FingerprintSHA256(pub)
}

func envOf(kv ...string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

// sshAddList runs the real `ssh-add -l` against sock and returns its lines ("256
// SHA256:… comment (ED25519)"); no keys gives none.
func sshAddList(t *testing.T, sock string) []string {
	t.Helper()
	testutil.RequireBinary(t, "ssh-add")
	out, err := testutil.RunErr("", []string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", "-l")
	if err != nil {
		if strings.Contains(out, "no identities") {
			return nil
		}
		t.Fatalf("ssh-add -l: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimSpace(out), "\n")
}

// linesWith returns the lines that mention fp.
func linesWith(lines []string, fp string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, " "+fp+" ") {
			out = append(out, l)
		}
	}
	return out
}

func connect(t *testing.T, sock string) *Client {
	t.Helper()
	// testutil.StartAgent returns once the socket file exists, which ssh-agent creates
	// (bind) a moment before it listens: retry a refused dial briefly.
	var c *Client
	var err error
	for range 100 {
		if c, err = Connect(envOf("SSH_AUTH_SOCK", sock)); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAddListRemoveWithRealAgent(t *testing.T) {
	sock := testutil.StartAgent(t)
	c := connect(t, sock)
	priv, fp := newKey(t)

	if err := c.Add(priv, "bbkey:laptop@host 2026-11-22", 0, false); err != nil {
		t.Fatal(err)
	}
	lines := linesWith(sshAddList(t, sock), fp)
	if len(lines) != 1 || !strings.Contains(lines[0], " bbkey:laptop@host 2026-11-22 (ED25519)") {
		t.Fatalf("ssh-add -l lines for %s = %q, want one with the comment", fp, lines)
	}

	// Re-adding replaces, never duplicates, and takes the new comment.
	if err := c.Add(priv, "bbkey:laptop@host 2026-11-23", 0, false); err != nil {
		t.Fatal(err)
	}
	lines = linesWith(sshAddList(t, sock), fp)
	if len(lines) != 1 || !strings.Contains(lines[0], "2026-11-23") {
		t.Fatalf("after re-adding, ssh-add -l lines = %q, want exactly one with the new comment", lines)
	}

	ids, err := c.List()
	if err != nil || len(ids) != 1 || ids[0].Fingerprint != fp || ids[0].Comment != "bbkey:laptop@host 2026-11-23" {
		t.Fatalf("List = %+v, %v", ids, err)
	}
	if ok, err := c.Has(fp); !ok || err != nil {
		t.Errorf("Has = %v, %v; want true", ok, err)
	}

	// The agent signs for the key.
	signers, err := c.Signers()
	if err != nil || len(signers) != 1 {
		t.Fatalf("Signers = %v, %v", signers, err)
	}
	sig, err := signers[0].Sign(rand.Reader, []byte("challenge"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ids[0].PublicKey.Verify([]byte("challenge"), sig); err != nil {
		t.Errorf("agent signature does not verify: %v", err)
	}

	other, otherFP := newKey(t)
	if err := c.Add(other, "other", 0, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(fp); err != nil {
		t.Fatal(err)
	}
	lines = sshAddList(t, sock)
	if len(linesWith(lines, fp)) != 0 || len(linesWith(lines, otherFP)) != 1 {
		t.Errorf("after Remove, ssh-add -l = %q; want only the other key", lines)
	}
	if ok, _ := c.Has(fp); ok {
		t.Error("Has after Remove = true")
	}
	if err := c.Remove(fp); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("second Remove: err = %v, want ErrNotLoaded", err)
	}
}

// A key added with a lifetime is dropped by the agent itself; a key without one stays.
func TestLifetimeExpiresWithRealAgent(t *testing.T) {
	sock := testutil.StartAgent(t)
	c := connect(t, sock)
	short, shortFP := newKey(t)
	keep, keepFP := newKey(t)
	if err := c.Add(keep, "keep", 0, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(short, "short", time.Second, false); err != nil {
		t.Fatal(err)
	}
	// Bounded poll: the agent expires keys on its own clock; 30s is far beyond 1s.
	deadline := time.Now().Add(30 * time.Second)
	for len(linesWith(sshAddList(t, sock), shortFP)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the key with a 1s lifetime is still listed after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lines := sshAddList(t, sock); len(linesWith(lines, keepFP)) != 1 {
		t.Errorf("the key without a lifetime went too: %q", lines)
	}
}

// With confirm-before-use the agent asks (through SSH_ASKPASS) before signing; here the
// askpass program refuses and records that it was asked, so signing fails, while a key
// added without confirm signs without asking.
func TestConfirmBeforeUseWithRealAgent(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "asked")
	askpass := filepath.Join(dir, "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho \"$1\" >> '"+marker+"'\nexit 1\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The agent inherits these from the test process.
	t.Setenv("SSH_ASKPASS", askpass)
	t.Setenv("SSH_ASKPASS_REQUIRE", "force")
	t.Setenv("DISPLAY", ":0")
	sock := testutil.StartAgent(t)
	c := connect(t, sock)

	plain, plainFP := newKey(t)
	guarded, guardedFP := newKey(t)
	if err := c.Add(plain, "plain", 0, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(guarded, "guarded", 0, true); err != nil {
		t.Fatal(err)
	}
	signers, err := c.Signers()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range signers {
		_, err := s.Sign(rand.Reader, []byte("data"))
		switch ssh.FingerprintSHA256(s.PublicKey()) {
		case plainFP:
			if err != nil {
				t.Errorf("key without confirm: sign failed: %v", err)
			}
		case guardedFP:
			if err == nil {
				t.Error("key with confirm signed although the user refused")
			}
		}
	}
	asked, _ := os.ReadFile(marker)
	if n := strings.Count(string(asked), guardedFP); n != 1 {
		t.Errorf("askpass was asked about the confirm key %d times, want 1:\n%s", n, asked)
	}
	if strings.Contains(string(asked), plainFP) {
		t.Error("askpass was asked about the key without confirm")
	}
}

func TestConnectWithoutAgent(t *testing.T) {
	tests := []struct {
		name string
		env  func(string) (string, bool)
		want string
	}{
		{"unset", envOf("SHELL", "/bin/bash"), unsetWant},
		{"stale socket", envOf("SSH_AUTH_SOCK", filepath.Join(t.TempDir(), "gone.sock"), "SHELL", "/usr/bin/fish"), "gone.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Connect(tt.env)
			if err == nil {
				c.Close()
				t.Fatal("Connect succeeded without an agent")
			}
			if !errors.Is(err, ErrNoAgent) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrNoAgent mentioning %q", err, tt.want)
			}
			if h, ok := errors.AsType[interface {
				error
				Hints() []string
			}](err); !ok || len(h.Hints()) == 0 {
				t.Error("no hints")
			}
		})
	}
}

func TestNoAgentHints(t *testing.T) {
	tests := []struct{ goos, shell, want string }{
		{"linux", "/bin/bash", `eval "$(ssh-agent -s)"`},
		{"linux", "/usr/bin/zsh", `eval "$(ssh-agent -s)"`},
		{"darwin", "", `eval "$(ssh-agent -s)"`},
		{"linux", "/usr/local/bin/fish", "eval (ssh-agent -c)"},
		{"freebsd", "/bin/tcsh", "eval `ssh-agent -c`"},
		{"windows", "", "Get-Service ssh-agent | Set-Service -StartupType Automatic; Start-Service ssh-agent"},
	}
	for _, tt := range tests {
		hints := strings.Join(noAgentHints(tt.goos, tt.shell), "\n")
		if !strings.Contains(hints, tt.want) {
			t.Errorf("hints for %s/%s = %q, want %q", tt.goos, tt.shell, hints, tt.want)
		}
	}
}

func TestLifetimeSecs(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want uint32
		err  bool
	}{
		{0, 0, false},
		{time.Millisecond, 1, false},
		{time.Second, 1, false},
		{1500 * time.Millisecond, 2, false},
		{8 * time.Hour, 28800, false},
		{-time.Second, 0, true},
		{200 * 365 * 24 * time.Hour, 0, true},
	}
	for _, tt := range tests {
		got, err := LifetimeSecs(tt.d)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("LifetimeSecs(%v) = %d, %v; want %d, error %v", tt.d, got, err, tt.want, tt.err)
		}
	}
}

// An agent that accepts the connection but never answers (stopped, wedged) does not hang
// the caller: each exchange gives up after opTimeout, and once one has, the next fail at
// once (a late answer would be taken for theirs).
func TestSilentAgentTimesOut(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a silent agent is served on an AF_UNIX socket, which Wine does not emulate; the named pipe has the same deadline")
	}
	defer func(d time.Duration) { opTimeout = d }(opTimeout)
	opTimeout = 300 * time.Millisecond
	dir, err := os.MkdirTemp("", "bbsilent")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	c, err := Connect(envOf("SSH_AUTH_SOCK", sock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.List(); err == nil || !strings.Contains(err.Error(), "did not answer within") {
		t.Fatalf("List = %v", err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	if err := c.Add(key, "k", 0, false); err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("Add after a timeout = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
