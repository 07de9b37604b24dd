package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/sshproof"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// world is a throw-away home, bbkey's state directory in it, and a Bitbucket emulator
// (Cloud, or Data Center) reached over real HTTP and SSH through a backend.
type world struct {
	t    *testing.T
	home *testutil.Home
	emu  *bbapitest.Server
	b    backend.Backend
	s    settings.Settings
	sd   state.Dir
}

func newWorld(t *testing.T, dataCenter bool) *world {
	t.Helper()
	home := testutil.NewHome(t)
	for _, kv := range home.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	w := &world{t: t, home: home, sd: state.Dir{Path: filepath.Join(home.ConfigDir, "bbkey")}}
	if dataCenter {
		w.emu = bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
		c, err := dc.NewClient(w.emu.DataCenter().ServerURL(), dc.Token{Token: w.emu.DataCenter().DefaultToken()}, bbapi.WithMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		w.b = backend.NewDataCenter(c, backend.DataCenterOptions{})
		return w
	}
	w.emu = bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	c, err := bbapi.NewClient(w.emu.APIURL(), &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: w.emu.DefaultAPIToken()}, bbapi.WithMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	w.s = settings.Settings{SSHHost: settings.DefaultSSHHost, SSHEndpoint: w.emu.SSHEndpoint(), SSHHostKeys: w.emu.HostKeyFile()}
	w.b = backend.NewCloud(c, w.s)
	return w
}

func (w *world) ssh() *backend.SSH {
	w.t.Helper()
	s, err := w.b.SSH(w.t.Context())
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) agent() agent.Agent {
	w.t.Helper()
	sock := testutil.StartAgent(w.t)
	a, err := agent.Connect(func(k string) (string, bool) {
		if k == "SSH_AUTH_SOCK" {
			return sock, true
		}
		return "", false
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { a.Close() })
	return a
}

// plainKey is an existing unencrypted key in the home's ssh directory.
func (w *world) plainKey(name string) *keys.Key {
	w.t.Helper()
	k, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(w.home.SSHDir, name), Comment: name, NoPassphrase: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(k.Wipe)
	return k
}

func (w *world) parse(kind backend.PlaceKind, refs ...string) []Place {
	w.t.Helper()
	var out []Place
	for _, r := range refs {
		p, err := w.b.ParsePlace(kind, r)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, Place{Place: p})
	}
	return out
}

// accountRecord records the key as setup does: an account entry.
func accountRecord(acct *backend.Account) func(*state.State, *keys.Key, Stage, []Placed) error {
	return func(st *state.State, k *keys.Key, stage Stage, placed []Placed) error {
		if stage != StageProven {
			return ErrUnchanged
		}
		st.Accounts["work"] = &state.Account{UUID: acct.ID, Nickname: acct.Nickname, KeyName: "work",
			KeyPath: k.Path, Fingerprint: k.Fingerprint, KeyID: placed[0].Key.ID}
		return nil
	}
}

// setup's shape on Cloud: a new passphrase-protected key, loaded into the real
// ssh-agent, uploaded to the account, proven by an SSH handshake, recorded, and the ssh
// config and pins written from the state; the real ssh then reads that config back.
func TestCloudAccountKey(t *testing.T) {
	testutil.RequireBinary(t, "ssh")
	w := newWorld(t, false)
	ctx := t.Context()
	acct, err := w.b.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ag := w.agent()
	path := filepath.Join(w.home.SSHDir, "bbkey_work_ed25519")
	hs := &Handshake{SSH: w.ssh()}
	p := &Pipeline{
		B:     w.b,
		Key:   KeySource{New: keys.GenerateOptions{Path: path, Comment: "work", Passphrase: []byte("correct horse battery staple")}},
		Agent: ag, Places: []Place{{Account: acct}}, Label: "bbkey:work:2026-12-06", Concurrency: 4,
		Proof: hs.Prove, State: w.sd, Record: accountRecord(acct),
		Config: w.config,
	}
	out, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k := out.Key
	if !out.KeyCreated || !k.Encrypted || !out.AgentLoaded || hs.Result == nil || hs.Result.Fingerprint != k.Fingerprint {
		t.Fatalf("outcome %+v, proof %+v", out, hs.Result)
	}
	if has, err := ag.Has(k.Fingerprint); err != nil || !has {
		t.Errorf("agent has the key: %v %v", has, err)
	}
	if got, err := w.b.FindAccountKey(ctx, acct, k.Fingerprint); err != nil || got == nil || got.ID != out.Placed[0].Key.ID || got.Label != "bbkey:work:2026-12-06" {
		t.Errorf("account key %+v, err %v", got, err)
	}
	st, err := w.sd.Load()
	if err != nil || st.Accounts["work"] == nil || st.Accounts["work"].Fingerprint != k.Fingerprint {
		t.Fatalf("state %+v err %v", st, err)
	}
	cfg := sshconfig.FilesIn(w.home.SSHDir)
	g := testutil.Run(t, "", nil, "ssh", "-G", "-F", cfg.UserConfig, settings.DefaultSSHHost)
	if !strings.Contains(g, "identityfile "+path) || !strings.Contains(g, "port "+strings.Split(w.s.SSHEndpoint, ":")[1]) {
		t.Errorf("ssh -G through the written config:\n%s", g)
	}
	// A re-run with the key made: looked for first, found, not posted again.
	k2, err := keys.LoadPrivate(path, []byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	p2 := &Pipeline{B: w.b, Key: KeySource{Key: k2}, Places: []Place{{Account: acct}}, MayExist: true, Proof: (&Handshake{SSH: w.ssh()}).Prove}
	out2, err := p2.Run(ctx)
	if err != nil || out2.Placed[0].Status != Present {
		t.Fatalf("re-run: %+v err %v", out2.Placed, err)
	}
}

// A key uploaded and not proven is taken back: the proof fails (the server refuses the
// new key over SSH), so the account key is deleted again by its id, the agent forgets
// it, nothing is recorded; the whole key file stays for a re-run.
func TestUnprovenKeyIsTakenBack(t *testing.T) {
	w := newWorld(t, false)
	ctx := t.Context()
	acct, err := w.b.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.emu.DenySSHNewKeys()
	ag := w.agent()
	path := filepath.Join(w.home.SSHDir, "bbkey_work_ed25519")
	p := &Pipeline{
		B: w.b, Key: KeySource{New: keys.GenerateOptions{Path: path, Comment: "work", NoPassphrase: true}},
		Agent: ag, Places: []Place{{Account: acct}}, Label: "bbkey:work:2026-12-06",
		Proof: (&Handshake{SSH: w.ssh()}).Prove, State: w.sd, Record: accountRecord(acct), Config: w.config,
	}
	out, err := p.Run(ctx)
	if _, ok := errors.AsType[*sshproof.RefusedError](err); !ok {
		t.Fatalf("err = %v, want the server's refusal", err)
	}
	if len(out.TakenBack) != 1 || out.TakeBackErr != nil {
		t.Fatalf("taken back %+v, err %v", out.TakenBack, out.TakeBackErr)
	}
	if got, err := w.b.FindAccountKey(ctx, acct, out.Key.Fingerprint); err != nil || got != nil {
		t.Errorf("the unproven key is still on the account: %+v %v", got, err)
	}
	if has, _ := ag.Has(out.Key.Fingerprint); has {
		t.Error("the agent still holds the unproven key")
	}
	if st, err := w.sd.Load(); err != nil || len(st.Accounts) != 0 {
		t.Errorf("state records %+v (%v)", st.Accounts, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the key file is gone: %v", err)
	}
	if _, err := os.Stat(sshconfig.FilesIn(w.home.SSHDir).Managed); err == nil {
		t.Error("an ssh config was written for an unproven key")
	}
}

// A key made a moment ago whose upload fails leaves no key anywhere: the first failure
// stops the run and the places done are taken back.
func TestFailedPlaceTakesBackTheOthers(t *testing.T) {
	w := newWorld(t, false)
	k := w.plainKey("bbkey_access_ci_ed25519")
	places := append(w.parse(backend.Repo, "acme/api", "acme/web"), w.parse(backend.Repo, "acme/nope")...)
	p := &Pipeline{B: w.b, Key: KeySource{Key: k}, Places: places, Label: "bbkey:ci", Concurrency: 1}
	out, err := p.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "acme/nope") {
		t.Fatalf("err = %v", err)
	}
	if len(out.TakenBack) != 2 {
		t.Errorf("taken back %+v", out.TakenBack)
	}
	for _, pl := range places[:2] {
		if got, err := w.b.FindAccessKey(t.Context(), pl.Place, k.Fingerprint); err != nil || got != nil {
			t.Errorf("%s still has the key: %+v %v", pl, got, err)
		}
	}
}

// add-access-key's shape on Cloud: an existing key to a project only, the places
// uploaded concurrently and recorded batch by batch, the one git proof run with the real
// git and ssh on a repository of the project (one listing call), the key kept when a
// later proof fails (KeepUnproven).
func TestCloudAccessKeysProject(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	w := newWorld(t, false)
	ctx := t.Context()
	k := w.plainKey("bbkey_access_ci_ed25519")
	var batches atomic.Int32
	recorded := map[string]bool{}
	git := &Git{B: w.b, Proof: Proof{Endpoint: w.ssh().Endpoint, HostKeyAlias: w.ssh().Host, KnownHosts: hostLines(w), KeyPath: k.Path}}
	p := &Pipeline{
		B: w.b, Key: KeySource{Key: k}, Places: append(w.parse(backend.Project, "acme/OPS"), w.parse(backend.Repo, "acme/web")...),
		Label: "bbkey:ci", MayExist: true, Concurrency: 2, Partial: true, KeepUnproven: true,
		Proof: func(ctx context.Context, k *keys.Key, placed []Placed) error {
			// Only the project: the proof must find a repository of it.
			return git.Prove(ctx, k, placed[:1])
		},
		State: w.sd, RecordEach: true,
		Record: func(st *state.State, k *keys.Key, stage Stage, placed []Placed) error {
			if stage == StagePlaced {
				batches.Add(1)
			}
			for _, pl := range placed {
				recorded[pl.Place.String()] = true
			}
			return nil
		},
	}
	out, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if batches.Load() == 0 || !recorded["acme/OPS"] || !recorded["acme/web"] {
		t.Errorf("recorded %v in %d batches", recorded, batches.Load())
	}
	if r := git.Result; r == nil || !r.Read || !r.PushRefused || !strings.HasPrefix(r.Target, "acme/") {
		t.Errorf("proof %+v", git.Result)
	}
	for _, pl := range out.Placed {
		if pl.Status != Added {
			t.Errorf("%s: %s %v", pl.Place, pl.Status, pl.Err)
		}
	}
	// The same key proven read-write fails; KeepUnproven leaves it everywhere.
	git.Proof.Write = true
	out, err = p.Run(ctx)
	if errkind.ExitCode(err) != errkind.ExitVerify || len(out.TakenBack) != 0 {
		t.Fatalf("err %v (exit %d), taken back %+v", err, errkind.ExitCode(err), out.TakenBack)
	}
	for _, pl := range out.Placed {
		if pl.Status != Present {
			t.Errorf("re-run %s: %s %v", pl.Place, pl.Status, pl.Err)
		}
	}
}

func hostLines(w *world) []byte {
	b, err := os.ReadFile(w.emu.HostKeyFile())
	if err != nil {
		w.t.Fatal(err)
	}
	return append([]byte(settings.DefaultSSHHost+" "), b...)
}

// On Data Center: an existing key that may push on OPS/web already, asked for read-only
// on OPS/api, OPS/web, ~ada's personal repository and project OPS. The key is looked for
// first (a post would change its permission): OPS/web is left alone and reported, the
// rest get it, the run goes on (Partial), the git proof reads OPS/api and is refused a
// push, and every place holds the key with the permission asked for.
func TestDataCenterAccessKeys(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	w := newWorld(t, true)
	ctx := t.Context()
	k := w.plainKey("bbkey_access_ci_ed25519")
	web, err := w.b.ParsePlace(backend.Repo, "OPS/web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.b.AddAccessKey(ctx, web, backend.NewKey{Text: k.AuthorizedKey(), Label: "by hand", Write: true}); err != nil {
		t.Fatal(err)
	}
	at := w.ssh()
	git := &Git{B: w.b, Proof: Proof{Endpoint: at.Endpoint, HostKeyAlias: at.Host, KnownHosts: hostPins(t, at), KeyPath: k.Path}}
	places := append(w.parse(backend.Repo, "OPS/api", "OPS/web", "~ada/notes"), w.parse(backend.Project, "OPS")...)
	p := &Pipeline{B: w.b, Key: KeySource{Key: k}, Places: places, Label: "bbkey:ci", MayExist: true,
		Concurrency: 3, Partial: true, Proof: git.Prove}
	out, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"OPS/api": Added, "OPS/web": Failed, "~ada/notes": Added, "OPS": Added}
	for _, pl := range out.Placed {
		if pl.Status != want[pl.Place.String()] {
			t.Errorf("%s: %s %v", pl.Place, pl.Status, pl.Err)
		}
		if pl.Status == Failed {
			if _, ok := errors.AsType[*PermissionMismatchError](pl.Err); !ok {
				t.Errorf("%s: err %v, want a permission mismatch", pl.Place, pl.Err)
			}
		}
	}
	if r := git.Result; r == nil || !r.Read || !r.PushRefused || !strings.HasSuffix(r.Remote, "/ops/api.git") {
		t.Errorf("proof %+v", git.Result)
	}
	for _, pl := range places {
		got, err := w.b.FindAccessKey(ctx, pl.Place, k.Fingerprint)
		if err != nil || got == nil || got.Write != (pl.Place.String() == "OPS/web") {
			t.Errorf("%s holds %+v (%v)", pl.Place, got, err)
		}
	}
}

func hostPins(t *testing.T, at *backend.SSH) []byte { return hostkeys.Render(at.Pins) }

// config is the commands' Pipeline.Config: the ssh config and pins derived from the state.
func (w *world) config(ctx context.Context) error {
	st, err := w.sd.Load()
	if err == nil {
		_, err = identity.Sync(ctx, w.s, w.home.SSHDir, st, false)
	}
	return err
}

// Git, the tests' prover, proves an access key with the one git proof (Proof) on a repository that has it
// (ProofTarget); Proof's Target and, for an encrypted key unlocked in memory, Private
// are filled in. Result is what the proof saw.
type Git struct {
	B      backend.Backend
	Proof  Proof
	Result *ProofResult
}

// Prove is a Pipeline.Proof.
func (g *Git) Prove(ctx context.Context, k *keys.Key, placed []Placed) error {
	var places []backend.Place
	for _, p := range placed {
		if p.Place.Account == nil {
			places = append(places, p.Place.Place)
		}
	}
	t, err := ProofTarget(ctx, g.B, places)
	if err != nil {
		return err
	}
	pr := g.Proof
	pr.Target = t
	pr.DataCenter = g.B.Kind() == backend.DataCenter
	if pr.Private == nil && !pr.UserAgent && k.Encrypted && k.HasPrivate() {
		pr.Private = k.Private
	}
	res, err := pr.Run(ctx)
	g.Result = &res
	return err
}
