//go:build !windows

package keys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/testutil"
)

func wantPermissionError(t *testing.T, err error, path, fix string) {
	t.Helper()
	var pe *PermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a PermissionError", err)
	}
	if pe.Path != path || pe.Fix != fix {
		t.Errorf("PermissionError{Path: %q, Fix: %q}, want %q, %q", pe.Path, pe.Fix, path, fix)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if hints := strings.Join(errkind.Hints(err), " "); !strings.Contains(hints, fix) {
		t.Errorf("hints %q lack %q", hints, fix)
	}
}

func TestGenerateRefusesUnsafeDir(t *testing.T) {
	h := testutil.NewHome(t)
	if err := os.Chmod(h.SSHDir, 0o777); err != nil {
		t.Fatal(err)
	}
	path, _ := AccountKeyPath(h.SSHDir, "laptop")
	_, err := Generate(GenerateOptions{Path: path, NoPassphrase: true})
	wantPermissionError(t, err, h.SSHDir, "chmod 700 "+h.SSHDir)
	if ents, _ := os.ReadDir(h.SSHDir); len(ents) != 0 {
		t.Errorf("files written into an unsafe dir: %v", ents)
	}
	// Group-readable but not writable is what many systems make; OpenSSH accepts it.
	if err := os.Chmod(h.SSHDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(GenerateOptions{Path: path, NoPassphrase: true}); err != nil {
		t.Errorf("0750 ssh dir refused: %v", err)
	}
}

func TestLoadRefusesUnsafeKeys(t *testing.T) {
	h := testutil.NewHome(t)
	path, _ := AccountKeyPath(h.SSHDir, "laptop")
	mustGenerate(t, path, testPass)

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPublic(path)
	wantPermissionError(t, err, path, "chmod 600 "+path)
	_, err = LoadPrivate(path, []byte(testPass))
	wantPermissionError(t, err, path, "chmod 600 "+path)
	os.Chmod(path, 0o600)

	if err := os.Chmod(path+".pub", 0o666); err != nil {
		t.Fatal(err)
	}
	_, err = LoadPublic(path)
	wantPermissionError(t, err, path+".pub", "chmod 644 "+path+".pub")
}

func TestPermissionFixQuotesPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my keys")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	wantPermissionError(t, CheckDir(dir), dir, "chmod 700 '"+dir+"'")
}

// Owned by another user: refused as OpenSSH would. Changing a file's owner needs root.
func TestRefusesForeignOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	h := testutil.NewHome(t)
	path, _ := AccountKeyPath(h.SSHDir, "laptop")
	mustGenerate(t, path, "")
	if err := os.Chown(path, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPublic(path)
	wantPermissionError(t, err, path, "sudo chown $(id -un) "+path)
	if err := os.Chown(h.SSHDir, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	other, _ := AccountKeyPath(h.SSHDir, "other")
	_, err = Generate(GenerateOptions{Path: other, NoPassphrase: true})
	wantPermissionError(t, err, h.SSHDir, "sudo chown $(id -un) "+h.SSHDir)
}

// NeedsPassphrase reads a key with loose permissions (doctor reports those itself);
// IsEncrypted refuses it as ssh would.
func TestNeedsPassphraseIgnoresPermissions(t *testing.T) {
	dir := t.TempDir()
	for i, pass := range []string{testPass, ""} {
		path := filepath.Join(dir, "key"+string(rune('0'+i)))
		mustGenerate(t, path, pass).Wipe()
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := NeedsPassphrase(path); err != nil || got != (pass != "") {
			t.Errorf("%s: NeedsPassphrase = %v, %v; want %v", path, got, err, pass != "")
		}
		_, err := IsEncrypted(path)
		wantPermissionError(t, err, path, "chmod 600 "+path)
	}
}
