package auth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/settings"
)

func run(t *testing.T, env map[string]string, store credstore.Store, asJSON bool) (string, string, error) {
	t.Helper()
	return runWith(t, env, store, nil, asJSON, nil)
}

// runWith runs `bbkey auth status args…` with env as the environment, store as the
// keychain and paths (nil: the Factory's own) for its files; it returns stdout, stderr and
// the run's error.
func runWith(t *testing.T, env map[string]string, store credstore.Store, paths func() (settings.Paths, error), asJSON bool, args []string) (string, string, error) {
	t.Helper()
	ios, _, out, errb := iostreamstest.Test()
	f := &cmdutil.Factory{
		IOStreams: ios,
		Globals:   &cmdutil.GlobalOptions{MaxWait: 5 * time.Second, JSON: asJSON},
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		Now:        time.Now,
		HTTPClient: func() *http.Client { return &http.Client{Timeout: 10 * time.Second} },
		Paths:      paths,
		CredStore:  func(context.Context, bool) (credstore.Store, error) { return store, nil },
	}
	cmd := newCmdStatus(f)
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), errb.String(), err
}

func emuEnv(emu *bbapitest.Server) map[string]string {
	env := map[string]string{}
	for _, kv := range emu.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func TestStatusFromEnvironment(t *testing.T) {
	emu := bbapitest.Start(t)
	out, _, err := run(t, emuEnv(emu), &credstoretest.Fake{}, true)
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if !st.LoggedIn || st.Source != "environment" || st.Kind != "api-token" || st.Email != bbapitest.DefaultEmail ||
		st.User == nil || st.User.UUID != bbapitest.DefaultUUID || st.User.AccountID != bbapitest.DefaultAccountID ||
		len(st.Scopes) != len(bbapitest.AllScopes) || len(st.MissingScopes) != 0 || st.ExpiresOn != nil {
		t.Errorf("status = %+v", st)
	}
	for _, k := range []string{`"logged_in"`, `"source"`, `"kind"`, `"email"`, `"user"`, `"scopes"`, `"missing_scopes"`, `"expires_on"`} {
		if !strings.Contains(out, k) {
			t.Errorf("JSON lacks %s:\n%s", k, out)
		}
	}
}

func TestStatusStoredAndPlain(t *testing.T) {
	emu := bbapitest.Start(t)
	env := emuEnv(emu)
	tok, err := emu.AddAPIToken(bbapitest.DefaultEmail, "read:user:bitbucket", "read:ssh-key:bitbucket")
	if err != nil {
		t.Fatal(err)
	}
	delete(env, "BITBUCKET_EMAIL")
	delete(env, "BITBUCKET_API_TOKEN")
	store := &credstoretest.Fake{}
	if err := store.Set(t.Context(), credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: bbapitest.DefaultEmail, Secret: []byte(tok)}); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, env, store, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"logged in       yes", "account         Ada Lovelace (ada)", "source          keychain", "missing scopes  write:ssh-key:bitbucket, delete:ssh-key:bitbucket"} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(errOut, "! the credential lacks write:ssh-key:bitbucket") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if strings.Contains(out+errOut, tok) {
		t.Error("the token was printed")
	}
}

func TestStatusNotLoggedIn(t *testing.T) {
	emu := bbapitest.Start(t)
	env := emuEnv(emu)
	delete(env, "BITBUCKET_EMAIL")
	delete(env, "BITBUCKET_API_TOKEN")
	out, _, err := run(t, env, &credstoretest.Fake{}, true)
	if apierr.ExitCode(err) != errkind.ExitAuth {
		t.Fatalf("exit %d (%v), want 4", apierr.ExitCode(err), err)
	}
	var st Status
	if jerr := json.Unmarshal([]byte(out), &st); jerr != nil || st.LoggedIn || st.Error == "" {
		t.Errorf("status = %+v (%v)\n%s", st, jerr, out)
	}
	if len(emu.Requests()) != 0 {
		t.Error("called Bitbucket without a credential")
	}
}

func TestStatusRefused(t *testing.T) {
	emu := bbapitest.Start(t)
	env := emuEnv(emu)
	env["BITBUCKET_API_TOKEN"] = "revoked"
	out, _, err := run(t, env, &credstoretest.Fake{}, true)
	if apierr.ExitCode(err) != errkind.ExitAuth {
		t.Fatalf("exit %d (%v), want 4", apierr.ExitCode(err), err)
	}
	var st Status
	if jerr := json.Unmarshal([]byte(out), &st); jerr != nil || st.LoggedIn || st.Source != "environment" || st.Error == "" {
		t.Errorf("status = %+v (%v)", st, jerr)
	}
	if strings.Contains(out, "revoked") {
		t.Error("the token was printed")
	}
}

// Half a credential pair in the environment is not logged in: the document is printed
// (docs/auth.md), exit 4, and the hint names the missing half.
func TestStatusIncompleteEnvironment(t *testing.T) {
	emu := bbapitest.Start(t)
	env := emuEnv(emu)
	delete(env, "BITBUCKET_EMAIL")
	delete(env, "BITBUCKET_API_TOKEN")
	env["BITBUCKET_CLIENT_ID"] = "consumer"
	out, _, err := run(t, env, &credstoretest.Fake{}, true)
	if apierr.ExitCode(err) != errkind.ExitAuth || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "BITBUCKET_CLIENT_SECRET") {
		t.Fatalf("exit %d (%v), hints %q: want 4 naming BITBUCKET_CLIENT_SECRET", apierr.ExitCode(err), err, apierr.Hints(err))
	}
	var st Status
	if jerr := json.Unmarshal([]byte(out), &st); jerr != nil || st.LoggedIn || !strings.Contains(st.Error, "BITBUCKET_CLIENT_SECRET") {
		t.Errorf("status = %+v (%v)\n%s", st, jerr, out)
	}
	if len(emu.Requests()) != 0 {
		t.Error("called Bitbucket without a credential")
	}
}
