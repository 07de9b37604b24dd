package auth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/testutil"
)

// startDC starts a Data Center emulator checked against the spec, and fails the test if
// anything sent DELETE /rest/ssh/latest/keys without an id.
func startDC(t *testing.T) *bbapitest.Server {
	t.Helper()
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	t.Cleanup(func() {
		for _, r := range srv.Requests() {
			if r.Method == "DELETE" && strings.HasSuffix(strings.TrimRight(r.Path, "/"), "/keys") && strings.Contains(r.Path, "/rest/ssh/") {
				t.Errorf("sent DELETE %s without a key id", r.Path)
			}
		}
	})
	return srv
}

// dcFixture is the login fixture with a real credentials file (no keychain, as on a
// headless Linux machine, with --insecure-storage) holding the Cloud login already.
func dcFixture(t *testing.T) (*fixture, string) {
	fx := newFixture(t)
	dir := filepath.Join(t.TempDir(), "bbkey")
	fx.openStore = noBus(dir)
	if err := fx.run(t, "--insecure-storage"); err != nil {
		t.Fatal(err)
	}
	fx.stdout.Reset()
	fx.stderr.Reset()
	return fx, dir
}

func readFileStore(t *testing.T, dir string) map[string]credstore.Secret {
	t.Helper()
	f := credstore.NewFile(dir)
	out := map[string]credstore.Secret{}
	b, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Credentials map[string]json.RawMessage `json:"credentials"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for account := range doc.Credentials {
		sec, err := f.Get(t.Context(), account)
		if err != nil {
			t.Fatal(err)
		}
		out[account] = sec
	}
	return out
}

func TestServerLoginOneEntryPerServer(t *testing.T) {
	fx, dir := dcFixture(t)
	a, b := startDC(t), startDC(t)
	fx.globals.JSON = true

	// Server a: the token from the environment, the server from --server.
	fx.env[EnvServerToken] = a.DataCenter().DefaultToken()
	if err := fx.run(t, "--server", a.DataCenter().ServerURL()+"/", "--insecure-storage"); err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal([]byte(fx.stdout.String()), &st); err != nil {
		t.Fatalf("%v\n%s", err, fx.stdout.String())
	}
	d := st.DataCenter
	if !st.LoggedIn || st.Server != a.DataCenter().ServerURL() || st.Kind != "http-access-token" || st.Source != "file" ||
		st.User == nil || st.User.Nickname != bbapitest.DCDefaultUser || d == nil || !d.UserKeys || d.UserType != "NORMAL" ||
		d.AdminRepositories != len(bbapitest.DefaultRepos)+1 || d.AdminProjects < 1 || !d.SSHEnabled || d.SSHEndpoint == "" ||
		len(d.MissingPermissions) != 0 {
		t.Errorf("status = %+v, data_center = %+v", st, d)
	}
	if !strings.Contains(fx.stderr.String(), "logged in to "+a.DataCenter().ServerURL()) || !strings.Contains(fx.stderr.String(), "from "+EnvServerToken+" stored in") {
		t.Errorf("stderr does not name the server:\n%s", fx.stderr.String())
	}

	// Server b: the token from --token-file, the server from BITBUCKET_SERVER.
	delete(fx.env, EnvServerToken)
	fx.env[EnvServer] = b.DataCenter().ServerURL()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(b.DataCenter().DefaultToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fx.globals.TokenFile = file
	if err := fx.run(t, "--insecure-storage"); err != nil {
		t.Fatal(err)
	}

	got := readFileStore(t, dir)
	accA := credstore.ServerAccount(a.DataCenter().ServerURL())
	accB := credstore.ServerAccount(b.DataCenter().ServerURL())
	if want := []string{credstore.DefaultAccount, accA, accB}; !slices.Equal(slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	}), slices.Sorted(slices.Values(want))) {
		t.Fatalf("stored accounts %v, want %v", got, want)
	}
	if s := got[accA]; s.Kind != credstore.KindHTTPAccessToken || string(s.Secret) != a.DataCenter().DefaultToken() || s.Server != a.DataCenter().ServerURL() {
		t.Errorf("server a: %v", s)
	}
	if s := got[accB]; string(s.Secret) != b.DataCenter().DefaultToken() {
		t.Errorf("server b: %v", s)
	}
	if s := got[credstore.DefaultAccount]; s.Kind != credstore.KindAPIToken || string(s.Secret) != fx.emu.DefaultAPIToken() {
		t.Errorf("the Cloud credential changed: %v", s)
	}
	testutil.AssertPrivate(t, filepath.Join(dir, credstore.FileName))
	for _, tok := range []string{a.DataCenter().DefaultToken(), b.DataCenter().DefaultToken()} {
		if strings.Contains(fx.stdout.String()+fx.stderr.String(), tok) {
			t.Error("a token was printed")
		}
	}
}

// A project token acts as a service user: it logs in, and says it cannot manage a
// user's SSH keys but may manage its project's access keys.
func TestServerLoginProjectToken(t *testing.T) {
	fx, _ := dcFixture(t)
	srv := startDC(t)
	tok, err := srv.DataCenter().AddProjectToken(bbapitest.DCDefaultProject, bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	fx.env[EnvServerToken] = tok
	fx.globals.JSON = true
	if err := fx.run(t, "--server", srv.DataCenter().ServerURL(), "--insecure-storage"); err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal([]byte(fx.stdout.String()), &st); err != nil {
		t.Fatal(err)
	}
	d := st.DataCenter
	if d == nil || d.UserKeys || d.UserType != "SERVICE" || d.AdminProjects != 1 || d.AdminRepositories != len(bbapitest.DefaultRepos) ||
		!slices.Equal(d.MissingPermissions, []string{"LICENSED_USER"}) {
		t.Errorf("data_center = %+v", d)
	}
	if !strings.Contains(fx.stderr.String(), "cannot manage a user's SSH keys") {
		t.Errorf("no warning about the user keys:\n%s", fx.stderr.String())
	}
}

func TestServerLoginRefusedTokenStoresNothing(t *testing.T) {
	fx, dir := dcFixture(t)
	srv := startDC(t)
	fx.env[EnvServerToken] = "wrong-dc-token"
	err := fx.run(t, "--server", srv.DataCenter().ServerURL(), "--insecure-storage")
	if apierr.ExitCode(err) != errkind.ExitAuth {
		t.Fatalf("exit %d (%v), want 4", apierr.ExitCode(err), err)
	}
	h := strings.Join(apierr.Hints(err), "\n")
	if !strings.Contains(h, "bbkey auth login --server "+srv.DataCenter().ServerURL()) || strings.Contains(err.Error()+h, "wrong-dc-token") {
		t.Errorf("error %v, hints:\n%s", err, h)
	}
	if got := readFileStore(t, dir); len(got) != 1 {
		t.Errorf("a refused token was stored: %v", got)
	}
}

func TestServerLoginUsage(t *testing.T) {
	fx := newFixture(t)
	srv := startDC(t)
	url := srv.DataCenter().ServerURL()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no terminal", []string{"--server", url}, []string{"--token-file", EnvServerToken, url}},
		{"email", []string{"--server", url, "--email", "a@b.c"}, []string{"--email"}},
		{"not a url", []string{"--server", "bitbucket.example.com"}, []string{"want https://host"}},
		{"credentials in the url", []string{"--server", "https://ada:secret@bitbucket.example.com"}, []string{"credentials do not belong in the url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fx.run(t, tc.args...)
			if apierr.ExitCode(err) != errkind.ExitUsage {
				t.Fatalf("exit %d (%v), want 2", apierr.ExitCode(err), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error()+strings.Join(apierr.Hints(err), "\n"), w) {
					t.Errorf("%v does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Error("the URL's password is in the error")
			}
		})
	}
	if len(srv.Requests()) != 0 || len(fx.store.Accounts()) != 0 {
		t.Error("called the server or stored something")
	}
}

// On a terminal the token is asked for with echo off (the prompter's Secret), trimmed,
// and asked again when empty.
func TestServerLoginPrompts(t *testing.T) {
	fx, dir := dcFixture(t)
	srv := startDC(t)
	fx.ios.StdinTTY = true
	fx.ios.StderrTTY = true
	fx.prompter.Answers = []string{"   ", "  " + srv.DataCenter().DefaultToken() + "\n"}
	if err := fx.run(t, "--server", srv.DataCenter().ServerURL(), "--insecure-storage"); err != nil {
		t.Fatal(err)
	}
	want := "HTTP access token for " + srv.DataCenter().ServerURL()
	if !slices.Equal(fx.prompter.Asked, []string{want, want}) {
		t.Errorf("asked %q", fx.prompter.Asked)
	}
	if s := readFileStore(t, dir)[credstore.ServerAccount(srv.DataCenter().ServerURL())]; string(s.Secret) != srv.DataCenter().DefaultToken() {
		t.Errorf("stored %v", s)
	}
}

// --dry-run checks the token with the server and stores nothing.
func TestServerLoginDryRun(t *testing.T) {
	fx, dir := dcFixture(t)
	srv := startDC(t)
	fx.env[EnvServerToken] = srv.DataCenter().DefaultToken()
	fx.globals.JSON = true
	if err := fx.run(t, "--server", srv.DataCenter().ServerURL(), "--insecure-storage", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal([]byte(fx.stdout.String()), &st); err != nil {
		t.Fatal(err)
	}
	if !st.DryRun || !st.LoggedIn || st.Server != srv.DataCenter().ServerURL() {
		t.Errorf("status = %+v", st)
	}
	if got := readFileStore(t, dir); len(got) != 1 {
		t.Errorf("a dry run stored %v", got)
	}
	if len(srv.Requests()) == 0 {
		t.Error("the token was not checked")
	}
}
