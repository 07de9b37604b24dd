package auth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

// machine is a config directory (config.json, state.json) and a credentials file.
type machine struct {
	dir   string
	store credstore.Store
	env   map[string]string
}

func newMachine(t *testing.T, env map[string]string) *machine {
	t.Helper()
	return &machine{dir: t.TempDir(), store: credstore.NewFile(t.TempDir()), env: env}
}

func (m *machine) storeServerToken(t *testing.T, server, tok string) {
	t.Helper()
	if err := m.store.Set(t.Context(), credstore.ServerAccount(server), credstore.Secret{Kind: credstore.KindHTTPAccessToken, Server: server, Secret: []byte(tok)}); err != nil {
		t.Fatal(err)
	}
}

func (m *machine) writeConfig(t *testing.T, doc string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(m.dir, "config.json"), []byte(doc+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (m *machine) stateServers(t *testing.T, urls ...string) {
	t.Helper()
	st := state.New()
	for _, u := range urls {
		st.EnsureServer(u)
	}
	if err := (state.Dir{Path: m.dir}).Save(st); err != nil {
		t.Fatal(err)
	}
}

// status runs `auth status args...` on the machine: stdout, stderr, the error.
func (m *machine) status(t *testing.T, asJSON bool, args ...string) (string, string, error) {
	t.Helper()
	paths := func() (settings.Paths, error) { return settings.Paths{Home: m.dir, ConfigDir: m.dir}, nil }
	return runWith(t, m.env, m.store, paths, asJSON, args)
}

// With no server selected, status shows the Cloud credential and then every Data Center
// server this machine knows (config.json's "servers", the state's) that has a stored
// token, each checked against its server; a server without a stored token is left out
// and not called, and BITBUCKET_SERVER_TOKEN (the selected server's) is not used for it.
func TestStatusListsStoredServers(t *testing.T) {
	cloud := bbapitest.Start(t)
	a := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	b := bbapitest.Start(t, bbapitest.WithDataCenter())
	c := bbapitest.Start(t, bbapitest.WithDataCenter())
	env := emuEnv(cloud)
	env[EnvServerToken] = c.DataCenter().DefaultToken()
	m := newMachine(t, env)
	m.writeConfig(t, `{"servers": {"`+a.DataCenter().ServerURL()+`": {}}}`)
	m.stateServers(t, b.DataCenter().ServerURL(), c.DataCenter().ServerURL())
	m.storeServerToken(t, a.DataCenter().ServerURL(), a.DataCenter().DefaultToken())
	m.storeServerToken(t, b.DataCenter().ServerURL(), "revoked-token")

	out, errOut, err := m.status(t, true)
	if apierr.ExitCode(err) != errkind.ExitAuth {
		t.Fatalf("exit %d (%v), want 4 for b's refused token\n%s", apierr.ExitCode(err), err, errOut)
	}
	var doc Status
	if jerr := json.Unmarshal([]byte(out), &doc); jerr != nil {
		t.Fatalf("%v\n%s", jerr, out)
	}
	if !doc.LoggedIn || doc.Server != "" || doc.Email != bbapitest.DefaultEmail {
		t.Errorf("Cloud part: %+v", doc)
	}
	if len(doc.Servers) != 2 {
		t.Fatalf("servers = %+v, want a and b", doc.Servers)
	}
	byURL := map[string]Status{}
	for _, s := range doc.Servers {
		byURL[s.Server] = s
	}
	sa, sb := byURL[a.DataCenter().ServerURL()], byURL[b.DataCenter().ServerURL()]
	if !sa.LoggedIn || sa.Source != "file" || sa.Kind != "http-access-token" || sa.User == nil || sa.User.Nickname != bbapitest.DCDefaultUser ||
		sa.DataCenter == nil || !sa.DataCenter.UserKeys {
		t.Errorf("server a: %+v %+v", sa, sa.DataCenter)
	}
	if sb.LoggedIn || sb.Error == "" || sb.Source != "file" {
		t.Errorf("server b (refused token): %+v", sb)
	}
	if len(c.Requests()) != 0 {
		t.Errorf("called server c, which has no stored token: %v", c.Requests())
	}
	if len(a.Requests()) == 0 || len(b.Requests()) == 0 {
		t.Error("a listed server was not checked")
	}
	if strings.Contains(out+errOut, "revoked-token") || strings.Contains(out+errOut, a.DataCenter().DefaultToken()) {
		t.Error("a token was printed")
	}
	if !strings.Contains(errOut, "logged in to "+a.DataCenter().ServerURL()) {
		t.Errorf("stderr:\n%s", errOut)
	}

	if doc.Servers[0].Server > doc.Servers[1].Server {
		t.Errorf("servers not in URL order: %s, %s", doc.Servers[0].Server, doc.Servers[1].Server)
	}

	// The text form: Cloud's block, then one block per server (in the same order) after
	// a blank line.
	out, _, _ = m.status(t, false)
	blocks := strings.Split(out, "\n\n")
	if len(blocks) != 3 || !strings.HasPrefix(blocks[0], "logged in") || !strings.Contains(blocks[0], "Ada Lovelace (ada)") || strings.Contains(blocks[0], "server") {
		t.Fatalf("text output:\n%s", out)
	}
	for i, s := range doc.Servers {
		blk := blocks[i+1]
		if !strings.Contains(blk, s.Server+" (Bitbucket Data Center)") {
			t.Errorf("block %d is not %s's:\n%s", i+1, s.Server, blk)
		}
		if s.Server == b.DataCenter().ServerURL() && !strings.HasPrefix(blk, "logged in   no") {
			t.Errorf("b's block:\n%s", blk)
		}
	}

	// --server cloud shows Cloud's alone.
	out, _, err = m.status(t, true, "--server", "cloud")
	if err != nil || strings.Contains(out, `"servers"`) {
		t.Errorf("--server cloud: %v\n%s", err, out)
	}
}

// A machine that uses only Data Center: no Cloud credential is no fault when a server's
// token is stored and accepted (exit 0), and the Cloud part says it is not logged in.
func TestStatusDataCenterOnlyMachine(t *testing.T) {
	cloud := bbapitest.Start(t)
	a := bbapitest.Start(t, bbapitest.WithDataCenter())
	env := emuEnv(cloud)
	delete(env, "BITBUCKET_EMAIL")
	delete(env, "BITBUCKET_API_TOKEN")
	m := newMachine(t, env)
	m.stateServers(t, a.DataCenter().ServerURL())
	m.storeServerToken(t, a.DataCenter().ServerURL(), a.DataCenter().DefaultToken())
	out, _, err := m.status(t, true)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var doc Status
	if jerr := json.Unmarshal([]byte(out), &doc); jerr != nil {
		t.Fatal(jerr)
	}
	if doc.LoggedIn || doc.Error == "" || len(doc.Servers) != 1 || !doc.Servers[0].LoggedIn || doc.Servers[0].Server != a.DataCenter().ServerURL() {
		t.Errorf("status: %+v", doc)
	}
	if len(cloud.Requests()) != 0 {
		t.Error("called Cloud without a credential")
	}
}

// On a machine with no server token stored, the output is what it was before servers
// were listed: the same bytes as with no config.json or state at all, known servers or not.
func TestStatusCloudOnlyUnchanged(t *testing.T) {
	cloud := bbapitest.Start(t)
	a := bbapitest.Start(t, bbapitest.WithDataCenter())
	for _, asJSON := range []bool{false, true} {
		bare := newMachine(t, emuEnv(cloud))
		known := newMachine(t, emuEnv(cloud))
		known.writeConfig(t, `{"servers": {"`+a.DataCenter().ServerURL()+`": {}}}`)
		known.stateServers(t, a.DataCenter().ServerURL())
		want, _, werr := bare.status(t, asJSON)
		got, _, gerr := known.status(t, asJSON)
		if werr != nil || gerr != nil || got != want {
			t.Errorf("json=%v: with known servers and no token:\n%s(%v)\nwithout:\n%s(%v)", asJSON, got, gerr, want, werr)
		}
	}
	if len(a.Requests()) != 0 {
		t.Error("called a server with no stored token")
	}
}
