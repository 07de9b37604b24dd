package remote

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/testutil"
)

// gitEnv is a throw-away home with an identity for commits and local submodules allowed;
// GIT_CONFIG_NOSYSTEM keeps the machine's own git config out.
type gitEnv struct {
	t    *testing.T
	home *testutil.Home
	git  gitrun.Exec
}

func newGitEnv(t *testing.T) *gitEnv {
	t.Helper()
	testutil.RequireBinary(t, "git")
	h := testutil.NewHome(t)
	cfg := "[user]\n\tname = Test\n\temail = test@example.com\n[protocol \"file\"]\n\tallow = always\n[init]\n\tdefaultBranch = main\n"
	if err := os.WriteFile(filepath.Join(h.Dir, ".gitconfig"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &gitEnv{t: t, home: h, git: gitrun.Exec{Env: h.Env()}}
}

func (g *gitEnv) run(dir string, args ...string) string {
	g.t.Helper()
	return testutil.Run(g.t, dir, g.home.Env(), "git", args...)
}

// repo makes a work tree at dir with the given remotes (name, url pairs).
func (g *gitEnv) repo(dir string, remotes ...string) {
	g.t.Helper()
	g.run("", "init", "-q", dir)
	for i := 0; i+1 < len(remotes); i += 2 {
		g.run(dir, "remote", "add", remotes[i], remotes[i+1])
	}
}

func (g *gitEnv) remotes(dir string) string {
	g.t.Helper()
	return g.run(dir, "remote", "-v")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTreeAgainstRealGit(t *testing.T) {
	g := newGitEnv(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "src")
	p := func(rel string) string { return filepath.Join(root, rel) }

	g.repo(p("https-plain"), "origin", "https://bitbucket.org/ws/https-plain.git")
	g.repo(p("https-user"), "origin", "https://alice@bitbucket.org/ws/https-user")
	g.repo(p("https-secret"), "origin", "https://alice:s3cr3t-pw@bitbucket.org/ws/https-secret.git")
	g.repo(p("team/old-ssh"), "origin", "ssh://git@bitbucket.org/Team/Old-SSH.git")
	g.repo(p("scp"), "origin", "git@bitbucket.org:ws/scp.git")
	g.repo(p("pushurl"), "origin", "https://bitbucket.org/ws/pushurl.git", "upstream", "git@bitbucket.org:team/pushurl.git")
	g.run(p("pushurl"), "remote", "set-url", "--push", "origin", "https://x-token-auth:tok3n-value@bitbucket.org/ws/pushurl-push.git")
	g.repo(p("insteadof"), "origin", "https://bitbucket.org/ws/insteadof.git")
	g.run(p("insteadof"), "config", "url.https://alice:tok-insteadof@bitbucket.org/.insteadOf", "https://bitbucket.org/")
	g.run(p("insteadof"), "config", "url.https://bitbucket.org/.pushInsteadOf", "bb:")
	g.repo(p("github"), "origin", "https://bob:gh-secret@github.com/ws/github.git")
	g.repo(p("dc"), "origin", "ssh://git@bitbucket.example.com:7999/PROJ/dc.git")
	g.repo(p("current"), "origin", "git@ssh.bitbucket.org:ws/current.git")
	g.repo(p("node_modules/dep"), "origin", "https://bitbucket.org/ws/dep.git")
	// A config that includes another file: git reads the remote from the included file.
	g.repo(p("included"))
	if err := os.WriteFile(p("shared.inc"), []byte("[remote \"origin\"]\n\turl = https://bitbucket.org/ws/included.git\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.run(p("included"), "config", "include.path", "../../shared.inc")
	// A repository with a commit, a worktree and a submodule.
	g.repo(p("main"), "origin", "git@bitbucket.org:ws/main.git")
	g.run(p("main"), "commit", "-q", "--allow-empty", "-m", "init")
	g.run(p("main"), "worktree", "add", "-q", p("main-wt"))
	g.repo(p("libsrc"))
	g.run(p("libsrc"), "commit", "-q", "--allow-empty", "-m", "lib")
	g.run(p("main"), "submodule", "add", "-q", p("libsrc"), "lib")
	g.run(p("main/lib"), "remote", "set-url", "origin", "https://alice:sub-pw@bitbucket.org/ws/lib.git")
	g.run(p("main"), "config", "submodule.lib.url", "https://bitbucket.org/ws/lib.git")
	// A bare repository.
	g.run("", "init", "-q", "--bare", p("bare.git"))
	g.run(p("bare.git"), "remote", "add", "origin", "https://bitbucket.org/ws/bare.git")
	// A symlink loop back to the root.
	if err := os.Symlink(root, p("team/loop")); err != nil {
		t.Fatal(err)
	}
	githubBefore := readFile(t, p("github/.git/config"))

	repos, warns := Find(ctx, root)
	if len(warns) > 0 {
		t.Fatalf("Find warnings: %v", warns)
	}
	var dirs []string
	for _, r := range repos {
		rel, _ := filepath.Rel(root, r.Dir)
		dirs = append(dirs, rel)
	}
	wantDirs := []string{"bare.git", "current", "dc", "github", "https-plain", "https-secret", "https-user", "included", "insteadof", "libsrc", "main", "main/lib", "pushurl", "scp", "team/old-ssh"}
	if !slices.Equal(dirs, wantDirs) {
		t.Fatalf("Find = %q\nwant   %q", dirs, wantDirs)
	}

	plan := PlanRepos(ctx, g.git, repos, Target{})
	for _, rp := range plan.Repos {
		if rp.Err != nil {
			t.Fatalf("plan %s: %v", rp.Repo.Dir, rp.Err)
		}
		for _, c := range rp.Changes {
			for _, secret := range []string{"s3cr3t-pw", "tok3n-value", "tok-insteadof", "sub-pw"} {
				if strings.Contains(c.Old+c.New+c.Key(), secret) {
					t.Errorf("change %+v shows a secret", c)
				}
			}
		}
	}
	if got, want := len(plan.Changed()), 11; got != want {
		t.Errorf("%d repositories to change, want %d", got, want)
	}
	dc := planFor(t, plan, p("dc"))
	if len(dc.Skipped) != 1 || dc.Skipped[0].Status != DataCenter {
		t.Errorf("dc skipped = %+v, want one Data Center remote", dc.Skipped)
	}

	if err := Apply(ctx, g.git, plan); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for _, rp := range plan.Changed() {
		if !rp.Applied {
			t.Errorf("%s not applied", rp.Repo.Dir)
		}
	}

	wantRemotes := map[string]string{
		"https-plain":  "origin\tgit@ssh.bitbucket.org:ws/https-plain.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/https-plain.git (push)\n",
		"https-user":   "origin\tgit@ssh.bitbucket.org:ws/https-user.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/https-user.git (push)\n",
		"https-secret": "origin\tgit@ssh.bitbucket.org:ws/https-secret.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/https-secret.git (push)\n",
		"team/old-ssh": "origin\tgit@ssh.bitbucket.org:Team/Old-SSH.git (fetch)\norigin\tgit@ssh.bitbucket.org:Team/Old-SSH.git (push)\n",
		"scp":          "origin\tgit@ssh.bitbucket.org:ws/scp.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/scp.git (push)\n",
		"pushurl": "origin\tgit@ssh.bitbucket.org:ws/pushurl.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/pushurl-push.git (push)\n" +
			"upstream\tgit@ssh.bitbucket.org:team/pushurl.git (fetch)\nupstream\tgit@ssh.bitbucket.org:team/pushurl.git (push)\n",
		"insteadof":        "origin\tgit@ssh.bitbucket.org:ws/insteadof.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/insteadof.git (push)\n",
		"github":           "origin\thttps://bob:gh-secret@github.com/ws/github.git (fetch)\norigin\thttps://bob:gh-secret@github.com/ws/github.git (push)\n",
		"dc":               "origin\tssh://git@bitbucket.example.com:7999/PROJ/dc.git (fetch)\norigin\tssh://git@bitbucket.example.com:7999/PROJ/dc.git (push)\n",
		"current":          "origin\tgit@ssh.bitbucket.org:ws/current.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/current.git (push)\n",
		"included":         "origin\tgit@ssh.bitbucket.org:ws/included.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/included.git (push)\n",
		"main":             "origin\tgit@ssh.bitbucket.org:ws/main.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/main.git (push)\n",
		"main-wt":          "origin\tgit@ssh.bitbucket.org:ws/main.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/main.git (push)\n",
		"main/lib":         "origin\tgit@ssh.bitbucket.org:ws/lib.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/lib.git (push)\n",
		"bare.git":         "origin\tgit@ssh.bitbucket.org:ws/bare.git (fetch)\norigin\tgit@ssh.bitbucket.org:ws/bare.git (push)\n",
		"node_modules/dep": "origin\thttps://bitbucket.org/ws/dep.git (fetch)\norigin\thttps://bitbucket.org/ws/dep.git (push)\n",
	}
	for dir, want := range wantRemotes {
		if got := g.remotes(p(dir)); got != want {
			t.Errorf("git remote -v in %s:\n%s\nwant:\n%s", dir, got, want)
		}
	}
	if got := g.run(p("main"), "config", "submodule.lib.url"); got != "git@ssh.bitbucket.org:ws/lib.git\n" {
		t.Errorf("submodule.lib.url = %q", got)
	}
	if got := g.run(p("included"), "config", "--file", p("shared.inc"), "remote.origin.url"); got != "git@ssh.bitbucket.org:ws/included.git\n" {
		t.Errorf("included file: remote.origin.url = %q", got)
	}
	// insteadOf: both bases moved to the SSH host, with the secret gone from the file.
	cfg := readFile(t, p("insteadof/.git/config"))
	if strings.Contains(cfg, "tok-insteadof") || strings.Contains(cfg, "https://bitbucket.org/\"") {
		t.Errorf("insteadof config still has the old bases:\n%s", cfg)
	}
	if got := g.run(p("insteadof"), "ls-remote", "--get-url", "https://bitbucket.org/ws/other.git"); got != "git@ssh.bitbucket.org:ws/other.git\n" {
		t.Errorf("insteadOf now rewrites https://bitbucket.org/ws/other.git to %q", got)
	}
	if got := readFile(t, p("github/.git/config")); got != githubBefore {
		t.Errorf("a non-Bitbucket repository's config changed:\n%s", got)
	}

	// A second run changes nothing.
	again := PlanRepos(ctx, g.git, repos, Target{})
	if n := again.NumChanges(); n != 0 {
		for _, rp := range again.Changed() {
			t.Errorf("re-run would change %s: %+v", rp.Repo.Dir, rp.Changes)
		}
	}
}

func planFor(t *testing.T, p *Plan, dir string) *RepoPlan {
	t.Helper()
	for _, rp := range p.Repos {
		if rp.Repo.Dir == dir {
			return rp
		}
	}
	t.Fatalf("no plan for %s", dir)
	return nil
}

func TestPlanDirAndReverse(t *testing.T) {
	g := newGitEnv(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "r")
	g.repo(dir, "origin", "https://alice:pw-1234@bitbucket.org/ws/r.git", "gh", "git@github.com:ws/r.git")
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	plan, err := PlanDir(ctx, g.git, filepath.Join(dir, "sub", "deeper"), Target{Name: "work"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Repos[0].Repo.Dir != dir {
		t.Errorf("repository = %s, want %s", plan.Repos[0].Repo.Dir, dir)
	}
	want := []Change{{File: filepath.Join(dir, ".git", "config"), Field: FieldURL, Name: "origin", Old: "https://alice:***@bitbucket.org/ws/r.git", New: "git@ssh.bitbucket.org-work:ws/r.git", Secret: true}}
	got := plan.Repos[0].Changes
	if len(got) != 1 || got[0].File != want[0].File || got[0].Old != want[0].Old || got[0].New != want[0].New || got[0].Name != "origin" || !got[0].Secret || got[0].Key() != "remote.origin.url" {
		t.Fatalf("changes = %+v\nwant %+v", got, want)
	}
	if err := Apply(ctx, g.git, plan); err != nil {
		t.Fatal(err)
	}
	if got := g.run(dir, "remote", "get-url", "origin"); got != "git@ssh.bitbucket.org-work:ws/r.git\n" {
		t.Errorf("origin = %q", got)
	}
	// --to https reverses, without any secret.
	back, err := PlanDir(ctx, g.git, dir, Target{HTTPS: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, g.git, back); err != nil {
		t.Fatal(err)
	}
	if got := g.run(dir, "remote", "get-url", "origin"); got != "https://bitbucket.org/ws/r.git\n" {
		t.Errorf("origin = %q", got)
	}
	if got := g.run(dir, "remote", "get-url", "gh"); got != "git@github.com:ws/r.git\n" {
		t.Errorf("gh = %q", got)
	}
	if _, err := PlanDir(ctx, g.git, t.TempDir(), Target{}); err == nil || !strings.Contains(err.Error(), "not in a git repository") {
		t.Errorf("PlanDir outside a repository: %v", err)
	}
}

// TestMultiValuedURL checks that one of several values of a key is replaced in place (the
// config git wrote is plain), without the secret on git's command line, and the other
// values stay.
func TestMultiValuedURL(t *testing.T) {
	g := newGitEnv(t)
	dir := filepath.Join(t.TempDir(), "r")
	g.repo(dir, "origin", "https://github.com/ws/r.git")
	g.run(dir, "config", "--add", "remote.origin.pushurl", "https://github.com/ws/r.git")
	g.run(dir, "config", "--add", "remote.origin.pushurl", "https://alice:multi-pw@bitbucket.org/ws/r.git")
	rec := &recordingGit{Runner: g.git}
	plan, err := PlanDir(context.Background(), rec, dir, Target{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(context.Background(), rec, plan); err != nil {
		t.Fatal(err)
	}
	if got := g.run(dir, "config", "--get-all", "remote.origin.pushurl"); got != "https://github.com/ws/r.git\ngit@ssh.bitbucket.org:ws/r.git\n" {
		t.Errorf("pushurl values = %q", got)
	}
	for _, args := range rec.calls {
		if strings.Contains(strings.Join(args, " "), "multi-pw") {
			t.Errorf("secret on git's command line: %q", args)
		}
		if slices.Contains(args, "--replace-all") {
			t.Errorf("a plain config was written with git config, not in place: %q", args)
		}
	}
}

type recordingGit struct {
	gitrun.Runner
	calls [][]string
}

func (r *recordingGit) Run(ctx context.Context, dir string, args ...string) (string, error) {
	r.calls = append(r.calls, args)
	return r.Runner.Run(ctx, dir, args...)
}
