// Package testhook holds the hooks the end-to-end tests drive bbkey with: stopping at a
// named point so a second command can start at a chosen moment of the first, and the
// variables other packages name (BBKEY_TEST_CRASH_AFTER, BBKEY_TEST_PANIC_AFTER,
// BBKEY_TEST_SCHEDULER). Only a binary built with -tags bbkey_e2e, or a test that sets
// On, reads them: a release bbkey never does, whatever its environment.
package testhook

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// On is whether the hooks are read: set by the bbkey_e2e build (on_e2e.go) or by a test
// of the code they stop; nothing else sets it.
var On atomic.Bool

// Lookup reads the test hook variable name through lookup (nil: os), or finds nothing
// when the hooks are off.
func Lookup(lookup func(string) (string, bool), name string) (string, bool) {
	if !On.Load() {
		return "", false
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return lookup(name)
}

const (
	// PauseEnv names the points to stop at, comma-separated ("setup:uploaded").
	PauseEnv = "BBKEY_TEST_PAUSE_AT"
	// PauseDirEnv is the directory of the handshake: at a point the process creates
	// POINT.paused (holding its pid) and waits until POINT.resume exists.
	PauseDirEnv = "BBKEY_TEST_PAUSE_DIR"
)

// Pause stops at point when the environment asks for it, until the test resumes the
// process, ctx ends or two minutes pass (a test that forgets to resume cannot hang it).
func Pause(ctx context.Context, lookup func(string) (string, bool), point string) {
	at, ok := Lookup(lookup, PauseEnv)
	dir, _ := Lookup(lookup, PauseDirEnv)
	if !ok || dir == "" || !slices.Contains(strings.Split(at, ","), point) {
		return
	}
	name := strings.ReplaceAll(point, ":", "-")
	if err := os.WriteFile(filepath.Join(dir, name+".paused"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		if _, err := os.Stat(filepath.Join(dir, name+".resume")); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
