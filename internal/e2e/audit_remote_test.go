package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditRemoteRecursiveTree runs the built `bbkey remote` over a tree of clones made by
// the real git (a secret in the URL, a pushurl differing from the url, old-host SSH on 22
// and altssh on 443, an insteadOf base with a secret, a worktree, a submodule, a bare
// repository, a GitHub and a Data Center remote): git remote -v shows each rewritten
// exactly, non-Bitbucket configs keep every byte, no secret is printed, and a re-run
// changes no file (checksums). Then --to https takes one clone back without its secret,
// and a plain run brings it forward again.
func TestAuditRemoteRecursiveTree(t *testing.T) {
	w := NewWorld(t)
	src := filepath.Join(w.Home.Dir, "src")
	p := func(rel string) string { return filepath.Join(src, rel) }
	git := func(dir string, args ...string) string {
		t.Helper()
		return w.MustGit(dir, append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "protocol.file.allow=always"}, args...)...)
	}
	repo := func(rel string, remotes ...string) {
		t.Helper()
		git(w.Home.Dir, "init", "-q", p(rel))
		for i := 0; i+1 < len(remotes); i += 2 {
			git(p(rel), "remote", "add", remotes[i], remotes[i+1])
		}
	}
	repo("one", "origin", "https://alice:s3cr3t-pw@bitbucket.org/acme/one.git")
	repo("two", "origin", "https://bitbucket.org/acme/two.git")
	git(p("two"), "remote", "set-url", "--push", "origin", "git@bitbucket.org:acme/two-push.git")
	repo("three", "origin", "ssh://git@bitbucket.org:22/acme/three.git", "alt", "ssh://git@altssh.bitbucket.org:443/acme/three.git")
	repo("four", "origin", "https://bitbucket.org/acme/four.git")
	git(p("four"), "config", "url.https://alice:tok-insteadof@bitbucket.org/.insteadOf", "https://bitbucket.org/")
	repo("mixed", "origin", "https://bitbucket.org/acme/mixed", "gh", "https://bob:gh-secret@github.com/acme/mixed.git",
		"dc", "ssh://git@bitbucket.example.com:7999/PROJ/mixed.git")
	repo("github", "origin", "https://bob:gh-secret@github.com/acme/github.git")
	repo("libsrc")
	git(p("libsrc"), "commit", "-q", "--allow-empty", "-m", "lib")
	repo("main", "origin", "git@bitbucket.org:acme/main.git")
	git(p("main"), "commit", "-q", "--allow-empty", "-m", "init")
	git(p("main"), "worktree", "add", "-q", p("main-wt"))
	git(p("main"), "submodule", "add", "-q", p("libsrc"), "lib")
	git(p("main/lib"), "remote", "set-url", "origin", "https://alice:sub-pw@bitbucket.org/acme/lib.git")
	git(w.Home.Dir, "init", "-q", "--bare", p("bare.git"))
	git(p("bare.git"), "remote", "add", "origin", "https://bitbucket.org/acme/bare.git")
	githubCfg, err := os.ReadFile(p("github/.git/config"))
	if err != nil {
		t.Fatal(err)
	}

	r := w.MustRun(w.Home.Dir, "remote", "--recursive", src, "--yes", "--json")
	for _, secret := range []string{"s3cr3t-pw", "tok-insteadof", "sub-pw", "gh-secret"} {
		if strings.Contains(r.Stdout+r.Stderr, secret) {
			t.Errorf("the output shows the secret %q\n%s", secret, r)
		}
	}
	ssh := func(ws, repo string) string { return "git@ssh.bitbucket.org:" + ws + "/" + repo + ".git" }
	both := func(name, url string) string {
		return name + "\t" + url + " (fetch)\n" + name + "\t" + url + " (push)\n"
	}
	want := map[string]string{
		"one":      both("origin", ssh("acme", "one")),
		"two":      "origin\t" + ssh("acme", "two") + " (fetch)\norigin\t" + ssh("acme", "two-push") + " (push)\n",
		"three":    both("alt", ssh("acme", "three")) + both("origin", ssh("acme", "three")),
		"four":     both("origin", ssh("acme", "four")),
		"mixed":    both("dc", "ssh://git@bitbucket.example.com:7999/PROJ/mixed.git") + both("gh", "https://bob:gh-secret@github.com/acme/mixed.git") + both("origin", ssh("acme", "mixed")),
		"github":   both("origin", "https://bob:gh-secret@github.com/acme/github.git"),
		"main":     both("origin", ssh("acme", "main")),
		"main-wt":  both("origin", ssh("acme", "main")),
		"main/lib": both("origin", ssh("acme", "lib")),
		"bare.git": both("origin", ssh("acme", "bare")),
	}
	for dir, w2 := range want {
		if got := w.MustGit(p(dir), "remote", "-v"); got != w2 {
			t.Errorf("git remote -v in %s:\n%s\nwant:\n%s", dir, got, w2)
		}
	}
	if got := strings.TrimSpace(w.MustGit(p("four"), "ls-remote", "--get-url", "https://bitbucket.org/acme/other.git")); got != ssh("acme", "other") {
		t.Errorf("four: insteadOf now turns https://bitbucket.org/acme/other.git into %q", got)
	}
	if b, _ := os.ReadFile(p("four/.git/config")); strings.Contains(string(b), "tok-insteadof") {
		t.Errorf("four: the insteadOf secret is still in the config:\n%s", b)
	}
	if b, _ := os.ReadFile(p("github/.git/config")); string(b) != string(githubCfg) {
		t.Errorf("a non-Bitbucket clone's config changed:\n%s", b)
	}

	// A re-run: nothing to rewrite, no file touched.
	before := w.Snapshot()
	again := w.MustRun(w.Home.Dir, "remote", "--recursive", src, "--yes")
	if !strings.Contains(again.Stderr, "Nothing to rewrite") {
		t.Errorf("the re-run did not say there was nothing to do:\n%s", again)
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("the re-run changed files:\n%s", diff)
	}

	// Back to HTTPS for one clone (run inside it), with no secret coming back, then forward.
	w.MustRun(p("two"), "remote", "--to", "https")
	if got := w.MustGit(p("two"), "remote", "-v"); got != "origin\thttps://bitbucket.org/acme/two.git (fetch)\norigin\thttps://bitbucket.org/acme/two-push.git (push)\n" {
		t.Errorf("after --to https:\n%s", got)
	}
	w.MustRun(p("one"), "remote", "--to", "https")
	if got := w.MustGit(p("one"), "remote", "get-url", "origin"); got != "https://bitbucket.org/acme/one.git\n" {
		t.Errorf("one after --to https: %q (no secret may come back)", got)
	}
	w.MustRun(p("two"), "remote")
	if got := w.MustGit(p("two"), "remote", "-v"); got != want["two"] {
		t.Errorf("forward again:\n%s\nwant:\n%s", got, want["two"])
	}
}

// TestAuditRemoteScrub runs the built `bbkey remote --scrub` with a Bitbucket secret in
// every place it cleans: ~/.git-credentials, $XDG_CONFIG_HOME/git/credentials, ~/.netrc,
// ~/_netrc, and the real store helper's own file. Every other host's bytes stay, each
// file gets a backup the user is told about, git credential fill no longer returns the
// Bitbucket entry (the GitHub one still comes back), and nothing shows a secret.
func TestAuditRemoteScrub(t *testing.T) {
	w := NewWorld(t)
	repo := setupRepo(t, w, "api", "https://ada:s3cret-url@bitbucket.org/acme/api.git")
	store := filepath.Join(w.Home.Dir, "helper-store")
	w.MustGit(w.Home.Dir, "config", "--global", "credential.helper", "store --file "+store)
	for _, in := range []string{
		"protocol=https\nhost=bitbucket.org\nusername=ada\npassword=s3cret-helper\n\n",
		"protocol=https\nhost=github.com\nusername=bob\npassword=gh-helper\n\n",
	} {
		if out, err := auditGitInput(w, in, "credential", "approve"); err != nil {
			t.Fatalf("git credential approve: %v\n%s", err, out)
		}
	}
	files := map[string][2]string{ // path: {content, what stays}
		filepath.Join(w.Home.Dir, ".git-credentials"):         {"https://bob:gh1@github.com\nhttps://ada:s3cret-gc@bitbucket.org\n", "https://bob:gh1@github.com\n"},
		filepath.Join(w.Home.ConfigDir, "git", "credentials"): {"https://x-bitbucket-api-token-auth:s3cret-xdg@bitbucket.org\nhttps://eve:gl@gitlab.com\n", "https://eve:gl@gitlab.com\n"},
		filepath.Join(w.Home.Dir, ".netrc"):                   {"machine github.com\n  login bob\n  password gh2\n\nmachine bitbucket.org login ada password s3cret-netrc\n", "machine github.com\n  login bob\n  password gh2\n\n"},
		filepath.Join(w.Home.Dir, "_netrc"):                   {"machine bitbucket.org login ada password s3cret-_netrc\r\nmachine example.com login x password y\r\n", "machine example.com login x password y\r\n"},
	}
	for path, c := range files {
		doctorWrite(t, path, c[0], 0o600)
	}

	r := w.MustRun(repo, "remote", "--scrub")
	for _, s := range []string{"s3cret-url", "s3cret-helper", "s3cret-gc", "s3cret-xdg", "s3cret-netrc", "s3cret-_netrc"} {
		if strings.Contains(r.Stdout+r.Stderr, s) {
			t.Errorf("the output shows %q\n%s", s, r)
		}
	}
	for path, c := range files {
		if b, _ := os.ReadFile(path); string(b) != c[1] {
			t.Errorf("%s after --scrub = %q, want %q", path, b, c[1])
		}
		backups, _ := filepath.Glob(path + ".bbkey-backup-*")
		if len(backups) != 1 {
			t.Errorf("%s: backups %v, want one", path, backups)
			continue
		}
		if b, _ := os.ReadFile(backups[0]); string(b) != c[0] {
			t.Errorf("backup %s does not hold the original", backups[0])
		}
		if !strings.Contains(r.Stderr, backups[0]) {
			t.Errorf("the user is not told about the backup %s\n%s", backups[0], r.Stderr)
		}
	}
	if out, _ := auditGitInput(w, "protocol=https\nhost=bitbucket.org\n\n", "credential", "fill"); strings.Contains(out, "s3cret-helper") {
		t.Errorf("the store helper still returns the Bitbucket entry:\n%s", out)
	}
	if out, _ := auditGitInput(w, "protocol=https\nhost=github.com\n\n", "credential", "fill"); !strings.Contains(out, "password=gh-helper") {
		t.Errorf("the store helper lost the GitHub entry:\n%s", out)
	}
	if got := w.MustGit(repo, "remote", "get-url", "origin"); got != "git@ssh.bitbucket.org:acme/api.git\n" {
		t.Errorf("origin = %q", got)
	}
	// A second run finds nothing left to scrub and changes no file.
	before := w.Snapshot()
	w.MustRun(repo, "remote", "--scrub")
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("the second --scrub changed files:\n%s", diff)
	}
}

// auditGitInput runs the real git with stdin, in the world's environment and home.
func auditGitInput(w *World, stdin string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env, cmd.Stdin = w.Home.Dir, w.Env, strings.NewReader(stdin)
	b, err := cmd.CombinedOutput()
	return string(b), err
}
