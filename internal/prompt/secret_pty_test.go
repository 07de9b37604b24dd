//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package prompt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// screen is the terminal's output side as readSecret sees it: every write is checked
// against the terminal's mode at that very moment, before it reaches the terminal.
type screen struct {
	t   *testing.T
	tty *os.File

	mu       sync.Mutex
	shown    bytes.Buffer
	echoedAt []string // prompt text written while the terminal still echoed
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Contains(p, []byte(":")) && echoing(s.t, s.tty) {
		s.echoedAt = append(s.echoedAt, string(p))
	}
	s.shown.Write(p)
	return s.tty.Write(p)
}

func echoing(t *testing.T, tty *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), ioctlGetTermios)
	if err != nil {
		t.Errorf("reading the terminal's mode: %v", err)
		return false
	}
	return tio.Lflag&unix.ECHO != 0
}

// openPTY gives a real pseudo-terminal: tty is the side bbkey reads (its /dev/tty),
// ptmx the side a person types into. What the terminal shows is drained in the
// background so writes never block.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if errors.Is(err, pty.ErrUnsupported) {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err != nil {
		t.Fatalf("opening a pty: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if !echoing(t, tty) {
		t.Fatal("a fresh pty should echo")
	}
	go func() { _, _ = io.Copy(io.Discard, ptmx) }()
	return ptmx, tty
}

// TestSecretEchoOffBeforePrompt: the prompt of a secret is shown only once the terminal
// has stopped echoing, so a secret typed the moment the prompt appears is never echoed.
// The check runs inside the write of the prompt itself, so it does not depend on timing.
func TestSecretEchoOffBeforePrompt(t *testing.T) {
	ptmx, tty := openPTY(t)
	before, err := unix.IoctlGetTermios(int(tty.Fd()), ioctlGetTermios)
	if err != nil {
		t.Fatal(err)
	}
	scr := &screen{t: t, tty: tty}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readSecret(tty, scr, "Passphrase for the new key")
		done <- result{b, err}
	}()
	waitShown(t, scr, "Passphrase for the new key: ")
	if _, err := io.WriteString(ptmx, "hunter2 x\n"); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("readSecret did not return after a line was typed")
	}
	if r.err != nil {
		t.Fatalf("readSecret: %v", r.err)
	}
	if string(r.b) != "hunter2 x" {
		t.Errorf("secret = %q, want %q", r.b, "hunter2 x")
	}
	scr.mu.Lock()
	echoed := scr.echoedAt
	scr.mu.Unlock()
	if len(echoed) > 0 {
		t.Errorf("written while the terminal still echoed: %q (echo must be off before the prompt shows)", echoed)
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), ioctlGetTermios)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *before {
		t.Errorf("terminal mode not restored:\n got %+v\nwant %+v", *after, *before)
	}
}

// TestSecretInterruptRestoresEcho: Ctrl-C (SIGINT, which bbkey's main catches) and
// SIGTERM end the prompt with ErrCancelled and the terminal echoing again.
func TestSecretInterruptRestoresEcho(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			_, tty := openPTY(t)
			scr := &screen{t: t, tty: tty}
			done := startTokenPrompt(tty, scr)
			waitShown(t, scr, "API token: ")
			if echoing(t, tty) {
				t.Fatal("echo is on while the secret prompt waits")
			}
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			wantCancelled(t, done, "on the signal")
			if !echoing(t, tty) {
				t.Error("echo still off after the prompt was interrupted")
			}
		})
	}
}

// TestSecretEndOfInput: Ctrl-D on an empty line cancels, and echo comes back.
func TestSecretEndOfInput(t *testing.T) {
	ptmx, tty := openPTY(t)
	scr := &screen{t: t, tty: tty}
	done := startTokenPrompt(tty, scr)
	waitShown(t, scr, "API token: ")
	if _, err := ptmx.Write([]byte{4}); err != nil { // VEOF
		t.Fatal(err)
	}
	wantCancelled(t, done, "at end of input")
	if !echoing(t, tty) {
		t.Error("echo still off after end of input")
	}
}

// startTokenPrompt asks for an API token on tty in the background; the channel gets
// readSecret's error.
func startTokenPrompt(tty *os.File, scr *screen) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := readSecret(tty, scr, "API token")
		done <- err
	}()
	return done
}

// wantCancelled waits for the prompt to end with ErrCancelled (when says on what).
func wantCancelled(t *testing.T, done <-chan error, when string) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, ErrCancelled) {
			t.Fatalf("err = %v, want ErrCancelled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("readSecret did not return " + when)
	}
}

func waitShown(t *testing.T, scr *screen, s string) {
	t.Helper()
	limit := time.Now().Add(30 * time.Second)
	for {
		scr.mu.Lock()
		ok := bytes.Contains(scr.shown.Bytes(), []byte(s))
		scr.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(limit) {
			t.Fatalf("the prompt %q never showed", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
