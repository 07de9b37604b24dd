package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// rotateDC is a machine with keys on a Data Center server (the emulator in Data Center
// mode; BITBUCKET_SERVER and BITBUCKET_SERVER_TOKEN in the world's environment).
type rotateDC struct {
	w      *World
	d      *bbapitest.DataCenter
	c      *dc.Client
	server string
	at     *backend.SSH
}

func newRotateDC(t *testing.T) *rotateDC {
	t.Helper()
	w := NewWorld(t, bbapitest.WithDataCenter())
	d := w.Emu.DataCenter()
	c, err := dc.NewClient(d.ServerURL(), dc.Token{Token: d.DefaultToken()})
	if err != nil {
		t.Fatal(err)
	}
	b := backend.NewDataCenter(c, backend.DataCenterOptions{})
	at, err := b.SSH(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &rotateDC{w: w, d: d, c: c, server: b.Server(), at: at}
}

// seed does what setup and add-access-key do on the server, without bbkey: a key at
// its fixed name, on the server, recorded in the state with the server's SSH side.
func (r *rotateDC) seed(t *testing.T, path, name string, created time.Time, fn func(v *state.Server, k *keys.Key, label string, created time.Time)) *keys.Key {
	t.Helper()
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: keys.Comment(name, "e2e", created), Passphrase: []byte(r.w.Passphrase)})
	if err != nil {
		t.Fatal(err)
	}
	label := "bbkey:" + name + ":" + created.UTC().Format(time.DateOnly)
	dir := state.Dir{Path: filepath.Join(r.w.Home.ConfigDir, "bbkey")}
	err = dir.Update(context.Background(), func(st *state.State) error {
		fn(r.at.Record(st, r.server), k, label, created)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// deletesByID fails on any DELETE that is not of one key by its id (above all
// DELETE /rest/ssh/latest/keys, which deletes every key of the user) and counts them.
func (r *rotateDC) deletesByID(t *testing.T) int {
	t.Helper()
	byID := regexp.MustCompile(`/(keys|ssh)/[0-9]+$`)
	n := 0
	for _, q := range r.w.Emu.Requests() {
		if q.Method == http.MethodDelete {
			n++
			if !byID.MatchString(q.Path) {
				t.Errorf("DELETE %s is not of one key by its id", q.Path)
			}
		}
	}
	return n
}

// An account key on a Data Center server, rotated by the real binary from the server
// and token in the environment: afterwards exactly one key is on the server, the new one
// (with the old one's lifetime), the server's Host block names it, the agent holds it,
// and git clone and fetch over the server's SSH work with it.
func TestRotateDataCenterAccountKey(t *testing.T) {
	r := newRotateDC(t)
	w := r.w
	path := filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519")
	old := r.seed(t, path, "ada", time.Now().AddDate(0, 0, -100), func(v *state.Server, k *keys.Key, label string, created time.Time) {
		sk, _, err := r.c.SSHKeys.Add(context.Background(), dc.AddSSHKeyOptions{Text: k.AuthorizedKey(), Label: label, ExpiryDays: 365})
		if err != nil {
			t.Fatal(err)
		}
		v.Accounts["ada"] = &state.Account{UUID: bbapitest.DCDefaultUser, Nickname: bbapitest.DCDefaultUser, KeyName: "ada", KeyPath: path,
			Fingerprint: k.Fingerprint, KeyID: bbapi.ID(sk.ID).String(), Label: label, Created: created}
	})
	w.Emu.ResetRequests()

	res := w.MustRun("", "rotate", "--passphrase-file", w.PassFile, "--json")
	d := rotateDecode(t, res)
	if d.Result != "ok" || len(d.Rotations) != 1 || d.Rotations[0].OldFingerprint != old.Fingerprint || d.Rotations[0].Server != r.server {
		t.Fatalf("%s", res)
	}
	newFP := d.Rotations[0].NewFingerprint
	var have []string
	for _, k := range r.d.UserKeys(bbapitest.DCDefaultUser) {
		have = append(have, "SHA256:"+k.Fingerprint)
		if k.ExpiryDays != 365 {
			t.Errorf("the new key expires after %d days, want the old key's 365", k.ExpiryDays)
		}
	}
	rotateOnly(t, "ada's keys on the server", have, newFP)
	if n := r.deletesByID(t); n != 1 {
		t.Errorf("%d DELETEs, want the old key's one", n)
	}
	if got := rotateConfigKey(t, w, r.at.Host); got != newFP {
		t.Errorf("Host %s uses %s, want the new %s", r.at.Host, got, newFP)
	}
	if !rotateAgentHolds(w, newFP) {
		t.Errorf("agent:\n%s\nwant %s", w.AgentList(), newFP)
	}
	clone := filepath.Join(w.Home.Dir, "api")
	w.MustGit(w.Home.Dir, "clone", "-q", r.d.SSHCloneURL("OPS", "api"), clone)
	w.MustGit(clone, "fetch", "-q", "origin")
	for _, want := range []string{"account key \"ada\" on " + r.server, "proved it over SSH", "revoked the old key " + old.Fingerprint} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
		}
	}
}

// A Data Center access key on two repositories, one it may push to and one it may only
// read, rotated by the real binary: afterwards each repository has exactly one access
// key, the new one, with the old one's permission; git fetches both through the access
// key's Host block, pushes where it may and is refused where it may not.
func TestRotateDataCenterAccessKeys(t *testing.T) {
	r := newRotateDC(t)
	w := r.w
	ctx := context.Background()
	path := filepath.Join(w.Home.SSHDir, "bbkey_access_ci_ed25519")
	old := r.seed(t, path, "ci", time.Now().AddDate(0, 0, -100), func(v *state.Server, k *keys.Key, label string, created time.Time) {
		ak := &state.AccessKey{Path: path, Fingerprint: k.Fingerprint, Label: label, Created: created}
		for slug, perm := range map[string]dc.Permission{"api": dc.RepoWrite, "web": dc.RepoRead} {
			key, _, err := r.c.RepoKeys("OPS", slug).Add(ctx, dc.AddAccessKeyOptions{Text: k.AuthorizedKey(), Label: label, Permission: perm})
			if err != nil {
				t.Fatal(err)
			}
			ak.SetTarget(state.Target{Kind: state.TargetRepo, Workspace: "OPS", Slug: slug, KeyID: bbapi.ID(key.Key.ID).String(), Permission: string(perm)})
		}
		v.AccessKeys["ci"] = ak
	})
	w.Emu.ResetRequests()

	res := w.MustRun("", "rotate", "--access-keys", "--passphrase-file", w.PassFile, "--json")
	d := rotateDecode(t, res)
	if d.Result != "ok" || len(d.Rotations) != 1 || d.Rotations[0].OldFingerprint != old.Fingerprint || d.Rotations[0].Server != r.server {
		t.Fatalf("%s", res)
	}
	newFP := d.Rotations[0].NewFingerprint
	for slug, perm := range map[string]string{"api": "REPO_WRITE", "web": "REPO_READ"} {
		var have []string
		for _, k := range r.d.RepoAccessKeys("OPS", slug) {
			have = append(have, "SHA256:"+k.Fingerprint+" "+k.Permission)
		}
		if !slices.Equal(have, []string{newFP + " " + perm}) {
			t.Errorf("OPS/%s access keys %v, want only %s %s", slug, have, newFP, perm)
		}
	}
	if n := r.deletesByID(t); n != 2 {
		t.Errorf("%d DELETEs, want one per repository", n)
	}
	if !strings.Contains(res.Stderr, "git ls-remote OPS/") {
		t.Errorf("no ls-remote proof:\n%s", res.Stderr)
	}
	alias := identity.AccessAlias(r.at.Host, &state.State{AccessKeys: map[string]*state.AccessKey{"ci": {}}}, "ci")
	if got := rotateConfigKey(t, w, alias); got != newFP {
		t.Errorf("Host %s uses %s, want the new %s", alias, got, newFP)
	}
	url := func(slug string) string { return "ssh://git@" + alias + "/ops/" + slug + ".git" }
	for _, slug := range []string{"api", "web"} {
		clone := filepath.Join(w.Home.Dir, slug)
		w.MustGit(w.Home.Dir, "clone", "-q", url(slug), clone)
		w.MustGit(clone, "fetch", "-q", "origin")
		w.MustGit(clone, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x")
		out, err := w.Git(clone, "push", "-q", "origin", "HEAD:refs/heads/rotated")
		if slug == "api" && err != nil {
			t.Errorf("push to OPS/api with the new write key: %v\n%s", err, out)
		}
		if slug == "web" && err == nil {
			t.Errorf("push to OPS/web with the new read-only key succeeded")
		}
	}
}

// The whole life on a Data Center server with the real binary: `bbkey setup` (server and
// token from the environment), a clone over the server's SSH, `bbkey rotate`, and the
// same clone fetching with the successor, the only key left on the server.
func TestRotateDataCenterAfterSetup(t *testing.T) {
	r := newRotateDC(t)
	w := r.w
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	keysOnServer := func() []string {
		var out []string
		for _, k := range r.d.UserKeys(bbapitest.DCDefaultUser) {
			out = append(out, "SHA256:"+k.Fingerprint)
		}
		return out
	}
	before := keysOnServer()
	if len(before) != 1 {
		t.Fatalf("after setup ada has %d keys on the server", len(before))
	}
	clone := filepath.Join(w.Home.Dir, "web")
	w.MustGit(w.Home.Dir, "clone", "-q", r.d.SSHCloneURL("OPS", "web"), clone)
	w.Emu.ResetRequests()

	d := rotateDecode(t, w.MustRun("", "rotate", "--passphrase-file", w.PassFile, "--json"))
	if d.Result != "ok" || len(d.Rotations) != 1 || d.Rotations[0].OldFingerprint != before[0] || d.Rotations[0].Server != r.server {
		t.Fatalf("rotation %+v", d)
	}
	rotateOnly(t, "ada's keys on the server", keysOnServer(), d.Rotations[0].NewFingerprint)
	if n := r.deletesByID(t); n != 1 {
		t.Errorf("%d DELETEs, want 1", n)
	}
	w.MustGit(clone, "fetch", "-q", "origin")
}

// A timer's run on a Data Center machine: nothing in its environment names the server or
// holds its token; rotate reaches the server the state and config.json record, with the
// token `auth login --server` stored, and leaves one key there, the new one.
func TestRotateDataCenterScheduled(t *testing.T) {
	r := newRotateDC(t)
	w := r.w
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	w.MustRun("", "auth", "login", "--server", r.d.ServerURL(), "--insecure-storage")
	w.Unsetenv("BITBUCKET_SERVER")
	w.Unsetenv("BITBUCKET_SERVER_TOKEN")
	w.Setenv("BBKEY_SCHEDULED", "e2e-job")
	w.Emu.ResetRequests()

	res := w.MustRun("", "rotate", "--passphrase-file", w.PassFile, "--no-input", "--if-older-than", "1s", "--json")
	d := rotateDecode(t, res)
	if d.Result != "ok" || len(d.Rotations) != 1 || d.Rotations[0].Result != "ok" || d.Rotations[0].Server != r.server {
		t.Fatalf("%s", res)
	}
	var have []string
	for _, k := range r.d.UserKeys(bbapitest.DCDefaultUser) {
		have = append(have, "SHA256:"+k.Fingerprint)
	}
	rotateOnly(t, "ada's keys on the server", have, d.Rotations[0].NewFingerprint)
	for _, q := range w.Emu.Requests() {
		if q.AuthScheme != "bearer" {
			t.Errorf("%s %s sent without the stored token (%q)", q.Method, q.Path, q.AuthScheme)
		}
	}
}

// One machine with an account key on Bitbucket Cloud and one on a Data Center server:
// one `bbkey rotate` replaces both, each on its own Bitbucket with its own credential,
// and git fetches from both with the successors.
func TestRotateCloudAndDataCenter(t *testing.T) {
	w := NewWorld(t)
	srv := bbapitest.Start(t, bbapitest.WithDataCenter())
	d := srv.DataCenter()
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	// The Cloud emulator's SSH endpoint and host keys are in the environment; with a
	// server selected they would be taken as that server's, so the Data Center setup runs
	// without them (its SSH side comes from the server's own settings).
	dcEnv := slices.Clone(w.Env)
	w.Unsetenv("BBKEY_SSH_ENDPOINT")
	w.Unsetenv("BBKEY_SSH_HOST_KEYS")
	w.Setenv("BITBUCKET_SERVER_TOKEN", d.DefaultToken())
	w.MustRun("", "setup", "--server", d.ServerURL(), "--name", "ada-dc", "--passphrase-file", w.PassFile, "--no-remotes")
	w.Env = append(dcEnv, "BITBUCKET_SERVER_TOKEN="+d.DefaultToken())
	cloudClone, dcClone := filepath.Join(w.Home.Dir, "cloud"), filepath.Join(w.Home.Dir, "dc")
	w.MustGit(w.Home.Dir, "clone", "-q", "git@ssh.bitbucket.org:acme/api.git", cloudClone)
	w.MustGit(w.Home.Dir, "clone", "-q", d.SSHCloneURL("OPS", "api"), dcClone)

	res := w.MustRun("", "rotate", "--passphrase-file", w.PassFile, "--json")
	doc := rotateDecode(t, res)
	if doc.Result != "ok" || len(doc.Rotations) != 2 {
		t.Fatalf("%s", res)
	}
	byServer := map[string]string{}
	for _, o := range doc.Rotations {
		if o.Result != "ok" {
			t.Errorf("%s: %s", o.Name, o.Result)
		}
		byServer[o.Server] = o.NewFingerprint
	}
	rotateOnly(t, "Cloud account keys", rotateAccountKeys(w), byServer[""])
	var onDC []string
	for _, k := range d.UserKeys(bbapitest.DCDefaultUser) {
		onDC = append(onDC, "SHA256:"+k.Fingerprint)
	}
	server := strings.TrimRight(d.ServerURL(), "/")
	rotateOnly(t, "Data Center keys", onDC, byServer[server])
	w.MustGit(cloudClone, "fetch", "-q", "origin")
	w.MustGit(dcClone, "fetch", "-q", "origin")
	if !strings.Contains(res.Stdout, `"server": "`+server+`"`) {
		t.Errorf("the Data Center rotation does not name its server:\n%s", res.Stdout)
	}
	// --status lists both keys, the Data Center one with its server.
	var status struct {
		Keys []struct{ Name, Server, Fingerprint string } `json:"keys"`
	}
	st := w.MustRun("", "rotate", "--status", "--json")
	if err := json.Unmarshal([]byte(st.Stdout), &status); err != nil {
		t.Fatalf("%v\n%s", err, st)
	}
	got := map[string]string{}
	for _, k := range status.Keys {
		got[k.Server] = k.Fingerprint
	}
	if len(status.Keys) != 2 || got[""] != byServer[""] || got[server] != byServer[server] {
		t.Errorf("--status keys %+v", status.Keys)
	}
}

// A rotation on a Data Center server killed after every step: each time git still works
// through the server's Host block, and the next run converges to exactly one key on the
// server, the one the config names; every DELETE is by id.
func TestRotateDataCenterCrashAtEveryBoundary(t *testing.T) {
	r := newRotateDC(t)
	w := r.w
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	clone := filepath.Join(w.Home.Dir, "api")
	w.MustGit(w.Home.Dir, "clone", "-q", r.d.SSHCloneURL("OPS", "api"), clone)
	keysOnServer := func() []string {
		var out []string
		for _, k := range r.d.UserKeys(bbapitest.DCDefaultUser) {
			out = append(out, "SHA256:"+k.Fingerprint)
		}
		return out
	}
	current := keysOnServer()[0]
	w.Emu.ResetRequests()
	for _, step := range rotateSteps {
		w.Setenv("BBKEY_TEST_CRASH_AFTER", step)
		res := w.Run("", "rotate", "--passphrase-file", w.PassFile)
		w.Unsetenv("BBKEY_TEST_CRASH_AFTER")
		if res.Code != 99 {
			t.Fatalf("crash after %s: %s", step, res)
		}
		if have := keysOnServer(); !slices.Contains(have, rotateConfigKey(t, w, r.at.Host)) {
			t.Errorf("after %s: the config's key is not on the server (%v)", step, have)
		}
		w.MustGit(clone, "fetch", "-q", "origin")

		res = w.Run("", "rotate", "--passphrase-file", w.PassFile, "--json")
		if res.Code != 0 {
			t.Fatalf("re-run after a crash at %s: %s", step, res)
		}
		fp := rotateConfigKey(t, w, r.at.Host)
		rotateOnly(t, "keys on the server after "+step, keysOnServer(), fp)
		if fp == current {
			t.Errorf("after %s: still the key from before", step)
		}
		w.MustGit(clone, "fetch", "-q", "origin")
		current = fp
	}
	r.deletesByID(t)
}

// A timer on a machine whose only key is on a Data Center server: --schedule refuses
// (exit 2, nothing installed) until the server's token is stored where the job finds it,
// then the cron job itself (no environment but HOME, LOGNAME, PATH and SHELL) rotates the
// key on the server and leaves one key there, the new one.
func TestRotateDataCenterCronJob(t *testing.T) {
	r := newRotateDC(t)
	w := r.w
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	bin := rotateFakeTimerTools(t, w, false)
	w.Setenv("BBKEY_TEST_SCHEDULER", "cron")
	res := w.Run("", "rotate", "--schedule", "daily", "--if-older-than", "1s", "--passphrase-file", w.PassFile)
	if res.Code != 2 || !strings.Contains(res.Stderr, "HTTP access token of "+r.server) || !strings.Contains(res.Stderr, "bbkey auth login --server "+r.server) {
		t.Fatalf("--schedule without a stored token: %s", res)
	}
	w.MustRun("", "auth", "login", "--server", r.d.ServerURL(), "--insecure-storage")
	w.MustRun("", "rotate", "--schedule", "daily", "--if-older-than", "1s", "--passphrase-file", w.PassFile)
	w.Unsetenv("BBKEY_TEST_SCHEDULER")
	var before []string
	for _, k := range r.d.UserKeys(bbapitest.DCDefaultUser) {
		before = append(before, "SHA256:"+k.Fingerprint)
	}

	code, out := scheduledExec(t, cronJob(t, w, bin))
	if code != 0 {
		t.Fatalf("the cron job exited %d\n%s", code, out)
	}
	var after []string
	for _, k := range r.d.UserKeys(bbapitest.DCDefaultUser) {
		after = append(after, "SHA256:"+k.Fingerprint)
	}
	if len(before) != 1 || len(after) != 1 || after[0] == before[0] {
		t.Fatalf("keys on the server before %v, after %v: want one, replaced", before, after)
	}
	if got := rotateConfigKey(t, w, r.at.Host); got != after[0] {
		t.Errorf("Host %s uses %s, want the new %s", r.at.Host, got, after[0])
	}
}

// The table of a run that finishes or rolls back a rotation an earlier run left on a Data
// Center server names the server, as a fresh rotation's does; so does a dry run's.
func TestRotateDataCenterResumedTableNamesServer(t *testing.T) {
	r := newRotateDC(t)
	w := r.w
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	for _, step := range []string{"move-old", "upload"} {
		w.Setenv("BBKEY_TEST_CRASH_AFTER", step)
		res := w.Run("", "rotate", "--passphrase-file", w.PassFile)
		w.Unsetenv("BBKEY_TEST_CRASH_AFTER")
		if res.Code != 99 {
			t.Fatalf("crash after %s: %s", step, res)
		}
		for _, args := range [][]string{{"rotate", "--dry-run"}, {"rotate", "--passphrase-file", w.PassFile}} {
			res = w.MustRun("", args...)
			lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
			if !strings.Contains(lines[0], "SERVER") {
				t.Fatalf("after a crash at %s, %v: no SERVER column:\n%s", step, args, res.Stdout)
			}
			for _, l := range lines[1:] {
				if !strings.Contains(l, r.server) {
					t.Errorf("after a crash at %s, %v: a row does not name %s:\n%s", step, args, r.server, res.Stdout)
				}
			}
		}
	}
}
