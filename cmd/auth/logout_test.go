package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
)

func logoutRun(t *testing.T, env map[string]string, open func(context.Context, bool) (credstore.Store, error)) (LogoutResult, string) {
	t.Helper()
	return logoutRunWith(t, env, open)
}

func TestLogoutKeychain(t *testing.T) {
	store := &credstoretest.Fake{}
	open := func(context.Context, bool) (credstore.Store, error) { return store, nil }
	if err := store.Set(t.Context(), credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: "a@b.c", Secret: []byte("t")}); err != nil {
		t.Fatal(err)
	}
	if err := store.Set(t.Context(), credstore.PassphraseAccount("ada"), credstore.Secret{Kind: credstore.KindPassphrase, Secret: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	res, errOut := logoutRun(t, map[string]string{"BITBUCKET_API_TOKEN": "x"}, open)
	if !res.Removed || res.Store != "memory" {
		t.Errorf("result = %+v", res)
	}
	if _, err := store.Get(t.Context(), credstore.DefaultAccount); !errors.Is(err, credstore.ErrNotFound) {
		t.Error("the credential is still stored")
	}
	if _, err := store.Get(t.Context(), credstore.PassphraseAccount("ada")); err != nil {
		t.Error("logout removed a key passphrase")
	}
	if !strings.Contains(errOut, "BITBUCKET_API_TOKEN is still set") {
		t.Errorf("stderr:\n%s", errOut)
	}

	// Again: nothing to remove is not an error.
	res, errOut = logoutRun(t, nil, open)
	if res.Removed || !strings.Contains(errOut, "not logged in") {
		t.Errorf("second logout: %+v\n%s", res, errOut)
	}
}

func TestLogoutFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bbkey")
	open := func(ctx context.Context, allow bool) (credstore.Store, error) {
		return credstore.Open(ctx, credstore.Options{ConfigDir: dir, AllowInsecure: allow, GOOS: "linux", LookupEnv: func(string) (string, bool) { return "", false }})
	}
	// Nothing anywhere, no keychain: not logged in.
	if res, errOut := logoutRun(t, nil, open); res.Removed || !strings.Contains(errOut, "not logged in") {
		t.Errorf("%+v\n%s", res, errOut)
	}
	s, err := open(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(t.Context(), credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: "a@b.c", Secret: []byte("t")}); err != nil {
		t.Fatal(err)
	}
	res, _ := logoutRun(t, nil, open)
	if !res.Removed || res.Store != "file" || res.Path != filepath.Join(dir, credstore.FileName) {
		t.Errorf("result = %+v", res)
	}
	if _, err := os.Stat(res.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the credentials file stayed: %v", err)
	}
}
