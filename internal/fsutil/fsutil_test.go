package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestWriteFileAtomicKeepsModeAndFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	if err := os.WriteFile(target, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symlinks:", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Skipf("os.Symlink made no symlink here (Wine makes its symlinks as Unix ones, which Windows calls do not see as reparse points): %v", err)
	}
	if err := WriteFileAtomic(link, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link replaced by a regular file: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(target)
	if string(b) != "new" {
		t.Fatalf("target = %q", b)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o640 {
			t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("temp files left behind: %v", ents)
	}
}

func TestCreateExclusive(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	if err := CreateExclusive(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v", fi.Mode().Perm())
		}
	}
	err := CreateExclusive(p, []byte("other"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: err = %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "secret" {
		t.Fatalf("overwritten: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
}

func TestTryLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	l, err := TryLock(p)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description: a second open in the same process
	// conflicts, as a second process would.
	if _, err := TryLock(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock err = %v, want ErrLocked", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := TryLock(p)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
}

// Issue 13, defect 11: temporary files left by killed runs (an encrypted private key among
// them) are removed by the next write of the same file once they are stale; a temporary
// file of a write in progress (fresh) and other files are kept.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "bbkey_ada_ed25519")
	stale := filepath.Join(dir, ".bbkey_ada_ed25519.tmp-123456")
	fresh := filepath.Join(dir, ".bbkey_ada_ed25519.tmp-654321")
	other := filepath.Join(dir, ".config.tmp-1")
	for _, p := range []string{stale, fresh, other} {
		if err := os.WriteFile(p, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{stale, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateExclusive(target, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	for _, p := range []string{fresh, other, target} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	// A name with glob characters is matched literally.
	odd := filepath.Join(dir, "a[b]*")
	oddStale := filepath.Join(dir, ".a[b]*.tmp-1")
	if err := os.WriteFile(oddStale, nil, 0o600); err != nil {
		t.Skip("file system refuses the name:", err)
	}
	_ = os.Chtimes(oddStale, old, old)
	if err := WriteFileAtomic(odd, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(oddStale); runtime.GOOS != "windows" && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary of a glob-like name kept: %v", err)
	}
}
