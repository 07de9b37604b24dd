package rotate

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/agent/agenttest"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/schedule/scheduletest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

var testNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const testPass = "correct horse battery staple"

// world is one command run's surroundings: a home, the emulator, fakes for the agent,
// keychain, terminal and timer.
type world struct {
	t        *testing.T
	emu      *bbapitest.Server
	home     *testutil.Home
	paths    settings.Paths
	settings settings.Settings
	env      map[string]string
	agent    *agenttest.Fake
	store    *credstoretest.Fake
	// fileStore, when set, is the store instead of store: the 0600 file of
	// `auth login --insecure-storage`, which a cron job can read.
	fileStore *credstore.File
	prompter  *prompttest.Fake
	runner    *fakeTimer
	backend   schedule.Backend
	stdout    *iostreamstest.SyncBuffer
	stderr    *iostreamstest.SyncBuffer
	passFile  string
	exe       string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	emu := bbapitest.Start(t)
	home := testutil.NewHome(t)
	w := &world{t: t, emu: emu, home: home, env: map[string]string{}, agent: &agenttest.Fake{}, store: &credstoretest.Fake{},
		prompter: &prompttest.Fake{}, runner: newFakeTimer(), backend: localBackend()}
	w.paths = settings.Paths{Home: home.Dir, SSHDir: home.SSHDir, ConfigDir: filepath.Join(home.ConfigDir, "bbkey")}
	w.settings = settings.Settings{APIURL: emu.APIURL(), SSHHost: settings.DefaultSSHHost, SSHEndpoint: emu.SSHEndpoint(), SSHHostKeys: emu.HostKeyFile()}
	w.passFile = filepath.Join(home.Dir, "pass.txt")
	if err := os.WriteFile(w.passFile, []byte(testPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.exe = filepath.Join(home.Dir, "bin", "bbkey")
	// As after `bbkey auth login`: the credential is stored, so a timer's job finds it.
	if err := w.store.Set(context.Background(), credstore.DefaultAccount, w.credential()); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) credential() credstore.Secret {
	return credstore.Secret{Kind: credstore.KindAPIToken, Email: bbapitest.DefaultEmail, Secret: []byte(w.emu.DefaultAPIToken())}
}

// useFileStore stores the credential in the 0600 file instead of the keychain.
func (w *world) useFileStore() {
	w.t.Helper()
	w.fileStore = credstore.NewFile(w.paths.ConfigDir)
	if err := w.fileStore.Set(context.Background(), credstore.DefaultAccount, w.credential()); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) credStore(context.Context, bool) (credstore.Store, error) {
	if w.fileStore != nil {
		return w.fileStore, nil
	}
	return w.store, nil
}

// options builds the command's Options the way NewCmdRotate does, over the world.
func (w *world) options() *Options {
	ios, _, stdout, stderr := iostreamstest.Test()
	w.stdout, w.stderr = stdout, stderr
	return &Options{
		Factory: &cmdutil.Factory{
			AppVersion: "test",
			IOStreams:  ios,
			Globals: &cmdutil.GlobalOptions{APIURL: w.settings.APIURL, SSHEndpoint: w.settings.SSHEndpoint,
				SSHHostKeys: w.settings.SSHHostKeys, MaxWait: 2 * time.Second},
			LookupEnv: func(k string) (string, bool) { v, ok := w.env[k]; return v, ok },
			Prompter:  func() prompt.Prompter { return w.prompter },
			Now:       func() time.Time { return testNow },
			Paths:     func() (settings.Paths, error) { return w.paths, nil },
			Hostname:  func() (string, error) { return "testhost", nil },
			Agent:     func() (agent.Agent, error) { return w.agent, nil },
			CredStore: w.credStore,
		},
		Executable: func() (string, error) { return w.exe, nil },
		Scheduler: func(_ context.Context, p settings.Paths) (*schedule.Installer, error) {
			return &schedule.Installer{Backend: w.backend, Runner: w.runner, Home: p.Home, ConfigDir: p.ConfigDir,
				UID: 1000, Now: func() time.Time { return testNow }}, nil
		},
		NoInput: true,
	}
}

func (w *world) stateDir() state.Dir { return state.Dir{Path: w.paths.ConfigDir} }

func (w *world) state() *state.State {
	w.t.Helper()
	st, err := w.stateDir().Load()
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// seedAccount does what `bbkey setup` leaves behind.
func (w *world) seedAccount(name string, created time.Time) *keys.Key {
	w.t.Helper()
	path, _ := keys.AccountKeyPath(w.home.SSHDir, name)
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: keys.Comment(name, "testhost", created), Passphrase: []byte(testPass)})
	if err != nil {
		w.t.Fatal(err)
	}
	label := "bbkey:" + name + ":" + created.Format(time.DateOnly)
	c, _, err := w.options().APIClient(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	bk, _, err := c.SSHKeys.Add(context.Background(), bbapitest.DefaultUUID, bbapi.AddSSHKeyOptions{Key: k.AuthorizedKey(), Label: label})
	if err != nil {
		w.t.Fatal(err)
	}
	w.update(func(st *state.State) {
		st.Accounts[name] = &state.Account{UUID: bbapitest.DefaultUUID, AccountID: bbapitest.DefaultAccountID, KeyName: name,
			KeyPath: path, Fingerprint: k.Fingerprint, KeyID: bk.UUID, Label: label, Created: created}
	})
	if err := w.agent.Add(k.Private, k.Comment, 0, false); err != nil {
		w.t.Fatal(err)
	}
	return k
}

func (w *world) update(fn func(*state.State)) {
	w.t.Helper()
	var st *state.State
	if err := w.stateDir().Update(context.Background(), func(s *state.State) error { fn(s); st = s; return nil }); err != nil {
		w.t.Fatal(err)
	}
	if _, err := identity.Sync(context.Background(), w.settings, w.home.SSHDir, st, false); err != nil {
		w.t.Fatal(err)
	}
}

// fakeTimer answers the timer commands like the real tools: systemctl and launchctl
// succeed, crontab keeps one crontab in memory, schtasks remembers registered tasks.
type fakeTimer struct {
	scheduletest.FakeRunner
	mu      sync.Mutex
	crontab *string
	tasks   map[string]bool
}

func newFakeTimer() *fakeTimer {
	f := &fakeTimer{tasks: map[string]bool{}}
	f.Handle = f.handle
	return f
}

func (f *fakeTimer) handle(c scheduletest.Call) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case c.Args[0] == "crontab" && c.Args[1] == "-l":
		if f.crontab == nil {
			return nil, &schedule.CommandError{Args: c.Args, Stderr: "no crontab for ann", Err: errExit1}
		}
		return []byte(*f.crontab), nil
	case c.Args[0] == "crontab" && c.Args[1] == "-":
		s := string(c.Stdin)
		f.crontab = &s
	case c.Args[0] == "schtasks" && c.Args[1] == "/Create":
		f.tasks[argOf(c.Args, "/TN")] = true
	case c.Args[0] == "schtasks" && c.Args[1] == "/Query":
		if !f.tasks[argOf(c.Args, "/TN")] {
			return nil, &schedule.CommandError{Args: c.Args, Stderr: "ERROR: The system cannot find the file specified.", Err: errExit1}
		}
	case c.Args[0] == "schtasks" && c.Args[1] == "/Delete":
		delete(f.tasks, argOf(c.Args, "/TN"))
	}
	return nil, nil
}

func argOf(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

type exitErr struct{}

func (exitErr) Error() string { return "exit status 1" }

var errExit1 = exitErr{}

// localBackend is the timer backend whose paths this OS has: Task Scheduler (C:\…) on
// Windows, systemd (/…) elsewhere.
func localBackend() schedule.Backend {
	if runtime.GOOS == "windows" {
		return schedule.TaskScheduler
	}
	return schedule.Systemd
}
