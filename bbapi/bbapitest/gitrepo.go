package bbapitest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoDir returns the bare git repository behind ws/slug, creating it (one commit on main
// with a README) if it was never used. Tests read pushes from it; the sandbox clones it.
func (s *Server) RepoDir(ws, slug string) (string, error) {
	s.mu.Lock()
	r, ok := s.repo(ws, slug)
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("no repository %s/%s", ws, slug)
	}
	return s.ensureRepo(r)
}

// ensureRepo makes the bare repository on first use, so that AddRepo stays cheap for
// hundreds of repositories. The commit is built with plumbing and fixed dates, so every
// repository starts the same way on every run.
func (s *Server) ensureRepo(r *repo) (string, error) {
	r.initMu.Lock()
	defer r.initMu.Unlock()
	if r.dir != "" {
		return r.dir, nil
	}
	dir := filepath.Join(s.dir, "repos", r.ws.slug, r.slug+".git")
	if err := s.initBareRepo(dir, r.fullName()); err != nil {
		return "", err
	}
	r.dir = dir
	return dir, nil
}

// initBareRepo makes a bare repository at dir with one commit on main holding a README
// titled title.
func (s *Server) initBareRepo(dir, title string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	env := append(s.gitEnv(),
		"GIT_AUTHOR_NAME="+DefaultDisplayName, "GIT_AUTHOR_EMAIL="+DefaultEmail,
		"GIT_COMMITTER_NAME="+DefaultDisplayName, "GIT_COMMITTER_EMAIL="+DefaultEmail,
		"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z",
	)
	git := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(s.ctx, "git", args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(errb.String()))
		}
		return strings.TrimSpace(out.String()), nil
	}
	if _, err := git("", "init", "--quiet", "--bare", "--initial-branch=main", dir); err != nil {
		return err
	}
	gd := "--git-dir=" + dir
	blob, err := git(fmt.Sprintf("# %s\n\nA repository of the bbapitest Bitbucket emulator.\n", title), gd, "hash-object", "-w", "--stdin")
	if err != nil {
		return err
	}
	tree, err := git("100644 blob "+blob+"\tREADME.md\n", gd, "mktree")
	if err != nil {
		return err
	}
	commit, err := git("Initial commit\n", gd, "commit-tree", tree)
	if err != nil {
		return err
	}
	if _, err := git("", gd, "update-ref", "refs/heads/main", commit); err != nil {
		return err
	}
	return nil
}
