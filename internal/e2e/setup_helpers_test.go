package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// setupRequests lists the emulator's request log as "METHOD /path".
func setupRequests(w *World) []string {
	var out []string
	for _, r := range w.Emu.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// setupRepo makes a work tree under the home whose origin is url (no commits: setup only
// reads and rewrites its config).
func setupRepo(t *testing.T, w *World, name, url string) string {
	t.Helper()
	dir := filepath.Join(w.Home.Dir, "src", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w.MustGit(dir, "init", "-q")
	w.MustGit(dir, "remote", "add", "origin", url)
	return dir
}

// setupMode returns the permission bits of path.
func setupMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// setupTerm is bbkey running with a pseudo-terminal as its controlling terminal: the
// prompts (written to /dev/tty), stdin and the step lines all go through it.
type setupTerm struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File

	mu    sync.Mutex
	out   bytes.Buffer
	seen  int       // how far expect has consumed out
	modes []ptyMode // the terminal's echo as each piece of output arrived
	done  chan struct{}
}

// ptyMode is whether the terminal echoed when the output up to end had just been read.
type ptyMode struct {
	end  int
	echo bool
}

// setupStartTerm starts the built bbkey under a new pty (a new session whose
// controlling terminal it is, as pty.Start arranges). It skips where ptys do not exist.
func setupStartTerm(t *testing.T, w *World, dir string, args ...string) *setupTerm {
	t.Helper()
	cmd := exec.Command(bbkeyBin, args...)
	cmd.Dir = dir
	cmd.Env = append(w.Env, "TERM=dumb")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if errors.Is(err, pty.ErrUnsupported) {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err != nil {
		t.Fatalf("starting bbkey on a pty: %v", err)
	}
	st := &setupTerm{t: t, cmd: cmd, ptmx: ptmx, done: make(chan struct{})}
	go func() {
		defer close(st.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			// The terminal's mode is read the moment the output shows, before anything
			// else: a secret's prompt must never be seen while the terminal still echoes.
			echo := n > 0 && !echoOff(ptmx)
			st.mu.Lock()
			st.out.Write(buf[:n])
			if n > 0 {
				st.modes = append(st.modes, ptyMode{end: st.out.Len(), echo: echo})
			}
			st.mu.Unlock()
			if err != nil {
				return // EIO once the last process holding the tty has gone
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		ptmx.Close()
	})
	return st
}

// expect waits until s appears in what the terminal showed after the last match. The
// generous limit only turns a hang into a failure; nothing depends on speed.
func (st *setupTerm) expect(s string) {
	st.t.Helper()
	limit := time.After(90 * time.Second)
	ended := false
	for {
		st.mu.Lock()
		rest := st.out.String()[st.seen:]
		if i := strings.Index(rest, s); i >= 0 {
			st.seen += i + len(s)
			st.mu.Unlock()
			return
		}
		st.mu.Unlock()
		if ended {
			st.t.Fatalf("bbkey ended without showing %q; terminal:\n%s", s, st.output())
		}
		select {
		case <-st.done:
			ended = true // look at the drained output once more
		case <-limit:
			st.t.Fatalf("waited 90s for %q; terminal:\n%s", s, st.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sendSecret types a secret right after the prompt that expect last matched, as a person
// (or a password manager) may: bbkey must have turned the terminal's echo off before it
// showed that prompt. It fails the test if the terminal still echoed when the prompt's
// text arrived (where the mode can be read: Linux; elsewhere it only types).
func (st *setupTerm) sendSecret(s string) {
	st.t.Helper()
	if st.echoAtSeen() {
		st.t.Errorf("the terminal still echoed when the secret's prompt showed (echo must go off before the prompt); terminal:\n%s", st.output())
	}
	st.send(s)
}

// echoAtSeen reports whether the terminal echoed when the output expect last matched up
// to had just arrived.
func (st *setupTerm) echoAtSeen() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, m := range st.modes {
		if m.end >= st.seen {
			return m.echo
		}
	}
	return false
}

// send types s at the terminal.
func (st *setupTerm) send(s string) {
	st.t.Helper()
	if _, err := io.WriteString(st.ptmx, s); err != nil {
		st.t.Fatalf("typing: %v", err)
	}
}

// wait returns the exit code once bbkey has ended and its output is drained.
func (st *setupTerm) wait() int {
	st.t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- st.cmd.Wait() }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(3 * time.Minute):
		_ = st.cmd.Process.Kill()
		st.t.Fatalf("bbkey did not end; terminal:\n%s", st.output())
	}
	select {
	case <-st.done:
	case <-time.After(10 * time.Second):
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	st.t.Fatalf("waiting for bbkey: %v", err)
	return -1
}

func (st *setupTerm) output() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.out.String()
}
