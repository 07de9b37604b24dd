package list

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// dcWorld adds to the Cloud fixture a Data Center server (the emulator in Data Center
// mode, over HTTP) on which this machine holds a user key (file, state entry, the
// server) and whose repository OPS/api has a read-write access key.
type dcWorld struct {
	*fixture
	srv     *bbapitest.Server
	server  string
	userFP  string
	writeFP string
	// tokens the serverBackend hands out per server; a missing one is "not logged in".
	tokens map[string]string
}

func newDCWorld(t *testing.T) *dcWorld {
	t.Helper()
	f := newFixture(t)
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	t.Cleanup(func() {
		for _, r := range srv.Requests() {
			if r.Method == "DELETE" && strings.HasSuffix(strings.TrimRight(r.Path, "/"), "/keys") {
				t.Errorf("sent DELETE %s without a key id", r.Path)
			}
		}
	})
	w := &dcWorld{fixture: f, srv: srv, server: srv.DataCenter().ServerURL(), tokens: map[string]string{}}
	w.tokens[w.server] = srv.DataCenter().DefaultToken()
	c, err := dc.NewClient(w.server, dc.Token{Token: srv.DataCenter().DefaultToken()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rnd := &seeded{}
	rnd.s[0] = 7
	user, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(f.home.SSHDir, "bbkey_work_ed25519"), Comment: "bbkey:work@host", NoPassphrase: true, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	defer user.Wipe()
	if _, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: user.AuthorizedKey(), Label: "bbkey:work:2026-11-20", ExpiryDays: 365}); err != nil {
		t.Fatal(err)
	}
	write := authorized(seedKey("deploy-write"), "deploy@ci")
	if _, _, err := c.RepoKeys(bbapitest.DCDefaultProject, "api").Add(ctx, dc.AddAccessKeyOptions{Text: write, Label: "bbkey:deploy:2026-11-20", Permission: dc.RepoWrite}); err != nil {
		t.Fatal(err)
	}
	w.userFP = user.Fingerprint
	w.writeFP, _ = bbapi.FingerprintOf(write)

	sdir := state.Dir{Path: filepath.Join(f.home.ConfigDir, "bbkey")}
	st, err := sdir.Load()
	if err != nil {
		t.Fatal(err)
	}
	st.EnsureServer(w.server).Accounts["work"] = &state.Account{UUID: bbapitest.DCDefaultUser, KeyName: "work", KeyPath: user.Path, Fingerprint: user.Fingerprint, Label: "bbkey:work:2026-11-20", Created: now.AddDate(0, 0, -2)}
	if err := sdir.Save(st); err != nil {
		t.Fatal(err)
	}
	f.serverBackend = func(_ context.Context, server string) (backend.Backend, settings.ResolvedCredential, error) {
		tok, ok := w.tokens[server]
		if !ok {
			return nil, settings.ResolvedCredential{}, errkind.AuthError(settings.ErrNoCredential)
		}
		rc := settings.ResolvedCredential{Credential: dc.Token{Token: tok}, Source: settings.SourceStore}
		c, err := dc.NewClient(server, rc.Credential)
		if err != nil {
			return nil, rc, err
		}
		return backend.NewDataCenter(c, backend.DataCenterOptions{Now: f.opts.Now}), rc, nil
	}
	return w
}

type dcDoc struct {
	Accounts []struct {
		Server, Account string
		Checked         bool `json:"account_checked"`
	} `json:"accounts"`
	Keys []struct {
		Fingerprint string   `json:"fingerprint"`
		Servers     []string `json:"servers"`
		AccountKey  *struct {
			Server string `json:"server"`
			UUID   string `json:"uuid"`
			ID     int64  `json:"id"`
		} `json:"account_key"`
		AccessKeys []struct {
			Server, Kind, Target, Permission string
			ID                               int64
		} `json:"access_keys"`
		Status []string `json:"status"`
	} `json:"keys"`
	Warnings []string `json:"warnings"`
}

func (w *dcWorld) json(t *testing.T) dcDoc {
	t.Helper()
	w.out.Reset()
	w.opts.JSON = true
	if err := runList(context.Background(), w.opts); err != nil {
		t.Fatal(err)
	}
	var doc dcDoc
	if err := json.Unmarshal([]byte(w.out.String()), &doc); err != nil {
		t.Fatalf("%v\n%s", err, w.out.String())
	}
	return doc
}

// With Cloud selected, list asks Cloud and every server the state records: the Data
// Center user key is listed, on its server, with its own file: ok.
func TestListCloudAndDataCenter(t *testing.T) {
	w := newDCWorld(t)
	// Each Bitbucket's credential is resolved once: Cloud's not again for the server.
	asked := map[string]int{}
	cloud, server := w.cloudBackend, w.serverBackend
	w.opts.Backend = func(ctx context.Context, s string) (backend.Backend, settings.ResolvedCredential, error) {
		asked[s]++
		if s == "" {
			return cloud(ctx)
		}
		return server(ctx, s)
	}
	doc := w.json(t)
	if asked[""] != 1 || asked[w.server] != 1 || len(asked) != 2 {
		t.Errorf("credentials resolved: %v", asked)
	}
	if len(doc.Accounts) != 2 || doc.Accounts[0].Server != "cloud" || doc.Accounts[1].Server != w.server || doc.Accounts[1].Account != bbapitest.DCDefaultUser || !doc.Accounts[1].Checked {
		t.Errorf("accounts: %+v", doc.Accounts)
	}
	var found bool
	for _, k := range doc.Keys {
		if k.Fingerprint != w.userFP {
			if slices.Contains(k.Servers, w.server) {
				t.Errorf("key %s is on the server: %+v", k.Fingerprint, k)
			}
			continue
		}
		found = true
		if !slices.Equal(k.Servers, []string{w.server}) || k.AccountKey == nil || k.AccountKey.Server != w.server || k.AccountKey.ID == 0 || k.AccountKey.UUID != "" ||
			!slices.Equal(k.Status, []string{"ok"}) {
			t.Errorf("Data Center key: %+v %+v", k, k.AccountKey)
		}
	}
	if !found {
		t.Fatalf("the Data Center key is not listed:\n%s", w.out.String())
	}
	// The table names the server on each Data Center sighting and in SERVER.
	w.opts.JSON = false
	w.out.Reset()
	if err := runList(context.Background(), w.opts); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(w.server, "http://")
	for line := range strings.Lines(w.out.String()) {
		if strings.HasPrefix(line, w.userFP) && (!strings.Contains(line, "account on "+host) || !strings.HasSuffix(strings.TrimSpace(line), "\t"+host)) {
			t.Errorf("Data Center row: %q", line)
		}
		if strings.Contains(line, "bbkey:ada:") && !strings.HasSuffix(strings.TrimSpace(line), "\tcloud") {
			t.Errorf("Cloud row: %q", line)
		}
	}
}

// With the server selected, --repo and --project are its places (PROJ/slug, PROJ): the
// access key comes with its permission, the places of Cloud are not asked.
func TestListDataCenterPlaces(t *testing.T) {
	w := newDCWorld(t)
	w.opts.Selected = func() (string, error) { return w.server, nil }
	w.opts.Repos, w.opts.Projects = []string{bbapitest.DCDefaultProject + "/api"}, []string{bbapitest.DCDefaultProject}
	before := len(w.emu.Requests())
	doc := w.json(t)
	var k *struct {
		Server, Kind, Target, Permission string
		ID                               int64
	}
	for _, key := range doc.Keys {
		if key.Fingerprint == w.writeFP {
			if len(key.AccessKeys) != 1 || !slices.Equal(key.Servers, []string{w.server}) {
				t.Fatalf("access key: %+v", key)
			}
			k = &key.AccessKeys[0]
		}
	}
	if k == nil || k.Server != w.server || k.Kind != "repo" || k.Target != "OPS/api" || k.Permission != "REPO_WRITE" || k.ID == 0 {
		t.Fatalf("access key: %+v\n%s", k, w.out.String())
	}
	for _, r := range w.emu.Requests()[before:] {
		if strings.Contains(r.Path, "deploy-keys") {
			t.Errorf("asked Cloud for a Data Center place: %s", r.Path)
		}
	}
	// --workspace is Cloud's.
	w.opts.Workspace = "acme"
	if err := runList(context.Background(), w.opts); apierr.ExitCode(err) != errkind.ExitUsage {
		t.Errorf("--workspace on Data Center: exit %d (%v)", apierr.ExitCode(err), err)
	}
	// A project token acts as a service user: no account keys, a warning.
	tok, err := w.srv.DataCenter().AddProjectToken(bbapitest.DCDefaultProject, bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	w.opts.Workspace = ""
	w.tokens[w.server] = tok
	doc = w.json(t)
	if len(doc.Accounts) != 2 || doc.Accounts[1].Checked || !slices.ContainsFunc(doc.Warnings, func(s string) bool { return strings.Contains(s, "project or repository token") }) {
		t.Errorf("service token: %+v %v", doc.Accounts, doc.Warnings)
	}
}

// A server the state records but holds no token for is a warning: the rest is listed.
// The selected server without a token, asked for places, is an error (exit 4).
func TestListDataCenterNotLoggedIn(t *testing.T) {
	w := newDCWorld(t)
	delete(w.tokens, w.server)
	doc := w.json(t)
	if len(doc.Accounts) != 1 || !slices.ContainsFunc(doc.Warnings, func(s string) bool {
		return strings.Contains(s, "keys on "+w.server+" not listed") && strings.Contains(s, "bbkey auth login --server "+w.server)
	}) {
		t.Errorf("accounts %+v, warnings %v", doc.Accounts, doc.Warnings)
	}
	for _, k := range doc.Keys {
		if k.Fingerprint == w.userFP && !slices.Equal(k.Status, []string{"not checked on Bitbucket"}) {
			t.Errorf("the server's key unchecked: %+v", k)
		}
	}
	w.opts.Selected = func() (string, error) { return w.server, nil }
	w.opts.Repos = []string{"OPS/api"}
	w.opts.Projects = nil
	if err := runList(context.Background(), w.opts); apierr.ExitCode(err) != errkind.ExitAuth {
		t.Errorf("selected server without a token: exit %d (%v)", apierr.ExitCode(err), err)
	}
}

// With the server selected, Cloud is one more Bitbucket: a Cloud token it refuses is a
// warning, and the server's keys are still listed.
func TestListDataCenterSelectedCloudRefused(t *testing.T) {
	w := newDCWorld(t)
	w.opts.Selected = func() (string, error) { return w.server, nil }
	w.opts.Repos, w.opts.Projects = nil, nil
	w.cloudBackend = func(context.Context) (backend.Backend, settings.ResolvedCredential, error) {
		rc := settings.ResolvedCredential{Credential: &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: "revoked"}, Source: settings.SourceEnv}
		c, err := bbapi.NewClient(w.emu.APIURL(), rc.Credential)
		if err != nil {
			return nil, rc, err
		}
		return backend.NewCloud(c, settings.Settings{APIURL: w.emu.APIURL()}), rc, nil
	}
	doc := w.json(t)
	if len(doc.Accounts) != 1 || doc.Accounts[0].Server != w.server ||
		!slices.ContainsFunc(doc.Warnings, func(s string) bool { return strings.Contains(s, "keys on Bitbucket Cloud not listed") }) {
		t.Errorf("accounts %+v, warnings %v", doc.Accounts, doc.Warnings)
	}
	if strings.Contains(w.out.String(), "revoked") {
		t.Error("the token is in the output")
	}
}
