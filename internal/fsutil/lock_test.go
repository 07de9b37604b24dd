package fsutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUnlockRemoveKeepsExclusion: holders that remove the lock file on the way out never
// let two waiters in at once (a waiter holding the removed file takes the new one), the
// note is readable by others while held, and the last holder leaves no file.
func TestUnlockRemoveKeepsExclusion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "w.lock")
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				l, err := LockContext(ctx, path)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				if err := l.SetNote([]byte("holder")); err != nil {
					t.Error(err)
				}
				if got := string(ReadNote(path)); got != "holder" {
					t.Errorf("note = %q", got)
				}
				inside.Add(-1)
				if err := l.UnlockRemove(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders at once", most.Load())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left: %v", err)
	}
}
