//go:build windows

package fsutil

import (
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Windows keeps files private with ACLs, not mode bits. A private file (a key, a
// passphrase or token file, bbkey's state) gets a protected DACL, so nothing is inherited
// from the directory, granting full control to the current user, SYSTEM and the
// Administrators group only: the principals Windows OpenSSH accepts on a private key
// (w32-sshfileperm.c refuses any other, OWNER RIGHTS included).

// Well-known SIDs Windows OpenSSH accepts besides the user.
const (
	sidSystem         = "S-1-5-18"
	sidAdministrators = "S-1-5-32-544"
)

// currentUserSID is the SID of the user the process runs as.
func currentUserSID() (*windows.SID, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("reading the current user's SID: %w", err)
	}
	return tu.User.Sid.Copy()
}

// privateSDDL is the SDDL of the security descriptor a private file gets: a protected
// DACL (P: no inherited entries) with full access for user, SYSTEM and Administrators.
func privateSDDL(user *windows.SID) string {
	return fmt.Sprintf("D:P(A;;FA;;;%s)(A;;FA;;;SY)(A;;FA;;;BA)", user.String())
}

// PrivateSecurityDescriptor returns the security descriptor bbkey gives every private
// file, for the current user.
func PrivateSecurityDescriptor() (*windows.SECURITY_DESCRIPTOR, error) {
	user, err := currentUserSID()
	if err != nil {
		return nil, err
	}
	return windows.SecurityDescriptorFromString(privateSDDL(user))
}

// MakePrivate gives an existing file the private DACL (what `bbkey doctor --fix` does).
func MakePrivate(path string) error {
	sd, err := PrivateSecurityDescriptor()
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("making %s private to you (its ACL): %w", path, err)
	}
	return nil
}

// Grant is one principal an ACL lets into a file besides the user, SYSTEM and
// Administrators.
type Grant struct {
	SID  string // e.g. S-1-1-0
	Name string // e.g. `Everyone` or `CORP\bob`; the SID when it has no name
}

// OtherGrants returns every principal the file's DACL allows any access besides the
// current user (or the file's owner, when that is the user), SYSTEM and Administrators.
// A file with no DACL at all grants Everyone everything.
func OtherGrants(path string) ([]Grant, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return nil, fmt.Errorf("reading the ACL of %s: %w", path, err)
	}
	user, err := currentUserSID()
	if err != nil {
		return nil, err
	}
	return otherGrants(sd, user)
}

// otherGrants is OtherGrants over a security descriptor, so it is tested on descriptors
// built from SDDL.
func otherGrants(sd *windows.SECURITY_DESCRIPTOR, user *windows.SID) ([]Grant, error) {
	dacl, _, err := sd.DACL()
	if err == windows.ERROR_OBJECT_NOT_FOUND || (err == nil && dacl == nil) {
		everyone, _ := windows.StringToSid("S-1-1-0")
		return []Grant{grantOf(everyone)}, nil // a NULL DACL grants everyone full access
	}
	if err != nil {
		return nil, err
	}
	var out []Grant
	seen := map[string]bool{}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return nil, err
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0 || ace.Mask == 0 {
			continue // denials, and entries only for children, give nothing to this file
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		s := sid.String()
		if sid.Equals(user) || s == sidSystem || s == sidAdministrators || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, grantOf(sid))
	}
	return out, nil
}

func grantOf(sid *windows.SID) Grant {
	g := Grant{SID: sid.String(), Name: sid.String()}
	if acct, dom, _, err := sid.LookupAccount(""); err == nil && acct != "" {
		g.Name = acct
		if dom != "" {
			g.Name = dom + `\` + acct
		}
	}
	return g
}

// IsPrivate reports whether path's DACL grants no one but the user, SYSTEM and
// Administrators.
func IsPrivate(path string) (bool, error) {
	g, err := OtherGrants(path)
	return err == nil && len(g) == 0, err
}

// PrivateFixCommands returns the icacls lines (for cmd or PowerShell) that give path the
// private DACL by hand: drop inherited entries, grant the user full control alone, and
// remove each other principal's own entry.
func PrivateFixCommands(path string, others []Grant) []string {
	user := "%USERNAME%"
	if sid, err := currentUserSID(); err == nil {
		if g := grantOf(sid); g.Name != g.SID {
			user = g.Name
		}
	}
	q := icaclsQuote(path)
	lines := []string{
		"icacls " + q + " /inheritance:r",
		"icacls " + q + ` /grant:r "` + user + `:F"`,
	}
	for _, g := range others {
		name := g.Name
		if name == g.SID {
			name = "*" + g.SID // icacls takes a SID with a leading *
		}
		lines = append(lines, "icacls "+q+` /remove:g "`+name+`"`)
	}
	return lines
}

func icaclsQuote(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, ``) + `"`
}

// ACLProblem reads path's DACL and, when it lets in anyone but the user, SYSTEM and
// Administrators, returns what is wrong (naming every such principal) and the icacls lines
// that fix it. problem is "" for a private file.
func ACLProblem(path string) (problem string, fix []string, err error) {
	others, err := OtherGrants(path)
	if err != nil || len(others) == 0 {
		return "", nil, err
	}
	names := make([]string, len(others))
	for i, g := range others {
		names[i] = g.Name
	}
	return "is open to " + strings.Join(names, ", ") + " (its ACL grants them access; only you, SYSTEM and Administrators may have any)",
		PrivateFixCommands(path, others), nil
}
