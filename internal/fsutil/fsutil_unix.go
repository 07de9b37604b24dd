//go:build !windows

package fsutil

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

func chmod(f *os.File, perm fs.FileMode) error { return f.Chmod(perm) }

// KeepPerm is the mode a rewritten or copied file keeps: its own (a user's chmod stands).
func KeepPerm(_ string, fi fs.FileInfo, _ fs.FileMode) fs.FileMode { return fi.Mode().Perm() }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some file systems refuse fsync on directories; the rename is still atomic there.
	_ = d.Sync()
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

// MakePrivate makes an existing file readable and writable by its owner alone.
func MakePrivate(path string) error { return os.Chmod(path, 0o600) }
