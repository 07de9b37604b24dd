package hostkeys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/testutil"
)

func newKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestBuiltinAreBitbucketsPublishedKeys(t *testing.T) {
	// API.md §4.
	want := []string{
		"ssh-ed25519 SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM",
		"ecdsa-sha2-nistp256 SHA256:FC73VB6C4OQLSCrjEayhMp9UMxS97caD/Yyi2bhW/J0",
		"ssh-rsa SHA256:46OSHA1Rmj8E8ERTC6xkNcmGOw9oFxYr0WF6zWW8l1E",
	}
	if got := Fingerprints(Builtin()); !slices.Equal(got, want) {
		t.Errorf("built-in keys = %q, want %q", got, want)
	}
	if got := HostKeyAlgorithms(Builtin()); !slices.Equal(got, []string{"ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"}) {
		t.Errorf("HostKeyAlgorithms = %q", got)
	}
}

func TestPinned(t *testing.T) {
	p, err := Pinned(settings.Settings{SSHHost: "ssh.bitbucket.org"})
	if err != nil || !p.Builtin || len(p.Keys) != 3 || p.Source != CheckURL {
		t.Fatalf("default pins = %+v, %v", p, err)
	}
	if got := p.Hosts(); !slices.Equal(got, []string{"ssh.bitbucket.org", "bitbucket.org", "[altssh.bitbucket.org]:443"}) {
		t.Errorf("Hosts = %q", got)
	}

	a, b, c := newKey(t), newKey(t), newKey(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	content := "# test server\n" +
		authorizedLine(a) + " root@server\n" + // .pub line
		"[127.0.0.1]:2222 " + authorizedLine(b) + "\r\n" + // known_hosts line, CRLF
		knownhosts.Line([]string{knownhosts.HashHostname("git.example")}, c) + "\n" + // hashed
		"\n" + authorizedLine(a) + "\n" // duplicate
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = Pinned(settings.Settings{SSHHost: "bb.test", SSHHostKeys: file})
	if err != nil {
		t.Fatal(err)
	}
	if p.Builtin || p.Alias != "bb.test" || p.Source != file {
		t.Errorf("pins = %+v", p)
	}
	if got, want := Fingerprints(p.Keys), Fingerprints([]ssh.PublicKey{a, b, c}); !slices.Equal(got, want) {
		t.Errorf("keys = %q, want %q", got, want)
	}
	if got := p.Hosts(); !slices.Equal(got, []string{"bb.test"}) {
		t.Errorf("Hosts = %q (a custom endpoint must not be pinned for Bitbucket's names)", got)
	}

	for name, bad := range map[string]string{
		"empty":   "# nothing\n",
		"junk":    "hello world\n",
		"revoked": "@revoked * " + authorizedLine(a) + "\n",
	} {
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte(bad), 0o600)
		_, err := Pinned(settings.Settings{SSHHostKeys: f})
		if err == nil || apierr.ExitCode(err) != errkind.ExitUsage {
			t.Errorf("%s: err = %v (exit %d), want a usage error", name, err, apierr.ExitCode(err))
		}
	}
	// A file that cannot be read says what to do, like one that holds no key.
	_, err = Pinned(settings.Settings{SSHHostKeys: filepath.Join(dir, "missing")})
	if h := apierr.Hints(err); apierr.ExitCode(err) != errkind.ExitUsage || len(h) != 1 || !strings.Contains(h[0], "--ssh-host-keys") {
		t.Errorf("missing file: %v, hints %q: want exit 2 and a hint naming --ssh-host-keys", err, h)
	}
}

// TestWriteFoundBySSHKeygen: the real ssh-keygen finds every pinned key under each name.
func TestWriteFoundBySSHKeygen(t *testing.T) {
	keygen := testutil.RequireBinary(t, "ssh-keygen")[0]
	path := Path(filepath.Join(t.TempDir(), ".ssh"))
	p, err := Pinned(settings.Settings{SSHHost: "ssh.bitbucket.org"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := Write(context.Background(), path, p, true); err != nil || !res.Changed {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("dry run wrote the file")
	}
	res, err := Write(context.Background(), path, p, false)
	if err != nil || !res.Changed {
		t.Fatalf("Write = %+v, %v", res, err)
	}
	for _, host := range []string{"ssh.bitbucket.org", "bitbucket.org", "[altssh.bitbucket.org]:443"} {
		out := testutil.Run(t, "", nil, keygen, "-F", host, "-f", path)
		for _, k := range p.Keys {
			if !strings.Contains(out, authorizedLine(k)) {
				t.Errorf("ssh-keygen -F %s does not find %s:\n%s", host, ssh.FingerprintSHA256(k), out)
			}
		}
	}
	if out, err := testutil.RunErr("", nil, keygen, "-F", "github.com", "-f", path); err == nil || strings.Contains(out, "ssh-") {
		t.Errorf("ssh-keygen -F github.com found something: %s", out)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(filepath.Dir(path)); fi.Mode().Perm() != 0o700 {
			t.Errorf("dir mode = %v", fi.Mode().Perm())
		}
	}
	if res, err := Write(context.Background(), path, p, false); err != nil || res.Changed {
		t.Errorf("second Write = %+v, %v; want no change", res, err)
	}
	keys, err := Load(path, "ssh.bitbucket.org")
	if err != nil || !slices.Equal(Fingerprints(keys), Fingerprints(p.Keys)) {
		t.Errorf("Load = %q, %v", Fingerprints(keys), err)
	}
}

func TestVerifier(t *testing.T) {
	pinned, other := newKey(t), newKey(t)
	path := Path(t.TempDir())
	pins := Pins{Alias: "ssh.bitbucket.org", Keys: []ssh.PublicKey{pinned}, Source: "/tmp/server.pub"}
	if _, err := Write(context.Background(), path, pins, false); err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(path, "ssh.bitbucket.org")
	if err != nil {
		t.Fatal(err)
	}
	v.Source = pins.Source
	cb := v.HostKeyCallback()
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40022}
	// Whatever endpoint was dialled, the alias decides.
	for _, host := range []string{"127.0.0.1:40022", "altssh.bitbucket.org:443", "ssh.bitbucket.org:22"} {
		if err := cb(host, remote, pinned); err != nil {
			t.Errorf("pinned key via %s refused: %v", host, err)
		}
	}
	if err := cb("127.0.0.1:40022", nil, pinned); err != nil {
		t.Errorf("nil remote: %v", err)
	}

	err = cb("127.0.0.1:40022", remote, other)
	var m *MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("other key: err = %v, want *MismatchError", err)
	}
	msg := err.Error()
	for _, want := range []string{ssh.FingerprintSHA256(other), ssh.FingerprintSHA256(pinned), "ssh.bitbucket.org (127.0.0.1:40022)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if apierr.ExitCode(err) != errkind.ExitVerify {
		t.Errorf("exit code = %d, want 5", apierr.ExitCode(err))
	}
	if h := apierr.Hints(err); len(h) != 1 || !strings.Contains(h[0], "/tmp/server.pub") {
		t.Errorf("hints = %q", h)
	}

	if _, err := NewVerifier(path, "bitbucket.org"); err == nil {
		t.Error("a verifier for an alias with no pinned key: no error (that would be trust on first use)")
	}
}
