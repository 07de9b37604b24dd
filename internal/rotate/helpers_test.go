package rotate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/agent/agenttest"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// testNow is the engine's clock in these tests: the day the project is set on.
var testNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const testPass = "correct horse battery staple"

// fixture is one machine: a home with bbkey's state, the emulator, a fake agent.
type fixture struct {
	t        testing.TB
	emu      *bbapitest.Server
	home     *testutil.Home
	settings settings.Settings
	api      *bbapi.Client
	agent    *agenttest.Fake
	stderr   *iostreamstest.SyncBuffer
	io       *iostreams.IOStreams
	env      map[string]string
	exits    []int
	// b, when set, is the Bitbucket every key is on (a Data Center fixture); else the
	// Cloud emulator through f.api.
	b      backend.Backend
	server string
}

func newFixture(t testing.TB, opts ...bbapitest.Option) *fixture {
	t.Helper()
	emu := bbapitest.Start(t, opts...)
	f := &fixture{t: t, emu: emu, home: testutil.NewHome(t), agent: &agenttest.Fake{}, env: map[string]string{}}
	f.settings = settings.Settings{APIURL: emu.APIURL(), SSHHost: settings.DefaultSSHHost,
		SSHEndpoint: emu.SSHEndpoint(), SSHHostKeys: emu.HostKeyFile()}
	api, err := bbapi.NewClient(emu.APIURL(), &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()},
		bbapi.WithMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	f.api = api
	ios, _, _, stderr := iostreamstest.Test()
	f.io, f.stderr = ios, stderr
	return f
}

func (f *fixture) stateDir() state.Dir {
	return state.Dir{Path: filepath.Join(f.home.ConfigDir, "bbkey"), Now: func() time.Time { return testNow }}
}

// engine builds an Engine over the fixture; a crash hook panics with crashed{} instead of
// exiting, so a test can stop a run at a step boundary and start the next one.
func (f *fixture) engine() *Engine {
	return &Engine{
		Backend: func(_ context.Context, server string) (backend.Backend, error) {
			if f.b != nil && server == f.server {
				return f.b, nil
			}
			if server != "" {
				return nil, fmt.Errorf("no Data Center server %s in this fixture", server)
			}
			return backend.NewCloud(f.api, f.settings), nil
		},
		Agent:       func() (agent.Agent, error) { return f.agent, nil },
		State:       f.stateDir(),
		SSHDir:      f.home.SSHDir,
		Settings:    f.settings,
		Hostname:    "testhost",
		Now:         func() time.Time { return testNow },
		IO:          f.io,
		Passphrase:  func(context.Context, string) ([]byte, error) { return []byte(testPass), nil },
		LookupEnv:   func(k string) (string, bool) { v, ok := f.env[k]; return v, ok },
		Exit:        func(code int) { f.exits = append(f.exits, code); panic(crashed{}) },
		KeepRetired: DefaultKeepRetired,
	}
}

type crashed struct{}

// run runs the engine and reports whether the crash hook stopped it.
func (f *fixture) run(req Request) (rep *Report, err error, crash bool) {
	f.t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashed); !ok {
				panic(r)
			}
			crash = true
		}
	}()
	rep, err = f.engine().Run(context.Background(), req)
	return rep, err, false
}

// seedAccount does what setup does: a key at the fixed name, uploaded with a label dated
// created, recorded in the state, written into the ssh config, loaded into the agent.
func (f *fixture) seedAccount(name string, created time.Time) *keys.Key {
	f.t.Helper()
	ctx := context.Background()
	path, err := keys.AccountKeyPath(f.home.SSHDir, name)
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: keys.Comment(name, "testhost", created), Passphrase: []byte(testPass)})
	if err != nil {
		f.t.Fatal(err)
	}
	label := "bbkey:" + name + ":" + created.Format(time.DateOnly)
	bk, _, err := f.api.SSHKeys.Add(ctx, bbapitest.DefaultUUID, bbapi.AddSSHKeyOptions{Key: k.AuthorizedKey(), Label: label})
	if err != nil {
		f.t.Fatal(err)
	}
	f.update(func(st *state.State) {
		st.Accounts[name] = &state.Account{UUID: bbapitest.DefaultUUID, AccountID: bbapitest.DefaultAccountID, Nickname: name,
			Email: bbapitest.DefaultEmail, KeyName: name, KeyPath: path, Fingerprint: k.Fingerprint, KeyID: bk.UUID,
			Label: label, Created: created}
	})
	if err := f.agent.Add(k.Private, k.Comment, 0, false); err != nil {
		f.t.Fatal(err)
	}
	return k
}

// seedAccess does what add-access-key does for targets ("repo:WS/SLUG", "project:WS/KEY").
func (f *fixture) seedAccess(name, label string, created time.Time, targets ...string) *keys.Key {
	f.t.Helper()
	ctx := context.Background()
	path, err := keys.AccessKeyPath(f.home.SSHDir, name)
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: keys.Comment(name, "testhost", created), Passphrase: []byte(testPass)})
	if err != nil {
		f.t.Fatal(err)
	}
	ak := &state.AccessKey{Path: path, Fingerprint: k.Fingerprint, Label: label, Created: created}
	for _, ref := range targets {
		kind, r, _ := strings.Cut(ref, ":")
		tg, err := state.ParseTarget(state.TargetKind(kind), r)
		if err != nil {
			f.t.Fatal(err)
		}
		opts := bbapi.AddDeployKeyOptions{Key: k.AuthorizedKey(), Label: label}
		if tg.Kind == state.TargetProject {
			dk, _, err := f.api.ProjectKeys(tg.Workspace, tg.Slug).Add(ctx, opts)
			if err != nil {
				f.t.Fatal(err)
			}
			tg.KeyID = dk.ID.String()
		} else {
			dk, _, err := f.api.RepoKeys(tg.Workspace, tg.Slug).Add(ctx, opts)
			if err != nil {
				f.t.Fatal(err)
			}
			tg.KeyID = dk.ID.String()
		}
		ak.SetTarget(tg)
	}
	f.update(func(st *state.State) { st.AccessKeys[name] = ak })
	if err := f.agent.Add(k.Private, k.Comment, 0, false); err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *fixture) update(fn func(*state.State)) {
	f.t.Helper()
	var st *state.State
	err := f.stateDir().Update(context.Background(), func(s *state.State) error { fn(s); st = s; return nil })
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := identity.Sync(context.Background(), f.settings, f.home.SSHDir, st, false); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) state() *state.State {
	f.t.Helper()
	st, err := f.stateDir().Load()
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// accountKeys lists the fingerprints on Ada's account.
func (f *fixture) accountKeys() []string {
	var out []string
	for _, k := range f.emu.UserKeys(bbapitest.DefaultAccountID) {
		out = append(out, "SHA256:"+k.Fingerprint)
	}
	return out
}

// repoKeys lists the fingerprints of a repository's access keys.
func (f *fixture) repoKeys(slug string) []string {
	var out []string
	for _, k := range f.emu.RepoDeployKeys(bbapitest.DefaultWorkspace, slug) {
		out = append(out, "SHA256:"+k.Fingerprint)
	}
	return out
}

// configIdentity returns the IdentityFile the written ssh config gives alias.
func (f *fixture) configIdentity(alias string) string {
	f.t.Helper()
	blocks, err := sshconfig.Read(f.home.SSHDir)
	if err != nil {
		f.t.Fatal(err)
	}
	b, ok := sshconfig.Find(blocks, alias)
	if !ok {
		f.t.Fatalf("no Host %s in the ssh config", alias)
	}
	return b.IdentityFile
}

// fingerprintAt reads the key at path (private key file) without its passphrase.
func fingerprintAt(t testing.TB, path string) string {
	t.Helper()
	k, err := keys.LoadPublic(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return k.Fingerprint
}

// normalize makes stderr stable: the home becomes ~ and fingerprints their roles.
func normalize(s, home string, fps map[string]string) string {
	s = strings.ReplaceAll(s, home, "~")
	for fp, role := range fps {
		s = strings.ReplaceAll(s, fp, role)
	}
	return s
}

func countRequests(emu *bbapitest.Server, method, prefix string) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v\n%s", err, fmt.Sprint(apierr.Hints(err)))
	}
}

// Steps lists the steps in order; StepBegin is only a crash point.
var Steps = []string{StepBegin, StepGenerate, StepUpload, StepProve, StepAgentAdd, StepConfigNext,
	StepMoveOld, StepLinkNew, StepConfigFinal, StepAgentRemove, StepRevoke, StepRetire}
