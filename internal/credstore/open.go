package credstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Options say where Open may look.
type Options struct {
	ConfigDir string // where the opt-in credentials file lives
	// AllowInsecure (--insecure-storage) lets Open fall back to the file.
	AllowInsecure bool
	LookupEnv     func(string) (string, bool) // nil: os.LookupEnv
	Backend       Backend                     // nil: OSKeychain
	Timeout       time.Duration               // per keychain call; 0: DefaultTimeout
	GOOS          string                      // "": runtime.GOOS
}

// ErrNoKeychain matches Open's error when no keychain answers and the file is not allowed.
var ErrNoKeychain = errors.New("no usable OS keychain")

// NoKeychainError says why the keychain could not be used and what the user can do.
type NoKeychainError struct {
	Cause     error
	ConfigDir string
	// Server is the Data Center server whose token was to be stored ("" for Cloud).
	Server string
	goos   string
}

func (e *NoKeychainError) Error() string {
	return fmt.Sprintf("%v: %v", ErrNoKeychain, e.Cause)
}

func (e *NoKeychainError) Unwrap() []error { return []error{ErrNoKeychain, e.Cause} }

func (e *NoKeychainError) Hints() []string {
	file := FileName
	if e.ConfigDir != "" {
		file = filepath.Join(e.ConfigDir, FileName)
	}
	h := []string{fmt.Sprintf("pass --insecure-storage to keep the credential in %s (mode 0600) instead", file)}
	switch e.goos {
	case "darwin":
		h = append(h, "or unlock the login keychain (security unlock-keychain) and try again")
	case "windows":
		h = append(h, "or make sure the Credential Manager service (VaultSvc) is running")
	default:
		h = append(h, "or install and unlock a Secret Service such as gnome-keyring (headless: run bbkey inside "+
			"`dbus-run-session` after `gnome-keyring-daemon --unlock --components=secrets`)")
	}
	if e.Server != "" {
		return append(h, "or skip storing: set BITBUCKET_SERVER_TOKEN (or pass --token-file FILE) for each run against "+e.Server)
	}
	return append(h, "or skip storing: set BITBUCKET_EMAIL and BITBUCKET_API_TOKEN for each run")
}

// Open returns the store to use: the credentials file when it exists (opted in earlier,
// until `bbkey auth logout` removes it); else the OS keychain when a probe round-trip
// succeeds; else a new file when AllowInsecure; else a *NoKeychainError. Print
// Warning(store) whenever it is not empty.
func Open(ctx context.Context, opts Options) (Store, error) {
	goos := opts.GOOS
	if goos == "" {
		goos = runtime.GOOS
	}
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var file *File
	if opts.ConfigDir != "" {
		file = NewFile(opts.ConfigDir)
		if file.exists() {
			file.reason = "it was chosen with --insecure-storage; `bbkey auth logout` removes it"
			return file, nil
		}
	}
	kr := NewKeyring(opts.Backend, opts.Timeout)
	err := sessionBus(goos, lookup)
	if err == nil {
		err = probe(ctx, kr)
	}
	if err == nil {
		return kr, nil
	}
	if opts.AllowInsecure && file != nil {
		file.reason = err.Error()
		return file, nil
	}
	return nil, &NoKeychainError{Cause: err, ConfigDir: opts.ConfigDir, goos: goos}
}

// sessionBus fails fast where there is no D-Bus session bus (godbus would run dbus-launch,
// which may start a stray daemon or hang).
func sessionBus(goos string, lookup func(string) (string, bool)) error {
	switch goos {
	case "darwin", "windows", "ios", "android", "js", "wasip1", "plan9":
		return nil
	}
	if a, ok := lookup("DBUS_SESSION_BUS_ADDRESS"); ok && a != "" && a != "autolaunch:" {
		return nil
	}
	// godbus finds the systemd user bus at $XDG_RUNTIME_DIR/bus on its own.
	if d, ok := lookup("XDG_RUNTIME_DIR"); ok && d != "" {
		if fi, err := os.Stat(filepath.Join(d, "bus")); err == nil && fi.Mode().Type() == os.ModeSocket {
			return nil
		}
	}
	return errors.New("no D-Bus session bus for the Secret Service (DBUS_SESSION_BUS_ADDRESS is unset)")
}

// probe stores, reads back and deletes a throw-away item, so a locked or broken keychain
// is found now, not after the user typed a token.
func probe(ctx context.Context, kr *Keyring) error {
	var b [6]byte
	_, _ = rand.Read(b[:])
	account := "probe:" + hex.EncodeToString(b[:])
	want := Secret{Kind: KindPassphrase, Secret: []byte("probe-" + hex.EncodeToString(b[:]))}
	if err := kr.Set(ctx, account, want); err != nil {
		return err
	}
	got, err := kr.Get(ctx, account)
	derr := kr.Delete(ctx, account)
	if err != nil {
		return err
	}
	if string(got.Secret) != string(want.Secret) {
		return errors.New("keychain returned something else than was stored in it")
	}
	return derr
}
