package list

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/agent/agenttest"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// seeded is a deterministic entropy stream, so the fixture's keys (and so the golden
// files' fingerprints) are the same every run.
type seeded struct{ s [32]byte }

func (r *seeded) Read(p []byte) (int, error) {
	for i := range p {
		if i%32 == 0 {
			r.s = sha256.Sum256(r.s[:])
		}
		p[i] = r.s[i%32]
	}
	return len(p), nil
}

func seedKey(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("bbkey list fixture " + name))
	return ed25519.NewKeyFromSeed(s[:])
}

func authorized(k ed25519.PrivateKey, comment string) string {
	pub, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment
}

type fixture struct {
	home  *testutil.Home
	emu   *bbapitest.Server
	agent *agenttest.Fake
	opts  *Options
	// cloudBackend and serverBackend answer opts.Backend for Cloud and for a server.
	cloudBackend  func(context.Context) (backend.Backend, settings.ResolvedCredential, error)
	serverBackend func(ctx context.Context, server string) (backend.Backend, settings.ResolvedCredential, error)
	out           *iostreamstest.SyncBuffer
	err           *iostreamstest.SyncBuffer
}

// newFixture puts keys in every place list looks:
//   - ada: bbkey's account key: file, agent, account, state (ok), last used 3 days ago
//   - old-laptop: an account key of another machine, 540 days old (no local file, older
//     than policy)
//   - laptop: a non-bbkey account key that expired yesterday (expired, no local file)
//   - ci: bbkey's access key on acme/api and project acme/OPS with ttl=90d, 113 days old,
//     last used 3 days ago
//   - id_ed25519: the user's own key file (local only)
//   - an agent-only key
func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := testutil.NewHome(t)
	clock := now.Add(-10 * 24 * time.Hour)
	emu := bbapitest.Start(t, bbapitest.WithClock(func() time.Time { return clock }))
	c, err := bbapi.NewClient(emu.APIURL(), &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rnd := &seeded{}

	// Files: bbkey's account and access keys (generated from a fixed stream), the user's key.
	ada, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(h.SSHDir, "bbkey_ada_ed25519"), Comment: "bbkey:ada@host 2026-11-01", NoPassphrase: true, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(h.SSHDir, "bbkey_access_ci_ed25519"), Comment: "bbkey:ci@host 2026-08-01", NoPassphrase: true, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	own, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(h.SSHDir, "id_ed25519"), Comment: "ada@desktop", NoPassphrase: true, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	defer ada.Wipe()
	defer ci.Wipe()
	defer own.Wipe()

	ag := &agenttest.Fake{}
	if err := ag.Add(ada.Private, ada.Comment, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := ag.Add(seedKey("agent-only"), "forwarded", 0, false); err != nil {
		t.Fatal(err)
	}

	expires := now.Add(-24 * time.Hour)
	for _, k := range []bbapi.AddSSHKeyOptions{
		{Key: ada.AuthorizedKey(), Label: "bbkey:ada:2026-11-01"},
		{Key: authorized(seedKey("old-laptop"), "bbkey:old-laptop@x"), Label: "bbkey:old-laptop:2025-05-31"},
		{Key: authorized(seedKey("laptop"), "me@laptop"), Label: "laptop", ExpiresOn: &expires},
	} {
		if _, _, err := c.SSHKeys.Add(ctx, bbapitest.DefaultUUID, k); err != nil {
			t.Fatal(err)
		}
	}
	ciLabel := "bbkey:ci:2026-08-01:ttl=90d"
	if _, _, err := c.RepoKeys("acme", "api").Add(ctx, bbapi.AddDeployKeyOptions{Key: ci.AuthorizedKey(), Label: ciLabel}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ProjectKeys("acme", "OPS").Add(ctx, bbapi.AddDeployKeyOptions{Key: ci.AuthorizedKey(), Label: ciLabel}); err != nil {
		t.Fatal(err)
	}
	// ada's key and the access key were last used over SSH (a shell request, as ssh -T
	// does) three days ago.
	clock = now.Add(-3 * 24 * time.Hour)
	for _, k := range []*keys.Key{ada, ci} {
		conn, err := ssh.Dial("tcp", emu.SSHEndpoint(), &ssh.ClientConfig{User: "git", Auth: []ssh.AuthMethod{ssh.PublicKeys(k.Signer)},
			HostKeyCallback: ssh.FixedHostKey(emu.HostPublicKey())})
		if err != nil {
			t.Fatalf("ssh with %s: %v", k.Fingerprint, err)
		}
		sess, err := conn.NewSession()
		if err == nil {
			err = sess.Shell() // the greeting is what records the use
		}
		if err == nil {
			_ = sess.Wait()
		}
		conn.Close()
		if err != nil {
			t.Fatalf("ssh session with %s: %v", k.Fingerprint, err)
		}
	}
	clock = now

	configDir := filepath.Join(h.ConfigDir, "bbkey")
	if err := (state.Dir{Path: configDir}).Save(&state.State{Version: state.Version,
		Accounts: map[string]*state.Account{"ada": {UUID: bbapitest.DefaultUUID, KeyName: "ada", KeyPath: ada.Path,
			Fingerprint: ada.Fingerprint, Label: "bbkey:ada:2026-11-01", Created: now.Add(-21 * 24 * time.Hour)}},
		AccessKeys: map[string]*state.AccessKey{"ci": {Path: ci.Path, Fingerprint: ci.Fingerprint, Label: ciLabel,
			Targets: []state.Target{{Kind: state.TargetRepo, Workspace: "acme", Slug: "api"}}}},
	}); err != nil {
		t.Fatal(err)
	}

	ios, _, out, errOut := iostreamstest.Test()
	f := &fixture{home: h, emu: emu, agent: ag, out: out, err: errOut}
	f.opts = &Options{
		IO:  ios,
		Now: func() time.Time { return now },
		Paths: func() (settings.Paths, error) {
			return settings.Paths{Home: h.Dir, SSHDir: h.SSHDir, ConfigDir: configDir}, nil
		},
		Agent: func() (agent.Agent, error) { return ag, nil },
		Backend: func(ctx context.Context, server string) (backend.Backend, settings.ResolvedCredential, error) {
			if server == "" {
				return f.cloudBackend(ctx)
			}
			return f.serverBackend(ctx, server)
		},
		Selected: func() (string, error) { return "", nil },
		Repos:    []string{"acme/api"},
		Projects: []string{"acme/OPS"},
	}
	f.cloudBackend = func(context.Context) (backend.Backend, settings.ResolvedCredential, error) {
		rc := settings.ResolvedCredential{Credential: &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()}, Source: settings.SourceEnv}
		c, err := bbapi.NewClient(emu.APIURL(), rc.Credential)
		if err != nil {
			return nil, rc, err
		}
		return backend.NewCloud(c, settings.Settings{APIURL: emu.APIURL()}), rc, nil
	}
	f.serverBackend = func(context.Context, string) (backend.Backend, settings.ResolvedCredential, error) {
		return nil, settings.ResolvedCredential{}, errkind.AuthError(settings.ErrNoCredential)
	}
	return f
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestListTableTerminal(t *testing.T) {
	f := newFixture(t)
	f.opts.IO.StdoutTTY = true
	if err := runList(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	golden(t, "list-tty.txt", f.out.String())
	if f.err.String() != "" {
		t.Errorf("stderr: %s", f.err.String())
	}
}

func TestListTablePlain(t *testing.T) {
	f := newFixture(t)
	if err := runList(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	golden(t, "list-plain.txt", f.out.String())
	for _, line := range strings.Split(strings.TrimSpace(f.out.String()), "\n") {
		if n := strings.Count(line, "\t"); n != 6 {
			t.Errorf("%d tabs in %q", n, line)
		}
	}
}

func TestListJSON(t *testing.T) {
	f := newFixture(t)
	f.opts.JSON = true
	if err := runList(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(testutil.SlashPaths(f.out.String()), filepath.ToSlash(f.home.Dir), "/HOME")
	// Access key ids and account key uuids are the emulator's; the uuids change per run.
	golden(t, "list.json", maskUUIDs(got))
}

// maskUUIDs replaces the uuids the emulator generates for keys.
func maskUUIDs(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, `"uuid": "{`) {
			i := strings.Index(line, `"uuid": "`)
			line = line[:i] + `"uuid": "{UUID}",` + "\n"
		}
		b.WriteString(line)
	}
	return b.String()
}

// TestListWithoutCredential lists the local keys only, with a warning, and marks none as
// local only (the account was not looked at).
func TestListWithoutCredential(t *testing.T) {
	f := newFixture(t)
	f.opts.Repos, f.opts.Projects = nil, nil
	f.cloudBackend = func(context.Context) (backend.Backend, settings.ResolvedCredential, error) {
		return nil, settings.ResolvedCredential{}, errkind.AuthError(settings.ErrNoCredential)
	}
	if err := runList(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.err.String(), "not logged in to Bitbucket") {
		t.Errorf("stderr: %s", f.err.String())
	}
	out := f.out.String()
	if strings.Contains(out, "local only") || strings.Count(out, "not checked on Bitbucket") != 3 || !strings.Contains(out, "agent only") {
		t.Errorf("statuses without a credential:\n%s", out)
	}
	// Access keys need a credential.
	f.opts.Repos = []string{"acme/api"}
	if err := runList(context.Background(), f.opts); !errors.Is(err, settings.ErrNoCredential) {
		t.Errorf("--repo without a credential: %v", err)
	}
}

func TestListBadTarget(t *testing.T) {
	f := newFixture(t)
	f.opts.Repos = []string{"no-slash"}
	if err := runList(context.Background(), f.opts); apierr.ExitCode(err) != errkind.ExitUsage || !strings.HasPrefix(err.Error(), "--repo: ") {
		t.Errorf("bad --repo: %v (exit %d), want exit 2 naming --repo", err, apierr.ExitCode(err))
	}
	f.opts.Repos, f.opts.Projects = nil, []string{"/OPS"}
	if err := runList(context.Background(), f.opts); apierr.ExitCode(err) != errkind.ExitUsage || !strings.HasPrefix(err.Error(), "--project: ") {
		t.Errorf("bad --project: %v (exit %d), want exit 2 naming --project", err, apierr.ExitCode(err))
	}
}
