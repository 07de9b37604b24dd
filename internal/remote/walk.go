package remote

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// skipDirs are never descended into: git's own directory (a repository's internals are
// not clones), and dependency trees that hold thousands of directories and no clones of
// the user's.
var skipDirs = map[string]bool{".git": true, "node_modules": true}

// Find walks root (an absolute path) for git repositories: work trees (a .git directory), worktrees and
// submodules (a .git file), and bare repositories. A symlinked directory is followed only
// when it leads to a directory inside root (once: a loop is walked only the first time);
// one leading out of it is skipped and reported, so a run never rewrites a repository
// outside the directory it was given (nor walks the whole disk through a link to /). A
// repository seen through several paths (its worktrees, a symlink) is returned once, at
// its main work tree; one git cannot read (a .git file naming nothing) is returned too, to
// fail when it is read. Directories that cannot be read are reported in the second result
// and the walk goes on.
func Find(ctx context.Context, root string) ([]Repo, []error) {
	w := walker{root: root, seenDir: map[string]bool{}, seenGit: map[string]bool{}}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, []error{fmt.Errorf("reading %s: %w", root, err)}
	}
	w.rootReal = real
	if err := w.walk(ctx, root, real); err != nil {
		w.warn = append(w.warn, err)
	}
	slices.SortFunc(w.repos, func(a, b Repo) int { return strings.Compare(a.Dir, b.Dir) })
	return w.repos, w.warn
}

type walker struct {
	// root is the directory being walked (as given) and rootReal its real path.
	root, rootReal string
	repos          []Repo
	warn           []error
	seenDir        map[string]bool // real paths of directories walked
	seenGit        map[string]bool // common git dirs found
}

// walk visits dir (as the user names it) whose real path is real.
func (w *walker) walk(ctx context.Context, dir, real string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.seenDir[real] {
		return nil
	}
	w.seenDir[real] = true
	ents, err := os.ReadDir(dir)
	if err != nil {
		w.warn = append(w.warn, fmt.Errorf("reading %s: %w", dir, err))
		return nil
	}
	if isBare(ents) {
		w.add(Repo{Dir: dir, GitDir: dir, Bare: true})
		return nil
	}
	if slices.ContainsFunc(ents, func(e fs.DirEntry) bool { return e.Name() == ".git" }) {
		w.addDotGit(dir)
	}
	for _, e := range ents {
		name := e.Name()
		if skipDirs[name] {
			continue
		}
		child, childReal := filepath.Join(dir, name), filepath.Join(real, name)
		switch {
		case e.IsDir():
		case e.Type()&fs.ModeSymlink != 0:
			fi, err := os.Stat(child)
			if err != nil || !fi.IsDir() {
				continue // dangling, or not a directory
			}
			if childReal, err = filepath.EvalSymlinks(child); err != nil {
				continue
			}
			if !within(w.rootReal, childReal) {
				w.warn = append(w.warn, fmt.Errorf("skipped %s: a link to %s, outside %s", child, childReal, w.root))
				continue
			}
		default:
			continue
		}
		if err := w.walk(ctx, child, childReal); err != nil {
			return err
		}
	}
	return nil
}

// addDotGit records the repository of a work tree: .git is its git directory, or a file
// naming it (a worktree, a submodule, or --separate-git-dir).
func (w *walker) addDotGit(dir string) {
	dotgit := filepath.Join(dir, ".git")
	if fi, err := os.Stat(dotgit); err == nil && fi.IsDir() { // maybe through a symlink
		w.add(Repo{Dir: dir, GitDir: dotgit})
		return
	}
	gitdir, err := readGitfile(dotgit)
	if err != nil {
		// git refuses it when the repository is read: a broken clone fails, not passed over.
		w.add(Repo{Dir: dir, GitDir: dotgit})
		return
	}
	// A worktree's git directory names the common directory in "commondir".
	if b, err := os.ReadFile(filepath.Join(gitdir, "commondir")); err == nil {
		common := AbsPath(gitdir, strings.TrimSpace(string(b)))
		if filepath.Base(common) == ".git" {
			w.add(Repo{Dir: filepath.Dir(common), GitDir: common})
		} else {
			w.add(Repo{Dir: common, GitDir: common, Bare: true})
		}
		return
	}
	w.add(Repo{Dir: dir, GitDir: gitdir})
}

// readGitfile reads a "gitdir: PATH" file, PATH relative to the file's directory.
func readGitfile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir:")
	if !ok {
		return "", fmt.Errorf("%s: not a gitdir file", path)
	}
	return AbsPath(filepath.Dir(path), strings.TrimSpace(s)), nil
}

// AbsPath is p, relative to base unless absolute, cleaned.
func AbsPath(base, p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p)
}

// isBare recognises a bare repository by its layout: HEAD and config files, objects and
// refs directories.
func isBare(ents []fs.DirEntry) bool {
	need := map[string]bool{"HEAD": false, "config": false, "objects": true, "refs": true}
	found := 0
	for _, e := range ents {
		if wantDir, ok := need[e.Name()]; ok && e.IsDir() == wantDir {
			found++
		}
	}
	return found == len(need)
}

func (w *walker) add(r Repo) {
	key := r.GitDir
	if real, err := filepath.EvalSymlinks(r.GitDir); err == nil {
		key = real
	}
	if w.seenGit[key] {
		return
	}
	w.seenGit[key] = true
	w.repos = append(w.repos, r)
}

// within reports whether path is dir or inside it (both real, clean paths).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
