package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/testutil"
)

// authStatus is the part of `bbkey auth status --json` these tests read.
type authStatus struct {
	LoggedIn bool   `json:"logged_in"`
	Source   string `json:"source"`
	Email    string `json:"email"`
	User     *struct {
		Nickname string `json:"nickname"`
	} `json:"user"`
	Scopes []string `json:"scopes"`
}

func authReadStatus(t *testing.T, r Result) authStatus {
	t.Helper()
	var st authStatus
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("auth status stdout is not JSON: %v\n%s", err, r)
	}
	return st
}

// Without a session bus there is no keychain: login refuses, --insecure-storage writes a
// 0600 file with a warning, setup and status use it, logout removes it.
func TestAuthInsecureStorageRoundTrip(t *testing.T) {
	w := NewWorld(t)
	file := filepath.Join(w.Home.ConfigDir, "bbkey", credstore.FileName)

	r := w.Run("", "auth", "login")
	if r.Code != 1 || !strings.Contains(r.Stderr, "--insecure-storage") {
		t.Fatalf("login without a keychain must refuse naming --insecure-storage\n%s", r)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a credentials file was written without the opt-in")
	}

	r = w.MustRun("", "auth", "login", "--insecure-storage")
	if !strings.Contains(r.Stderr, "bbkey: warning:") {
		t.Errorf("no warning about the plain file:\n%s", r.Stderr)
	}
	if m := setupMode(t, file); m != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", m)
	}
	if strings.Contains(r.Stdout+r.Stderr, w.Emu.DefaultAPIToken()) {
		t.Error("the token was printed")
	}

	// From now on the stored credential is the one used.
	w.Unsetenv("BITBUCKET_EMAIL")
	w.Unsetenv("BITBUCKET_API_TOKEN")
	st := authReadStatus(t, w.MustRun("", "auth", "status", "--json"))
	if !st.LoggedIn || st.Source != "file" || st.Email != bbapitest.DefaultEmail || st.User == nil || st.User.Nickname != "ada" || len(st.Scopes) == 0 {
		t.Errorf("status = %+v", st)
	}
	r = w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if !strings.Contains(r.Stderr, "from file") {
		t.Errorf("setup did not use the stored credential:\n%s", r.Stderr)
	}

	w.MustRun("", "auth", "logout")
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("logout left the credentials file: %v", err)
	}
	r = w.Run("", "auth", "status", "--json")
	if r.Code != 4 || authReadStatus(t, r).LoggedIn {
		t.Errorf("status after logout:\n%s", r)
	}
	// Logging out twice is fine.
	w.MustRun("", "auth", "logout")
}

func TestAuthLoginRefusedAndNoInput(t *testing.T) {
	w := NewWorld(t)
	w.Setenv("BITBUCKET_API_TOKEN", "revoked-token")
	r := w.Run("", "auth", "login", "--insecure-storage")
	if r.Code != 4 || strings.Contains(r.Stderr, "revoked-token") {
		t.Errorf("a refused token: want exit 4 without the token\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(w.Home.ConfigDir, "bbkey", credstore.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused token was stored")
	}

	w.Unsetenv("BITBUCKET_API_TOKEN")
	w.Unsetenv("BITBUCKET_EMAIL")
	r = w.Run("", "auth", "login", "--insecure-storage")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--email") || !strings.Contains(r.Stderr, "--token-file") {
		t.Errorf("no input: want exit 2 naming the flags\n%s", r)
	}
}

func TestAuthLoginInteractive(t *testing.T) {
	w := NewWorld(t)
	tok := w.Emu.DefaultAPIToken()
	w.Unsetenv("BITBUCKET_EMAIL")
	w.Unsetenv("BITBUCKET_API_TOKEN")
	term := setupStartTerm(t, w, w.Home.Dir, "auth", "login", "--insecure-storage")
	term.expect("Atlassian account email: ")
	term.send(bbapitest.DefaultEmail + "\r")
	term.expect("API token: ")
	term.sendSecret(tok + "\r")
	term.expect("logged in to Bitbucket as Ada Lovelace (ada)")
	if code := term.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, term.output())
	}
	if strings.Contains(term.output(), tok) {
		t.Errorf("the token was echoed:\n%s", term.output())
	}
	st := authReadStatus(t, w.MustRun("", "auth", "status", "--json"))
	if !st.LoggedIn || st.Source != "file" {
		t.Errorf("status = %+v", st)
	}
}

// TestAuthKeychain stores the credential in the real Secret Service. It runs where a
// session bus with an unlocked keyring is provided and BBKEY_TEST_KEYRING=1 says so (CI,
// internal/credstore/testdata/keyring-test.sh); elsewhere it skips, so a developer's own
// keychain is never written.
func TestAuthKeychain(t *testing.T) {
	if os.Getenv("BBKEY_TEST_KEYRING") != "1" {
		t.Skip("set BBKEY_TEST_KEYRING=1 inside a throw-away D-Bus session to run against the real keychain (see internal/credstore/testdata/keyring-test.sh)")
	}
	bus := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if runtime.GOOS == "linux" && bus == "" {
		msg := "BBKEY_TEST_KEYRING=1 but no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)"
		if testutil.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx := context.Background()
	kr := credstore.NewKeyring(nil, 0)
	if _, err := kr.Get(ctx, credstore.DefaultAccount); !errors.Is(err, credstore.ErrNotFound) {
		t.Skipf("the keychain already holds a bbkey credential (or cannot be read: %v); not touching it", err)
	}
	t.Cleanup(func() { _ = kr.Delete(ctx, credstore.DefaultAccount) })

	w := NewWorld(t)
	for _, k := range []string{"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_DATA_HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			w.Setenv(k, v)
		}
	}
	r := w.MustRun("", "auth", "login")
	if strings.Contains(r.Stderr, "bbkey: warning:") {
		t.Errorf("a keychain login warned:\n%s", r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(w.Home.ConfigDir, "bbkey", credstore.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a credentials file was written although the keychain works")
	}
	// The item is a real Secret Service item other tools see.
	if tool, err := exec.LookPath("secret-tool"); err == nil && runtime.GOOS == "linux" {
		cmd := exec.Command(tool, "lookup", "service", credstore.Service, "username", credstore.DefaultAccount)
		cmd.Env = w.Env
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), bbapitest.DefaultEmail) {
			t.Errorf("secret-tool lookup: %v", err)
		}
	}
	w.Unsetenv("BITBUCKET_EMAIL")
	w.Unsetenv("BITBUCKET_API_TOKEN")
	st := authReadStatus(t, w.MustRun("", "auth", "status", "--json"))
	if !st.LoggedIn || st.Source != "keychain" {
		t.Errorf("status = %+v", st)
	}
	w.MustRun("", "auth", "logout")
	if _, err := kr.Get(ctx, credstore.DefaultAccount); !errors.Is(err, credstore.ErrNotFound) {
		t.Errorf("logout left the keychain item: %v", err)
	}
}
