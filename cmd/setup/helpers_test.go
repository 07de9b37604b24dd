package setup

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/agent/agenttest"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
)

// testNow is the clock of every unit test: labels and comments carry its date.
var testNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const testPassphrase = "correct horse battery staple"

// fixture is one machine for runSetup: a throw-away home, the emulator, fakes for the
// agent, the credential store and the terminal.
type fixture struct {
	t        testing.TB
	emu      *bbapitest.Server
	home     *testutil.Home
	env      map[string]string
	ios      *iostreams.IOStreams
	stdout   *iostreamstest.SyncBuffer
	stderr   *iostreamstest.SyncBuffer
	agent    *agenttest.Fake
	noAgent  bool
	store    *credstoretest.Fake
	prompter *prompttest.Fake
	passFile string
	workDir  string
	globals  *cmdutil.GlobalOptions
	goos     string // Options.GOOS ("": this OS)
}

func newFixture(t testing.TB, opts ...bbapitest.Option) *fixture {
	t.Helper()
	fx := &fixture{
		t:        t,
		emu:      bbapitest.Start(t, opts...),
		home:     testutil.NewHome(t),
		env:      map[string]string{},
		agent:    &agenttest.Fake{},
		store:    &credstoretest.Fake{},
		prompter: &prompttest.Fake{},
		globals:  &cmdutil.GlobalOptions{MaxWait: 20 * time.Second},
	}
	for _, kv := range append(fx.home.Env(), fx.emu.Env()...) {
		k, v, _ := strings.Cut(kv, "=")
		fx.env[k] = v
	}
	fx.passFile = filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(fx.passFile, []byte(testPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fx.workDir = t.TempDir()
	fx.ios, _, fx.stdout, fx.stderr = iostreamstest.Test()
	return fx
}

func (fx *fixture) factory() *cmdutil.Factory {
	home := fx.home
	return &cmdutil.Factory{
		AppVersion: "test",
		IOStreams:  fx.ios,
		Globals:    fx.globals,
		LookupEnv: func(k string) (string, bool) {
			v, ok := fx.env[k]
			return v, ok
		},
		Now:        func() time.Time { return testNow },
		HTTPClient: func() *http.Client { return &http.Client{Timeout: 30 * time.Second} },
		Paths: func() (settings.Paths, error) {
			return settings.Paths{Home: home.Dir, SSHDir: home.SSHDir, ConfigDir: filepath.Join(home.ConfigDir, "bbkey")}, nil
		},
		Prompter: func() prompt.Prompter { return fx.prompter },
		Git:      gitrun.Exec{Env: home.Env()},
		Hostname: func() (string, error) { return "testhost", nil },
		Agent: func() (agent.Agent, error) {
			if fx.noAgent {
				return agent.Connect(func(string) (string, bool) { return "", false })
			}
			return fx.agent, nil
		},
		CredStore: func(context.Context, bool) (credstore.Store, error) { return fx.store, nil },
	}
}

// run parses args as `bbkey setup` would and runs the setup.
func (fx *fixture) run(args ...string) error {
	fx.t.Helper()
	fx.stderr.Reset()
	fx.stdout.Reset()
	f := fx.factory()
	var got *Options
	cmd := NewCmdSetup(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err != nil {
		return err
	}
	got.WorkDir = fx.workDir
	got.GOOS = fx.goos
	return runSetup(context.Background(), got)
}

// mustRun runs and fails the test on error.
func (fx *fixture) mustRun(args ...string) {
	fx.t.Helper()
	if err := fx.run(args...); err != nil {
		fx.t.Fatalf("setup %v: %v\nstderr:\n%s", args, err, fx.stderr.String())
	}
}

// requests lists the emulator's request log as "METHOD /path".
func (fx *fixture) requests() []string {
	var out []string
	for _, r := range fx.emu.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func (fx *fixture) keyPath(name string) string {
	return filepath.Join(fx.home.SSHDir, "bbkey_"+name+"_ed25519")
}

func (fx *fixture) state() *state.State {
	fx.t.Helper()
	st, err := state.Dir{Path: filepath.Join(fx.home.ConfigDir, "bbkey")}.Load()
	if err != nil {
		fx.t.Fatal(err)
	}
	return st
}

// snapshot maps every path under the home to its mode and content hash.
func (fx *fixture) snapshot() map[string]string {
	fx.t.Helper()
	return testutil.Snapshot(fx.t, fx.home.Dir)
}
