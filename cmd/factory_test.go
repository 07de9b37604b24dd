package cmd

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/testutil"
)

// No provider of the production Factory hands out a typed nil inside a non-nil
// interface: a caller's `x == nil` must see a failed connection.
func TestFactoryProvidersNeverReturnTypedNil(t *testing.T) {
	dir, err := os.MkdirTemp("", "bbdead")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dead := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", dead)
	noUnixSockets := err != nil && testutil.UnderWine()
	switch {
	case noUnixSockets:
	case err != nil:
		t.Fatal(err)
	default:
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}

	home := testutil.NewHome(t)
	for name, sock := range map[string]string{"unset": "", "dead socket": dead, "missing socket": filepath.Join(dir, "gone.sock")} {
		t.Run(name, func(t *testing.T) {
			if sock == dead && noUnixSockets {
				t.Skipf("Wine has no AF_UNIX sockets to leave a dead one (%v)", err)
			}
			ios, _, _, _ := iostreamstest.Test()
			f := NewFactory("test", ios)
			f.LookupEnv = home.LookupEnv("DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=", "SSH_AUTH_SOCK="+sock)
			ag, err := f.Agent()
			if !errors.Is(err, agent.ErrNoAgent) {
				t.Errorf("Agent() error = %v, want ErrNoAgent", err)
			}
			if ag != nil {
				t.Errorf("Agent() = %#v, want a nil interface", ag)
			}
			store, err := f.CredStore(context.Background(), false)
			switch {
			case runtime.GOOS == "windows":
				// Credential Manager needs no session bus: a store, or a plain nil and an error.
				if (err == nil) == (store == nil) || err == nil && reflect.ValueOf(store).IsNil() {
					t.Errorf("CredStore() = %#v, %v; want a store or a nil interface and an error", store, err)
				}
			case err == nil || store != nil:
				t.Errorf("CredStore() without a session bus = %#v, %v; want a nil interface and an error", store, err)
			}
			if f.Prompter() == nil || f.Git == nil || f.HTTPClient() == nil {
				t.Error("a provider that cannot fail returned nil")
			}
		})
	}
}

// The last resort: a panic anywhere in a command becomes `bbkey: error: internal error`,
// a hint to report it with --debug, and exit 1; the stack only with --debug.
func TestRunRecoversFromPanic(t *testing.T) {
	for _, debug := range []bool{false, true} {
		ios, _, out, errOut := iostreamstest.Test()
		f := NewFactory("test", ios)
		home := testutil.NewHome(t)
		f.LookupEnv = home.LookupEnv("DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=")
		f.Agent = func() (agent.Agent, error) { panic("boom in the agent") }
		args := []string{"list"}
		if debug {
			args = append(args, "--debug")
		}
		code := Run(context.Background(), f, args)
		stderr := errOut.String()
		if code != 1 || !strings.Contains(stderr, "bbkey: error: internal error: boom in the agent\n") ||
			!strings.Contains(stderr, "bbkey: hint: this is a bug in bbkey: please report it with the output of the same command run with --debug") {
			t.Errorf("debug=%v: exit %d\nstderr %s\nstdout %s", debug, code, stderr, out)
		}
		if hasStack := strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "runtime/debug.Stack"); hasStack != debug {
			t.Errorf("debug=%v: stack printed = %v\n%s", debug, hasStack, stderr)
		}
	}
}
