//go:build !windows

package keys

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/bbkey/bbkey/internal/text"
)

// checkMode applies OpenSSH's rules: owned by the user (or root), and c's bad bits clear.
func checkMode(path string, fi fs.FileInfo, c permClass) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid := uint32(os.Getuid())
		if st.Uid != uid && st.Uid != 0 {
			return &PermissionError{
				Path:    path,
				Problem: fmt.Sprintf("is owned by uid %d, not by you (uid %d)", st.Uid, uid),
				Fix:     "sudo chown $(id -un) " + text.ShellQuote(path),
				class:   c,
			}
		}
	}
	bad, problem, fix := c.badBits()
	if mode := fi.Mode().Perm(); mode&bad != 0 {
		return &PermissionError{
			Path:    path,
			Problem: fmt.Sprintf("%s (mode %04o)", problem, mode),
			Fix:     fix + " " + text.ShellQuote(path),
			class:   c,
		}
	}
	return nil
}

// PrivateFileCommand makes a file FILE only its owner can read.
const PrivateFileCommand = "chmod 600 FILE"

// badBits gives the mode bits OpenSSH refuses for c, and the chmod that clears them.
func (c permClass) badBits() (fs.FileMode, string, string) {
	switch c {
	case classDir:
		return 0o022, "is writable by group or others", "chmod 700"
	case classPublic:
		return 0o022, "is writable by group or others", "chmod 644"
	case classPrivate:
		return 0o077, "is accessible by group or others", "chmod 600"
	default:
		return 0o077, "is readable by other users", "chmod 600"
	}
}
