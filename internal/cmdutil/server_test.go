package cmdutil

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
)

// The server is --server > BITBUCKET_SERVER > config.json, normalized; "cloud" is Cloud.
func TestSettingsServer(t *testing.T) {
	f := testFactory(t, map[string]string{"BITBUCKET_SERVER": "HTTPS://Git.Example.com:443/bb/rest/"})
	s, err := f.Settings()
	if err != nil || s.Server != "https://git.example.com/bb" {
		t.Fatalf("env: server %q, %v", s.Server, err)
	}
	f.Globals.Server = "https://other.example.com"
	if s, _ = f.Settings(); s.Server != "https://other.example.com" {
		t.Errorf("the flag does not win: %q", s.Server)
	}
	f.Globals.Server = "cloud"
	if s, _ = f.Settings(); s.Server != "" {
		t.Errorf("--server cloud: %q", s.Server)
	}
	for _, bad := range []string{"ftp://git.example.com", "https://u:p@git.example.com", "git.example.com"} {
		f.Globals.Server = bad
		_, err := f.Settings()
		if apierr.ExitCode(err) != errkind.ExitUsage || strings.Contains(err.Error(), ":p@") {
			t.Errorf("--server %q: %v (exit %d)", bad, err, apierr.ExitCode(err))
		}
	}
}

// With a server selected, the SSH flags and variables are the server's; Cloud's SSH
// settings come from config.json and the defaults, so one machine keeps both.
func TestSettingsSSHFlagsGoToTheServer(t *testing.T) {
	f := testFactory(t, map[string]string{"BBKEY_SSH_ENDPOINT": "git.example.com:7999", "BBKEY_SSH_HOST_KEYS": "/keys/dc.pub"})
	cloud := testFactory(t, map[string]string{"BBKEY_SSH_ENDPOINT": "127.0.0.1:2222"})
	cloud.Paths = f.Paths
	cs, _ := cloud.Settings()
	if _, err := cloud.PersistSettings(cs); err != nil {
		t.Fatal(err)
	}
	f.Globals.Server = "https://git.example.com"
	s, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.DC.SSHEndpoint != "git.example.com:7999" || s.DC.SSHHostKeys != "/keys/dc.pub" {
		t.Errorf("server's ssh settings = %+v", s.DC)
	}
	if s.SSHEndpoint != "127.0.0.1:2222" || s.SSHHostKeys != "" {
		t.Errorf("Cloud's ssh settings took the server's: %+v", s)
	}

	// Recorded per server, with the server itself; a later run without flags or
	// variables reaches both as they were.
	path, err := f.PersistSettings(s)
	if err != nil || path == "" {
		t.Fatalf("PersistSettings = %q, %v", path, err)
	}
	b, _ := os.ReadFile(path)
	var file struct {
		Server      string                             `json:"server"`
		SSHEndpoint string                             `json:"ssh_endpoint"`
		Servers     map[string]settings.ServerSettings `json:"servers"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if file.Server != "https://git.example.com" || file.SSHEndpoint != "127.0.0.1:2222" ||
		file.Servers["https://git.example.com"].SSHEndpoint != "git.example.com:7999" {
		t.Errorf("config.json:\n%s", b)
	}
	later := testFactory(t, nil)
	later.Paths = f.Paths
	got, err := later.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if got.Server != "https://git.example.com" || got.DC.SSHEndpoint != "git.example.com:7999" || got.SSHEndpoint != "127.0.0.1:2222" {
		t.Errorf("read back: %+v", got)
	}
	// The state names Cloud: its settings, whatever config.json selects.
	c, _, err := later.settingsFor(new(""))
	if err != nil || c.Server != "" || c.SSHEndpoint != "127.0.0.1:2222" || c.DC != (settings.ServerSettings{}) {
		t.Errorf("settingsFor(cloud) = %+v, %v", c, err)
	}
	// --server cloud forgets the recorded server, keeps its SSH settings for later.
	later.Globals.Server = "cloud"
	back, _ := later.Settings()
	if _, err := later.PersistSettings(back); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if strings.Contains(string(b), `"server":`) || !strings.Contains(string(b), "git.example.com:7999") {
		t.Errorf("config.json after --server cloud:\n%s", b)
	}
}

// A server's credential: --token-file > BITBUCKET_SERVER_TOKEN > its keychain entry.
func TestResolveServerCredential(t *testing.T) {
	const server = "https://git.example.com"
	store := &credstoretest.Fake{}
	if err := store.Set(context.Background(), credstore.ServerAccount(server), credstore.Secret{Kind: credstore.KindHTTPAccessToken, Secret: []byte("from-keychain")}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	f := testFactory(t, env)
	f.CredStore = func(context.Context, bool) (credstore.Store, error) { return store, nil }
	check := func(wantTok string, wantSrc settings.CredentialSource) {
		t.Helper()
		rc, err := f.ResolveServerCredential(t.Context(), server)
		if err != nil {
			t.Fatal(err)
		}
		if tok, ok := rc.Credential.(dc.Token); !ok || tok.Token != wantTok || rc.Source != wantSrc {
			t.Errorf("credential %#v from %s, want %s from %s", rc.Credential, rc.Source, wantTok, wantSrc)
		}
	}
	check("from-keychain", settings.SourceStore)
	env[ServerTokenEnv] = "from-env"
	check("from-env", settings.SourceEnv)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Globals.TokenFile = file
	check("from-file", settings.SourceTokenFile)

	// Another server has no entry: an auth error naming every way to give one.
	f.Globals.TokenFile = ""
	delete(env, ServerTokenEnv)
	_, err := f.ResolveServerCredential(t.Context(), "https://elsewhere.example.com")
	if !errors.Is(err, settings.ErrNoCredential) || apierr.ExitCode(err) != errkind.ExitAuth || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "auth login --server https://elsewhere.example.com") {
		t.Errorf("no credential: %v (exit %d, hints %q)", err, apierr.ExitCode(err), apierr.Hints(err))
	}
}

// The Factory's Backend is the selected Bitbucket's, built with its credential.
func TestFactoryBackend(t *testing.T) {
	emu := bbapitest.Start(t, bbapitest.WithDataCenter())
	env := map[string]string{"BITBUCKET_SERVER": emu.DataCenter().ServerURL(), ServerTokenEnv: emu.DataCenter().DefaultToken()}
	f := testFactory(t, env)
	f.Now = time.Now
	f.Globals.MaxWait = 10 * time.Second
	b, rc, err := f.Backend(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind() != backend.DataCenter || b.Server() != emu.DataCenter().ServerURL() || rc.Source != settings.SourceEnv {
		t.Fatalf("backend %s %s from %s", b.Kind(), b.Server(), rc.Source)
	}
	a, err := b.Whoami(t.Context())
	if err != nil || a.ID != bbapitest.DCDefaultUser {
		t.Errorf("whoami = %+v, %v", a, err)
	}
	// The state's Cloud entry reaches Cloud although a server is selected.
	env["BITBUCKET_EMAIL"], env["BITBUCKET_API_TOKEN"] = "ada@example.com", "tok"
	cb, _, err := f.BackendFor(t.Context(), "")
	if err != nil || cb.Kind() != backend.Cloud {
		t.Errorf("BackendFor(cloud) = %v, %v", cb, err)
	}
}
