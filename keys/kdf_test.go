package keys

import (
	"crypto/ed25519"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/testutil"
)

// A key written with a test's lower KDF cost is an ordinary OpenSSH key: x/crypto (whose
// bcrypt_pbkdf is the reference here: a wrong KDF fails its check bytes) and ssh-keygen
// decrypt it with the passphrase and nothing else, and it carries its rounds.
func TestSealWithRounds(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("correct horse battery staple")
	for _, rounds := range []int{1, 3, DefaultKDFRounds} {
		salt := []byte("sixteen byte salt")[:16]
		block, err := seal(priv, "ada@testhost", &fileKey{salt: salt, rounds: rounds, k: bcryptPBKDF(pass, salt, rounds, 48)})
		if err != nil {
			t.Fatal(err)
		}
		data := pem.EncodeToMemory(block)
		got, err := ssh.ParseRawPrivateKeyWithPassphrase(data, pass)
		if err != nil {
			t.Fatalf("rounds %d: x/crypto cannot decrypt it: %v", rounds, err)
		}
		if k, ok := got.(*ed25519.PrivateKey); !ok || !k.Equal(priv) {
			t.Fatalf("rounds %d: decrypted %T, not the key", rounds, got)
		}
		if _, err := ssh.ParseRawPrivateKeyWithPassphrase(data, []byte("wrong")); err == nil {
			t.Fatalf("rounds %d: decrypted with a wrong passphrase", rounds)
		}
		if _, err := ssh.ParseRawPrivateKey(data); err == nil {
			t.Fatalf("rounds %d: parsed without a passphrase", rounds)
		}
		if bin, err := exec.LookPath("ssh-keygen"); err == nil {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-y", "-P", string(pass), "-f", path).CombinedOutput()
			sp, _ := ssh.NewPublicKey(pub)
			if err != nil || !strings.HasPrefix(string(out), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))) {
				t.Fatalf("rounds %d: ssh-keygen -y: %v\n%s", rounds, err, out)
			}
		} else if testutil.InCI() && runtime.GOOS != "windows" { // as RequireBinary: Wine has none
			t.Fatal("ssh-keygen is not installed")
		}
	}
}
