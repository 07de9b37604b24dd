package keys

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/testutil"
)

// The key bbkey writes is one OpenSSH reads as its own: ssh-keygen, given the passphrase
// through SSH_ASKPASS, derives the same public key, and prints the same fingerprint.
func TestGenerateReadBySSHKeygen(t *testing.T) {
	testutil.RequireBinary(t, "ssh-keygen")
	h := testutil.NewHome(t)
	path, _ := AccountKeyPath(h.SSHDir, "laptop")
	k := mustGenerate(t, path, testPass)
	defer k.Wipe()

	if runtime.GOOS != "windows" {
		if m := mode(t, path); m != 0o600 {
			t.Errorf("private key mode = %04o, want 0600", m)
		}
		if m := mode(t, path+".pub"); m != 0o644 {
			t.Errorf("public key mode = %04o, want 0644", m)
		}
	}
	hdr, rounds := readHeader(t, path)
	if hdr.CipherName != "aes256-ctr" || hdr.KdfName != "bcrypt" || rounds != 16 {
		t.Errorf("encryption = %s/%s/%d rounds, want aes256-ctr/bcrypt/16", hdr.CipherName, hdr.KdfName, rounds)
	}

	out, err := sshKeygen(t, askpassEnv(t, testPass), "-y", "-f", path)
	if err != nil {
		t.Fatalf("ssh-keygen -y with the right passphrase: %v", err)
	}
	wantPub := strings.Fields(k.AuthorizedKey())
	if got := strings.Fields(out); len(got) < 2 || got[0] != wantPub[0] || got[1] != wantPub[1] {
		t.Errorf("ssh-keygen -y = %q, want %q", out, k.AuthorizedKey())
	}
	if _, err := sshKeygen(t, askpassEnv(t, "wrong passphrase"), "-y", "-f", path); err == nil {
		t.Error("ssh-keygen -y accepted a wrong passphrase: the key is not encrypted with ours")
	}

	pubFile, _ := os.ReadFile(path + ".pub")
	if string(pubFile) != k.AuthorizedKey()+"\n" {
		t.Errorf(".pub = %q, want %q", pubFile, k.AuthorizedKey()+"\n")
	}
	if !strings.HasSuffix(k.AuthorizedKey(), " bbkey:test@host 2026-11-22") {
		t.Errorf("authorized key line lacks the comment: %q", k.AuthorizedKey())
	}
	for _, f := range []string{path, path + ".pub"} {
		out, err := sshKeygen(t, nil, "-l", "-f", f)
		if err != nil {
			t.Fatalf("ssh-keygen -l -f %s: %v", f, err)
		}
		// "256 SHA256:… comment (ED25519)"
		if fields := strings.Fields(out); len(fields) < 2 || fields[1] != k.Fingerprint {
			t.Errorf("ssh-keygen -l -f %s = %q, want fingerprint %s", filepath.Base(f), out, k.Fingerprint)
		}
	}

	// The signer handed back is the key on disk.
	sig, err := k.Signer.Sign(rand.Reader, []byte("challenge"))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.PublicKey.Verify([]byte("challenge"), sig); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if ents, _ := os.ReadDir(h.SSHDir); len(ents) != 2 {
		t.Errorf("ssh dir holds %d entries, want the two key files only", len(ents))
	}
}

func TestGenerateNoPassphraseReadBySSHKeygen(t *testing.T) {
	h := testutil.NewHome(t)
	path, _ := AccessKeyPath(h.SSHDir, "ci-01")
	k := mustGenerate(t, path, "")
	hdr, _ := readHeader(t, path)
	if hdr.CipherName != "none" || k.Encrypted {
		t.Errorf("cipher = %q, Encrypted = %v; want none, false", hdr.CipherName, k.Encrypted)
	}
	// No askpass at all: ssh-keygen must not need a passphrase.
	out, err := sshKeygen(t, []string{"SSH_ASKPASS=/bin/false", "SSH_ASKPASS_REQUIRE=force"}, "-y", "-f", path)
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(out); len(f) < 2 || f[1] != strings.Fields(k.AuthorizedKey())[1] {
		t.Errorf("ssh-keygen -y = %q, want %q", out, k.AuthorizedKey())
	}
}

func TestGenerateArgumentErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	if _, err := Generate(GenerateOptions{Path: p}); err == nil {
		t.Error("Generate without a passphrase or --no-passphrase: want an error")
	}
	if _, err := Generate(GenerateOptions{Path: p, Passphrase: []byte(testPass), NoPassphrase: true}); err == nil {
		t.Error("Generate with both a passphrase and --no-passphrase: want an error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused Generate wrote files: %v", ents)
	}
}

func TestGenerateNeverOverwrites(t *testing.T) {
	h := testutil.NewHome(t)
	path, _ := AccountKeyPath(h.SSHDir, "laptop")
	mustGenerate(t, path, "")
	before, _ := os.ReadFile(path)
	beforePub, _ := os.ReadFile(path + ".pub")

	_, err := Generate(GenerateOptions{Path: path, NoPassphrase: true})
	var ee *ExistsError
	if !errors.As(err, &ee) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Generate: err = %v, want an ExistsError", err)
	}
	// Issue 13, defect 14: no command accepts --force, so the hint must not offer it; it
	// says how to move the pair aside by hand.
	// (The commands add their own flags, --name and --key: cmdutil.KeyExistsHint.)
	if hints := strings.Join(errkind.Hints(err), "\n"); strings.Contains(hints, "--force") || !strings.Contains(hints, "mv ") || strings.Contains(hints, "--") {
		t.Errorf("hints %q offer --force, or do not say how to move the pair aside", hints)
	}
	after, _ := os.ReadFile(path)
	afterPub, _ := os.ReadFile(path + ".pub")
	if string(before) != string(after) || string(beforePub) != string(afterPub) {
		t.Error("the existing key was changed")
	}

	// A lone .pub (someone else's key, or a half-finished pair) is not overwritten either.
	other, _ := AccountKeyPath(h.SSHDir, "other")
	if err := os.WriteFile(other+".pub", []byte("ssh-ed25519 AAAA x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(GenerateOptions{Path: other, NoPassphrase: true}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Generate over a lone .pub: err = %v, want ErrExist", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a private key was written next to a .pub that was refused")
	}
}

// A pair moved aside is kept byte for byte, a second move in the same second keeps both
// backups, a new key can then be written in its place, and Local skips the backups.
func TestMoveAsideThenGenerate(t *testing.T) {
	h := testutil.NewHome(t)
	path, _ := AccountKeyPath(h.SSHDir, "laptop")
	old := mustGenerate(t, path, testPass)
	oldPriv, _ := os.ReadFile(path)
	oldPub, _ := os.ReadFile(path + ".pub")

	moved, err := MoveAside(path, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{path + ".bak-20261122T101112", path + ".pub.bak-20261122T101112"}
	if !slices.Equal(moved, want) {
		t.Fatalf("MoveAside = %q, want %q", moved, want)
	}
	if b, _ := os.ReadFile(want[0]); string(b) != string(oldPriv) {
		t.Error("moved-aside private key differs from the old one")
	}
	if b, _ := os.ReadFile(want[1]); string(b) != string(oldPub) {
		t.Error("moved-aside public key differs from the old one")
	}
	if runtime.GOOS != "windows" && mode(t, want[0]) != 0o600 {
		t.Errorf("moved-aside private key mode = %04o, want 0600", mode(t, want[0]))
	}
	k := mustGenerate(t, path, testPass)
	if k.Fingerprint == old.Fingerprint {
		t.Error("the new key is the old one")
	}
	got, err := LoadPublic(path)
	if err != nil || got.Fingerprint != k.Fingerprint {
		t.Fatalf("LoadPublic after the move = %v, %v; want %s", got, err, k.Fingerprint)
	}

	// A second move in the same second keeps both backups.
	moved, err = MoveAside(path, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".bak-20261122T101112-2"; len(moved) == 0 || moved[0] != want {
		t.Errorf("second backup = %q, want %q", moved, want)
	}
	if b, _ := os.ReadFile(want[0]); string(b) != string(oldPriv) {
		t.Error("the first backup was overwritten")
	}
	k3 := mustGenerate(t, path, testPass)
	// The local listing skips the backups.
	local, err := Local(h.SSHDir)
	if err != nil || len(local) != 1 || local[0].Key.Fingerprint != k3.Fingerprint {
		t.Errorf("Local = %+v, %v; want the one current key", local, err)
	}
}

func TestGenerateCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh", ".ssh")
	path, _ := AccountKeyPath(dir, "laptop")
	mustGenerate(t, path, "")
	if runtime.GOOS != "windows" {
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("new ssh dir mode = %04o, want 0700", m)
		}
	}
}

func TestMoveAside(t *testing.T) {
	dir := t.TempDir()
	k := mustGenerate(t, filepath.Join(dir, "k"), "")
	got, err := MoveAside(k.Path, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{k.Path + ".bak-20261122T101112", k.Path + ".pub.bak-20261122T101112"}
	if !slices.Equal(got, want) {
		t.Fatalf("MoveAside = %q, want %q", got, want)
	}
	for _, p := range []string{k.Path, k.PublicPath()} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after MoveAside", p)
		}
	}
	// The backups are still the key, readable as such.
	for _, p := range got {
		if moved, err := LoadPublic(p); err != nil || moved.Fingerprint != k.Fingerprint {
			t.Errorf("LoadPublic(%s) = %v, %v; want %s", filepath.Base(p), moved, err, k.Fingerprint)
		}
	}
	if got, err := MoveAside(k.Path, testNow); err != nil || len(got) != 0 {
		t.Errorf("MoveAside of nothing = %q, %v", got, err)
	}
}

// Prepare runs the KDF before the key's path and comment are known; Write seals the key
// with the comment decided afterwards. ssh-keygen decrypts the file with the passphrase
// and reads that comment from inside it; the Prepared is spent once written.
func TestPrepareThenWrite(t *testing.T) {
	testutil.RequireBinary(t, "ssh-keygen")
	h := testutil.NewHome(t)
	p, err := Prepare(GenerateOptions{Passphrase: []byte(testPass)})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := AccountKeyPath(h.SSHDir, "ada")
	const comment = "bbkey:ada@later 2026-12-06"
	k, err := p.Write(GenerateOptions{Path: path, Comment: comment})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	if !k.Encrypted || k.Comment != comment || !k.HasPrivate() {
		t.Errorf("key = %+v", k)
	}
	if _, rounds := readHeader(t, path); rounds != DefaultKDFRounds {
		t.Errorf("rounds = %d", rounds)
	}
	out, err := sshKeygen(t, askpassEnv(t, testPass), "-y", "-f", path)
	if err != nil || strings.TrimSpace(out) != k.AuthorizedKey() {
		t.Errorf("ssh-keygen -y = %q, %v; want %q (the comment from inside the private key)", out, err, k.AuthorizedKey())
	}
	if _, err := p.Write(GenerateOptions{Path: path + "2", Comment: comment}); err == nil {
		t.Error("a Prepared was written twice")
	}

	// A Prepared that is not used is wiped; one that cannot be written is wiped too.
	q, err := Prepare(GenerateOptions{NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	priv := q.priv
	if _, err := q.Write(GenerateOptions{Path: path}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Write over an existing key = %v", err)
	}
	if !slices.Equal(priv, make([]byte, len(priv))) || q.priv != nil {
		t.Error("a Prepared that failed to write kept its private key")
	}
}
