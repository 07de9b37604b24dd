//go:build windows

package testutil

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/bbkey/bbkey/internal/fsutil"
)

// AssertPrivate fails the test unless path is private to the user: an ACL that lets in
// no one but the user, SYSTEM and Administrators (Unix: no group or other mode bits).
func AssertPrivate(tb testing.TB, path string) {
	tb.Helper()
	g, err := fsutil.OtherGrants(path)
	if err != nil {
		tb.Fatal(err)
	}
	if len(g) > 0 {
		tb.Fatalf("%s: its ACL lets in %v, want private to the user", path, g)
	}
}

// WriteOpenFile writes a file other users can read: created with an ACL that grants
// Everyone read (Unix: 0644), as a careless user or another program would leave a secret.
// Under Wine, which turns an ACL given at creation into a Unix mode, the test runner's
// umask 077 clears what Everyone would get: the test is skipped, saying so.
func WriteOpenFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		tb.Fatal(err)
	}
	sd, err := windows.SecurityDescriptorFromString("D:P(A;;FA;;;" + tu.User.Sid.String() + ")(A;;FR;;;WD)")
	if err != nil {
		tb.Fatal(err)
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	h, err := windows.CreateFile(windows.StringToUTF16Ptr(path), windows.GENERIC_WRITE, 0, sa, windows.CREATE_ALWAYS, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var n uint32
	err = windows.WriteFile(h, data, &n, nil)
	windows.CloseHandle(h)
	if err != nil {
		tb.Fatal(err)
	}
	if g, _ := fsutil.OtherGrants(path); len(g) == 0 && UnderWine() {
		tb.Skip("Wine keeps no ACLs: it turns one given at creation into a Unix mode, and the test runner's umask 077 (.ci/wine-tests) takes what Everyone would get")
	}
}
