//go:build !windows

package testutil

import (
	"os"
	"testing"
)

// AssertPrivate fails the test unless path is private to the user: no group or other
// mode bits on Unix, an ACL that lets in no one but the user, SYSTEM and Administrators
// on Windows.
func AssertPrivate(tb testing.TB, path string) {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		tb.Fatalf("%s: mode %v, want private to the user", path, fi.Mode().Perm())
	}
}

// WriteOpenFile writes a file other users can read (0644 on Unix; on Windows an ACL that
// grants Everyone read), as a careless user or another program would leave a secret.
func WriteOpenFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		tb.Fatal(err)
	}
}
