//go:build windows

package fsutil

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// chmod gives a file asked for with no group or other bits (0600, 0400) the private DACL
// (acl_windows.go) instead of the one it inherits from its directory; Windows has no
// mode bits to set otherwise.
func chmod(f *os.File, perm fs.FileMode) error {
	if perm&0o077 == 0 {
		return setPrivateHandle(f)
	}
	return nil
}

// KeepPerm is the mode a rewritten or copied file is written with: private when bbkey asks for a
// private file or the file already is private, else as Go sees the file (0666 or 0444;
// the new file then inherits its directory's ACL, as the old one did).
func KeepPerm(target string, fi fs.FileInfo, want fs.FileMode) fs.FileMode {
	if want&0o077 == 0 {
		return want
	}
	if ok, _ := IsPrivate(target); ok {
		return 0o600
	}
	return fi.Mode().Perm()
}

func syncDir(string) error { return nil }

func lockFile(f *os.File, block bool) error {
	flags := uint32(windows.LOCKFILE_EXCLUSIVE_LOCK)
	if !block {
		flags |= windows.LOCKFILE_FAIL_IMMEDIATELY
	}
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return ErrLocked
	}
	return err
}

func unlockFile(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}
