package keystest

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/keys"
)

// SetKDFRounds reaches the keys package: the keys written after it carry its cost.
func TestSetKDFRounds(t *testing.T) {
	t.Cleanup(func() { SetKDFRounds(keys.DefaultKDFRounds) })
	for _, n := range []int{2, 0, keys.DefaultKDFRounds} {
		SetKDFRounds(n)
		path := filepath.Join(t.TempDir(), "k")
		k, err := keys.Generate(keys.GenerateOptions{Path: path, Passphrase: []byte("correct horse battery")})
		if err != nil {
			t.Fatal(err)
		}
		k.Wipe()
		if got, want := rounds(t, path), max(n, 1); got != want {
			t.Errorf("SetKDFRounds(%d): the key has %d rounds, want %d", n, got, want)
		}
	}
}

// rounds reads the bcrypt rounds from an OpenSSH private key file's header.
func rounds(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	const magic = "openssh-key-v1\x00"
	if block == nil || len(block.Bytes) < len(magic) {
		t.Fatalf("%s is not an OpenSSH private key", path)
	}
	var h struct {
		CipherName, KdfName, KdfOpts string
		Rest                         []byte `ssh:"rest"`
	}
	var opts struct {
		Salt   []byte
		Rounds uint32
	}
	if err := ssh.Unmarshal(block.Bytes[len(magic):], &h); err != nil || h.KdfName != "bcrypt" {
		t.Fatalf("%s: kdf %q, %v", path, h.KdfName, err)
	}
	if err := ssh.Unmarshal([]byte(h.KdfOpts), &opts); err != nil {
		t.Fatal(err)
	}
	return int(opts.Rounds)
}
