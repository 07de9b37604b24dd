package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/testutil"
)

func TestLoadPublicWithoutPassphrase(t *testing.T) {
	h := testutil.NewHome(t)
	path, _ := AccountKeyPath(h.SSHDir, "laptop")
	k := mustGenerate(t, path, testPass)

	for _, p := range []string{path, path + ".pub"} {
		got, err := LoadPublic(p)
		if err != nil {
			t.Fatalf("LoadPublic(%s): %v", filepath.Base(p), err)
		}
		if got.Fingerprint != k.Fingerprint || got.Comment != k.Comment || got.Path != path || !got.Encrypted {
			t.Errorf("LoadPublic(%s) = %+v", filepath.Base(p), got)
		}
		if got.Kind != KindAccount || got.Name != "laptop" || got.HasPrivate() {
			t.Errorf("LoadPublic(%s): kind %v name %q private %v", filepath.Base(p), got.Kind, got.Name, got.HasPrivate())
		}
	}

	// Without the .pub the public half comes from the private file's clear header.
	if err := os.Remove(path + ".pub"); err != nil {
		t.Fatal(err)
	}
	got, err := LoadPublic(path)
	if err != nil || got.Fingerprint != k.Fingerprint || !got.Encrypted {
		t.Fatalf("LoadPublic without .pub = %+v, %v", got, err)
	}
	if _, err := LoadPublic(path + ".pub"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadPublic of a missing .pub: err = %v, want ErrNotExist", err)
	}
}

func TestLoadPublicLonePubAndPlainLine(t *testing.T) {
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " someone@elsewhere\n"

	lone := filepath.Join(dir, "token_key.pub")
	os.WriteFile(lone, []byte("# a comment\n\n"+line), 0o644)
	k, err := LoadPublic(lone)
	if err != nil || k.Fingerprint != ssh.FingerprintSHA256(sp) || k.Comment != "someone@elsewhere" || k.Path != filepath.Join(dir, "token_key") {
		t.Fatalf("LoadPublic(lone .pub) = %+v, %v", k, err)
	}
	plain := filepath.Join(dir, "key.txt")
	os.WriteFile(plain, []byte(line), 0o644)
	if k, err := LoadPublic(plain); err != nil || k.Fingerprint != ssh.FingerprintSHA256(sp) {
		t.Fatalf("LoadPublic(public line without .pub) = %+v, %v", k, err)
	}
	two := filepath.Join(dir, "two.pub")
	os.WriteFile(two, []byte(line+line), 0o644)
	if _, err := LoadPublic(two); err == nil || !strings.Contains(err.Error(), "more than one") {
		t.Errorf("LoadPublic of two keys: err = %v", err)
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("hello"), 0o600)
	if _, err := LoadPublic(junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("LoadPublic of junk: err = %v, want one naming the file", err)
	}
}

func TestLoadPublicRefusesMismatchedPub(t *testing.T) {
	dir := t.TempDir()
	a := mustGenerate(t, filepath.Join(dir, "a"), "")
	b := mustGenerate(t, filepath.Join(dir, "b"), testPass)
	// a's private key beside b's public key.
	os.Remove(a.PublicPath())
	pubB, _ := os.ReadFile(b.PublicPath())
	os.WriteFile(a.PublicPath(), pubB, 0o644)
	_, err := LoadPublic(a.Path)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("LoadPublic with a foreign .pub: err = %v", err)
	}
	if _, err := LoadPrivate(a.Path, nil); err == nil {
		t.Error("LoadPrivate with a foreign .pub: want an error")
	}
}

func TestLoadPrivate(t *testing.T) {
	h := testutil.NewHome(t)
	path, _ := AccountKeyPath(h.SSHDir, "laptop")
	k := mustGenerate(t, path, testPass)

	got, err := LoadPrivate(path, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint != k.Fingerprint || got.Comment != k.Comment {
		t.Errorf("LoadPrivate = %+v", got)
	}
	priv, ok := got.Private.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("Private is %T, want ed25519.PrivateKey", got.Private)
	}
	if !priv.Equal(k.Private) {
		t.Error("loaded private key differs from the generated one")
	}
	sig, err := got.Signer.Sign(rand.Reader, []byte("x"))
	if err != nil || k.PublicKey.Verify([]byte("x"), sig) != nil {
		t.Errorf("loaded signer does not sign for the key: %v", err)
	}

	// Wipe clears the bytes the signer uses too.
	got.Wipe()
	if got.HasPrivate() || got.Signer != nil {
		t.Error("Wipe left the private half")
	}
	for _, b := range priv {
		if b != 0 {
			t.Fatal("Wipe did not zero the private key")
		}
	}

	_, err = LoadPrivate(path, []byte("wrong passphrase"))
	var ip *IncorrectPassphraseError
	if !errors.As(err, &ip) || !errors.Is(err, ErrIncorrectPassphrase) {
		t.Fatalf("wrong passphrase: err = %v, want IncorrectPassphraseError", err)
	}
	if want := "incorrect passphrase for " + path; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	_, err = LoadPrivate(path, nil)
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		t.Errorf("no passphrase: err = %v, want PassphraseMissingError", err)
	}
	if enc, err := IsEncrypted(path); !enc || err != nil {
		t.Errorf("IsEncrypted = %v, %v", enc, err)
	}
}

// A key ssh-keygen made (passphrase through SSH_ASKPASS) loads with the same fingerprint
// ssh-keygen prints, and decrypts with that passphrase.
func TestLoadKeyMadeBySSHKeygen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "id_ed25519")
	if _, err := sshKeygen(t, askpassEnv(t, testPass), "-q", "-t", "ed25519", "-a", "16", "-C", "made by ssh-keygen", "-f", path); err != nil {
		t.Fatal(err)
	}
	out, err := sshKeygen(t, nil, "-l", "-f", path)
	if err != nil {
		t.Fatal(err)
	}
	wantFP := strings.Fields(out)[1]
	k, err := LoadPublic(path)
	if err != nil || k.Fingerprint != wantFP || k.Comment != "made by ssh-keygen" || !k.Encrypted {
		t.Fatalf("LoadPublic = %+v, %v; want %s", k, err, wantFP)
	}
	if _, err := LoadPrivate(path, []byte("not it at all")); !errors.Is(err, ErrIncorrectPassphrase) {
		t.Errorf("wrong passphrase: err = %v", err)
	}
	p, err := LoadPrivate(path, []byte(testPass))
	if err != nil || p.Fingerprint != wantFP {
		t.Fatalf("LoadPrivate = %+v, %v", p, err)
	}
	p.Wipe()
}

func TestLocal(t *testing.T) {
	h := testutil.NewHome(t)
	acc, _ := AccountKeyPath(h.SSHDir, "laptop")
	acs, _ := AccessKeyPath(h.SSHDir, "ci-01")
	ka := mustGenerate(t, acc, "")
	kc := mustGenerate(t, acs, "")
	os.WriteFile(filepath.Join(h.SSHDir, "id_ed25519"), []byte("x"), 0o600)
	bad, _ := AccountKeyPath(h.SSHDir, "broken")
	os.WriteFile(bad, []byte("garbage"), 0o600)

	got, err := Local(h.SSHDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Local = %d keys, want 3: %+v", len(got), got)
	}
	// Sorted by path: bbkey_access_ci-01, bbkey_broken, bbkey_laptop.
	if got[0].Key == nil || got[0].Key.Fingerprint != kc.Fingerprint || got[0].Key.Kind != KindAccess {
		t.Errorf("Local[0] = %+v", got[0])
	}
	if got[1].Err == nil || got[1].Path != bad {
		t.Errorf("Local[1] = %+v, want the broken key with its error", got[1])
	}
	if got[2].Key == nil || got[2].Key.Fingerprint != ka.Fingerprint || got[2].Key.Name != "laptop" {
		t.Errorf("Local[2] = %+v", got[2])
	}
	if l, err := Local(filepath.Join(h.Dir, "nope")); err != nil || l != nil {
		t.Errorf("Local of a missing dir = %v, %v", l, err)
	}
}

// Keys given with --key need not be ed25519: RSA and ECDSA keys ssh-keygen made load
// with ssh-keygen's fingerprints, and their private halves can be wiped.
func TestLoadOtherKeyTypes(t *testing.T) {
	for _, typ := range []string{"rsa", "ecdsa"} {
		t.Run(typ, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "id_"+typ)
			// An empty -N is no secret: it says "unencrypted".
			if _, err := sshKeygen(t, nil, "-q", "-t", typ, "-N", "", "-C", typ+" key", "-f", path); err != nil {
				t.Fatal(err)
			}
			out, err := sshKeygen(t, nil, "-l", "-f", path)
			if err != nil {
				t.Fatal(err)
			}
			k, err := LoadPrivate(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.Fields(out)[1]; k.Fingerprint != want || k.Encrypted || k.Comment != typ+" key" {
				t.Errorf("LoadPrivate = %+v, want fingerprint %s", k, want)
			}
			sig, err := k.Signer.Sign(rand.Reader, []byte("x"))
			if err != nil || k.PublicKey.Verify([]byte("x"), sig) != nil {
				t.Fatalf("signing with the loaded %s key: %v", typ, err)
			}
			var d *big.Int
			switch p := k.Private.(type) {
			case *rsa.PrivateKey:
				d = p.D
			case *ecdsa.PrivateKey:
				//lint:ignore SA1019 the test reads the memory that Wipe must have zeroed
				d = p.D
			default:
				t.Fatalf("Private is %T", k.Private)
			}
			words := d.Bits() // the memory the secret lives in
			k.Wipe()
			if d.Sign() != 0 || slices.ContainsFunc(words, func(w big.Word) bool { return w != 0 }) {
				t.Error("Wipe left the private scalar in memory")
			}
		})
	}
}
