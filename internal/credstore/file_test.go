package credstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/bbkey/bbkey/internal/testutil"
)

var errKeyringNotFound = keyring.ErrNotFound

func TestFileConformance(t *testing.T) {
	h := testutil.NewHome(t)
	dir := filepath.Join(h.ConfigDir, "bbkey")
	f := NewFile(dir)
	Conformance(t, f, "")
	// Everything was deleted again, and with it the file.
	if _, err := os.Stat(f.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credentials file still there after the last Delete: %v", err)
	}
}

func TestFileModeAndContent(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", "bbkey")
	f := NewFile(dir)
	if err := f.Set(ctx, DefaultAccount, Secret{Kind: KindAPIToken, Email: "a@b.c", Secret: []byte("tok")}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("credentials file mode = %04o, want 0600", perm)
		}
		if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
			t.Errorf("config dir mode = %04o, want 0700", di.Mode().Perm())
		}
	}
	b, _ := os.ReadFile(f.Path)
	for _, want := range []string{`"version": 1`, `"default"`, `"kind": "api-token"`, `"email": "a@b.c"`, `"secret": "dG9r"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("file lacks %s:\n%s", want, b)
		}
	}
	// No temporary files are left next to it.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != FileName && e.Name() != FileName+".lock" {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

func TestFileRefusesLooseMode(t *testing.T) {
	ctx := context.Background()
	f := NewFile(t.TempDir())
	if err := f.Set(ctx, DefaultAccount, Secret{Kind: KindAccessToken, Secret: []byte("s3cr3t")}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.Path); err != nil {
		t.Fatal(err)
	}
	testutil.WriteOpenFile(t, f.Path, b) // Unix: 0644; Windows: Everyone may read it
	problem, fix := "readable by other users", "chmod 600"
	if runtime.GOOS == "windows" {
		problem, fix = "is open to Everyone", `icacls "`+f.Path+`" /remove:g "Everyone"`
	}
	_, err = f.Get(ctx, DefaultAccount)
	if err == nil || !strings.Contains(err.Error(), problem) || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("Get of a file others can read: err = %v", err)
	}
	var he interface{ Hints() []string }
	if !errors.As(err, &he) {
		t.Fatalf("error carries no hints: %v", err)
	}
	if hints := he.Hints(); len(hints) == 0 || !strings.Contains(hints[0], fix) {
		t.Errorf("hints = %q", hints)
	}
	// Writing is refused too, so the loose mode is never kept for new secrets.
	if err := f.Set(ctx, "other", Secret{Kind: KindPassphrase, Secret: []byte("p")}); err == nil {
		t.Fatal("Set into a 0644 file succeeded")
	}
}

func TestFileCorruptErrorHasNoSecret(t *testing.T) {
	f := NewFile(t.TempDir())
	if err := os.WriteFile(f.Path, []byte(`{"version":1,"credentials":{"default":{"v":1,"secret":"s3cr3t`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := f.Get(context.Background(), DefaultAccount)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v", err)
	}
}

// TestFileConcurrentSets proves the lock: parallel writers never lose each other's items.
func TestFileConcurrentSets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// A separate File value per writer, as separate processes would have.
			errs <- NewFile(dir).Set(ctx, PassphraseAccount(fmt.Sprint(i)), Secret{Kind: KindPassphrase, Secret: fmt.Appendf(nil, "p%d", i)})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f := NewFile(dir)
	for i := range n {
		got, err := f.Get(ctx, PassphraseAccount(fmt.Sprint(i)))
		if err != nil || string(got.Secret) != fmt.Sprintf("p%d", i) {
			t.Errorf("item %d = %q, %v", i, got.Secret, err)
		}
	}
}

// BenchmarkFileSetGet measures one locked, fsynced write and one read of the file store.
func BenchmarkFileSetGet(b *testing.B) {
	ctx := context.Background()
	f := NewFile(b.TempDir())
	s := Secret{Kind: KindAPIToken, Email: "a@b.c", Secret: []byte("ATATT3xFfGF0-token-value")}
	for b.Loop() {
		if err := f.Set(ctx, DefaultAccount, s); err != nil {
			b.Fatal(err)
		}
		if _, err := f.Get(ctx, DefaultAccount); err != nil {
			b.Fatal(err)
		}
	}
}
