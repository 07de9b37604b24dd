package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// Lock is an advisory lock on a lock file; the OS releases it when the process dies.
type Lock struct {
	f    *os.File
	path string
}

func openLock(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// TryLock takes the lock at path or returns ErrLocked at once. A lock file its holder
// removed meanwhile (UnlockRemove) is no longer the lock: it is taken on the new file.
func TryLock(path string) (*Lock, error) {
	var lastErr error
	for range 100 {
		f, err := openLock(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the directory was removed meanwhile (UnlockRemove)
		}
		if beingRemoved(err) {
			// Windows: the holder's UnlockRemove is deleting the file this moment.
			lastErr = err
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := lockFile(f, false); err != nil {
			f.Close()
			if errors.Is(err, ErrLocked) {
				return nil, fmt.Errorf("%s: %w", path, ErrLocked)
			}
			return nil, err
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &Lock{f: f, path: path}, nil
		}
		_ = unlockFile(f)
		f.Close()
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("%s: %w", path, ErrLocked)
}

// LockContext waits for the lock at path until ctx is done, polling.
func LockContext(ctx context.Context, path string) (*Lock, error) {
	for {
		l, err := TryLock(path)
		if !errors.Is(err, ErrLocked) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// SetNote replaces the lock file's content with b (who holds it, for waiting processes).
func (l *Lock) SetNote(b []byte) error {
	if l == nil || l.f == nil {
		return nil
	}
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt(b, 0)
	return err
}

// ReadNote returns the note of the lock at path (empty when none is written).
func ReadNote(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, 0)
	return b[:n]
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlockFile(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// UnlockRemove removes the lock file and releases the lock (on Windows, where an open file
// cannot be removed, in the other order).
func (l *Lock) UnlockRemove() error {
	if l == nil || l.f == nil {
		return nil
	}
	if runtime.GOOS != "windows" {
		_ = os.Remove(l.path)
	}
	err := l.Unlock()
	if runtime.GOOS == "windows" {
		_ = os.Remove(l.path)
	}
	return err
}
