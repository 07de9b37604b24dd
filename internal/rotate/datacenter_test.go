package rotate

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// newDCFixture is a machine whose keys are on a Data Center server: the emulator in Data
// Center mode, reached through the Data Center backend with ada's token (the SSH side
// from the server's own settings, its host key pinned only as the settings vouch).
func newDCFixture(t *testing.T, opts ...bbapitest.Option) (*fixture, *bbapitest.DataCenter, *dc.Client) {
	t.Helper()
	f := newFixture(t, append([]bbapitest.Option{bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t), bbapitest.WithClock(func() time.Time { return testNow })}, opts...)...)
	d := f.emu.DataCenter()
	c, err := dc.NewClient(d.ServerURL(), dc.Token{Token: d.DefaultToken()}, bbapi.WithMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	f.b = backend.NewDataCenter(c, backend.DataCenterOptions{Now: func() time.Time { return testNow }})
	f.server = f.b.Server()
	// What setup records for the server: its SSH side, as its settings vouch for it.
	at, err := f.b.SSH(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.update(func(st *state.State) { at.Record(st, f.server) })
	return f, d, c
}

// dcUserKeys lists the fingerprints of ada's keys on the server.
func dcUserKeys(d *bbapitest.DataCenter) []string {
	var out []string
	for _, k := range d.UserKeys(bbapitest.DCDefaultUser) {
		out = append(out, "SHA256:"+k.Fingerprint)
	}
	return out
}

// dcDeletesByID fails the test on any DELETE that is not of one key by its id: above all
// DELETE /rest/ssh/latest/keys, which deletes every key of the user.
func dcDeletesByID(t *testing.T, emu *bbapitest.Server) int {
	t.Helper()
	byID := regexp.MustCompile(`/(keys|ssh)/[0-9]+$`)
	n := 0
	for _, r := range emu.Requests() {
		if r.Method != http.MethodDelete {
			continue
		}
		n++
		if !byID.MatchString(r.Path) || strings.HasSuffix(strings.TrimRight(r.Path, "/"), "/keys") {
			t.Errorf("DELETE %s: not one key by its id", r.Path)
		}
	}
	return n
}

// seedDCAccount does what setup does on Data Center: a key at the fixed name, added to
// ada with a label (and expiryDays when given), recorded in the state.
func (f *fixture) seedDCAccount(c *dc.Client, name string, created time.Time, expiryDays int) *keys.Key {
	f.t.Helper()
	path, err := keys.AccountKeyPath(f.home.SSHDir, name)
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: keys.Comment(name, "testhost", created), Passphrase: []byte(testPass)})
	if err != nil {
		f.t.Fatal(err)
	}
	label := "bbkey:" + name + ":" + created.Format(time.DateOnly)
	sk, _, err := c.SSHKeys.Add(context.Background(), dc.AddSSHKeyOptions{Text: k.AuthorizedKey(), Label: label, ExpiryDays: expiryDays})
	if err != nil {
		f.t.Fatal(err)
	}
	f.update(func(st *state.State) {
		st.EnsureServer(f.server).Accounts[name] = &state.Account{UUID: bbapitest.DCDefaultUser, Nickname: bbapitest.DCDefaultUser, KeyName: name,
			KeyPath: path, Fingerprint: k.Fingerprint, KeyID: itoa(sk.ID), Label: label, Created: created}
	})
	return k
}

func itoa(n int) string { return bbapi.ID(n).String() }

// A Data Center account key: the successor goes in with POST /rest/ssh/latest/keys
// keeping the old key's lifetime (expiryDays), is proven over the server's SSH, and the
// old key is deleted by its id: one key is left on the server, the new one, and nothing
// ever sent DELETE /rest/ssh/latest/keys without an id.
func TestRotateDataCenterAccount(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	f, d, c := newDCFixture(t)
	old := f.seedDCAccount(c, "ada", testNow.AddDate(0, 0, -100), 120)
	f.emu.ResetRequests()
	rep, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, f.stderr)
	}
	o := rep.Rotations[0]
	if o.Result != string(state.ResultOK) || o.NewFingerprint == "" || o.NewFingerprint == old.Fingerprint {
		t.Fatalf("outcome %+v\n%s", o, f.stderr)
	}
	if have := dcUserKeys(d); !slices.Equal(have, []string{o.NewFingerprint}) {
		t.Errorf("ada's keys %v, want only the new %s", have, o.NewFingerprint)
	}
	if ks := d.UserKeys(bbapitest.DCDefaultUser); len(ks) != 1 || ks[0].ExpiryDays != 120 || ks[0].Label != "bbkey:ada:"+testNow.Format(time.DateOnly) {
		t.Errorf("new key %+v: want the old key's 120 days and today's label", ks)
	}
	if n := dcDeletesByID(t, f.emu); n != 1 {
		t.Errorf("%d DELETEs, want the old key's one", n)
	}
	if a := f.state().Servers[f.server].Accounts["ada"]; a.Fingerprint != o.NewFingerprint || a.KeyID != o.NewKeyIDs[state.AccountTarget] || a.KeyID == "" {
		t.Errorf("state %+v, new ids %v", a, o.NewKeyIDs)
	}
	if !strings.Contains(f.stderr.String(), "proved it over SSH") {
		t.Errorf("no SSH proof:\n%s", f.stderr)
	}
	// The server's Host block names the successor, at the fixed name.
	host := f.state().Servers[f.server].SSHHost
	if id := f.configIdentity(host); fingerprintAt(t, id) != o.NewFingerprint {
		t.Errorf("Host %s uses %s, not the new key", host, id)
	}
	// A key without an id is never deleted: nothing is sent.
	f.emu.ResetRequests()
	e := f.engine()
	s := &subject{kind: state.RotateAccount, user: bbapitest.DCDefaultUser, server: f.server}
	if err := e.bind(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if err := deleteKey(context.Background(), s.b, s.places(nil)[0], "", " ", "", false); err == nil {
		t.Error("a delete without a key id was not refused")
	}
	if n := len(f.emu.Requests()); n != 0 || len(dcUserKeys(d)) != 1 {
		t.Errorf("a delete without an id sent %d requests; ada has %d keys", n, len(dcUserKeys(d)))
	}
}

// A server that enforces a key lifetime gives the successor one even when the old key
// had none.
func TestRotateDataCenterEnforcedExpiry(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	f, d, c := newDCFixture(t)
	f.seedDCAccount(c, "ada", testNow.AddDate(0, 0, -10), 0)
	d.SetMaxExpiryDays(90)
	if _, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount}); err != nil {
		t.Fatalf("rotate: %v\n%s", err, f.stderr)
	}
	if ks := d.UserKeys(bbapitest.DCDefaultUser); len(ks) != 1 || ks[0].ExpiryDays != 90 {
		t.Errorf("keys %+v: want one, expiring after the server's 90 days", ks)
	}
}

// Data Center access keys keep their permission per target: write where the old key
// could push, read elsewhere, on repositories (a personal one too) and a project; the
// successor is proven with a real git ls-remote; each old placement is deleted by id.
func TestRotateDataCenterAccessKeys(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	f, d, c := newDCFixture(t)
	ctx := context.Background()
	path, err := keys.AccessKeyPath(f.home.SSHDir, "ci")
	if err != nil {
		t.Fatal(err)
	}
	created := testNow.AddDate(0, 0, -200)
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: keys.Comment("ci", "testhost", created), Passphrase: []byte(testPass)})
	if err != nil {
		t.Fatal(err)
	}
	label := "bbkey:ci:" + created.Format(time.DateOnly)
	ak := &state.AccessKey{Path: path, Fingerprint: k.Fingerprint, Label: label, Created: created}
	for _, p := range []struct {
		proj, slug string
		perm       dc.Permission
	}{{"OPS", "api", dc.RepoWrite}, {"OPS", "web", dc.RepoRead}, {"~ADA", "notes", dc.RepoWrite}, {"OPS", "", dc.ProjectRead}} {
		opts := dc.AddAccessKeyOptions{Text: k.AuthorizedKey(), Label: label, Permission: p.perm}
		var key *dc.AccessKey
		tg := state.Target{Kind: state.TargetRepo, Workspace: p.proj, Slug: p.slug}
		if p.slug == "" {
			key, _, err = c.ProjectKeys(p.proj).Add(ctx, opts)
			tg = state.Target{Kind: state.TargetProject, Slug: p.proj}
		} else {
			key, _, err = c.RepoKeys(p.proj, p.slug).Add(ctx, opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		tg.KeyID = itoa(key.Key.ID)
		ak.SetTarget(tg)
	}
	f.update(func(st *state.State) { st.EnsureServer(f.server).AccessKeys["ci"] = ak })
	f.emu.ResetRequests()

	rep, err := f.engine().Run(ctx, Request{Kind: state.RotateAccessKeys})
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, f.stderr)
	}
	o := rep.Rotations[0]
	if o.Result != string(state.ResultOK) {
		t.Fatalf("outcome %+v\n%s", o, f.stderr)
	}
	perms := func(ks []bbapitest.DCAccessKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, "SHA256:"+k.Fingerprint+" "+k.Permission)
		}
		return out
	}
	for _, c := range []struct {
		got  []bbapitest.DCAccessKey
		want string
	}{
		{d.RepoAccessKeys("OPS", "api"), "REPO_WRITE"},
		{d.RepoAccessKeys("OPS", "web"), "REPO_READ"},
		{d.RepoAccessKeys("~ADA", "notes"), "REPO_WRITE"},
		{d.ProjectAccessKeys("OPS"), "PROJECT_READ"},
	} {
		if have := perms(c.got); !slices.Equal(have, []string{o.NewFingerprint + " " + c.want}) {
			t.Errorf("access keys %v, want only the new key with %s", have, c.want)
		}
	}
	if n := dcDeletesByID(t, f.emu); n != 4 {
		t.Errorf("%d DELETEs, want one per old placement (4)", n)
	}
	if !strings.Contains(f.stderr.String(), "git ls-remote OPS/api works with it") {
		t.Errorf("no ls-remote proof:\n%s", f.stderr)
	}
	st := f.state().Servers[f.server].AccessKeys["ci"]
	if st.Fingerprint != o.NewFingerprint || len(st.Targets) != 4 {
		t.Errorf("state %+v", st)
	}
	perm := map[string]string{"repo:OPS/api": "REPO_WRITE", "repo:OPS/web": "REPO_READ", "repo:~ADA/notes": "REPO_WRITE", "project:OPS": "PROJECT_READ"}
	for _, tg := range st.Targets {
		if tg.KeyID == "" || tg.KeyID != o.NewKeyIDs[tg.Key()] {
			t.Errorf("target %s: id %q, new ids %v", tg.Key(), tg.KeyID, o.NewKeyIDs)
		}
		if tg.Permission != perm[tg.Key()] {
			t.Errorf("target %s: permission %q in the state, want %s", tg.Key(), tg.Permission, perm[tg.Key()])
		}
	}
}

// An access key only on a Data Center project is proven with git ls-remote on one of
// the project's repositories.
func TestRotateDataCenterProjectKey(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	f, d, c := newDCFixture(t)
	ctx := context.Background()
	path, err := keys.AccessKeyPath(f.home.SSHDir, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: "deploy", Passphrase: []byte(testPass)})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := c.ProjectKeys("OPS").Add(ctx, dc.AddAccessKeyOptions{Text: k.AuthorizedKey(), Label: "bbkey:deploy:2026-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	f.update(func(st *state.State) {
		st.EnsureServer(f.server).AccessKeys["deploy"] = &state.AccessKey{Path: path, Fingerprint: k.Fingerprint, Label: "bbkey:deploy:2026-01-01",
			Targets: []state.Target{{Kind: state.TargetProject, Slug: "OPS", KeyID: itoa(key.Key.ID)}}}
	})
	rep, err := f.engine().Run(ctx, Request{Kind: state.RotateAccessKeys})
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, f.stderr)
	}
	if !regexp.MustCompile(`git ls-remote OPS/\w+ works with it`).MatchString(f.stderr.String()) {
		t.Errorf("no ls-remote proof on a repository of OPS:\n%s", f.stderr)
	}
	if ks := d.ProjectAccessKeys("OPS"); len(ks) != 1 || "SHA256:"+ks[0].Fingerprint != rep.Rotations[0].NewFingerprint || ks[0].Permission != "PROJECT_READ" {
		t.Errorf("project OPS keys %+v, want only the new one, read", ks)
	}
}

// A token of another user than the one the key was set up for is refused before
// anything is made: Data Center's key calls act on the token's own user.
func TestRotateDataCenterOtherUsersToken(t *testing.T) {
	f, d, c := newDCFixture(t)
	f.seedDCAccount(c, "ada", testNow.AddDate(0, 0, -100), 0)
	if _, err := d.AddUser(bbapitest.DCUser{Name: "bob", DisplayName: "Bob"}); err != nil {
		t.Fatal(err)
	}
	tok, err := d.AddPersonalToken("bob", bbapitest.PermAdmin, bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := dc.NewClient(d.ServerURL(), dc.Token{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	f.b = backend.NewDataCenter(bc, backend.DataCenterOptions{Now: func() time.Time { return testNow }})
	f.emu.ResetRequests()
	_, err = f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
	if errkind.ExitCode(err) != errkind.ExitAuth || !strings.Contains(err.Error(), `acts as "bob"`) {
		t.Fatalf("err %v (exit %d), want exit 4 naming bob", err, errkind.ExitCode(err))
	}
	for _, q := range f.emu.Requests() {
		if q.Method != http.MethodGet {
			t.Errorf("%s %s sent", q.Method, q.Path)
		}
	}
	if len(d.UserKeys("bob")) != 0 || len(d.UserKeys(bbapitest.DCDefaultUser)) != 1 {
		t.Error("a key was added or removed")
	}
}

// An access key only on a personal repository (~user/slug) is proven with git ls-remote
// on it.
func TestRotateDataCenterPersonalRepoKey(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	f, d, c := newDCFixture(t)
	ctx := context.Background()
	path, err := keys.AccessKeyPath(f.home.SSHDir, "notes")
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: "notes", Passphrase: []byte(testPass)})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := c.RepoKeys("~ADA", "notes").Add(ctx, dc.AddAccessKeyOptions{Text: k.AuthorizedKey(), Label: "bbkey:notes:2026-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	f.update(func(st *state.State) {
		st.EnsureServer(f.server).AccessKeys["notes"] = &state.AccessKey{Path: path, Fingerprint: k.Fingerprint, Label: "bbkey:notes:2026-01-01",
			Targets: []state.Target{{Kind: state.TargetRepo, Workspace: "~ADA", Slug: "notes", KeyID: itoa(key.Key.ID)}}}
	})
	rep, err := f.engine().Run(ctx, Request{Kind: state.RotateAccessKeys})
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, f.stderr)
	}
	if !strings.Contains(f.stderr.String(), "git ls-remote ~ADA/notes works with it") {
		t.Errorf("no ls-remote proof on ~ADA/notes:\n%s", f.stderr)
	}
	if ks := d.RepoAccessKeys("~ADA", "notes"); len(ks) != 1 || "SHA256:"+ks[0].Fingerprint != rep.Rotations[0].NewFingerprint {
		t.Errorf("~ADA/notes keys %+v, want only the new one", ks)
	}
}
