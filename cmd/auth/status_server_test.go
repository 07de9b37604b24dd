package auth

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/settings"
)

func runArgs(t *testing.T, env map[string]string, store credstore.Store, args ...string) (Status, string, string, error) {
	t.Helper()
	out, errb, err := runWith(t, env, store, nil, true, args)
	var st Status
	if jerr := json.Unmarshal([]byte(out), &st); jerr != nil {
		t.Fatalf("stdout is not the status document: %v\n%s", jerr, out)
	}
	return st, out, errb, err
}

// The token of each server comes from its own entry of the real credentials file, beside
// the Cloud one; BITBUCKET_SERVER_TOKEN outranks it.
func TestServerStatus(t *testing.T) {
	a := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	b := bbapitest.Start(t, bbapitest.WithDataCenter())
	readTok, err := b.DataCenter().AddPersonalToken(bbapitest.DCDefaultUser, bbapitest.PermRead, bbapitest.PermRead)
	if err != nil {
		t.Fatal(err)
	}
	store := credstore.NewFile(t.TempDir())
	ctx := t.Context()
	if err := store.Set(ctx, credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: "a@b.c", Secret: []byte("cloud")}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ url, tok string }{{a.DataCenter().ServerURL(), a.DataCenter().DefaultToken()}, {b.DataCenter().ServerURL(), readTok}} {
		acc := credstore.ServerAccount(s.url)
		if err := store.Set(ctx, acc, credstore.Secret{Kind: credstore.KindHTTPAccessToken, Server: s.url, Secret: []byte(s.tok)}); err != nil {
			t.Fatal(err)
		}
	}

	st, _, errOut, err := runArgs(t, map[string]string{}, store, "--server", a.DataCenter().ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	if !st.LoggedIn || st.Server != a.DataCenter().ServerURL() || st.Source != "file" || st.User == nil || st.User.Nickname != bbapitest.DCDefaultUser ||
		st.DataCenter == nil || !st.DataCenter.UserKeys || st.DataCenter.AdminRepositories == 0 {
		t.Errorf("server a: %+v %+v", st, st.DataCenter)
	}
	if !strings.Contains(errOut, "logged in to "+a.DataCenter().ServerURL()) {
		t.Errorf("stderr:\n%s", errOut)
	}

	// Server b by BITBUCKET_SERVER: a read-only token administers nothing.
	st, out, errOut, err := runArgs(t, map[string]string{EnvServer: b.DataCenter().ServerURL()}, store)
	if err != nil {
		t.Fatal(err)
	}
	if st.Server != b.DataCenter().ServerURL() || st.DataCenter == nil || st.DataCenter.AdminRepositories != 0 || st.DataCenter.AdminProjects != 0 ||
		!strings.Contains(strings.Join(st.DataCenter.MissingPermissions, ","), "REPO_ADMIN") {
		t.Errorf("server b: %+v %+v", st, st.DataCenter)
	}
	if !strings.Contains(errOut, "cannot manage access keys anywhere") || strings.Contains(out+errOut, readTok) {
		t.Errorf("stderr:\n%s", errOut)
	}

	// The environment outranks the stored token.
	st, _, _, err = runArgs(t, map[string]string{EnvServerToken: "revoked"}, store, "--server", a.DataCenter().ServerURL())
	if apierr.ExitCode(err) != errkind.ExitAuth || st.LoggedIn || st.Source != "environment" || st.Error == "" {
		t.Errorf("revoked token in the environment: exit %d %v %+v", apierr.ExitCode(err), err, st)
	}
}

func TestServerStatusNotLoggedIn(t *testing.T) {
	srv := bbapitest.Start(t, bbapitest.WithDataCenter())
	store := credstore.NewFile(t.TempDir())
	st, _, _, err := runArgs(t, map[string]string{}, store, "--server", srv.DataCenter().ServerURL())
	if apierr.ExitCode(err) != errkind.ExitAuth || st.LoggedIn || st.Server != srv.DataCenter().ServerURL() || st.Error == "" {
		t.Fatalf("exit %d (%v), status %+v", apierr.ExitCode(err), err, st)
	}
	if h := strings.Join(apierr.Hints(err), "\n"); !strings.Contains(h, "bbkey auth login --server "+srv.DataCenter().ServerURL()) {
		t.Errorf("hints:\n%s", h)
	}
	if len(srv.Requests()) != 0 {
		t.Error("called the server without a token")
	}
}

// The server config.json records (setup --server) is the one status shows; --server
// cloud shows Cloud's credential instead.
func TestServerStatusFromConfig(t *testing.T) {
	srv := bbapitest.Start(t, bbapitest.WithDataCenter())
	cloud := bbapitest.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"server": "`+srv.DataCenter().ServerURL()+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvServerToken: srv.DataCenter().DefaultToken()}
	for _, kv := range cloud.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	run := func(args ...string) Status {
		ios, _, out, _ := iostreamstest.Test()
		f := &cmdutil.Factory{
			IOStreams:  ios,
			Globals:    &cmdutil.GlobalOptions{MaxWait: 5 * time.Second, JSON: true},
			LookupEnv:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			Now:        time.Now,
			HTTPClient: func() *http.Client { return &http.Client{Timeout: 10 * time.Second} },
			Paths:      func() (settings.Paths, error) { return settings.Paths{Home: dir, ConfigDir: dir}, nil },
		}
		cmd := newCmdStatus(f)
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		if err := cmd.ExecuteContext(t.Context()); err != nil {
			t.Fatal(err)
		}
		var st Status
		if err := json.Unmarshal([]byte(out.String()), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := run(); st.Server != srv.DataCenter().ServerURL() || st.DataCenter == nil {
		t.Errorf("recorded server: %+v", st)
	}
	if st := run("--server", "cloud"); st.Server != "" || st.Email != bbapitest.DefaultEmail {
		t.Errorf("--server cloud: %+v", st)
	}
}
