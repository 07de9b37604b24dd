package sshconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
)

// Options tune Apply.
type Options struct {
	// DryRun computes the change and writes nothing (not even the lock file).
	DryRun bool
	// Regenerate writes the managed file even when a hand edit keeps it from being read
	// back, keeping the edited file as config.edited-<time> next to it (doctor --fix).
	Regenerate bool
}

// Result says what an edit changed (or, in a dry run, would change).
type Result struct {
	// ChangedFiles are the files written, user config first when both changed.
	ChangedFiles []string `json:"changed_files"`
	// Blocks are the managed blocks after the edit.
	Blocks []HostBlock `json:"blocks"`
	// Warnings are problems found in the user's file that bbkey leaves to the user.
	Warnings []string `json:"warnings,omitempty"`
}

// Files locates the files the package edits inside an ssh directory.
type Files struct {
	UserConfig string // ~/.ssh/config
	Managed    string // ~/.ssh/bbkey/config
	Lock       string // ~/.ssh/bbkey/.lock
}

// FilesIn returns the file locations for sshDir.
func FilesIn(sshDir string) Files {
	dir := filepath.Join(sshDir, "bbkey")
	return Files{
		UserConfig: filepath.Join(sshDir, "config"),
		Managed:    filepath.Join(dir, "config"),
		Lock:       filepath.Join(dir, ".lock"),
	}
}

// Read returns the blocks of the managed file in sshDir; none when it does not exist.
func Read(sshDir string) ([]HostBlock, error) {
	f := FilesIn(sshDir)
	b, err := readOptional(f.Managed)
	if err != nil {
		return nil, err
	}
	blocks, err := ParseManaged(b)
	if err != nil {
		return nil, managedErr(f.Managed, err)
	}
	return blocks, nil
}

// Apply makes the managed file hold exactly blocks and makes sure the user's config
// includes it, under bbkey's lock. Each file is written only when its content changes,
// atomically and keeping its mode; a symlinked ~/.ssh/config has its target edited. ~/.ssh
// is created 0700 and ~/.ssh/config 0600 when missing.
func Apply(ctx context.Context, sshDir string, blocks []HostBlock, opts Options) (Result, error) {
	if !filepath.IsAbs(sshDir) {
		return Result{}, fmt.Errorf("ssh directory %q is not an absolute path", sshDir)
	}
	f := FilesIn(sshDir)
	if !opts.DryRun {
		if err := fsutil.MkdirPrivate(filepath.Dir(f.Managed)); err != nil {
			return Result{}, fmt.Errorf("creating %s: %w", filepath.Dir(f.Managed), err)
		}
		lock, err := fsutil.LockContext(ctx, f.Lock)
		if err != nil {
			return Result{}, fmt.Errorf("locking the ssh config: %w", err)
		}
		defer lock.Unlock()
	}

	oldManaged, err := readOptional(f.Managed)
	if err != nil {
		return Result{}, err
	}
	var edited string
	if _, err := ParseManaged(oldManaged); err != nil && !opts.Regenerate {
		return Result{}, managedErr(f.Managed, err)
	} else if err != nil {
		edited = f.Managed + ".edited-" + time.Now().UTC().Format("20060102T150405Z")
	}
	seen := map[string]bool{}
	for _, b := range blocks {
		if err := b.Validate(); err != nil {
			return Result{}, err
		}
		if seen[b.Alias] {
			return Result{}, fmt.Errorf("two ssh config blocks for host %s", b.Alias)
		}
		seen[b.Alias] = true
	}
	newManaged := RenderManaged(blocks)

	oldUser, err := readOptional(f.UserConfig)
	if err != nil {
		return Result{}, err
	}
	newUser, userChanged := EnsureInclude(oldUser, configPath(f.Managed))

	res := Result{Blocks: blocks}
	if bytes.HasPrefix(oldUser, bom) {
		// Kept because the file is the user's, but OpenSSH (Win32 included) reads the BOM as
		// part of the first keyword and refuses the whole file.
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s starts with a UTF-8 byte order mark, which OpenSSH rejects: save it as UTF-8 without BOM", f.UserConfig))
	}
	if userChanged {
		res.ChangedFiles = append(res.ChangedFiles, f.UserConfig)
	}
	managedChanged := string(oldManaged) != string(newManaged)
	if managedChanged {
		res.ChangedFiles = append(res.ChangedFiles, f.Managed)
	}
	if edited != "" {
		res.ChangedFiles = append(res.ChangedFiles, edited)
	}
	if userChanged {
		if err := userConfigReplaceable(f); err != nil {
			return res, err
		}
	}
	if opts.DryRun {
		return res, nil
	}
	if edited != "" {
		// The hand-edited file is kept for the user to take their settings from.
		if err := fsutil.CreateExclusive(edited, oldManaged, 0o600); err != nil {
			return res, fmt.Errorf("keeping the hand-edited %s as %s: %w", f.Managed, edited, err)
		}
	}
	// The managed file first: the Include never names a file that is not there yet.
	if managedChanged {
		if err := fsutil.WriteFileAtomic(f.Managed, newManaged, 0o600); err != nil {
			return res, err
		}
	}
	if userChanged {
		if err := fsutil.WriteFileAtomic(f.UserConfig, newUser, 0o600); err != nil {
			return res, errkind.WithHint(fmt.Errorf("adding bbkey's Include to %s: %w", f.UserConfig, err),
				fmt.Sprintf("add this line at the very top of %s yourself: %s", f.UserConfig, IncludeLine(configPath(f.Managed))))
		}
	}
	return res, nil
}

// managedErr says plainly that the file is bbkey's and what to do with a hand edit.
func managedErr(path string, err error) error {
	return errkind.WithHint(fmt.Errorf("%s is bbkey's own file, written whole from its state, and was edited by hand: %w", path, err),
		fmt.Sprintf("move your own settings from it into %s, in a Host block of your own below bbkey's Include line (ssh reads both)", filepath.Join(filepath.Dir(filepath.Dir(path)), "config")),
		"then run `bbkey doctor --fix` to regenerate it (the edited file is kept next to it as config.edited-<time>), and run this command again")
}

// Check makes sure bbkey's directory in sshDir can be used, reads back the managed file,
// and checks that the user's config can take bbkey's Include line if it lacks it, so a
// command can stop before its first remote write when either would stop it later.
func Check(sshDir string) error {
	f := FilesIn(sshDir)
	dir := filepath.Dir(f.Managed)
	// Leftovers of killed runs (encrypted keys among them) go on the next run.
	fsutil.RemoveStaleTemps(sshDir, func(name string) bool { return strings.HasPrefix(name, "bbkey_") })
	fsutil.RemoveStaleTemps(dir, func(string) bool { return true })
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return errkind.WithHint(fmt.Errorf("%s is not a directory: bbkey keeps its ssh config and pinned host keys there", dir),
			"move "+dir+" aside, then run the command again")
	}
	if _, err := Read(sshDir); err != nil {
		return err
	}
	old, err := readOptional(f.UserConfig)
	if err != nil {
		return err
	}
	if _, changed := EnsureInclude(old, configPath(f.Managed)); changed {
		return userConfigReplaceable(f)
	}
	return nil
}

// userConfigReplaceable refuses to replace the user's ssh config when that would not be
// what an OpenSSH user expects (read-only, someone else's, hard-linked): nothing is
// written, and the hint gives the line to add by hand.
func userConfigReplaceable(f Files) error {
	p := fsutil.ReplaceProblem(f.UserConfig)
	if p == "" {
		return nil
	}
	return errkind.WithHint(fmt.Errorf("%s needs bbkey's Include line at the top, and bbkey leaves the file as it is: %s", f.UserConfig, p),
		fmt.Sprintf("add this line at the very top of %s yourself, then run the command again: %s", f.UserConfig, IncludeLine(configPath(f.Managed))))
}

// readOptional reads path through any symlink; a missing file reads as empty.
func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, nil
}
