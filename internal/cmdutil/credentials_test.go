package cmdutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
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

// TestToCredential: a stored secret becomes the credential of its kind; one that lacks
// its secret or the id its kind needs is refused.
func TestToCredential(t *testing.T) {
	for _, tc := range []struct {
		sec  credstore.Secret
		want bbapi.Kind
		err  string
	}{
		{credstore.Secret{Kind: credstore.KindAPIToken, Email: "a@b.c", Secret: []byte("t")}, bbapi.KindAPIToken, ""},
		{credstore.Secret{Kind: credstore.KindAPIToken, Secret: []byte("t")}, "", "api token credential: missing the account email"},
		{credstore.Secret{Kind: credstore.KindAPIToken, Email: "a@b.c"}, "", "api-token credential: empty secret"},
		{credstore.Secret{Kind: credstore.KindAccessToken, Secret: []byte("t")}, bbapi.KindAccessToken, ""},
		{credstore.Secret{Kind: credstore.KindAccessToken}, "", "access-token credential: empty secret"},
		{credstore.Secret{Kind: credstore.KindOAuthClient, ClientID: "id", Secret: []byte("s")}, bbapi.KindOAuth, ""},
		{credstore.Secret{Kind: credstore.KindOAuthClient, Secret: []byte("s")}, "", "oauth credential: missing the client id"},
		{credstore.Secret{Kind: credstore.KindOAuthClient, ClientID: "id"}, "", "oauth credential: empty secret"},
		{credstore.Secret{Kind: credstore.KindHTTPAccessToken, Secret: []byte("t")}, dc.KindHTTPAccessToken, ""},
	} {
		c, err := toCredential(tc.sec, "")
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%v: = %v, %v; want error %q", tc.sec, c, err, tc.err)
		case tc.err == "" && (err != nil || c.Kind() != tc.want):
			t.Errorf("%v: = %v, %v; want a %s", tc.sec, c, err, tc.want)
		}
	}
}
