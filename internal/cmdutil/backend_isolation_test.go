package cmdutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/settings"
)

// --token-file and BITBUCKET_SERVER_TOKEN are the selected Bitbucket's: a command that
// reaches several (list, doctor, rotate) never sends them to another one. Another
// server's token comes from its keychain entry, Cloud's from Cloud's own sources.
func TestBackendForKeepsTokensToTheirBitbucket(t *testing.T) {
	selected, other := "https://a.example.com", "https://b.example.com"
	f := testFactory(t, map[string]string{ServerTokenEnv: "token-of-a"})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("file-token-of-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Globals.Server, f.Globals.TokenFile = selected, tokenFile
	store := &credstoretest.Fake{}
	f.CredStore = func(context.Context, bool) (credstore.Store, error) { return store, nil }
	ctx := t.Context()

	// The selected server: the file first.
	_, rc, err := f.BackendFor(ctx, selected)
	if err != nil || rc.Credential.(dc.Token).Token != "file-token-of-a" || rc.Source != settings.SourceTokenFile {
		t.Fatalf("selected: %v %v", rc, err)
	}
	// Another server: neither the file nor the variable; not logged in until stored.
	if _, _, err := f.BackendFor(ctx, other); !errors.Is(err, settings.ErrNoCredential) {
		t.Fatalf("other server without a stored token: %v", err)
	}
	if err := store.Set(ctx, credstore.ServerAccount(other), credstore.Secret{Kind: credstore.KindHTTPAccessToken, Server: other, Secret: []byte("token-of-b")}); err != nil {
		t.Fatal(err)
	}
	_, rc, err = f.BackendFor(ctx, other)
	if err != nil || rc.Credential.(dc.Token).Token != "token-of-b" || rc.Source != settings.SourceStore {
		t.Fatalf("other server: %v %v", rc, err)
	}
	// Cloud: the file is the server's, so Cloud is not logged in...
	if _, _, err := f.BackendFor(ctx, ""); !errors.Is(err, settings.ErrNoCredential) {
		t.Fatalf("Cloud with the server's --token-file: %v", err)
	}
	// ...until Cloud's own credential is there.
	if err := store.Set(ctx, credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: "a@b.c", Secret: []byte("cloud-token")}); err != nil {
		t.Fatal(err)
	}
	_, rc, err = f.BackendFor(ctx, "")
	if err != nil || rc.Credential.Kind() != bbapi.KindAPIToken {
		t.Fatalf("Cloud: %v %v", rc, err)
	}
}
