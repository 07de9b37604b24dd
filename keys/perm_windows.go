//go:build windows

package keys

import "io/fs"

// checkMode does nothing on Windows. Files there have no Unix mode bits (Go derives a mode
// from the read-only attribute alone), access is governed by ACLs, the ACL of the user's
// profile keeps other users out of %USERPROFILE%\.ssh by default, and Windows OpenSSH
// checks the ACLs of keys itself. Reading ACLs here would need the security descriptor
// API and is not done yet.
func checkMode(string, fs.FileInfo, permClass) error { return nil }
