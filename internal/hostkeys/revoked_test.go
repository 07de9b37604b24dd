package hostkeys

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/testutil"
)

// TestRevokedAgreesWithSSH: a host key a known_hosts line marks @revoked is refused by
// bbkey's Verifier exactly when the real ssh refuses it (sshd(8): a revoked key is never
// accepted, whatever other lines say), against the emulator's SSH server. The @revoked
// lines follow ssh's host matching (patterns, negation, hashed names); a @cert-authority
// line breaks nothing; a revocation in the system-wide file counts too; and bbkey's own
// rewrite of its known_hosts keeps a revocation a user added.
func TestRevokedAgreesWithSSH(t *testing.T) {
	sshBin := testutil.RequireBinary(t, "ssh")[0]
	emu := bbapitest.Start(t)
	hk := emu.HostPublicKey()
	host, port, _ := net.SplitHostPort(emu.SSHEndpoint())
	const alias = "ssh.bitbucket.org"
	dir := t.TempDir()
	path := Path(dir)
	pins := Pins{Alias: alias, Keys: []ssh.PublicKey{hk}, Source: "/tmp/server.pub"}
	system := filepath.Join(dir, "ssh_known_hosts")
	defer func(old func() []string) { systemKnownHosts = old }(systemKnownHosts)
	systemKnownHosts = func() []string { return []string{system, filepath.Join(dir, "missing")} }

	// sshRefuses runs the real ssh as bbkey's Host block makes it run (bbkey's file as the
	// user's, the system file as the global one) and reports whether it refused the host key.
	sshRefuses := func(t *testing.T) bool {
		out, err := testutil.RunErr("", testutil.NewHome(t).Env(), sshBin, "-F", "/dev/null", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+path, "-o", "GlobalKnownHostsFile="+system, "-o", "HostKeyAlias="+alias,
			"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null",
			"-p", port, "git@"+host, "true")
		if err == nil {
			t.Fatalf("ssh logged in without a key:\n%s", out)
		}
		refused := strings.Contains(out, "REVOKED HOST KEY") || strings.Contains(out, "Host key verification failed")
		if !refused && !strings.Contains(out, "Permission denied") {
			t.Fatalf("ssh failed for another reason:\n%s", out)
		}
		return refused
	}
	// bbkeyRefuses is the Verifier (as setup's proof builds it) against the same server.
	bbkeyRefuses := func(t *testing.T) *RevokedError {
		v, err := NewVerifier(path, alias)
		if err != nil {
			t.Fatal(err)
		}
		v.Source = pins.Source
		c, err := ssh.Dial("tcp", emu.SSHEndpoint(), &ssh.ClientConfig{User: "git", HostKeyCallback: v.HostKeyCallback(),
			HostKeyAlgorithms: v.HostKeyAlgorithms()})
		if err == nil {
			c.Close()
			t.Fatal("the emulator let a client with no key in")
		}
		if re, ok := errors.AsType[*RevokedError](err); ok {
			return re
		}
		if strings.Contains(err.Error(), "host key") || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("Verifier: %v", err)
		}
		return nil
	}
	write := func(t *testing.T, file string, lines ...string) {
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	other := newKey(t)
	ca := "@cert-authority *.bitbucket.org,ssh.bitbucket.org " + authorizedLine(other)
	for _, tc := range []struct {
		name         string
		user, global []string // lines added to bbkey's file and written to the system file
		line         int      // the @revoked line bbkey must name, 0 for an accepted key
		file         string
	}{
		{name: "pinned", user: []string{ca}},
		{name: "revoked for all hosts", user: []string{ca, "@revoked * " + authorizedLine(hk)}, line: 5, file: path},
		{name: "revoked for the alias, hashed", user: []string{"@revoked " + knownhosts.HashHostname(alias) + " " + authorizedLine(hk)}, line: 4, file: path},
		{name: "revoked by pattern", user: []string{"@revoked *.bitbucket.org " + authorizedLine(hk)}, line: 4, file: path},
		{name: "revoked for another host", user: []string{"@revoked bitbucket.org,!ssh.* " + authorizedLine(hk), "@revoked git.example.com " + authorizedLine(hk)}},
		{name: "a negated pattern wins", user: []string{"@revoked *,!" + alias + " " + authorizedLine(hk)}},
		{name: "another key revoked", user: []string{"@revoked * " + authorizedLine(other)}},
		{name: "revoked system-wide", global: []string{"# admin", ca, "@revoked " + alias + " " + authorizedLine(hk)}, line: 3, file: system},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(path) // a fresh file: Write keeps the last case's revocations
			if _, err := Write(context.Background(), path, pins, false); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			// Render's 3 lines (header, source, key) come first: the added lines are 4, 5, ...
			write(t, path, append([]string{strings.TrimSuffix(string(b), "\n")}, tc.user...)...)
			write(t, system, tc.global...)
			if got := sshRefuses(t); got != (tc.line != 0) {
				t.Fatalf("ssh refused = %v, want %v", got, tc.line != 0)
			}
			re := bbkeyRefuses(t)
			if (re != nil) != (tc.line != 0) {
				t.Fatalf("bbkey refused = %v, ssh refused = %v", re, tc.line != 0)
			}
			if re == nil {
				return
			}
			msg := re.Error()
			for _, want := range []string{fmt.Sprintf("%s:%d", tc.file, tc.line), "@revoked", ssh.FingerprintSHA256(hk), alias} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q lacks %q", msg, want)
				}
			}
			hints := strings.Join(apierr.Hints(re), " ")
			if apierr.ExitCode(re) != errkind.ExitVerify || !strings.Contains(hints, pins.Source) || !strings.Contains(hints, fmt.Sprintf("line %d of %s", tc.line, tc.file)) {
				t.Errorf("exit %d, hints %q", apierr.ExitCode(re), hints)
			}
			if tc.file != path {
				return
			}
			// bbkey rewriting its file (setup, doctor --fix) must not drop the revocation.
			if _, err := Write(context.Background(), path, pins, false); err != nil {
				t.Fatal(err)
			}
			if !sshRefuses(t) || bbkeyRefuses(t) == nil {
				b, _ := os.ReadFile(path)
				t.Errorf("the revocation did not survive bbkey's rewrite:\n%s", b)
			}
			if res, err := Write(context.Background(), path, pins, false); err != nil || res.Changed {
				t.Errorf("second rewrite = %+v, %v; want no change", res, err)
			}
		})
	}
}

// hostsMatch follows ssh's patterns; a pattern built to make backtracking explode
// answers at once.
func TestHostsMatchPatterns(t *testing.T) {
	long := strings.Repeat("a", 60)
	for _, tc := range []struct {
		hosts []string
		host  string
		want  bool
	}{
		{[]string{"*"}, "ssh.bitbucket.org", true},
		{[]string{"SSH.Bitbucket.ORG"}, "ssh.bitbucket.org", true},
		{[]string{"*.bitbucket.org"}, "ssh.bitbucket.org", true},
		{[]string{"*.bitbucket.org"}, "bitbucket.org", false},
		{[]string{"ssh.bitbucket.or?"}, "ssh.bitbucket.org", true},
		{[]string{"ssh.bitbucket.or?"}, "ssh.bitbucket.or", false},
		{[]string{"ssh*org"}, "ssh.bitbucket.org", true},
		{[]string{"ssh*org*"}, "ssh.bitbucket.org", true},
		{[]string{"*", "!ssh.*"}, "ssh.bitbucket.org", false},
		{[]string{"!ssh.*", "*"}, "ssh.bitbucket.org", false},
		{[]string{"!git.*", "*"}, "ssh.bitbucket.org", true},
		{[]string{"!*"}, "ssh.bitbucket.org", false},
		{[]string{"[altssh.bitbucket.org]:443"}, "[altssh.bitbucket.org]:443", true},
		{[]string{knownhosts.HashHostname("ssh.bitbucket.org")}, "ssh.bitbucket.org", true},
		{[]string{knownhosts.HashHostname("bitbucket.org")}, "ssh.bitbucket.org", false},
		{[]string{strings.Repeat("*a", 30) + "b"}, long, false},
		{[]string{strings.Repeat("*a", 30)}, long, true},
	} {
		if got := hostsMatch(tc.hosts, tc.host); got != tc.want {
			t.Errorf("hostsMatch(%q, %q) = %v, want %v", tc.hosts, tc.host, got, tc.want)
		}
	}
}

// A known_hosts file given with --ssh-host-keys is read as ssh reads it: a @cert-authority
// line (a CA, not a host key) is skipped, and a key an @revoked line names is not pinned,
// wherever the line stands.
func TestParseKeysMarkers(t *testing.T) {
	a, b, ca := newKey(t), newKey(t), newKey(t)
	data := "git.example.com " + authorizedLine(a) + "\n" +
		"@cert-authority *.example.com " + authorizedLine(ca) + "\n" +
		"git.example.com " + authorizedLine(b) + "\n" +
		"@revoked * " + authorizedLine(a) + "\n"
	keys, err := ParseKeys([]byte(data))
	if err != nil || !slices.Equal(Fingerprints(keys), Fingerprints([]ssh.PublicKey{b})) {
		t.Errorf("ParseKeys = %q, %v; want only %s", Fingerprints(keys), err, ssh.FingerprintSHA256(b))
	}
	if _, err := ParseKeys([]byte("@cert-authority * " + authorizedLine(ca) + "\n@revoked * " + authorizedLine(a) + "\n")); err == nil {
		t.Error("a file with no host key left pinned something")
	}
}
