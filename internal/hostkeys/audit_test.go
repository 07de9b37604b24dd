package hostkeys

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
)

// TestPinsHostKeyCallback: the pins' own check accepts exactly the pinned keys, whatever
// address was dialled, and refuses any other with both fingerprints (exit 5).
func TestPinsHostKeyCallback(t *testing.T) {
	a, b, other := newKey(t), newKey(t), newKey(t)
	p := Pins{Alias: "ssh.bitbucket.org", Keys: []ssh.PublicKey{a, b}, Source: CheckURL}
	cb := p.HostKeyCallback("127.0.0.1:2222")
	for _, k := range []ssh.PublicKey{a, b} {
		if err := cb("127.0.0.1:2222", nil, k); err != nil {
			t.Errorf("pinned key %s refused: %v", ssh.FingerprintSHA256(k), err)
		}
	}
	err := cb("127.0.0.1:2222", nil, other)
	var m *MismatchError
	if !errors.As(err, &m) || m.Revoked {
		t.Fatalf("err = %v, want a *MismatchError", err)
	}
	for _, want := range []string{ssh.FingerprintSHA256(other), ssh.FingerprintSHA256(a), ssh.FingerprintSHA256(b), "ssh.bitbucket.org (127.0.0.1:2222)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if apierr.ExitCode(err) != errkind.ExitVerify || !strings.Contains(strings.Join(apierr.Hints(err), " "), CheckURL) {
		t.Errorf("exit %d, hints %q", apierr.ExitCode(err), apierr.Hints(err))
	}
	if err := (Pins{Alias: "x"}).HostKeyCallback("x:22")("x:22", nil, a); err == nil {
		t.Error("no pins accepted a key (trust on first use)")
	}
}
