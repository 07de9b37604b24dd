// Package testhook lets the end-to-end tests stop a bbkey process at a named point, so
// that a second command can be started at a chosen moment of the first (the race tests
// of the writers' lock). It does nothing unless BBKEY_TEST_PAUSE_AT names the point.
package testhook

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// PauseEnv names the points to stop at, comma-separated ("setup:uploaded").
	PauseEnv = "BBKEY_TEST_PAUSE_AT"
	// PauseDirEnv is the directory of the handshake: at a point the process creates
	// POINT.paused (holding its pid) and waits until POINT.resume exists.
	PauseDirEnv = "BBKEY_TEST_PAUSE_DIR"
	// maxPause bounds a pause, so a test that forgets to resume cannot hang a process.
	maxPause = 2 * time.Minute
)

// Pause stops at point when the environment asks for it, until the test resumes the
// process, ctx ends or two minutes pass. lookup reads the environment (nil: os).
func Pause(ctx context.Context, lookup func(string) (string, bool), point string) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	at, ok := lookup(PauseEnv)
	if !ok || !slices.Contains(strings.Split(at, ","), point) {
		return
	}
	dir, ok := lookup(PauseDirEnv)
	if !ok || dir == "" {
		return
	}
	name := strings.ReplaceAll(point, ":", "-")
	if err := os.WriteFile(filepath.Join(dir, name+".paused"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return
	}
	deadline := time.Now().Add(maxPause)
	for time.Now().Before(deadline) {
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
