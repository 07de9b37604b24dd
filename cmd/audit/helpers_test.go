package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"

	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// now is the fixture's fixed clock, for Bitbucket and bbkey alike.
var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t.Add(9 * time.Hour)
}

// fixtureKey is a deterministic key, so fingerprints (and the golden files) are stable.
func fixtureKey(name, comment string) (line, fp string) {
	seed := sha256.Sum256([]byte("bbkey audit fixture " + name))
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(seed[:]).Public())
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment, ssh.FingerprintSHA256(pub)
}

// placed is one seeded key and where it sits.
type placed struct {
	name, comment, label string
	added                time.Time
	used                 string // date, or "" for never
	repos                []string
	projects             []string
}

// fixtureKeys is the workspace's history, mixed managed and foreign:
//   - ci-01: bbkey's, ttl 90d, 127 days old, on 25 repositories: past-ttl, wide
//   - build: bbkey's, on project OPS (51 repositories through it): wide
//   - deploybox: this machine's (a .pub here, recorded in the state for acme/api), 431
//     days old with ttl 90d: past-ttl, older-than, this-machine
//   - old-ci: bbkey's, no ttl, never used since June: unused
//   - ci-02: bbkey's, young and used: nothing
//   - jenkins: foreign, added 2024, last used February 2025: unused, older-than, foreign
//   - alice: foreign, no label, a comma in its comment: foreign
var fixtureKeys = []placed{
	{name: "ci-01", comment: "ci-01@build", label: "bbkey:ci-01:2026-08-01:ttl=90d", added: day("2026-08-01"), used: "2026-12-01", repos: rangeRepos(1, 25)},
	{name: "build", comment: "build@pipelines", label: "bbkey:build:2026-11-01:ttl=90d", added: day("2026-11-01"), used: "2026-12-05", projects: []string{"OPS"}},
	{name: "deploybox", comment: "deploybox", label: "bbkey:deploybox:2025-10-01:ttl=90d", added: day("2025-10-01"), used: "2026-12-04", repos: []string{"api", "web"}},
	{name: "old-ci", comment: "old-ci", label: "bbkey:old-ci:2026-06-01", added: day("2026-06-01"), repos: []string{"r140"}},
	{name: "ci-02", comment: "ci-02@build", label: "bbkey:ci-02:2026-11-15:ttl=90d", added: day("2026-11-15"), used: "2026-12-04", repos: []string{"r030", "r031"}},
	{name: "jenkins", comment: "jenkins@old-server", label: "Jenkins", added: day("2024-01-10"), used: "2025-02-01", repos: []string{"infra", "r100", "r101"}, projects: []string{"DATA"}},
	{name: "alice", comment: "alice, laptop", label: "", added: day("2026-11-30"), used: "2026-12-05", repos: []string{"r150"}},
}

func rangeRepos(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("r%03d", i))
	}
	return out
}

type fixture struct {
	t     *testing.T
	home  *testutil.Home
	emu   *bbapitest.Server
	paths settings.Paths
	fps   map[string]string // key name -> fingerprint
	// terminal, when set, is the user at a terminal: stderr is one and prompts are
	// answered from it.
	terminal *prompttest.Fake
	// dc, when set, is the Data Center server the run selects (as --server would).
	dc    *bbapitest.DataCenter
	dcSrv *bbapitest.Server
}

// newFixture seeds workspace acme with 153 repositories (api, web, infra and r001-r150)
// in 3 projects (OPS, WEB, DATA), the keys above, and this machine's home.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, fixtureKeys)
}

// newFixtureWith is newFixture with other keys.
func newFixtureWith(t *testing.T, seeded []placed) *fixture {
	t.Helper()
	h := testutil.NewHome(t)
	emu := bbapitest.Start(t, bbapitest.WithSpecValidation(t), bbapitest.WithClock(func() time.Time { return now }))
	for _, p := range []string{"WEB", "DATA"} {
		if err := emu.AddProject("acme", p, ""); err != nil {
			t.Fatal(err)
		}
	}
	projects := []string{"OPS", "WEB", "DATA"}
	for i := 1; i <= 150; i++ {
		if err := emu.AddRepo("acme", fmt.Sprintf("r%03d", i), projects[i%3]); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{t: t, home: h, emu: emu, fps: map[string]string{}}
	for _, k := range seeded {
		line, fp := fixtureKey(k.name, k.comment)
		f.fps[k.name] = fp
		var used *time.Time
		if k.used != "" {
			u := day(k.used)
			used = &u
		}
		seed := func(repo, project string) {
			if _, err := emu.SeedAccessKey(bbapitest.DeployKey{Workspace: "acme", RepoSlug: repo, ProjectKey: project, Key: line, Label: k.label, AddedOn: k.added, LastUsed: used}); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range k.repos {
			seed(r, "")
		}
		for _, p := range k.projects {
			seed("", p)
		}
	}
	// This machine: deploybox's public key file, and the state that records it on acme/api.
	line, fp := fixtureKey("deploybox", "deploybox")
	if err := os.WriteFile(filepath.Join(h.SSHDir, "bbkey_access_deploybox_ed25519.pub"), []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.paths = settings.Paths{Home: h.Dir, SSHDir: h.SSHDir, ConfigDir: filepath.Join(h.ConfigDir, "bbkey"), CacheDir: h.CacheDir}
	if err := (state.Dir{Path: f.paths.ConfigDir}).Save(&state.State{Version: state.Version,
		AccessKeys: map[string]*state.AccessKey{"deploybox": {Path: filepath.Join(h.SSHDir, "bbkey_access_deploybox_ed25519"), Fingerprint: fp,
			Label: "bbkey:deploybox:2025-10-01:ttl=90d", Targets: []state.Target{{Kind: state.TargetRepo, Workspace: "acme", Slug: "api", KeyID: "1"}}}},
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// result is one bbkey audit over the fixture; stdout and stderr come back.
type result struct {
	out, errOut string
	err         error
	code        int
}

// audit runs `bbkey audit` with args (flags of the command, plus --json, --yes and
// --no-input, which are global), through the real cobra command.
func (f *fixture) audit(args ...string) result {
	f.t.Helper()
	ios, _, out, errOut := iostreamstest.Test()
	var globals struct{ json, yes, noInput bool }
	var rest []string
	for _, a := range args {
		switch a {
		case "--json":
			globals.json = true
		case "--yes":
			globals.yes = true
		case "--no-input":
			globals.noInput = true
		default:
			rest = append(rest, a)
		}
	}
	fac := &cmdutil.Factory{IOStreams: ios, Globals: &cmdutil.GlobalOptions{JSON: globals.json, Yes: globals.yes, NoInput: globals.noInput, MaxWait: 50 * time.Millisecond}}
	fac.Now = func() time.Time { return now }
	cmd := NewCmdAudit(fac, func(o *Options) error {
		o.Paths = func() (settings.Paths, error) { return f.paths, nil }
		o.Agent = func() (agent.Agent, error) { return nil, agent.ErrNoAgent }
		// Another command holding bbkey's lock stops the run at once.
		o.LookupEnv = func(k string) (string, bool) { return "0", k == state.LockWaitEnv }
		o.Prompter = func() prompt.Prompter { return &prompttest.Fake{} }
		o.NoInput = func() bool { return true }
		if f.terminal != nil {
			o.Prompter = func() prompt.Prompter { return f.terminal }
			o.NoInput = func() bool { return globals.noInput }
		}
		o.APIClient = func(_ context.Context, extra ...bbapi.Option) (*bbapi.Client, error) {
			cred := &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: f.emu.DefaultAPIToken()}
			return bbapi.NewClient(f.emu.APIURL(), cred, append([]bbapi.Option{bbapi.WithClock(fac.Now), bbapi.WithMaxWait(fac.Globals.MaxWait)}, extra...)...)
		}
		o.Server = func() (string, error) {
			if f.dc == nil {
				return "", nil
			}
			return f.dc.ServerURL(), nil
		}
		o.DataCenterClient = func(_ context.Context, server string, extra ...bbapi.Option) (*dc.Client, error) {
			return dc.NewClient(server, dc.Token{Token: f.dc.DefaultToken()}, append([]bbapi.Option{bbapi.WithClock(fac.Now), bbapi.WithMaxWait(fac.Globals.MaxWait)}, extra...)...)
		}
		return runAudit(context.Background(), o)
	})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs(rest)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err := cmd.Execute()
	return result{out: out.String(), errOut: errOut.String(), err: err, code: apierr.ExitCode(err)}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	// Golden files are checked out with LF; compare the same way everywhere.
	if got != strings.ReplaceAll(string(want), "\r\n", "\n") {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
