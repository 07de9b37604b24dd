package credstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

// Conformance runs the contract every Store must keep against s (exported for
// credstoretest.Fake's test, in package credstore_test).
func Conformance(t *testing.T, s Store, prefix string) {
	t.Helper()
	ctx := context.Background()
	acct := prefix + DefaultAccount
	pass := prefix + PassphraseAccount("work")
	t.Cleanup(func() {
		_ = s.Delete(ctx, acct)
		_ = s.Delete(ctx, pass)
	})

	if _, err := s.Get(ctx, acct); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Set: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, acct); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete before Set: err = %v, want ErrNotFound", err)
	}
	created := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tok := Secret{Kind: KindAPIToken, Email: "ann@example.com", Secret: []byte("ATATT3x\x00\"quoted\" üñí\n"), Created: created}
	if err := s.Set(ctx, acct, tok); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, err := s.Get(ctx, acct)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Kind != tok.Kind || got.Email != tok.Email || string(got.Secret) != string(tok.Secret) || !got.Created.Equal(created) {
		t.Fatalf("Get = %#v %q, want %#v %q", got, got.Secret, tok, tok.Secret)
	}

	// Replacing keeps one item and the newest value.
	tok2 := Secret{Kind: KindOAuthClient, ClientID: "cid", Secret: []byte("second")}
	if err := s.Set(ctx, acct, tok2); err != nil {
		t.Fatalf("Set again: %v", err)
	}
	if got, err := s.Get(ctx, acct); err != nil || string(got.Secret) != "second" || got.ClientID != "cid" || got.Email != "" {
		t.Fatalf("Get after replace = %v %q, %v", got, got.Secret, err)
	}

	// Accounts are independent.
	if err := s.Set(ctx, pass, Secret{Kind: KindPassphrase, Secret: []byte("correct horse")}); err != nil {
		t.Fatalf("Set passphrase: %v", err)
	}
	if err := s.Delete(ctx, acct); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, acct); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if got, err := s.Get(ctx, pass); err != nil || string(got.Secret) != "correct horse" {
		t.Fatalf("other account after Delete = %q, %v", got.Secret, err)
	}

	// Invalid input is refused before anything is stored.
	for _, bad := range []Secret{
		{Kind: "password", Secret: []byte("x")},
		{Kind: KindAPIToken, Secret: []byte("x")},
		{Kind: KindPassphrase},
	} {
		if err := s.Set(ctx, acct, bad); err == nil {
			t.Errorf("Set(%v) succeeded, want a validation error", bad)
		}
	}
	if err := s.Set(ctx, "", tok); err == nil {
		t.Error("Set with an empty account succeeded")
	}
	if err := s.Delete(ctx, pass); err != nil {
		t.Fatalf("Delete passphrase: %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret{Kind: KindAPIToken, Email: "ann@example.com", Secret: []byte("s3cr3t-value")}
	wrapper := struct {
		Name string
		S    Secret
	}{"x", s}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{s, &s, wrapper} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, "s3cr3t") || strings.Contains(out, "115") /* byte dump */ {
				t.Errorf("Sprintf(%q, %T) = %q shows the secret", format, v, out)
			}
		}
	}
	if got := s.String(); !strings.Contains(got, "ann@example.com") || !strings.Contains(got, "redacted") {
		t.Errorf("String() = %q, want the email and [redacted]", got)
	}
}

// memBackend is an in-memory stand-in for go-keyring, counting calls.
type memBackend struct {
	mu    sync.Mutex
	items map[string]string
	calls int
	err   error
	block chan struct{} // when non-nil, every call waits on it
}

func (m *memBackend) enter() error {
	if m.block != nil {
		<-m.block
	}
	m.mu.Lock()
	m.calls++
	return m.err
}

func (m *memBackend) Set(service, user, password string) error {
	err := m.enter()
	defer m.mu.Unlock()
	if err != nil {
		return err
	}
	if m.items == nil {
		m.items = map[string]string{}
	}
	m.items[service+"/"+user] = password
	return nil
}

func (m *memBackend) Get(service, user string) (string, error) {
	err := m.enter()
	defer m.mu.Unlock()
	if err != nil {
		return "", err
	}
	v, ok := m.items[service+"/"+user]
	if !ok {
		return "", errKeyringNotFound
	}
	return v, nil
}

func (m *memBackend) Delete(service, user string) error {
	err := m.enter()
	defer m.mu.Unlock()
	if err != nil {
		return err
	}
	if _, ok := m.items[service+"/"+user]; !ok {
		return errKeyringNotFound
	}
	delete(m.items, service+"/"+user)
	return nil
}

func TestKeyringStoreOverBackend(t *testing.T) {
	b := &memBackend{}
	k := NewKeyring(b, 0)
	Conformance(t, k, "")
	if len(b.items) != 0 {
		t.Errorf("items left: %v", b.items)
	}
	// Items are stored under the service "bbkey" as versioned JSON.
	if err := k.Set(context.Background(), "default", Secret{Kind: KindAccessToken, Secret: []byte("tok")}); err != nil {
		t.Fatal(err)
	}
	if v := b.items["bbkey/default"]; !strings.HasPrefix(v, `{"v":1,"kind":"access-token"`) {
		t.Errorf("stored item = %q", v)
	}
}

func TestKeyringErrorsCarryNoSecret(t *testing.T) {
	ctx := context.Background()
	b := &memBackend{items: map[string]string{
		"bbkey/broken": `{"v":1,"kind":"api-token","secret":"not base64 s3cr3t`,
		"bbkey/newer":  `{"v":9,"kind":"api-token","secret":"czNjcjN0"}`,
	}}
	k := NewKeyring(b, 0)
	for _, acct := range []string{"broken", "newer"} {
		_, err := k.Get(ctx, acct)
		if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "czNjcjN0") {
			t.Errorf("Get(%s) error = %v", acct, err)
		}
	}
	b.err = errors.New("org.freedesktop.DBus.Error.ServiceUnknown")
	err := k.Set(ctx, "default", Secret{Kind: KindPassphrase, Secret: []byte("s3cr3t")})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "ServiceUnknown") {
		t.Errorf("Set error = %v", err)
	}
}

func TestKeyringTimeout(t *testing.T) {
	b := &memBackend{block: make(chan struct{})}
	defer close(b.block)
	k := NewKeyring(b, 20*time.Millisecond)
	_, err := k.Get(context.Background(), "default")
	if !errors.Is(err, ErrKeychainTimeout) {
		t.Fatalf("Get on a hung keychain: err = %v, want ErrKeychainTimeout", err)
	}
	// A cancelled context is reported as such, not as a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := k.Delete(ctx, "default"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrKeychainTimeout) {
		t.Fatalf("Delete with cancelled ctx: err = %v", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	bus := env(map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus"})
	noBus := env(nil)

	t.Run("keychain works", func(t *testing.T) {
		b := &memBackend{}
		s, err := Open(ctx, Options{ConfigDir: t.TempDir(), LookupEnv: bus, Backend: b, GOOS: "linux"})
		if err != nil || s.Kind() != "keychain" || Warning(s) != "" {
			t.Fatalf("Open = %v, %v", s, err)
		}
		if b.calls != 3 || len(b.items) != 0 {
			t.Errorf("probe made %d calls and left %v, want set+get+delete and nothing left", b.calls, b.items)
		}
	})
	t.Run("no session bus fails fast", func(t *testing.T) {
		b := &memBackend{}
		dir := t.TempDir()
		_, err := Open(ctx, Options{ConfigDir: dir, LookupEnv: noBus, Backend: b, GOOS: "linux"})
		var nk *NoKeychainError
		if !errors.Is(err, ErrNoKeychain) || !errors.As(err, &nk) {
			t.Fatalf("err = %v, want ErrNoKeychain", err)
		}
		if b.calls != 0 {
			t.Errorf("go-keyring was called %d times without a bus", b.calls)
		}
		if !strings.Contains(err.Error(), "DBUS_SESSION_BUS_ADDRESS") {
			t.Errorf("error does not say why: %v", err)
		}
		h := strings.Join(nk.Hints(), "\n")
		for _, want := range []string{"--insecure-storage", dir, "gnome-keyring", "BITBUCKET_API_TOKEN"} {
			if !strings.Contains(h, want) {
				t.Errorf("hints lack %q:\n%s", want, h)
			}
		}
	})
	t.Run("macOS needs no bus", func(t *testing.T) {
		s, err := Open(ctx, Options{LookupEnv: noBus, Backend: &memBackend{}, GOOS: "darwin"})
		if err != nil || s.Kind() != "keychain" {
			t.Fatalf("Open = %v, %v", s, err)
		}
	})
	t.Run("broken keychain with opt-in uses the file", func(t *testing.T) {
		dir := t.TempDir()
		b := &memBackend{err: errors.New("collection is locked")}
		s, err := Open(ctx, Options{ConfigDir: dir, AllowInsecure: true, LookupEnv: bus, Backend: b, GOOS: "linux"})
		if err != nil || s.Kind() != "file" {
			t.Fatalf("Open = %v, %v", s, err)
		}
		if w := Warning(s); !strings.Contains(w, "collection is locked") || !strings.Contains(w, FileName) {
			t.Errorf("warning = %q", w)
		}
		if err := s.Set(ctx, DefaultAccount, Secret{Kind: KindAccessToken, Secret: []byte("t")}); err != nil {
			t.Fatal(err)
		}
		// Later runs keep using the file even without the flag, and even with a keychain.
		s2, err := Open(ctx, Options{ConfigDir: dir, LookupEnv: bus, Backend: &memBackend{}, GOOS: "linux"})
		if err != nil || s2.Kind() != "file" || !strings.Contains(Warning(s2), "auth logout") {
			t.Fatalf("second Open = %v, %v (warning %q)", s2, err, Warning(s2))
		}
		// Once the last credential is gone, the keychain is preferred again.
		if err := s2.Delete(ctx, DefaultAccount); err != nil {
			t.Fatal(err)
		}
		s3, err := Open(ctx, Options{ConfigDir: dir, LookupEnv: bus, Backend: &memBackend{}, GOOS: "linux"})
		if err != nil || s3.Kind() != "keychain" {
			t.Fatalf("third Open = %v, %v", s3, err)
		}
	})
	t.Run("hung keychain times out", func(t *testing.T) {
		b := &memBackend{block: make(chan struct{})}
		defer close(b.block)
		_, err := Open(ctx, Options{LookupEnv: bus, Backend: b, GOOS: "linux", Timeout: 20 * time.Millisecond})
		if !errors.Is(err, ErrNoKeychain) || !errors.Is(err, ErrKeychainTimeout) {
			t.Fatalf("err = %v, want ErrNoKeychain wrapping ErrKeychainTimeout", err)
		}
	})
}

func TestSessionBus(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		goos string
		env  map[string]string
		ok   bool
	}{
		{"address", "linux", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}, true},
		{"autolaunch is not a bus", "linux", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "autolaunch:"}, false},
		{"nothing", "freebsd", nil, false},
		{"runtime dir without socket", "linux", map[string]string{"XDG_RUNTIME_DIR": dir}, false},
		{"windows", "windows", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := maps.Clone(tt.env)
			err := sessionBus(tt.goos, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if (err == nil) != tt.ok {
				t.Errorf("sessionBus = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
