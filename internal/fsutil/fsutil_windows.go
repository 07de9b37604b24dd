//go:build windows

package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// createTemp makes a new temporary file in dir (pattern as os.CreateTemp's). A file asked
// for with no group or other bits (0600, 0400) is created with the private DACL
// (acl_windows.go), so it is never briefly open to whoever the directory lets in; other
// files inherit their directory's ACL, as Windows has no mode bits to set.
func createTemp(dir, pattern string, perm fs.FileMode) (*os.File, error) {
	if perm&0o077 != 0 {
		return os.CreateTemp(dir, pattern)
	}
	prefix, suffix, _ := strings.Cut(pattern, "*")
	for range 10000 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		f, err := openExclusive(filepath.Join(dir, prefix+hex.EncodeToString(b[:])+suffix), perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, pattern), Err: fs.ErrExist}
}

// openExclusive creates path, failing when it exists; with the private DACL, given at
// creation, when perm has no group or other bits.
func openExclusive(path string, perm fs.FileMode) (*os.File, error) {
	if perm&0o077 != 0 {
		return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	}
	sd, err := PrivateSecurityDescriptor()
	if err != nil {
		return nil, err
	}
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	h, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, sa,
		windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
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

// replaceProblem: Windows files have no Unix owner or link count to keep here (ACLs are
// checked elsewhere); only the read-only bit, checked by the caller.
func replaceProblem(fs.FileInfo) string { return "" }

func lockFile(f *os.File, block bool) error {
	flags := uint32(windows.LOCKFILE_EXCLUSIVE_LOCK)
	if !block {
		flags |= windows.LOCKFILE_FAIL_IMMEDIATELY
	}
	ol := lockOverlapped()
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return ErrLocked
	}
	return err
}

func unlockFile(f *os.File) error {
	ol := lockOverlapped()
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}

// lockOverlapped places the locked byte at 2^40, far beyond any note in the file: Windows
// locks are mandatory, so a lock on byte 0 would keep other processes from reading who
// holds it.
func lockOverlapped() *windows.Overlapped {
	return &windows.Overlapped{OffsetHigh: 1 << 8}
}

// beingRemoved reports an open that failed because another process is deleting the file
// right now: a sharing violation with its delete handle, or (without POSIX delete
// semantics: older Windows, FAT, SMB shares, Wine) access denied while the name is pending
// deletion until the last handle closes.
func beingRemoved(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_ACCESS_DENIED)
}
