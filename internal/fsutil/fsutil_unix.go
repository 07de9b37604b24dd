//go:build !windows

package fsutil

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// createTemp makes a new temporary file (0600) and widens it to perm.
func createTemp(dir, pattern string, perm fs.FileMode) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// openExclusive creates path with perm, failing when it exists.
func openExclusive(path string, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

// KeepPerm is the mode a rewritten or copied file keeps: its own (a user's chmod stands).
func KeepPerm(_ string, fi fs.FileInfo, _ fs.FileMode) fs.FileMode { return fi.Mode().Perm() }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // some file systems refuse it; the rename is atomic all the same
	return nil
}

func lockFile(f *os.File, block bool) error {
	how := unix.LOCK_EX
	if !block {
		how |= unix.LOCK_NB
	}
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EWOULDBLOCK {
			return ErrLocked
		}
		return err
	}
}

func unlockFile(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }

func replaceProblem(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Sprintf("it belongs to uid %d, not to you (uid %d): a rewritten file would be yours", st.Uid, uid)
	}
	if st.Nlink > 1 {
		return fmt.Sprintf("it has %d hard links: a rewritten file would no longer be the one the other links name", st.Nlink)
	}
	return ""
}

// MakePrivate makes an existing file readable and writable by its owner alone.
func MakePrivate(path string) error { return os.Chmod(path, 0o600) }

// beingRemoved is for Windows, where opening a file another process is deleting fails.
func beingRemoved(error) bool { return false }
