package hostkeys

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/internal/text"
)

// The RSA host key bitbucket.org presented until June 2023, as published in countless
// known_hosts files; its fingerprint is the retired one of API.md §4.
const oldBitbucketRSA = "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEAubiN81eDcafrgMeLzaFPsw2kNvEcqTKl/VqLat/MaB33pZy0y3rJZtnqwR2qOOvbwKZYKiEO1O6VqNEBxKvJJelCq0dTXWT5pbO2gDXC6h6QDXCaHo6pOHGPUy+YBaGQRGuSusMEASYiWunYN0vCAI8QaXnWMXNMdFP3jHAJH0eDsoiGnLPBlBp4TNm6rYI74nMzgz3B9IikW4WVK+dc8KZJZWYjAuORU3jc1c/NPskD2ASinf8v3xnfXeukU0sJ5N6m5E8VLjObPEO+mN2t/FZTMZLiFqPWc/ALSqnMnnhwrNi2rbfg/rd/IpL8Le3pSBne8+seeFVBoGqzHM9yXw=="

// A line `ssh-keyscan -H bitbucket.org` printed in those years (HashKnownHosts format).
const oldHashedLine = "|1|Pye78m1lT/hc5ffBc7ObT122fsQ=|Fh2jRC98G9aMcd35o05HX3dbfsc= " + oldBitbucketRSA

func TestFindRetiredRealOldKey(t *testing.T) {
	keygen := testutil.RequireBinary(t, "ssh-keygen")[0]
	path := filepath.Join(t.TempDir(), "known_hosts")
	content := "github.com " + authorizedLine(newKey(t)) + "\n" +
		"bitbucket.org,104.192.143.3 " + oldBitbucketRSA + "\n" +
		oldHashedLine + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	stale, err := FindRetired(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Stale{
		{File: path, Line: 2, Host: "bitbucket.org", Type: "RSA", Fingerprint: RetiredKeys[0].Fingerprint},
		{File: path, Line: 3, Host: "bitbucket.org", Hashed: true, Type: "RSA", Fingerprint: RetiredKeys[0].Fingerprint},
	}
	if !slices.Equal(stale, want) {
		t.Fatalf("FindRetired =\n%+v\nwant\n%+v", stale, want)
	}
	if !strings.Contains(stale[1].String(), ":3 pins the retired RSA key SHA256:zzXQ") || !strings.Contains(stale[1].String(), "(hashed)") {
		t.Errorf("String = %q", stale[1].String())
	}
	serr := StaleError(stale)
	if serr == nil || !strings.Contains(serr.Error(), path+":2, "+path+":3") || !strings.Contains(serr.Error(), "REMOTE HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("StaleError = %v", serr)
	}
	if StaleError(nil) != nil {
		t.Error("StaleError(nil) != nil")
	}
	cmds := FixCommands(stale)
	if !slices.Equal(cmds, []string{"ssh-keygen -R bitbucket.org -f " + text.ShellQuote(path)}) {
		t.Fatalf("FixCommands = %q", cmds)
	}
	// The suggested fix, run for real, clears both lines and keeps the rest.
	testutil.Run(t, "", nil, keygen, "-R", "bitbucket.org", "-f", path)
	if stale, err := FindRetired(path); err != nil || len(stale) != 0 {
		t.Errorf("after the fix: %+v, %v", stale, err)
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "github.com ") {
		t.Errorf("the fix removed other hosts: %q", b)
	}
}

// TestScanRetiredInjected uses a generated key as "retired" so every host form, the real
// ssh-keygen's hashing, and the lines that must not count can be exercised.
func TestScanRetiredInjected(t *testing.T) {
	keygen := testutil.RequireBinary(t, "ssh-keygen")[0]
	old, current := newKey(t), newKey(t)
	retired := []RetiredKey{{Type: "ED25519", Fingerprint: ssh.FingerprintSHA256(old)}}
	o, c := authorizedLine(old), authorizedLine(current)
	plain := strings.Join([]string{
		"# my hosts",
		"bitbucket.org " + c,                 // 2: current key: fine
		"ssh.bitbucket.org " + o,             // 3
		"[altssh.bitbucket.org]:443 " + o,    // 4
		"gitlab.com " + o,                    // 5: not a Bitbucket host
		"@revoked bitbucket.org " + o,        // 6: a revocation is not a pin
		"this line is junk",                  // 7
		"Bitbucket.ORG,10.0.0.1 " + o + " x", // 8: names are case-insensitive
	}, "\n") + "\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(path, []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	stale, err := ScanRetired(f, path, retired)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines := func(s []Stale) (out []int) {
		for _, x := range s {
			out = append(out, x.Line)
		}
		return out
	}
	if got := lines(stale); !slices.Equal(got, []int{3, 4, 8}) {
		t.Errorf("plain: lines %v, want [3 4 8]: %+v", got, stale)
	}
	if stale[1].Host != "[altssh.bitbucket.org]:443" || !strings.Contains(stale[1].Fix(), "-R '[altssh.bitbucket.org]:443'") {
		t.Errorf("altssh finding = %+v, fix %q", stale[1], stale[1].Fix())
	}

	// Hash the file with the real ssh-keygen (as HashKnownHosts yes would have); it
	// refuses files with junk lines.
	if err := os.WriteFile(path, []byte(strings.Replace(plain, "this line is junk\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "", nil, keygen, "-H", "-f", path)
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "ssh.bitbucket.org ") {
		t.Fatalf("ssh-keygen -H left plain names:\n%s", b)
	}
	f, _ = os.Open(path)
	stale, err = ScanRetired(f, path, retired)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{}
	for _, s := range stale {
		if !s.Hashed {
			t.Errorf("line %d not reported as hashed", s.Line)
		}
		hosts = append(hosts, s.Host)
	}
	// ssh-keygen -H writes each name of a multi-name line on its own line.
	if !slices.Contains(hosts, "ssh.bitbucket.org") || !slices.Contains(hosts, "[altssh.bitbucket.org]:443") || !slices.Contains(hosts, "bitbucket.org") {
		t.Errorf("hashed: hosts %q (lines %v)", hosts, lines(stale))
	}
	for _, s := range stale {
		if s.Host == "gitlab.com" {
			t.Error("gitlab.com reported")
		}
	}
}

func TestFindRetiredMissingFile(t *testing.T) {
	stale, err := FindRetired(filepath.Join(t.TempDir(), "none"))
	if err != nil || stale != nil {
		t.Errorf("FindRetired(missing) = %v, %v", stale, err)
	}
}
