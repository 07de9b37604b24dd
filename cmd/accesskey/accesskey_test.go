package accesskey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/agent/agenttest"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

var testNow = time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)

// harness is one machine for a run function: a home, streams, a fake agent and the
// emulator, wired through a Factory as cmd does it.
type harness struct {
	t      *testing.T
	emu    *bbapitest.Server
	home   *testutil.Home
	env    map[string]string
	ios    *iostreams.IOStreams
	stdin  *bytes.Buffer
	stdout *iostreamstest.SyncBuffer
	stderr *iostreamstest.SyncBuffer
	agent  *agenttest.Fake
	f      *cmdutil.Factory
	pass   string
}

func newHarness(t *testing.T, opts ...bbapitest.Option) *harness {
	t.Helper()
	h := &harness{t: t, emu: bbapitest.Start(t, opts...), home: testutil.NewHome(t), agent: &agenttest.Fake{}}
	h.env = map[string]string{"PATH": os.Getenv("PATH")}
	for _, kv := range append(h.home.Env(), h.emu.Env()...) {
		k, v, _ := strings.Cut(kv, "=")
		h.env[k] = v
	}
	h.pass = filepath.Join(h.home.Dir, "pass")
	if err := os.WriteFile(h.pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.ios, h.stdin, h.stdout, h.stderr = iostreamstest.Test()
	lookup := func(k string) (string, bool) { v, ok := h.env[k]; return v, ok }
	h.f = &cmdutil.Factory{
		AppVersion: "test",
		IOStreams:  h.ios,
		Globals:    &cmdutil.GlobalOptions{MaxWait: time.Minute},
		LookupEnv:  lookup,
		Now:        func() time.Time { return testNow },
		HTTPClient: func() *http.Client { return &http.Client{Timeout: 30 * time.Second} },
		Paths:      func() (settings.Paths, error) { return settings.SystemPaths(lookup) },
		Prompter:   func() prompt.Prompter { return &prompttest.Fake{} },
		Git:        gitrun.Exec{},
		Hostname:   func() (string, error) { return "build-01", nil },
		Agent:      func() (agent.Agent, error) { return h.agent, nil },
	}
	return h
}

// run parses args as the command does and runs it.
func (h *harness) run(ctx context.Context, args ...string) error {
	h.t.Helper()
	var opts *Options
	cmd := NewCmdAddAccessKey(h.f, func(o *Options) error { opts = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err != nil {
		return errkind.UsageError(err)
	}
	return runAdd(ctx, opts)
}

func (h *harness) keyPath() string {
	return filepath.Join(h.home.SSHDir, "bbkey_access_build-01_ed25519")
}

// scrub replaces what changes from run to run (temp paths, ports, keys) with names.
func (h *harness) scrub(s string) string {
	_, port, _ := strings.Cut(h.emu.SSHEndpoint(), ":")
	hostKey := base64.StdEncoding.EncodeToString(h.emu.HostPublicKey().Marshal())
	s = testutil.SlashPaths(s)
	r := []string{filepath.ToSlash(h.home.Dir), "$HOME", filepath.ToSlash(h.emu.HostKeyFile()), "$HOSTKEYFILE", hostKey, "$HOSTKEY", "Port " + port, "Port $PORT"}
	if k, err := keys.LoadPublic(h.keyPath()); err == nil {
		r = append(r, k.Fingerprint, "SHA256:$FP")
	}
	return strings.NewReplacer(r...).Replace(s)
}

func (h *harness) state() *state.State {
	h.t.Helper()
	st, err := state.Dir{Path: filepath.Join(h.home.ConfigDir, "bbkey")}.Load()
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func TestAddOneRepositoryText(t *testing.T) {
	h := newHarness(t)
	if err := h.run(context.Background(), "--repo", "acme/api", "--passphrase-file", h.pass); err != nil {
		t.Fatal(err)
	}
	id := strconv.Itoa(h.emu.RepoDeployKeys("acme", "api")[0].ID)
	wantOut := `access key build-01
  bitbucket    Bitbucket Cloud
  private key  $HOME/.ssh/bbkey_access_build-01_ed25519
  fingerprint  SHA256:$FP
  label        bbkey:build-01:2026-11-22:ttl=90d

added    acme/api (key id ` + id + `)

# ssh config for this machine (or re-run with --write-ssh-config to install it)
Host ssh.bitbucket.org
  HostName 127.0.0.1
  Port $PORT
  User git
  IdentityFile $HOME/.ssh/bbkey_access_build-01_ed25519
  IdentitiesOnly yes
` + identityAgentLine + `  AddKeysToAgent yes
  ProxyCommand none
  UserKnownHostsFile $HOME/.ssh/bbkey/known_hosts
  StrictHostKeyChecking yes
  HostKeyAlias ssh.bitbucket.org

# pinned host keys: put these lines in $HOME/.ssh/bbkey/known_hosts, the file the block names
# Host keys pinned by bbkey: do not edit, bbkey rewrites this file.
# Source: $HOSTKEYFILE
ssh.bitbucket.org ssh-ed25519 $HOSTKEY

clone with: git clone git@ssh.bitbucket.org:acme/api.git
`
	if got := h.scrub(h.stdout.String()); got != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, wantOut)
	}
	wantErr := `1 target (0 already done), about 1 call; budget 1,000 calls per hour
✓ made access key $HOME/.ssh/bbkey_access_build-01_ed25519 (SHA256:$FP)
✓ acme/api: added (1/1)
✓ 1 of 1 target has the key (1 added, 0 already present)
`
	if got := h.scrub(h.stderr.String()); got != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, wantErr)
	}
	testutil.AssertPrivate(t, h.keyPath())
	if enc, _ := keys.IsEncrypted(h.keyPath()); !enc {
		t.Error("the key is not encrypted")
	}
	ak := h.state().AccessKeys["build-01"]
	if ak == nil || ak.Label != "bbkey:build-01:2026-11-22:ttl=90d" || len(ak.Targets) != 1 || ak.Targets[0].KeyID != id || !ak.Targets[0].Added.Equal(testNow) {
		t.Errorf("state: %+v", ak)
	}
	if _, err := os.Stat(filepath.Join(h.home.SSHDir, "config")); !os.IsNotExist(err) {
		t.Errorf("ssh config written without --write-ssh-config: %v", err)
	}
}

func TestAddDryRunJSON(t *testing.T) {
	h := newHarness(t)
	h.f.Globals.JSON = true
	if err := h.run(context.Background(), "--workspace", "acme", "--query", `name ~ "a"`, "--project", "acme/OPS", "--dry-run", "--ttl", "30d"); err != nil {
		t.Fatal(err)
	}
	want := `{
  "dry_run": true,
  "bitbucket": {
    "kind": "cloud"
  },
  "key": {
    "name": "build-01",
    "path": "$HOME/.ssh/bbkey_access_build-01_ed25519",
    "public_path": "$HOME/.ssh/bbkey_access_build-01_ed25519.pub",
    "fingerprint": "",
    "label": "bbkey:build-01:2026-11-22:ttl=30d",
    "created": false,
    "encrypted": true,
    "agent": false
  },
  "plan": {
    "targets": 3,
    "already_done": 0,
    "pending": 3,
    "list_calls": 1,
    "calls": 4,
    "budget_per_hour": 1000
  },
  "targets": [
    {
      "target": "acme/OPS",
      "kind": "project",
      "status": "pending"
    },
    {
      "target": "acme/api",
      "kind": "repo",
      "status": "pending"
    },
    {
      "target": "acme/infra",
      "kind": "repo",
      "status": "pending"
    }
  ],
  "summary": {
    "added": 0,
    "failed": 0,
    "pending": 3,
    "present": 0,
    "skipped": 0,
    "total": 3
  },
  "missing": [],
  "calls": 1,
  "verify": null,
  "changed_files": [
    "$HOME/.ssh/bbkey_access_build-01_ed25519",
    "$HOME/.ssh/bbkey_access_build-01_ed25519.pub",
    "$HOME/.config/bbkey/state.json"
  ]
}
`
	if got := h.scrub(h.stdout.String()); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
	if entries, _ := os.ReadDir(h.home.SSHDir); len(entries) != 0 {
		t.Errorf("dry run wrote into the ssh dir: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(h.home.ConfigDir, "bbkey")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote state: %v", err)
	}
	reqs := h.emu.Requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || !strings.Contains(reqs[0].RawQuery, "role=admin") || !strings.Contains(reqs[0].RawQuery, "q=") {
		t.Errorf("requests: %+v", reqs)
	}
}

// One repository refuses (no admin permission): the others get the key, the run exits 3
// naming it with Bitbucket's message, and a re-run once the permission is fixed adds only
// that one, with the same key from the agent's point of view.
func TestAddPartialThenResume(t *testing.T) {
	h := newHarness(t)
	if err := h.emu.SetRepoPermission("acme", "infra", bbapitest.DefaultEmail, bbapitest.PermWrite); err != nil {
		t.Fatal(err)
	}
	h.f.Globals.JSON = true
	args := []string{"--repo", "acme/api,acme/web", "--repo", "acme/infra", "--passphrase-file", h.pass, "--agent"}
	err := h.run(context.Background(), args...)
	if apierr.ExitCode(err) != errkind.ExitPartial || !strings.Contains(err.Error(), "1 of 3 targets do not have the key: acme/infra") {
		t.Fatalf("err = %v (exit %d), want a partial failure naming acme/infra", err, apierr.ExitCode(err))
	}
	var doc report
	if err := json.Unmarshal([]byte(h.stdout.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Missing) != 1 || doc.Missing[0].Target != "acme/infra" || doc.Missing[0].Status != "failed" || !strings.HasPrefix(doc.Missing[0].Error, "403 Forbidden: ") {
		t.Errorf("missing = %+v", doc.Missing)
	}
	if doc.Summary["added"] != 2 || doc.Summary["failed"] != 1 || !doc.Key.Agent {
		t.Errorf("summary %v key %+v", doc.Summary, doc.Key)
	}
	if e, ok := h.agent.Entry(doc.Key.Fingerprint); !ok || e.Lifetime != 0 {
		t.Errorf("agent entry %+v %v", e, ok)
	}
	if n := len(h.state().AccessKeys["build-01"].Targets); n != 2 {
		t.Errorf("state records %d targets, want 2", n)
	}

	if err := h.emu.SetRepoPermission("acme", "infra", bbapitest.DefaultEmail, bbapitest.PermAdmin); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetRequests()
	h.stdout.Reset()
	if err := h.run(context.Background(), args...); err != nil {
		t.Fatal(err)
	}
	var posts []string
	for _, r := range h.emu.Requests() {
		posts = append(posts, r.Method+" "+r.Path)
	}
	if want := []string{"POST /2.0/repositories/acme/infra/deploy-keys"}; !slices.Equal(posts, want) {
		t.Errorf("re-run requests %v, want %v", posts, want)
	}
	for _, slug := range bbapitest.DefaultRepos {
		if n := len(h.emu.RepoDeployKeys("acme", slug)); n != 1 {
			t.Errorf("acme/%s has %d keys", slug, n)
		}
	}
}

// A key already on a repository (added by hand, or by a run whose record was lost) is
// "present", found with one listing of that repository's keys.
func TestAddDuplicateIsPresent(t *testing.T) {
	h := newHarness(t)
	if err := h.run(context.Background(), "--repo", "acme/api", "--passphrase-file", h.pass); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(h.home.ConfigDir, "bbkey", state.StateFile)); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetRequests()
	h.f.Globals.JSON = true
	h.stdout.Reset()
	if err := h.run(context.Background(), "--repo", "acme/api", "--passphrase-file", h.pass); err != nil {
		t.Fatal(err)
	}
	var doc report
	if err := json.Unmarshal([]byte(h.stdout.String()), &doc); err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(h.emu.RepoDeployKeys("acme", "api")[0].ID)
	if len(doc.Targets) != 1 || doc.Targets[0].Status != "present" || doc.Targets[0].Recorded || doc.Targets[0].KeyID != want {
		t.Errorf("targets = %+v, want present with key id %s", doc.Targets, want)
	}
	if n := len(h.emu.Requests()); n != 2 {
		t.Errorf("%d requests, want the POST and one listing", n)
	}
}

// A credential without the scope to add access keys fails every target the same way:
// the run stops after the first answer and exits 4.
func TestAddMissingScopeStops(t *testing.T) {
	h := newHarness(t)
	var scopes []string
	for _, s := range bbapitest.AllScopes {
		if s != "admin:repository:bitbucket" {
			scopes = append(scopes, s)
		}
	}
	tok, err := h.emu.AddAPIToken(bbapitest.DefaultEmail, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	h.env["BITBUCKET_API_TOKEN"] = tok
	err = h.run(context.Background(), "--repo", "acme/api,acme/web,acme/infra", "--concurrency", "1", "--passphrase-file", h.pass)
	if apierr.ExitCode(err) != errkind.ExitAuth {
		t.Fatalf("err = %v (exit %d), want exit 4", err, apierr.ExitCode(err))
	}
	if n := len(h.emu.Requests()); n != 1 {
		t.Errorf("%d requests after a missing scope, want 1", n)
	}
	if !strings.Contains(h.stdout.String(), "skipped  acme/web") || !strings.Contains(h.stdout.String(), "skipped  acme/infra") {
		t.Errorf("stdout:\n%s", h.stdout.String())
	}
}

// An interrupt stops the run: the call in flight is abandoned, nothing new starts, and
// what finished is recorded.
func TestAddInterrupted(t *testing.T) {
	h := newHarness(t)
	h.emu.Hang(bbapitest.Match("POST", "/2.0/repositories/acme/web/deploy-keys"), 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for h.emu.Hanging() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	err := h.run(ctx, "--repo", "acme/api,acme/web,acme/infra", "--concurrency", "1", "--passphrase-file", h.pass)
	if apierr.ExitCode(err) != errkind.ExitPartial || !strings.Contains(err.Error(), "2 of 3 targets do not have the key: acme/web, acme/infra") {
		t.Fatalf("err = %v (exit %d)", err, apierr.ExitCode(err))
	}
	if hints := strings.Join(apierr.Hints(err), "\n"); !strings.Contains(hints, "run the same command again to finish") {
		t.Errorf("an interrupted run's hints do not say a re-run finishes it:\n%s", hints)
	}
	ak := h.state().AccessKeys["build-01"]
	if ak == nil || len(ak.Targets) != 1 || ak.Targets[0].Slug != "api" {
		t.Errorf("state = %+v, want acme/api recorded", ak)
	}
	if len(h.emu.RepoDeployKeys("acme", "infra")) != 0 {
		t.Error("acme/infra was started after the interrupt")
	}
}

func TestAddProgressBarOnATerminal(t *testing.T) {
	h := newHarness(t)
	h.ios.StderrTTY = true
	if err := h.run(context.Background(), "--repo", "acme/api,acme/web", "--no-passphrase"); err != nil {
		t.Fatal(err)
	}
	got := h.stderr.String()
	for _, want := range []string{"\r\x1b[K[------------------------] 0/2", "] 2/2\n", "unencrypted"} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "acme/api: added") {
		t.Errorf("plain lines on a terminal:\n%s", got)
	}
}

// Usage mistakes fail with exit 2 before any call or file.
func TestAddUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "no target"},
		{[]string{"--workspace", "acme"}, nil, "needs --all or --query"},
		{[]string{"--all"}, nil, "--all and --query need --workspace"},
		{[]string{"--all", "--query", "x", "--workspace", "acme"}, nil, "none of the others can be"},
		{[]string{"--repo", "api"}, nil, "not of the form WORKSPACE/REPO"},
		{[]string{"--project", "acme"}, nil, "not of the form WORKSPACE/PROJECT_KEY"},
		{[]string{"--repo", "acme/api", "--concurrency", "0"}, nil, "--concurrency 0 is out of range"},
		{[]string{"--repo", "acme/api", "--concurrency", "33"}, nil, "out of range 1-32"},
		{[]string{"--repo", "acme/api", "--ttl", "0"}, nil, "not a positive duration"},
		{[]string{"--repo", "acme/api", "--ttl", "soon"}, nil, "not a positive duration"},
		{[]string{"--repo", "acme/api", "--name", "Bad Name"}, nil, "--name"},
		{[]string{"--repos-from", "/nonexistent/list"}, nil, "reading --repos-from"},
		{[]string{"--repo", "acme/api", "--key", "/nonexistent/k.pub"}, nil, "--key"},
		{[]string{"--repo", "acme/api"}, nil, "--passphrase-file"},
		{[]string{"--repo", "acme/api", "--no-passphrase", "--passphrase-file", "x"}, nil, "none of the others can be"},
		{[]string{"--all"}, map[string]string{"BITBUCKET_WORKSPACE": "acme"}, "--passphrase-file"}, // Pipelines workspace accepted
	} {
		h := newHarness(t)
		maps.Copy(h.env, c.env)
		err := h.run(context.Background(), c.args...)
		if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error()+strings.Join(apierr.Hints(err), " "), c.want) {
			t.Errorf("%v: err = %v (exit %d), want exit 2 mentioning %q", c.args, err, apierr.ExitCode(err), c.want)
		}
		if reqs := h.emu.Requests(); len(reqs) != 0 {
			t.Errorf("%v: %d requests made", c.args, len(reqs))
		}
		if entries, _ := os.ReadDir(h.home.SSHDir); len(entries) != 0 {
			t.Errorf("%v: files written in the ssh dir", c.args)
		}
	}
}

// --key: an existing key is added as it is; a different key under a name already in use
// is refused.
func TestAddExistingKey(t *testing.T) {
	h := newHarness(t)
	other := filepath.Join(h.home.Dir, "deploy_ed25519")
	k, err := keys.Generate(keys.GenerateOptions{Path: other, Comment: "given", NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	k.Wipe()
	if err := h.run(context.Background(), "--repo", "acme/api", "--key", other+".pub", "--name", "given"); err != nil {
		t.Fatal(err)
	}
	dk := h.emu.RepoDeployKeys("acme", "api")
	if len(dk) != 1 || "SHA256:"+dk[0].Fingerprint != k.Fingerprint || dk[0].Label != "bbkey:given:2026-11-22:ttl=90d" {
		t.Errorf("deploy keys %+v, want %s", dk, k.Fingerprint)
	}
	if ak := h.state().AccessKeys["given"]; ak == nil || ak.Path != other {
		t.Errorf("state %+v", ak)
	}
	// Another key under the same name, made here or given, is refused.
	err = h.run(context.Background(), "--repo", "acme/web", "--name", "given", "--no-passphrase")
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), `access key "given" is already`) {
		t.Errorf("err = %v, want the name conflict", err)
	}
	third := filepath.Join(h.home.Dir, "third_ed25519")
	k3, err := keys.Generate(keys.GenerateOptions{Path: third, Comment: "third", NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	k3.Wipe()
	err = h.run(context.Background(), "--repo", "acme/web", "--key", third, "--name", "given")
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), `access key "given" is already`) {
		t.Errorf("err = %v, want the name conflict", err)
	}
}

// TestRefusesDuringRotation: a rotation holds the writers' lock; adding targets meanwhile
// would spread the key being replaced, so add-access-key waits, then stops naming the
// rotation, and writes nothing.
func TestRefusesDuringRotation(t *testing.T) {
	h := newHarness(t)
	if err := h.run(context.Background(), "--repo", "acme/web", "--passphrase-file", h.pass); err != nil {
		t.Fatal(err)
	}
	lock, err := state.Dir{Path: filepath.Join(h.home.ConfigDir, "bbkey")}.LockWriters(context.Background(), "rotate --access-keys", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	h.env[state.LockWaitEnv] = "200ms"
	err = h.run(context.Background(), "--repo", "acme/api", "--passphrase-file", h.pass)
	if !errors.Is(err, state.ErrBusy) || !strings.Contains(err.Error(), "bbkey rotate --access-keys (pid") {
		t.Fatalf("err = %v, want ErrBusy naming the rotation", err)
	}
	if !strings.Contains(h.stderr.String(), "Waiting for bbkey rotate --access-keys") {
		t.Errorf("stderr does not say whom it waits for:\n%s", h.stderr.String())
	}
	if n := len(h.emu.RepoDeployKeys("acme", "api")); n != 0 {
		t.Errorf("%d keys added during a rotation", n)
	}
}

// identityAgentLine is the IdentityAgent line bbkey's Host blocks carry (none on Windows).
var identityAgentLine = func() string {
	if runtime.GOOS == "windows" {
		return ""
	}
	return "  IdentityAgent SSH_AUTH_SOCK\n"
}()
