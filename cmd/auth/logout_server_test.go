package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
)

// Logging out of one server removes its entry only: the Cloud credential and the other
// server's token stay.
func TestLogoutServer(t *testing.T) {
	ctx := t.Context()
	store := credstore.NewFile(t.TempDir())
	open := func(context.Context, bool) (credstore.Store, error) { return store, nil }
	if err := store.Set(ctx, credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: "a@b.c", Secret: []byte("cloud")}); err != nil {
		t.Fatal(err)
	}
	a, b := "https://a.example.com", "https://b.example.com/ctx"
	for _, s := range []string{a, b} {
		acc := credstore.ServerAccount(s)
		if err := store.Set(ctx, acc, credstore.Secret{Kind: credstore.KindHTTPAccessToken, Server: s, Secret: []byte("tok")}); err != nil {
			t.Fatal(err)
		}
	}
	res, errOut := logoutRunWith(t, map[string]string{EnvServerToken: "x"}, open, "--server", "HTTPS://A.example.com/")
	if !res.Removed || res.Server != a || res.Store != "file" {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(errOut, "removed the HTTP access token of "+a) || !strings.Contains(errOut, EnvServerToken+" is still set") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if _, err := credstore.GetServerToken(ctx, store, a); !errors.Is(err, credstore.ErrNotFound) {
		t.Errorf("server a still stored: %v", err)
	}
	if _, err := credstore.GetServerToken(ctx, store, b); err != nil {
		t.Errorf("server b gone: %v", err)
	}
	if _, err := store.Get(ctx, credstore.DefaultAccount); err != nil {
		t.Errorf("the Cloud credential gone: %v", err)
	}
	// Again: nothing stored for it is not an error.
	res, errOut = logoutRunWith(t, map[string]string{EnvServer: a}, open)
	if res.Removed || res.Server != a || !strings.Contains(errOut, "no HTTP access token of "+a) {
		t.Errorf("second logout: %+v\n%s", res, errOut)
	}
}

func logoutRunWith(t *testing.T, env map[string]string, open func(context.Context, bool) (credstore.Store, error), args ...string) (LogoutResult, string) {
	t.Helper()
	ios, _, out, errb := iostreamstest.Test()
	f := &cmdutil.Factory{
		IOStreams: ios,
		Globals:   &cmdutil.GlobalOptions{JSON: true},
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		CredStore: open,
	}
	cmd := newCmdLogout(f)
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	return decode(t, out.String()), errb.String()
}

func decode(t *testing.T, s string) LogoutResult {
	t.Helper()
	var res LogoutResult
	if err := json.Unmarshal([]byte(s), &res); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return res
}
