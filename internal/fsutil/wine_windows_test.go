//go:build windows

package fsutil

import (
	"testing"

	"golang.org/x/sys/windows"
)

// requirePersistedACLs skips the test under Wine when the DACL just written to path did not
// stick: Wine keeps security descriptors only where the Unix file system stores extended
// attributes, so it cannot emulate ACLs that persist on every file system. (The package
// cannot use internal/testutil, which imports it.)
func requirePersistedACLs(t *testing.T, path string) {
	t.Helper()
	if windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() != nil {
		return // Windows: ACLs persist; the test's own checks decide
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	if ctl, _, _ := sd.Control(); ctl&windows.SE_DACL_PROTECTED == 0 {
		t.Skipf("Wine did not keep the ACL written to %s (it stores ACLs in extended attributes, which this file system lacks): %s", path, sd)
	}
}
