package cmdutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
)

func TestResolveCredential(t *testing.T) {
	ctx := context.Background()
	stored := &credstoretest.Fake{}
	if err := stored.Set(ctx, credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: "k@example.com", Secret: []byte("keychain-token")}); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		tokenFile string
		store     credstore.Store
		wantSrc   settings.CredentialSource
		wantKind  bbapi.Kind
		wantCode  int
	}{
		{"env api token", map[string]string{"BITBUCKET_EMAIL": "e@example.com", "BITBUCKET_API_TOKEN": "t"}, "", stored, settings.SourceEnv, bbapi.KindAPIToken, 0},
		{"env access token", map[string]string{"BITBUCKET_ACCESS_TOKEN": "t"}, "", nil, settings.SourceEnv, bbapi.KindAccessToken, 0},
		{"token file with email", map[string]string{"BITBUCKET_EMAIL": "e@example.com", "BITBUCKET_API_TOKEN": "t"}, tokenFile, stored, settings.SourceTokenFile, bbapi.KindAPIToken, 0},
		{"token file alone is an access token", nil, tokenFile, nil, settings.SourceTokenFile, bbapi.KindAccessToken, 0},
		{"keychain", nil, "", stored, settings.SourceStore, bbapi.KindAPIToken, 0},
		{"email in env, token in keychain", map[string]string{"BITBUCKET_EMAIL": "k@example.com"}, "", stored, settings.SourceStore, bbapi.KindAPIToken, 0},
		{"token without email", map[string]string{"BITBUCKET_API_TOKEN": "t"}, "", stored, "", "", errkind.ExitAuth},
		{"nothing anywhere", nil, "", &credstoretest.Fake{}, "", "", errkind.ExitAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testFactory(t, tt.env)
			f.Globals.TokenFile = tt.tokenFile
			if tt.store != nil {
				st := tt.store
				f.CredStore = func(context.Context, bool) (credstore.Store, error) { return st, nil }
			} else {
				f.CredStore = func(context.Context, bool) (credstore.Store, error) { return nil, errors.New("no keychain") }
			}
			rc, err := f.ResolveCredential(ctx)
			if tt.wantCode != 0 {
				if apierr.ExitCode(err) != tt.wantCode {
					t.Fatalf("err = %v (exit %d), want exit %d", err, apierr.ExitCode(err), tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rc.Source != tt.wantSrc || rc.Credential.Kind() != tt.wantKind {
				t.Errorf("got %s from %s, want %s from %s", rc.Credential.Kind(), rc.Source, tt.wantKind, tt.wantSrc)
			}
		})
	}
}
