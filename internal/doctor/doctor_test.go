package doctor

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/agent/agenttest"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// newEnv is an Env over a throw-away home with nothing in it.
func newEnv(t testing.TB) *Env {
	t.Helper()
	h := testutil.NewHome(t)
	return &Env{
		Settings: settings.Settings{SSHHost: settings.DefaultSSHHost, SSHEndpoint: settings.DefaultSSHEndpoint, APIURL: settings.DefaultAPIURL},
		Paths:    settings.Paths{Home: h.Dir, SSHDir: h.SSHDir, SSHDirFromEnv: true, ConfigDir: filepath.Join(h.ConfigDir, "bbkey")},
		Now:      func() time.Time { return now },
		Getenv:   func(string) string { return "" },
		Agent:    func() (agent.Agent, error) { return &agenttest.Fake{}, nil },
		Timeouts: Timeouts{Network: time.Second, API: 2 * time.Second, Proof: 2 * time.Second, Local: time.Second},
		// No test may reach the network: every dial and lookup is refused unless a test
		// says otherwise.
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("dial refused by the test")
		},
		LookupHost: func(context.Context, string) ([]string, error) { return nil, errors.New("lookup refused by the test") },
	}
}

func runOnly(t *testing.T, e *Env, ids ...string) map[string]Result {
	t.Helper()
	var checks []Check
	for _, c := range Checks(e.Timeouts) {
		if slices.Contains(ids, c.ID) {
			checks = append(checks, c)
		}
	}
	out := map[string]Result{}
	for _, r := range Run(context.Background(), e, checks) {
		out[r.ID] = r
	}
	return out
}

func TestRunOrderDependenciesTimeouts(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	defer close(release)
	checks := []Check{
		{ID: "a", Title: "first", Run: func(context.Context, *Env, Deps) Result { return Result{Status: Fail, Summary: "broken"} }},
		{ID: "b", Title: "second", Deps: []string{"a"}, Run: func(_ context.Context, _ *Env, d Deps) Result {
			if r, bad := d.failed("a"); bad {
				return skip(r)
			}
			return Result{Status: OK}
		}},
		{ID: "hang", Title: "hangs", Timeout: 50 * time.Millisecond, Run: func(context.Context, *Env, Deps) Result {
			<-release // ignores its context, as a stuck agent call would
			return Result{Status: OK}
		}},
		{ID: "na", Title: "elsewhere", Run: func(context.Context, *Env, Deps) Result { return Result{Status: notApplicable} }},
		{ID: "panic", Title: "panics", Run: func(context.Context, *Env, Deps) Result { panic("boom") }},
		{ID: "c", Title: "third", Run: func(context.Context, *Env, Deps) Result { return Result{Status: OK, Summary: "fine"} }},
	}
	res := Run(context.Background(), e, checks)
	var ids []string
	for _, r := range res {
		ids = append(ids, r.ID+":"+string(r.Status))
	}
	want := []string{"a:fail", "b:skipped", "hang:fail", "panic:fail", "c:ok"}
	if !slices.Equal(ids, want) {
		t.Fatalf("results = %v, want %v", ids, want)
	}
	if res[1].Summary != "skipped: first did not pass" {
		t.Errorf("skip summary = %q", res[1].Summary)
	}
	if !strings.Contains(res[2].Summary, "no answer within 50ms") || res[2].Fix == "" {
		t.Errorf("hung check = %+v", res[2])
	}
}

func TestFixesOnceEachPermissionsFirst(t *testing.T) {
	sync := &Fix{Key: "sync", Description: "sync"}
	chmod := &Fix{Key: "chmod", Description: "chmod"}
	results := []Result{
		{ID: "ssh-include", Status: Fail, fixes: []*Fix{sync}},
		{ID: "ssh-hosts", Status: Fail, fixes: []*Fix{sync}},
		{ID: "fine", Status: OK, fixes: []*Fix{{Key: "unused"}}},
		{ID: "key-permissions", Status: Fail, fixes: []*Fix{chmod}},
	}
	fixes := Fixes(results)
	if len(fixes) != 2 || fixes[0].Key != "chmod" || fixes[1].Key != "sync" {
		t.Fatalf("fixes = %+v", fixes)
	}
	if !slices.Equal(fixes[1].Checks, []string{"ssh-include", "ssh-hosts"}) {
		t.Errorf("sync repairs %v", fixes[1].Checks)
	}
}

func TestDNS(t *testing.T) {
	e := newEnv(t)
	e.Settings.SSHEndpoint = "ssh.example.test:22"
	r := runOnly(t, e, "dns")["dns"]
	if r.Status != Fail || !strings.Contains(r.Fix, "nslookup ssh.example.test") {
		t.Errorf("failed lookup: %+v", r)
	}
	e = newEnv(t)
	e.Settings.SSHEndpoint = "ssh.example.test:22"
	e.LookupHost = func(_ context.Context, h string) ([]string, error) { return []string{"192.0.2.7"}, nil }
	if r := runOnly(t, e, "dns")["dns"]; r.Status != OK || r.Summary != "ssh.example.test → 192.0.2.7" {
		t.Errorf("lookup: %+v", r)
	}
}

// TestFallbackOnlyWhenSet: the fallback is probed only when there is one, and a blocked
// endpoint with a reachable fallback suggests switching to it.
func TestFallbackAndTCP(t *testing.T) {
	e := newEnv(t)
	if _, ok := runOnly(t, e, "altssh")["altssh"]; ok {
		t.Error("altssh reported without a fallback endpoint")
	}
	e = newEnv(t)
	e.Fallback = settings.AltSSHEndpoint
	e.LookupHost = func(context.Context, string) ([]string, error) { return []string{"192.0.2.1"}, nil }
	e.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
		if addr == settings.AltSSHEndpoint {
			c1, c2 := net.Pipe()
			c2.Close()
			return c1, nil
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	res := runOnly(t, e, "dns", "altssh", "tcp")
	if res["altssh"].Status != OK {
		t.Errorf("altssh = %+v", res["altssh"])
	}
	tcp := res["tcp"]
	if tcp.Status != Fail || tcp.Summary != "cannot connect to ssh.bitbucket.org:22: connection refused" ||
		tcp.Fix != "switch to SSH over port 443: bbkey doctor --fix --ssh-endpoint altssh.bitbucket.org:443" {
		t.Errorf("tcp = %+v", tcp)
	}
}

type fakeGit struct {
	out string
	err error
}

func (g fakeGit) Run(context.Context, string, ...string) (string, error) { return g.out, g.err }
func (g fakeGit) RunInput(context.Context, string, string, ...string) (string, error) {
	return g.out, g.err
}

func TestGitSSHOnWindows(t *testing.T) {
	unset := &gitrun.Error{ExitCode: 1, Err: errors.New("exit status 1")}
	for _, tc := range []struct {
		name   string
		goos   string
		env    map[string]string
		git    fakeGit
		status Status
		fix    string
	}{
		{name: "linux", goos: "linux", status: notApplicable},
		{name: "unset", goos: "windows", git: fakeGit{err: unset}, status: Warn, fix: `git config --global core.sshCommand "C:/Windows/System32/OpenSSH/ssh.exe"`},
		{name: "bundled", goos: "windows", git: fakeGit{out: "C:/Program Files/Git/usr/bin/ssh.exe\n"}, status: Warn, fix: "core.sshCommand"},
		{name: "system", goos: "windows", git: fakeGit{out: "C:/Windows/System32/OpenSSH/ssh.exe\n"}, status: OK},
		{name: "env", goos: "windows", env: map[string]string{"GIT_SSH_COMMAND": `C:\Windows\System32\OpenSSH\ssh.exe -v`}, git: fakeGit{err: unset}, status: OK},
		{name: "env bare ssh", goos: "windows", env: map[string]string{"GIT_SSH_COMMAND": "ssh -v"}, git: fakeGit{err: unset}, status: Warn, fix: "remove GIT_SSH_COMMAND"},
		{name: "GIT_SSH bundled", goos: "windows", env: map[string]string{"GIT_SSH": "C:/Program Files/Git/usr/bin/ssh.exe"}, git: fakeGit{err: unset}, status: Warn, fix: "remove GIT_SSH"},
		{name: "own OpenSSH install", goos: "windows", git: fakeGit{out: "\"C:/Program Files/OpenSSH/ssh.exe\" -v\n"}, status: OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.GOOS, e.Git = tc.goos, tc.git
			e.Getenv = func(k string) string { return tc.env[k] }
			r, ok := runOnly(t, e, "git-ssh")["git-ssh"]
			if tc.status == notApplicable {
				if ok {
					t.Fatalf("reported off Windows: %+v", r)
				}
				return
			}
			if r.Status != tc.status || !strings.Contains(r.Fix, tc.fix) {
				t.Errorf("git-ssh = %+v, want %s with fix %q", r, tc.status, tc.fix)
			}
		})
	}
}

// doctor --fix makes git use Windows OpenSSH, with the real git writing the throw-away
// home's global config, and the check then passes.
func TestGitSSHFixSetsCoreSSHCommand(t *testing.T) {
	testutil.RequireBinary(t, "git")
	e := newEnv(t)
	e.GOOS = "windows"
	e.Getenv = func(k string) string { return map[string]string{"SystemRoot": `D:\Win`}[k] }
	env := []string{"HOME=" + e.Paths.Home, "USERPROFILE=" + e.Paths.Home, "XDG_CONFIG_HOME=" + filepath.Join(e.Paths.Home, ".config"), "GIT_CONFIG_NOSYSTEM=1"}
	e.Git = gitrun.Exec{Env: env}
	r := runOnly(t, e, "git-ssh")["git-ssh"]
	if r.Status != Warn || !strings.Contains(r.Summary, "git's own ssh") {
		t.Fatalf("before: %+v", r)
	}
	fixes := Fixes([]Result{r})
	if len(fixes) != 1 || fixes[0].Key != "git-ssh" {
		t.Fatalf("fixes: %+v", fixes)
	}
	if _, err := fixes[0].Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(testutil.Run(t, e.Paths.Home, env, "git", "config", "--global", "--get", "core.sshCommand")); got != "D:/Win/System32/OpenSSH/ssh.exe" {
		t.Fatalf("core.sshCommand = %q", got)
	}
	if r := runOnly(t, e, "git-ssh")["git-ssh"]; r.Status != OK {
		t.Fatalf("after: %+v", r)
	}
}

// emuEnv points the credential checks at the emulator with credential cred from source.
func emuEnv(t *testing.T, emu *bbapitest.Server, cred bbapi.Credential, source settings.CredentialSource) *Env {
	e := newEnv(t)
	e.Settings.APIURL = emu.APIURL()
	e.Credential = func(context.Context) (settings.ResolvedCredential, error) {
		return settings.ResolvedCredential{Credential: cred, Source: source}, nil
	}
	e.Cloud = func(c bbapi.Credential) (backend.Backend, error) {
		client, err := bbapi.NewClient(emu.APIURL(), c)
		return backend.NewCloud(client, e.Settings), err
	}
	return e
}

func TestCredentialClearTextFileExpiringSoon(t *testing.T) {
	emu := bbapitest.Start(t)
	cred := &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()}
	e := emuEnv(t, emu, cred, settings.SourceFileStore)
	store := &credstoretest.Fake{}
	if err := store.Set(context.Background(), credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: bbapitest.DefaultEmail,
		Secret: []byte(emu.DefaultAPIToken()), Created: now.Add(-350 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.CredStore = func(context.Context) (credstore.Store, error) { return store, nil }
	r := runOnly(t, e, "credential")["credential"]
	if r.Status != Warn || len(r.Details) != 2 {
		t.Fatalf("credential = %+v", r)
	}
	if !strings.Contains(r.Details[0], "clear-text file") || !strings.Contains(r.Details[1], "expires by 2026-12-07 at the latest") {
		t.Errorf("details = %q", r.Details)
	}
	if !strings.Contains(r.Fix, "bbkey auth login") || strings.Contains(r.Summary+strings.Join(r.Details, ""), emu.DefaultAPIToken()) {
		t.Errorf("fix %q, or the token leaked into the report", r.Fix)
	}
}

func TestCredentialMissingAndRefused(t *testing.T) {
	e := newEnv(t)
	e.Credential = func(context.Context) (settings.ResolvedCredential, error) {
		return settings.ResolvedCredential{}, errkind.AuthError(settings.ErrNoCredential)
	}
	if r := runOnly(t, e, "credential")["credential"]; r.Status != Fail || !strings.Contains(r.Fix, "bbkey auth login") {
		t.Errorf("no credential: %+v", r)
	}
	emu := bbapitest.Start(t)
	e = emuEnv(t, emu, &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: "wrong"}, settings.SourceEnv)
	res := runOnly(t, e, "credential", "scopes")
	if r := res["credential"]; r.Status != Fail || !strings.Contains(r.Summary, "refused") || !strings.Contains(r.Fix, "BITBUCKET_API_TOKEN") {
		t.Errorf("refused: %+v", r)
	}
	if res["scopes"].Status != Skipped {
		t.Errorf("scopes after a refused credential: %+v", res["scopes"])
	}
}

func TestScopesAccessTokenCannotManageAccountKeys(t *testing.T) {
	emu := bbapitest.Start(t)
	tok, err := emu.AddRepoAccessToken(bbapitest.DefaultWorkspace, "api", "repository", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	e := emuEnv(t, emu, &bbapi.AccessToken{Token: tok}, settings.SourceEnv)
	if err := (state.Dir{Path: e.Paths.ConfigDir}).Save(&state.State{Version: state.Version, Accounts: map[string]*state.Account{
		"ada": {UUID: bbapitest.DefaultUUID, KeyName: "ada", KeyPath: filepath.Join(e.Paths.SSHDir, "bbkey_ada_ed25519")},
	}}); err != nil {
		t.Fatal(err)
	}
	res := runOnly(t, e, "credential", "scopes")
	if r := res["scopes"]; res["credential"].Status == Fail || r.Status != Fail || !strings.Contains(r.Summary, "access token") {
		t.Errorf("credential %+v\nscopes %+v", res["credential"], r)
	}
}

func TestSecretKinds(t *testing.T) {
	for masked, want := range map[string]string{
		"https://x-bitbucket-api-token-auth:***@bitbucket.org": "an API token",
		"https://x-token-auth:***@bitbucket.org/ws/r.git":      "an access token",
		"https://***@bitbucket.org/ws/r.git":                   "a token",
		"https://ada:***@bitbucket.org":                        "an app password or password of ada (app passwords stopped working on 2026-07-28)",
	} {
		user, secret := maskedUser(masked)
		if !secret || secretKind(user, "") != want {
			t.Errorf("%s: user %q secret %v kind %q, want %q", masked, user, secret, secretKind(user, ""), want)
		}
	}
	if _, secret := maskedUser("https://ada@bitbucket.org/ws/r.git"); secret {
		t.Error("a user name alone counted as a secret")
	}
}

// TestKeyChecksNoKey: with nothing set up, key-files says to run setup and the checks
// that need a key skip instead of piling up failures.
func TestKeyChecksNoKey(t *testing.T) {
	e := newEnv(t)
	res := runOnly(t, e, "key-files", "key-permissions", "agent", "agent-key", "ssh-include", "ssh-hosts", "ssh-resolve", "pinned-host-keys")
	if r := res["key-files"]; r.Status != Fail || r.Fix != "run: bbkey setup" {
		t.Errorf("key-files = %+v", r)
	}
	for id, r := range res {
		if id != "key-files" && id != "agent" && r.Status != Skipped {
			t.Errorf("%s = %+v, want skipped", id, r)
		}
	}
}

// TestNoAgentWithUnencryptedKeys: a build server whose keys have no passphrase does not
// need an agent, so its absence is a warning there and a failure otherwise.
func TestNoAgentWithUnencryptedKeys(t *testing.T) {
	for _, enc := range []bool{false, true} {
		e := newEnv(t)
		e.Agent = func() (agent.Agent, error) { return nil, &agent.NoAgentError{Reason: "SSH_AUTH_SOCK is not set"} }
		path := filepath.Join(e.Paths.SSHDir, "bbkey_access_ci_ed25519")
		opts := keys.GenerateOptions{Path: path, NoPassphrase: !enc}
		if enc {
			opts.Passphrase = []byte("correct horse battery")
		}
		k, err := keys.Generate(opts)
		if err != nil {
			t.Fatal(err)
		}
		k.Wipe()
		if err := (state.Dir{Path: e.Paths.ConfigDir}).Save(&state.State{Version: state.Version, AccessKeys: map[string]*state.AccessKey{
			"ci": {Path: path, Fingerprint: k.Fingerprint}}}); err != nil {
			t.Fatal(err)
		}
		want := map[bool]Status{false: Warn, true: Fail}[enc]
		res := runOnly(t, e, "agent", "agent-key")
		if r := res["agent"]; r.Status != want || !strings.Contains(r.Summary, "SSH_AUTH_SOCK is not set") {
			t.Errorf("encrypted=%v: agent = %+v, want %s", enc, r, want)
		}
		if res["agent-key"].Status != Skipped && enc {
			t.Errorf("agent-key = %+v", res["agent-key"])
		}
	}
}

// On Windows the agent check reads the ssh-agent service: without an agent it names the
// service's state and the PowerShell that fixes it; with an agent that answers, a service
// that will not start after a reboot is a warning. Elsewhere the service is not asked.
func TestAgentCheckReadsTheWindowsService(t *testing.T) {
	noAgent := func() (agent.Agent, error) {
		return nil, &agent.NoAgentError{Reason: `cannot reach the ssh-agent service's pipe \\.\pipe\openssh-ssh-agent`}
	}
	for _, tc := range []struct {
		name   string
		goos   string
		agent  func() (agent.Agent, error)
		svc    agent.ServiceState
		status Status
		want   string
	}{
		{"disabled", "windows", noAgent, agent.ServiceState{Installed: true, Start: "disabled"}, Fail, "the ssh-agent service is disabled"},
		{"not installed", "windows", noAgent, agent.ServiceState{}, Fail, "not installed"},
		{"manual and running", "windows", nil, agent.ServiceState{Installed: true, Running: true, Start: "manual"}, Warn, "will not be running after a reboot"},
		{"automatic and running", "windows", nil, agent.ServiceState{Installed: true, Running: true, Start: "automatic"}, OK, "answers"},
		{"linux", "linux", noAgent, agent.ServiceState{Installed: true, Start: "disabled"}, Fail, `\\.\pipe`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.GOOS = tc.goos
			if tc.agent != nil {
				e.Agent = tc.agent
			}
			asked := false
			e.AgentService = func() (agent.ServiceState, error) { asked = true; return tc.svc, nil }
			r := runOnly(t, e, "agent")["agent"]
			if r.Status != tc.status || !strings.Contains(r.Summary, tc.want) {
				t.Fatalf("agent = %+v, want %s mentioning %q", r, tc.status, tc.want)
			}
			if tc.status != OK && tc.goos == "windows" && !strings.Contains(r.Fix, agent.EnableServiceCommand) {
				t.Errorf("fix %q lacks the PowerShell", r.Fix)
			}
			if asked != (tc.goos == "windows") {
				t.Errorf("service asked = %v on %s", asked, tc.goos)
			}
		})
	}
}

// TestKeyPassphraseNamesOnlyThePlainKey: with one key protected and one not, the warning
// names the plain key alone; the protected one is not listed under it, where it would read
// as a second key without a passphrase. With every key protected the line says so.
func TestKeyPassphraseNamesOnlyThePlainKey(t *testing.T) {
	e := newEnv(t)
	st := &state.State{Version: state.Version, AccessKeys: map[string]*state.AccessKey{}}
	for _, name := range []string{"enc", "plain"} {
		path := filepath.Join(e.Paths.SSHDir, "bbkey_access_"+name+"_ed25519")
		opts := keys.GenerateOptions{Path: path, NoPassphrase: name == "plain"}
		if name == "enc" {
			opts.Passphrase = []byte("correct horse battery")
		}
		k, err := keys.Generate(opts)
		if err != nil {
			t.Fatal(err)
		}
		k.Wipe()
		st.AccessKeys[name] = &state.AccessKey{Path: path, Fingerprint: k.Fingerprint}
	}
	sd := state.Dir{Path: e.Paths.ConfigDir}
	if err := sd.Save(st); err != nil {
		t.Fatal(err)
	}
	r := runOnly(t, e, "key-passphrase")["key-passphrase"]
	if r.Status != Warn || !strings.Contains(r.Summary, "access key plain") || strings.Contains(r.Summary, "access key enc") || len(r.Details) != 0 {
		t.Errorf("one plain key: %+v", r)
	}
	delete(st.AccessKeys, "plain")
	if err := sd.Save(st); err != nil {
		t.Fatal(err)
	}
	if r := runOnly(t, e, "key-passphrase")["key-passphrase"]; r.Status != OK || r.Summary != "the key is passphrase-protected" || len(r.Details) != 0 {
		t.Errorf("every key protected: %+v", r)
	}
}

// A host key an @revoked line marks in bbkey's known_hosts fails host-key even though it
// is pinned, as ssh refuses it (hostkeys' TestRevokedAgreesWithSSH runs the real ssh).
func TestHostKeyRevoked(t *testing.T) {
	emu := bbapitest.Start(t)
	e := newEnv(t)
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(emu.HostPublicKey())))
	e.Settings.SSHEndpoint, e.Settings.SSHHostKeys = emu.SSHEndpoint(), filepath.Join(t.TempDir(), "server.pub")
	if err := os.WriteFile(e.Settings.SSHHostKeys, []byte(pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Dial = (&net.Dialer{}).DialContext
	if r := runOnly(t, e, "host-key")["host-key"]; r.Status != OK {
		t.Fatalf("before: %+v", r)
	}
	kh := hostkeys.Path(e.Paths.SSHDir)
	if err := os.MkdirAll(filepath.Dir(kh), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kh, []byte("@revoked * "+pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runOnly(t, e, "host-key")["host-key"]
	if r.Status != Fail || !strings.Contains(r.Summary, "@revoked in "+kh+":1") || !strings.Contains(r.Fix, "line 1 of "+kh) {
		t.Errorf("after: %+v", r)
	}
}
