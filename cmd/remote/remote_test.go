package remote

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
)

var testNow = time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	home   *testutil.Home
	root   string // where the test's repositories live; the working directory
	git    gitrun.Exec
	prompt *prompttest.Fake
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testutil.RequireBinary(t, "git")
	h := testutil.NewHome(t)
	root := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, home: h, root: root, git: gitrun.Exec{Env: h.Env()}, prompt: &prompttest.Fake{}}
}

func (fx *fixture) repo(rel string, remotes ...string) string {
	fx.t.Helper()
	dir := filepath.Join(fx.root, rel)
	testutil.Run(fx.t, "", fx.home.Env(), "git", "init", "-q", dir)
	for i := 0; i+1 < len(remotes); i += 2 {
		testutil.Run(fx.t, dir, fx.home.Env(), "git", "remote", "add", remotes[i], remotes[i+1])
	}
	return dir
}

func (fx *fixture) url(rel, name string) string {
	fx.t.Helper()
	return strings.TrimSpace(testutil.Run(fx.t, filepath.Join(fx.root, rel), fx.home.Env(), "git", "remote", "get-url", name))
}

func (fx *fixture) opts(ios *iostreams.IOStreams) *Options {
	lookup := fx.home.LookupEnv()
	return &Options{
		IO:       ios,
		Git:      fx.git,
		Prompter: func() prompt.Prompter { return fx.prompt },
		Settings: func() (settings.Settings, error) {
			return settings.Settings{SSHHost: settings.DefaultSSHHost, SSHEndpoint: settings.DefaultSSHEndpoint}, nil
		},
		Paths: func() (settings.Paths, error) {
			return settings.Paths{Home: fx.home.Dir, SSHDir: fx.home.SSHDir, ConfigDir: filepath.Join(fx.home.ConfigDir, "bbkey")}, nil
		},
		Getenv: func(k string) string {
			v, _ := lookup(k)
			return v
		},
		Now:     func() time.Time { return testNow },
		WorkDir: fx.root,
		To:      "ssh",
	}
}

func TestRunRemote(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(fx *fixture)
		opts     func(o *Options)
		tty      bool
		answers  []string
		wantOut  string
		wantErr  string // ROOT and HOME stand for the fixture's directories
		wantCode int
		wantMsg  string // error message, "" for success
		check    func(t *testing.T, fx *fixture)
	}{
		{
			name: "repository here",
			setup: func(fx *fixture) {
				fx.repo(".", "origin", "https://alice:app-pw@bitbucket.org/ws/here.git", "gh", "git@github.com:ws/here.git")
			},
			wantOut: ".\torigin\thttps://alice:***@bitbucket.org/ws/here.git\tgit@ssh.bitbucket.org:ws/here.git\n",
			wantErr: "✓ Rewrote 1 remote in 1 repository to ssh.bitbucket.org\n" +
				"! 1 URL carried a secret (removed with the rewrite): treat it as leaked and revoke it\n",
			check: func(t *testing.T, fx *fixture) {
				if got := fx.url(".", "origin"); got != "git@ssh.bitbucket.org:ws/here.git" {
					t.Errorf("origin = %q", got)
				}
				if got := fx.url(".", "gh"); got != "git@github.com:ws/here.git" {
					t.Errorf("gh = %q", got)
				}
			},
		},
		{
			name: "two secrets",
			setup: func(fx *fixture) {
				fx.repo(".", "origin", "https://alice:app-pw@bitbucket.org/ws/here.git", "up", "https://x-token-auth:tok@bitbucket.org/ws/up.git")
			},
			wantOut: ".\torigin\thttps://alice:***@bitbucket.org/ws/here.git\tgit@ssh.bitbucket.org:ws/here.git\n" +
				".\tup\thttps://x-token-auth:***@bitbucket.org/ws/up.git\tgit@ssh.bitbucket.org:ws/up.git\n",
			wantErr: "✓ Rewrote 2 remotes in 1 repository to ssh.bitbucket.org\n" +
				"! 2 URLs carried a secret (removed with the rewrite): treat them as leaked and revoke them\n",
		},
		{
			name: "nothing to do",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "git@ssh.bitbucket.org:ws/a.git")
			},
			opts:    func(o *Options) { o.Dirs = []string{"a"} },
			wantErr: "✓ Nothing to rewrite: 1 repository examined, every Bitbucket Cloud remote already uses ssh.bitbucket.org\n",
		},
		{
			name: "dry run lists credential files",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "git@bitbucket.org:ws/a.git")
				writeFile(fx.t, filepath.Join(fx.home.Dir, ".git-credentials"), "https://alice:app-pw@bitbucket.org\n")
			},
			opts:    func(o *Options) { o.Dirs = []string{"a"}; o.DryRun = true },
			wantOut: "a\torigin\tgit@bitbucket.org:ws/a.git\tgit@ssh.bitbucket.org:ws/a.git\n",
			wantErr: "! Dry run: would rewrite 1 remote in 1 repository (1 examined); nothing changed\n" +
				"! --scrub would remove from HOME/.git-credentials: https://alice:***@bitbucket.org\n",
			check: func(t *testing.T, fx *fixture) {
				if got := fx.url("a", "origin"); got != "git@bitbucket.org:ws/a.git" {
					t.Errorf("dry run changed origin to %q", got)
				}
			},
		},
		{
			name: "secrets on disk are pointed out without --scrub",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
				writeFile(fx.t, filepath.Join(fx.home.Dir, ".netrc"), "machine bitbucket.org login alice password pw\n")
			},
			opts:    func(o *Options) { o.Dirs = []string{"a"} },
			wantOut: "a\torigin\thttps://bitbucket.org/ws/a.git\tgit@ssh.bitbucket.org:ws/a.git\n",
			wantErr: "✓ Rewrote 1 remote in 1 repository to ssh.bitbucket.org\n" +
				"! HOME/.netrc holds 1 Bitbucket secret: run `bbkey remote --scrub` to remove it\n",
		},
		{
			name: "scrub with a backup",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "git@ssh.bitbucket.org:ws/a.git")
				writeFile(fx.t, filepath.Join(fx.home.Dir, ".git-credentials"), "https://bob:x@github.com\nhttps://alice:app-pw@bitbucket.org\n")
			},
			opts: func(o *Options) { o.Dirs = []string{"a"}; o.Scrub = true },
			wantErr: "✓ Nothing to rewrite: 1 repository examined, every Bitbucket Cloud remote already uses ssh.bitbucket.org\n" +
				"✓ Removed 1 Bitbucket entry from HOME/.git-credentials (backup: HOME/.git-credentials.bbkey-backup-20261122T101500Z)\n",
			check: func(t *testing.T, fx *fixture) {
				b, _ := os.ReadFile(filepath.Join(fx.home.Dir, ".git-credentials"))
				if string(b) != "https://bob:x@github.com\n" {
					t.Errorf(".git-credentials = %q", b)
				}
			},
		},
		{
			name: "several repositories need --yes without a terminal",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
				fx.repo("b", "origin", "https://bitbucket.org/ws/b.git")
			},
			opts: func(o *Options) { o.Recursive = []string{"."}; o.NoInput = true },
			wantOut: "a\torigin\thttps://bitbucket.org/ws/a.git\tgit@ssh.bitbucket.org:ws/a.git\n" +
				"b\torigin\thttps://bitbucket.org/ws/b.git\tgit@ssh.bitbucket.org:ws/b.git\n",
			wantErr:  "! Dry run: would rewrite 2 remotes in 2 repositories (2 examined); nothing changed\n",
			wantCode: 2,
			wantMsg:  "2 repositories would change: nothing changed without confirmation",
			check: func(t *testing.T, fx *fixture) {
				if got := fx.url("a", "origin"); got != "https://bitbucket.org/ws/a.git" {
					t.Errorf("changed without --yes: %q", got)
				}
			},
		},
		{
			name: "several repositories with --yes",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
				fx.repo("b", "origin", "https://bitbucket.org/ws/b.git", "dc", "https://git.example.com/scm/p/b.git")
			},
			opts: func(o *Options) { o.Recursive = []string{"."}; o.NoInput = true; o.Yes = true },
			wantOut: "a\torigin\thttps://bitbucket.org/ws/a.git\tgit@ssh.bitbucket.org:ws/a.git\n" +
				"b\torigin\thttps://bitbucket.org/ws/b.git\tgit@ssh.bitbucket.org:ws/b.git\n",
			wantErr: "! b: remote dc left alone: https://git.example.com/scm/p/b.git (Bitbucket Data Center/Server, not Cloud: left alone)\n" +
				"✓ Rewrote 2 remotes in 2 repositories to ssh.bitbucket.org\n",
			check: func(t *testing.T, fx *fixture) {
				if got := fx.url("b", "origin"); got != "git@ssh.bitbucket.org:ws/b.git" {
					t.Errorf("b origin = %q", got)
				}
			},
		},
		{
			name: "several repositories confirmed on a terminal",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
				fx.repo("b", "origin", "https://bitbucket.org/ws/b.git")
			},
			opts:    func(o *Options) { o.Recursive = []string{"."} },
			tty:     true,
			answers: []string{"y"},
			wantOut: "REPOSITORY  REMOTE  OLD                             NEW\n" +
				"a           origin  https://bitbucket.org/ws/a.git  git@ssh.bitbucket.org:ws/a.git\n" +
				"b           origin  https://bitbucket.org/ws/b.git  git@ssh.bitbucket.org:ws/b.git\n",
			wantErr: "✓ Rewrote 2 remotes in 2 repositories to ssh.bitbucket.org\n",
			check: func(t *testing.T, fx *fixture) {
				if got := fx.prompt.Asked; len(got) != 1 || got[0] != "Rewrite 2 remotes in 2 repositories?" {
					t.Errorf("asked %q", got)
				}
				if got := fx.url("a", "origin"); got != "git@ssh.bitbucket.org:ws/a.git" {
					t.Errorf("a origin = %q", got)
				}
			},
		},
		{
			name: "declined on a terminal",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
				fx.repo("b", "origin", "https://bitbucket.org/ws/b.git")
			},
			opts:    func(o *Options) { o.Recursive = []string{"."} },
			tty:     true,
			answers: []string{"n"},
			wantOut: "REPOSITORY  REMOTE  OLD                             NEW\n" +
				"a           origin  https://bitbucket.org/ws/a.git  git@ssh.bitbucket.org:ws/a.git\n" +
				"b           origin  https://bitbucket.org/ws/b.git  git@ssh.bitbucket.org:ws/b.git\n",
			wantCode: 2,
			wantMsg:  "cancelled: nothing changed",
			check: func(t *testing.T, fx *fixture) {
				if got := fx.url("b", "origin"); got != "https://bitbucket.org/ws/b.git" {
					t.Errorf("changed after no: %q", got)
				}
			},
		},
		{
			name: "back to https",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "git@ssh.bitbucket.org:ws/a.git")
			},
			opts:    func(o *Options) { o.Dirs = []string{"a"}; o.To = "https" },
			wantOut: "a\torigin\tgit@ssh.bitbucket.org:ws/a.git\thttps://bitbucket.org/ws/a.git\n",
			wantErr: "✓ Rewrote 1 remote in 1 repository to bitbucket.org\n",
		},
		{
			name: "named account alias",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
				st := state.New()
				st.Accounts["home"] = &state.Account{KeyName: "home", Created: testNow.Add(-time.Hour)}
				st.Accounts["work"] = &state.Account{KeyName: "work", Created: testNow}
				if err := (state.Dir{Path: filepath.Join(fx.home.ConfigDir, "bbkey")}).Save(st); err != nil {
					fx.t.Fatal(err)
				}
			},
			opts:    func(o *Options) { o.Dirs = []string{"a"}; o.Name = "work" },
			wantOut: "a\torigin\thttps://bitbucket.org/ws/a.git\tgit@ssh.bitbucket.org-work:ws/a.git\n",
			wantErr: "✓ Rewrote 1 remote in 1 repository to ssh.bitbucket.org-work\n",
		},
		{
			name:     "--name with --to https",
			opts:     func(o *Options) { o.Name = "work"; o.To = "https" },
			wantCode: 2,
			wantMsg:  "--name names an SSH account alias and cannot be used with --to https",
		},
		{
			name: "invalid ssh host",
			opts: func(o *Options) {
				o.Settings = func() (settings.Settings, error) { return settings.Settings{SSHHost: "ssh host:22"}, nil }
			},
			wantCode: 2,
			wantMsg:  `invalid ssh host "ssh host:22"`,
		},
		{
			name:     "not a repository",
			opts:     func(o *Options) { o.Dirs = []string{"."} },
			wantCode: 1,
			wantMsg:  "is not in a git repository",
		},
		{
			name: "json",
			setup: func(fx *fixture) {
				fx.repo("a", "origin", "https://alice:pw@bitbucket.org/ws/a.git")
			},
			opts: func(o *Options) { o.Dirs = []string{"a"}; o.JSON = true },
			wantOut: `{
  "dry_run": false,
  "to": "ssh",
  "host": "ssh.bitbucket.org",
  "repositories": 1,
  "changes": [
    {
      "repository": "ROOT/a",
      "config_file": "ROOT/a/.git/config",
      "key": "remote.origin.url",
      "remote": "origin",
      "field": "url",
      "old": "https://alice:***@bitbucket.org/ws/a.git",
      "new": "git@ssh.bitbucket.org:ws/a.git",
      "had_secret": true,
      "applied": true
    }
  ],
  "left_alone": [],
  "failed": [],
  "changed_files": [
    "ROOT/a/.git/config"
  ]
}
`,
			wantErr: "✓ Rewrote 1 remote in 1 repository to ssh.bitbucket.org\n" +
				"! 1 URL carried a secret (removed with the rewrite): treat it as leaked and revoke it\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			if tt.setup != nil {
				tt.setup(fx)
			}
			fx.prompt.Answers = tt.answers
			ios, _, stdout, stderr := iostreamstest.Test()
			ios.StdoutTTY = tt.tty
			ios.StdinTTY = tt.tty
			ios.StderrTTY = tt.tty
			o := fx.opts(ios)
			if tt.opts != nil {
				tt.opts(o)
			}
			err := runRemote(context.Background(), o)
			if code := apierr.ExitCode(err); code != tt.wantCode {
				t.Fatalf("exit code %d (%v), want %d", code, err, tt.wantCode)
			}
			if tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)) {
				t.Errorf("error %v, want %q", err, tt.wantMsg)
			}
			rep := strings.NewReplacer(fx.root, "ROOT", fx.home.Dir, "HOME")
			if got := rep.Replace(stdout.String()); got != tt.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, tt.wantOut)
			}
			if got := rep.Replace(stderr.String()); got != tt.wantErr {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, fx)
			}
		})
	}
}

func TestNewCmdRemoteFlags(t *testing.T) {
	ios, _, _, _ := iostreamstest.Test()
	f := &cmdutil.Factory{IOStreams: ios, Globals: &cmdutil.GlobalOptions{Yes: true, JSON: true}}
	var got *Options
	cmd := NewCmdRemote(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--recursive", "/a", "--recursive", "/b", "--scrub", "--to", "https", "--dry-run", "x", "y"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("runF not called")
	}
	if strings.Join(got.Recursive, ",") != "/a,/b" || !got.Scrub || got.To != "https" || !got.DryRun ||
		strings.Join(got.Dirs, ",") != "x,y" || !got.Yes || !got.JSON || !got.NoInput || got.WorkDir == "" {
		t.Errorf("options = %+v", got)
	}
}

func TestPartialFailure(t *testing.T) {
	fx := newFixture(t)
	fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
	b := fx.repo("b", "origin", "https://bitbucket.org/ws/b.git")
	// git's own lock on b's config: b cannot be written, a still is.
	if err := os.WriteFile(filepath.Join(b, ".git", "config.lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, _, stderr := iostreamstest.Test()
	o := fx.opts(ios)
	o.Recursive, o.Yes = []string{"."}, true
	err := runRemote(context.Background(), o)
	if code := apierr.ExitCode(err); code != errkind.ExitPartial {
		t.Fatalf("exit %d (%v), want 3", code, err)
	}
	if got := fx.url("a", "origin"); got != "git@ssh.bitbucket.org:ws/a.git" {
		t.Errorf("a origin = %q", got)
	}
	if !strings.Contains(stderr.String(), "✗ "+b+": ") || !strings.Contains(stderr.String(), "locked") {
		t.Errorf("stderr does not name the failed repository:\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "✓ Rewrote 1 remote in 1 repository") {
		t.Errorf("stderr:\n%s", stderr)
	}
	var pe *errkind.ExitError
	if !errors.As(err, &pe) {
		t.Errorf("error %T is not an ExitError", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A .git git does not take for a repository (a directory without HEAD or empty, a gitdir
// file naming nothing, a file that is not one) is a failed repository, not passed over with a
// warning, also inside another clone: git run there would find the clone around it and
// report that one's remotes as its own.
func TestBrokenGitDirFails(t *testing.T) {
	fx := newFixture(t)
	fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
	outer := fx.repo("outer", "origin", "https://bitbucket.org/ws/outer.git")
	for _, d := range []string{filepath.Join(fx.root, "b"), filepath.Join(outer, "inner")} {
		writeFile(t, filepath.Join(d, ".git", "config"), "[junk\n")
	}
	// A worktree whose repository is gone, and a .git file that is not a gitdir file.
	writeFile(t, filepath.Join(fx.root, "stale", ".git"), "gitdir: "+filepath.Join(fx.root, "gone", ".git", "worktrees", "stale")+"\n")
	writeFile(t, filepath.Join(fx.root, "junk", ".git"), "hello\n")
	if err := os.MkdirAll(filepath.Join(fx.root, "empty", ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	ios, _, stdout, stderr := iostreamstest.Test()
	o := fx.opts(ios)
	o.Recursive, o.Yes = []string{"."}, true
	err := runRemote(context.Background(), o)
	if code := apierr.ExitCode(err); code != errkind.ExitPartial || !strings.Contains(err.Error(), "5 of 7 repositories failed") {
		t.Fatalf("exit %d (%v), want 3 with 5 of 7 failed\n%s", code, err, stderr)
	}
	for _, d := range []string{"b", filepath.Join("outer", "inner"), "stale", "junk", "empty"} {
		if !strings.Contains(stderr.String(), "✗ "+filepath.Join(fx.root, d)+": ") && !strings.Contains(stderr.String(), "✗ reading the git config of "+filepath.Join(fx.root, d)+": ") {
			t.Errorf("stderr does not name %s as failed:\n%s", d, stderr)
		}
	}
	if got := strings.Count(stdout.String(), "ws/outer.git\t"); got != 1 {
		t.Errorf("outer's remote listed %d times:\n%s", got, stdout)
	}
	for _, r := range []string{"a", "outer"} {
		if got := fx.url(r, "origin"); got != "git@ssh.bitbucket.org:ws/"+r+".git" {
			t.Errorf("%s origin = %q", r, got)
		}
	}
}

// In --json, a PATH that is not a repository is named absolute in failed, as every other
// repository is.
func TestJSONFailedPathIsAbsolute(t *testing.T) {
	fx := newFixture(t)
	fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
	if err := os.MkdirAll(filepath.Join(fx.root, "plain"), 0o755); err != nil {
		t.Fatal(err)
	}
	ios, _, stdout, _ := iostreamstest.Test()
	o := fx.opts(ios)
	o.Dirs, o.JSON, o.DryRun = []string{"a", "plain"}, true, true
	if err := runRemote(context.Background(), o); apierr.ExitCode(err) != errkind.ExitPartial {
		t.Fatalf("exit %d (%v), want 3", apierr.ExitCode(err), err)
	}
	var doc struct {
		Changes []struct{ Repository string }
		Failed  []struct{ Repository, Error string }
	}
	if err := json.Unmarshal([]byte(stdout.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Failed) != 1 || doc.Failed[0].Repository != filepath.Join(fx.root, "plain") || !strings.Contains(doc.Failed[0].Error, "not in a git repository") {
		t.Errorf("failed = %+v", doc.Failed)
	}
	if len(doc.Changes) != 1 || doc.Changes[0].Repository != filepath.Join(fx.root, "a") {
		t.Errorf("changes = %+v", doc.Changes)
	}
}
