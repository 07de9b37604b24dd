package remove

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// keyDeletePath is a DELETE Data Center may receive from bbkey: one key, by its id, of
// the user or of a repository or project. Anything else (the user-key collection
// /rest/ssh/latest/keys, which deletes every key of the user) fails the test.
var keyDeletePath = regexp.MustCompile(`^/rest/(ssh/latest/keys/[1-9][0-9]*|keys/latest/projects/[^/]+(/repos/[^/]+)?/ssh/[1-9][0-9]*)$`)

// assertDeletesByID fails the test if any DELETE the server received is not one key by
// its id.
func assertDeletesByID(t testing.TB, srv *bbapitest.Server) {
	t.Helper()
	for _, r := range srv.Requests() {
		if r.Method == http.MethodDelete && !keyDeletePath.MatchString(r.Path) {
			t.Errorf("bbkey sent DELETE %s: on Data Center only a key by its id may be deleted (a DELETE of /rest/ssh/latest/keys deletes every key of the user)", r.Path)
		}
	}
}

// dcRemove is a machine holding keys on a Data Center server (the emulator in Data
// Center mode over HTTP): a real home with bbkey's key files and state, a real agent.
type dcRemove struct {
	srv    *bbapitest.Server
	c      *dc.Client
	home   *testutil.Home
	sock   string
	work   *keys.Key // this machine's user key: file, agent, server, state
	oldID  int       // another machine's user key (bbkey:old), no file here
	ci     *keys.Key // this machine's access key on OPS/api and project OPS
	stderr *iostreamstest.SyncBuffer
	stdout *iostreamstest.SyncBuffer
}

func newDCRemove(t *testing.T) *dcRemove {
	t.Helper()
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	t.Cleanup(func() { assertDeletesByID(t, srv) })
	d := &dcRemove{srv: srv, home: testutil.NewHome(t), sock: testutil.StartAgent(t)}
	c, err := dc.NewClient(srv.DataCenter().ServerURL(), dc.Token{Token: srv.DataCenter().DefaultToken()})
	if err != nil {
		t.Fatal(err)
	}
	d.c = c
	ctx := t.Context()
	gen := func(name string) *keys.Key {
		k, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(d.home.SSHDir, "bbkey_"+name+"_ed25519"), Comment: "bbkey:" + name, NoPassphrase: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.Wipe)
		return k
	}
	d.work, d.ci = gen("work"), gen("access_ci")
	ag, err := agent.Connect(d.lookup)
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Add(d.work.Private, d.work.Comment, 0, false); err != nil {
		t.Fatal(err)
	}
	wk, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: d.work.AuthorizedKey(), Label: "bbkey:work:2026-11-20"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(t.TempDir(), "bbkey_old_ed25519"), Comment: "bbkey:old", NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Wipe()
	ok, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: other.AuthorizedKey(), Label: "bbkey:old:2025-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	d.oldID = ok.ID
	ciLabel := "bbkey:ci:2026-11-20:ttl=90d"
	if _, _, err := c.RepoKeys(bbapitest.DCDefaultProject, "api").Add(ctx, dc.AddAccessKeyOptions{Text: d.ci.AuthorizedKey(), Label: ciLabel, Permission: dc.RepoWrite}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ProjectKeys(bbapitest.DCDefaultProject).Add(ctx, dc.AddAccessKeyOptions{Text: d.ci.AuthorizedKey(), Label: ciLabel}); err != nil {
		t.Fatal(err)
	}
	st := &state.State{Version: state.Version, Accounts: map[string]*state.Account{}, AccessKeys: map[string]*state.AccessKey{}}
	v := st.EnsureServer(d.server())
	// As setup records a server: its SSH host and port from its settings, the host key
	// its SSH server presents (which matched the settings' fingerprint).
	set, _, err := c.SSH.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := set.Endpoint()
	if err != nil {
		t.Fatal(err)
	}
	v.SSHHost, v.SSHPort, v.SSHEndpoint = host, port, net.JoinHostPort(host, strconv.Itoa(port))
	v.HostKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostPublicKey())))}
	v.Accounts["work"] = &state.Account{UUID: bbapitest.DCDefaultUser, KeyName: "work", KeyPath: d.work.Path, Fingerprint: d.work.Fingerprint, KeyID: strconv.Itoa(wk.ID), Label: "bbkey:work:2026-11-20"}
	v.AccessKeys["ci"] = &state.AccessKey{Path: d.ci.Path, Fingerprint: d.ci.Fingerprint, Label: ciLabel, Targets: []state.Target{
		{Kind: state.TargetRepo, Workspace: bbapitest.DCDefaultProject, Slug: "api", Permission: "REPO_WRITE"},
		{Kind: state.TargetProject, Slug: bbapitest.DCDefaultProject, Permission: "PROJECT_READ"},
	}}
	if err := d.sdir().Save(st); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *dcRemove) server() string { return d.srv.DataCenter().ServerURL() }

func (d *dcRemove) sdir() state.Dir { return state.Dir{Path: filepath.Join(d.home.ConfigDir, "bbkey")} }

func (d *dcRemove) lookup(k string) (string, bool) {
	if k == "SSH_AUTH_SOCK" {
		return d.sock, true
	}
	return "", false
}

// run runs `bbkey remove args…` (with --json and --no-input) against the server.
func (d *dcRemove) run(t *testing.T, yes bool, args ...string) (jsonDoc, error) {
	t.Helper()
	ios, _, out, errb := iostreamstest.Test()
	d.stdout, d.stderr = out, errb
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f := &cmdutil.Factory{IOStreams: ios, Globals: &cmdutil.GlobalOptions{JSON: true, Yes: yes, NoInput: true}}
	var got *Options
	cmd := NewCmdRemove(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	got.Prompter = func() prompt.Prompter { return &prompttest.Fake{} }
	got.Now = func() time.Time { return now }
	got.LookupEnv = d.lookup
	got.Settings = func() (settings.Settings, error) {
		return settings.Settings{APIURL: settings.DefaultAPIURL, SSHHost: settings.DefaultSSHHost, SSHEndpoint: settings.DefaultSSHEndpoint, Server: d.server()}, nil
	}
	got.Paths = func() (settings.Paths, error) {
		return settings.Paths{Home: d.home.Dir, SSHDir: d.home.SSHDir, ConfigDir: filepath.Join(d.home.ConfigDir, "bbkey")}, nil
	}
	got.Agent = func() (agent.Agent, error) { return agent.Connect(d.lookup) }
	got.Backend = func(context.Context) (backend.Backend, settings.ResolvedCredential, error) {
		rc := settings.ResolvedCredential{Credential: dc.Token{Token: d.srv.DataCenter().DefaultToken()}, Source: settings.SourceEnv}
		c, err := dc.NewClient(d.server(), rc.Credential)
		if err != nil {
			return nil, rc, err
		}
		return backend.NewDataCenter(c, backend.DataCenterOptions{Now: got.Now}), rc, nil
	}
	err := runRemove(t.Context(), got)
	var doc jsonDoc
	if s := strings.TrimSpace(out.String()); s != "" {
		if jerr := json.Unmarshal([]byte(s), &doc); jerr != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", jerr, s)
		}
	}
	return doc, err
}

func (d *dcRemove) userKeyIDs() map[int]string {
	out := map[int]string{}
	for _, k := range d.srv.DataCenter().UserKeys(bbapitest.DCDefaultUser) {
		out[k.ID] = k.Label
	}
	return out
}

func (d *dcRemove) deletes() []string {
	var out []string
	for _, r := range d.srv.Requests() {
		if r.Method == http.MethodDelete {
			out = append(out, r.Path)
		}
	}
	return out
}

// Another machine's key, named by its bbkey name: one DELETE, of that key by its id.
func TestRemoveDataCenterByName(t *testing.T) {
	d := newDCRemove(t)
	doc, err := d.run(t, true, "old")
	if err != nil {
		t.Fatalf("%v\n%s", err, d.stderr)
	}
	if len(doc.Removed) != 1 || doc.Removed[0].Server != d.server() || doc.Removed[0].Kind != "account" || doc.Removed[0].ID != strconv.Itoa(d.oldID) {
		t.Errorf("removed: %+v", doc.Removed)
	}
	if ids := d.userKeyIDs(); len(ids) != 1 || ids[d.oldID] != "" {
		t.Errorf("keys left on the server: %v", ids)
	}
	if got := d.deletes(); len(got) != 1 || got[0] != "/rest/ssh/latest/keys/"+strconv.Itoa(d.oldID) {
		t.Errorf("DELETEs: %v", got)
	}
	if !strings.Contains(d.stderr.String(), "on "+d.server()) {
		t.Errorf("stderr does not name the server:\n%s", d.stderr)
	}
}

// On Data Center a bare number without --repo or --project is the user's own key's id.
func TestRemoveDataCenterByID(t *testing.T) {
	d := newDCRemove(t)
	if _, err := d.run(t, true, strconv.Itoa(d.oldID)); err != nil {
		t.Fatalf("%v\n%s", err, d.stderr)
	}
	if _, left := d.userKeyIDs()[d.oldID]; left {
		t.Error("the key is still there")
	}
	// A Cloud uuid means nothing there: exit 2, nothing sent.
	before := len(d.srv.Requests())
	if _, err := d.run(t, true, "{0ae4c6d4-8f7e-4b7b-9a43-6c2bd1f4d5e6}"); apierr.ExitCode(err) != errkind.ExitUsage {
		t.Errorf("uuid on Data Center: exit %d (%v)", apierr.ExitCode(err), err)
	}
	if len(d.srv.Requests()) != before {
		t.Error("a request was sent for a usage error")
	}
}

// The last key this machine can use is refused, even with --yes: nothing is deleted.
func TestRemoveDataCenterLastKey(t *testing.T) {
	d := newDCRemove(t)
	_, err := d.run(t, true, "SHA256:"+strings.TrimPrefix(d.work.Fingerprint, "SHA256:"))
	if err == nil || !strings.Contains(err.Error(), "last account key this machine can use") {
		t.Fatalf("err = %v", err)
	}
	if len(d.deletes()) != 0 || len(d.userKeyIDs()) != 2 {
		t.Errorf("deleted: %v", d.deletes())
	}
	// Without --yes and without a terminal it stops before anything changes (exit 2).
	if _, err := d.run(t, false, "old"); apierr.ExitCode(err) != errkind.ExitUsage || len(d.deletes()) != 0 {
		t.Errorf("no --yes: exit %d (%v), deletes %v", apierr.ExitCode(err), err, d.deletes())
	}
}

// An access key goes with --everywhere from every place the state records (the
// repository and the project), by id; the state forgets it in the server's entry and
// its files move to retired/.
func TestRemoveDataCenterAccessKeyEverywhere(t *testing.T) {
	d := newDCRemove(t)
	doc, err := d.run(t, true, "ci", "--repo", "OPS/api", "--everywhere")
	if err != nil {
		t.Fatalf("%v\n%s", err, d.stderr)
	}
	if len(doc.Removed) != 2 || doc.Removed[0].Target != "OPS/api" || doc.Removed[1].Target != "OPS" || doc.Removed[1].TargetKind != "project" {
		t.Errorf("removed: %+v", doc.Removed)
	}
	for _, v := range doc.Removed {
		if v.Server != d.server() || v.ID == "" {
			t.Errorf("removed %+v", v)
		}
	}
	if n := len(d.srv.DataCenter().RepoAccessKeys("OPS", "api")) + len(d.srv.DataCenter().ProjectAccessKeys("OPS")); n != 0 {
		t.Errorf("%d access keys left", n)
	}
	if len(d.userKeyIDs()) != 2 {
		t.Error("a user key went too")
	}
	st, err := d.sdir().Load()
	if err != nil {
		t.Fatal(err)
	}
	if v := st.ServerOf(d.server()); v == nil || v.AccessKeys["ci"] != nil || v.Accounts["work"] == nil {
		t.Errorf("state: %+v", v)
	}
	if _, err := os.Stat(d.ci.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the access key's file is still there: %v", err)
	}
	if len(doc.FilesMoved) != 2 {
		t.Errorf("files moved: %+v", doc.FilesMoved)
	}
	// The ssh config is rewritten from the state: the server's Host block with the
	// user key stays, nothing names the access key.
	cfg, err := os.ReadFile(filepath.Join(d.home.SSHDir, "bbkey", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), d.work.Path) || strings.Contains(string(cfg), "bbkey_access_ci") {
		t.Errorf("ssh config:\n%s", cfg)
	}
	for _, p := range d.deletes() {
		if !strings.HasPrefix(p, "/rest/keys/latest/projects/OPS/") {
			t.Errorf("DELETE %s", p)
		}
	}
}

// The guard itself: assertDeletesByID fails on the request that would delete every key
// of the user, which this test makes the emulator receive without bbkey.
func TestDeleteGuardCatchesCollectionDelete(t *testing.T) {
	srv := bbapitest.Start(t, bbapitest.WithDataCenter())
	req, _ := http.NewRequest(http.MethodDelete, srv.DataCenter().ServerURL()+"/rest/ssh/latest/keys", nil)
	req.Header.Set("Authorization", "Bearer "+srv.DataCenter().DefaultToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ft := &fakeT{}
	assertDeletesByID(ft, srv)
	if !ft.failed {
		t.Error("a DELETE of /rest/ssh/latest/keys went unnoticed")
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }

// --dry-run looks everything up and deletes nothing.
func TestRemoveDataCenterDryRun(t *testing.T) {
	d := newDCRemove(t)
	doc, err := d.run(t, true, "ci", "--repo", "OPS/api", "--everywhere", "--dry-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, d.stderr)
	}
	if !doc.DryRun || len(doc.Removed) != 2 || len(doc.FilesMoved) != 2 {
		t.Errorf("dry run: %+v", doc)
	}
	if got := d.deletes(); len(got) != 0 {
		t.Errorf("DELETEs in a dry run: %v", got)
	}
	if _, err := os.Stat(d.ci.Path); err != nil {
		t.Errorf("the key file moved in a dry run: %v", err)
	}
}

// TestRemoveDataCenterEverywhereAfterDeletedOutside: the access key was deleted on the
// server outside bbkey (the state still records both places). `remove ci --everywhere`
// looks at them, finds it nowhere, and still retires it here: the state forgets it and
// its files move to retired/, with nothing deleted on the server.
func TestRemoveDataCenterEverywhereAfterDeletedOutside(t *testing.T) {
	d := newDCRemove(t)
	ctx := t.Context()
	for _, k := range d.srv.DataCenter().RepoAccessKeys("OPS", "api") {
		if _, err := d.c.RepoKeys("OPS", "api").Delete(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range d.srv.DataCenter().ProjectAccessKeys("OPS") {
		if _, err := d.c.ProjectKeys("OPS").Delete(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.run(t, false, "ci", "--everywhere"); apierr.ExitCode(err) != errkind.ExitUsage {
		t.Fatalf("without --yes: %v", err)
	}
	if _, err := os.Stat(d.ci.Path); err != nil {
		t.Fatalf("the refused run moved the file: %v", err)
	}
	doc, err := d.run(t, true, "ci", "--everywhere")
	if err != nil {
		t.Fatalf("%v\n%s", err, d.stderr)
	}
	if len(doc.Removed) != 0 || len(doc.FilesMoved) != 2 {
		t.Errorf("%+v", doc)
	}
	st, err := d.sdir().Load()
	if err != nil {
		t.Fatal(err)
	}
	if v := st.ServerOf(d.server()); v == nil || v.AccessKeys["ci"] != nil || v.Accounts["work"] == nil {
		t.Errorf("state: %+v", v)
	}
	if _, err := os.Stat(d.ci.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the access key's file is still there: %v", err)
	}
}
