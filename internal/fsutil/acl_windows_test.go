//go:build windows

package fsutil

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// fileAllAccess is FILE_ALL_ACCESS, what SDDL's FA means.
const fileAllAccess windows.ACCESS_MASK = 0x1f01ff

type aceInfo struct {
	sid   string
	typ   byte
	flags byte
	mask  windows.ACCESS_MASK
}

func aces(t *testing.T, sd *windows.SECURITY_DESCRIPTOR) []aceInfo {
	t.Helper()
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	var out []aceInfo
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatal(err)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		out = append(out, aceInfo{sid.String(), ace.Header.AceType, ace.Header.AceFlags, ace.Mask})
	}
	return out
}

func userSID(t *testing.T) *windows.SID {
	t.Helper()
	u, err := currentUserSID()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The descriptor a private file gets: a protected DACL (no inheritance) with exactly the
// user, SYSTEM and Administrators, each with full control, and nothing inherited; it
// survives a round trip through SDDL unchanged.
func TestPrivateSecurityDescriptor(t *testing.T) {
	sd, err := PrivateSecurityDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	ctl, _, err := sd.Control()
	if err != nil {
		t.Fatal(err)
	}
	if ctl&windows.SE_DACL_PROTECTED == 0 || ctl&windows.SE_DACL_PRESENT == 0 {
		t.Fatalf("control %#x: want a present, protected DACL", ctl)
	}
	user := userSID(t).String()
	got := aces(t, sd)
	want := []aceInfo{
		{user, windows.ACCESS_ALLOWED_ACE_TYPE, 0, fileAllAccess},
		{"S-1-5-18", windows.ACCESS_ALLOWED_ACE_TYPE, 0, fileAllAccess},
		{"S-1-5-32-544", windows.ACCESS_ALLOWED_ACE_TYPE, 0, fileAllAccess},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ACEs:\n got %+v\nwant %+v", got, want)
	}
	sddl := sd.String()
	if !strings.HasPrefix(sddl, "D:P") || strings.Contains(sddl, ";ID;") {
		t.Fatalf("SDDL %q: want a protected DACL without inherited entries", sddl)
	}
	back, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != sddl || !slices.Equal(aces(t, back), want) {
		t.Fatalf("SDDL round trip changed it: %q -> %q", sddl, back.String())
	}
	if g, err := otherGrants(sd, userSID(t)); err != nil || len(g) != 0 {
		t.Fatalf("otherGrants of the private descriptor = %v, %v; want none", g, err)
	}
}

// otherGrants names every principal an allow entry lets in besides user, SYSTEM and
// Administrators, inherited or not, once each; denials and inherit-only entries (which
// give this file nothing) are not counted; a NULL DACL is Everyone.
func TestOtherGrants(t *testing.T) {
	user := userSID(t)
	for _, tc := range []struct {
		name, sddl string
		want       []string
	}{
		{"private", "D:P(A;;FA;;;" + user.String() + ")(A;;FA;;;SY)(A;;FA;;;BA)", nil},
		{"inherited users and everyone", "D:(A;;FA;;;" + user.String() + ")(A;ID;0x1200a9;;;BU)(A;;FR;;;WD)(A;ID;FA;;;BU)", []string{"S-1-5-32-545", "S-1-1-0"}},
		{"denials and inherit-only entries give nothing", "D:(A;;FA;;;" + user.String() + ")(D;;FA;;;WD)(A;OICIIO;FA;;;CO)", nil},
		{"owner rights is refused as Windows OpenSSH does", "D:P(A;;FA;;;" + user.String() + ")(A;;FA;;;OW)", []string{"S-1-3-4"}},
		{"a domain user", "D:(A;;FA;;;" + user.String() + ")(A;;FR;;;S-1-5-21-1-2-3-1104)", []string{"S-1-5-21-1-2-3-1104"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := windows.SecurityDescriptorFromString(tc.sddl)
			if err != nil {
				t.Fatal(err)
			}
			g, err := otherGrants(sd, user)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range g {
				got = append(got, x.SID)
				if x.Name == "" {
					t.Errorf("%s has no name", x.SID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	// A descriptor with a NULL DACL (no DACL at all) lets everyone in.
	sd, err := windows.NewSecurityDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.SetDACL(nil, true, false); err != nil {
		t.Fatal(err)
	}
	if g, err := otherGrants(sd, user); err != nil || len(g) != 1 || g[0].SID != "S-1-1-0" {
		t.Fatalf("NULL DACL: %v, %v", g, err)
	}
}

// The icacls lines remove inheritance, grant the user alone, and remove each other
// principal by name (or by *SID when it has none), with the path quoted.
func TestPrivateFixCommands(t *testing.T) {
	p := `C:\Users\Ann Lee\.ssh\id_ed25519`
	got := PrivateFixCommands(p, []Grant{{SID: "S-1-1-0", Name: "Everyone"}, {SID: "S-1-5-21-1-2-3-1104", Name: "S-1-5-21-1-2-3-1104"}})
	if len(got) != 4 {
		t.Fatalf("got %q", got)
	}
	if got[0] != `icacls "`+p+`" /inheritance:r` || !strings.HasPrefix(got[1], `icacls "`+p+`" /grant:r "`) || !strings.HasSuffix(got[1], `:F"`) ||
		got[2] != `icacls "`+p+`" /remove:g "Everyone"` || got[3] != `icacls "`+p+`" /remove:g "*S-1-5-21-1-2-3-1104"` {
		t.Fatalf("got %q", got)
	}
}

// Files bbkey writes private get the private descriptor from the start (CreateExclusive,
// WriteFileAtomic), a rewrite keeps it, a .pub file does not get it, and a file open to
// others is found, named and reset by MakePrivate.
func TestPrivateFilesOnDisk(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if err := CreateExclusive(key, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertPrivate(t, key)
	if err := WriteFileAtomic(key, []byte("secret 2"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertPrivate(t, key) // a rewrite keeps a private file private
	pub := filepath.Join(dir, "id_ed25519.pub")
	if err := CreateExclusive(pub, []byte("ssh-ed25519 AAAA"), 0o644); err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(pub, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	if ctl, _, _ := sd.Control(); ctl&windows.SE_DACL_PROTECTED != 0 {
		t.Fatalf("a .pub file got a protected DACL: %s", sd)
	}

	// A passphrase file readable by Everyone, made with that ACL at creation.
	open := filepath.Join(dir, "passphrase")
	createWithSDDL(t, open, "D:P(A;;FA;;;"+userSID(t).String()+")(A;;FR;;;WD)")
	if g, _ := OtherGrants(open); len(g) == 0 && underWine() {
		t.Skip("Wine keeps no ACLs: it turns one given at creation into a Unix mode, and the test runner's umask 077 (.ci/wine-tests) takes what Everyone would get")
	}
	problem, fix, err := ACLProblem(open)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(problem, "Everyone") || len(fix) != 3 || !strings.Contains(fix[2], `/remove:g "Everyone"`) {
		t.Fatalf("problem %q, fix %q", problem, fix)
	}
	if err := MakePrivate(open); err != nil {
		t.Fatal(err)
	}
	if underWine() {
		t.Skip("Wine 8 does not apply a DACL set on an existing file (SetSecurityInfo succeeds and changes nothing); it keeps only the one given at creation, as its Unix mode")
	}
	assertPrivate(t, open)
}

// createWithSDDL creates an empty file with the security descriptor sddl (USER is the
// current user's SID), as a file another program made.
func createWithSDDL(t *testing.T, path, sddl string) {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	h, err := windows.CreateFile(windows.StringToUTF16Ptr(path), windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatal(err)
	}
	windows.CloseHandle(h)
}

func assertPrivate(t *testing.T, path string) {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	// Wine keeps no ACL, only the Unix mode it derives one from, so it has no protected
	// flag to show; who is let in is still checked there.
	if ctl, _, _ := sd.Control(); ctl&windows.SE_DACL_PROTECTED == 0 && !underWine() {
		t.Fatalf("%s: DACL not protected: %s", path, sd)
	}
	if g, err := OtherGrants(path); err != nil || len(g) != 0 {
		t.Fatalf("%s: other grants %v, %v (%s)", path, g, err, sd)
	}
	if problem, _, err := ACLProblem(path); err != nil || problem != "" {
		t.Fatalf("%s: %q, %v", path, problem, err)
	}
}
