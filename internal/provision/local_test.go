package provision

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/keys"
)

// FindKey tells a new key from an existing one by its files, and Unlock gets what each
// needs: a new key's passphrase, an existing key's private half.
func TestFindKeyAndUnlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "id")
	l, err := FindKey(path, false)
	if err != nil || !l.New || l.Key != nil || !l.HasPrivate {
		t.Fatalf("no files: %+v, %v; want a new key", l, err)
	}
	pass := "correct horse battery"
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := secret.Source{File: passFile}
	if err := l.Unlock(src, false); err != nil || string(l.Passphrase) != pass {
		t.Fatalf("new key's passphrase %q, %v", l.Passphrase, err)
	}
	made, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: "t", Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	l.Wipe()

	l, err = FindKey(path, false)
	if err != nil || l.New || l.Fingerprint() != made.Fingerprint || l.Key.Signer != nil {
		t.Fatalf("both files: %+v, %v; want the existing key's public half", l, err)
	}
	if err := l.Unlock(src, true); err != nil || l.Key.Signer == nil {
		t.Fatalf("unlocking: %v", err)
	}
	l.Wipe()

	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := FindKey(path, false); err == nil || !strings.Contains(err.Error(), "without its private key") {
		t.Errorf("a .pub alone: %v, want an error", err)
	}
	l, err = FindKey(path, true)
	if err != nil || l.New || l.HasPrivate || l.Fingerprint() != made.Fingerprint {
		t.Errorf("a .pub alone allowed: %+v, %v", l, err)
	}
}
