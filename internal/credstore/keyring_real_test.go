package credstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/testutil"
)

// TestKeyringSecretService runs the Store contract against the real OS keychain. On Linux
// that is a Secret Service on the session bus: testdata/keyring-test.sh starts a private
// bus with an unlocked gnome-keyring and sets BBKEY_TEST_KEYRING=1. Without that opt-in the
// test skips, so a plain `go test` never writes into a developer's own keychain.
func TestKeyringSecretService(t *testing.T) {
	if os.Getenv("BBKEY_TEST_KEYRING") != "1" {
		t.Skip("set BBKEY_TEST_KEYRING=1 to run against the real keychain (internal/credstore/testdata/keyring-test.sh does, inside dbus-run-session)")
	}
	if runtime.GOOS != "darwin" && runtime.GOOS != "windows" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		msg := "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset): run internal/credstore/testdata/keyring-test.sh"
		if testutil.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx := context.Background()
	// Open probes the keychain with a real round-trip and must choose it.
	start := time.Now()
	s, err := Open(ctx, Options{ConfigDir: t.TempDir()})
	t.Logf("Open with its probe took %v", time.Since(start))
	if err != nil {
		t.Fatalf("Open against the real keychain: %v", err)
	}
	if s.Kind() != "keychain" {
		t.Fatalf("Open chose %s, want keychain", s.Kind())
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "test-" + hex.EncodeToString(b[:]) + ":"
	Conformance(t, s, prefix)

	// The item is a real keychain entry other tools see, under service "bbkey".
	if tool, err := exec.LookPath("secret-tool"); err == nil && runtime.GOOS == "linux" {
		acct := prefix + "visible"
		if err := s.Set(ctx, acct, Secret{Kind: KindAccessToken, Secret: []byte("seen-by-secret-tool")}); err != nil {
			t.Fatal(err)
		}
		defer s.Delete(ctx, acct)
		out, err := exec.Command(tool, "lookup", "service", Service, "username", acct).Output()
		if err != nil || !strings.Contains(string(out), `"kind":"access-token"`) {
			t.Errorf("secret-tool lookup = %q, %v", out, err)
		}
		t.Logf("secret-tool sees the item %s/%s", Service, acct)
	}

	// Nothing of the test or the probe is left behind.
	if _, err := NewKeyring(nil, 0).Get(ctx, prefix+DefaultAccount); !errors.Is(err, ErrNotFound) {
		t.Errorf("item left in the keychain: %v", err)
	}
}
