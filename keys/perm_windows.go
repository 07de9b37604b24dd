//go:build windows

package keys

import (
	"io/fs"
	"strings"

	"github.com/bbkey/bbkey/internal/fsutil"
)

// checkMode applies Windows OpenSSH's rule to private keys and bbkey's to secret files:
// the DACL may grant access to the user, SYSTEM and Administrators only. Directories and
// .pub files are not checked (Windows OpenSSH does not either; the profile's ACL keeps
// other users out of %USERPROFILE%\.ssh). Go's mode bits on Windows say nothing about
// access (only the read-only attribute), so they are not read.
func checkMode(path string, _ fs.FileInfo, c permClass) error {
	if c != classPrivate && c != classSecret {
		return nil
	}
	problem, fix, err := fsutil.ACLProblem(path)
	if err != nil || problem == "" {
		return err
	}
	return &PermissionError{Path: path, Problem: problem, Fix: joinFix(fix), FixLines: fix, class: c}
}

// PrivateFileCommand makes a file FILE only its owner (with SYSTEM and Administrators, who
// have their own access anyway) can read: no inherited entries, the user alone granted.
const PrivateFileCommand = `icacls FILE /inheritance:r /grant:r "%USERNAME%:F"`

// joinFix joins commands so they paste into cmd or PowerShell 7 as one line.
func joinFix(lines []string) string { return strings.Join(lines, " && ") }
