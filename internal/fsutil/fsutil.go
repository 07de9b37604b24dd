// Package fsutil edits files so that nothing is ever half-written or silently lost: every
// write goes to a temporary file in the same directory, is fsynced, and is renamed (or
// hard-linked, when the target must not exist yet) into place; edits of an existing file
// keep its mode and write through a symlink to its target; advisory locks keep two bbkey
// runs from editing the same file at once.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// ErrExist is returned by CreateExclusive when the target already exists.
var ErrExist = fs.ErrExist

// ResolveTarget follows symlinks of an existing path so an edit changes the file the link
// points at instead of replacing the link with a regular file. A path that does not exist
// is returned unchanged.
func ResolveTarget(path string) (string, error) {
	if _, err := os.Lstat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		return "", err
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", path, err)
	}
	return target, nil
}

// ReplaceProblem says why replacing the existing file at path (through a symlink) with a
// new one, as WriteFileAtomic does, would not be what its owner expects: it is read-only,
// it belongs to someone else (the new file would be the writer's), or it has other hard
// links (they would keep the old content). "" when there is none, or no file.
func ReplaceProblem(path string) string {
	target, err := ResolveTarget(path)
	if err != nil {
		return ""
	}
	fi, err := os.Stat(target)
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	if fi.Mode().Perm()&0o200 == 0 {
		return fmt.Sprintf("it is read-only (mode %04o)", fi.Mode().Perm())
	}
	return replaceProblem(fi)
}

// WriteFileAtomic replaces path with data. An existing file keeps its mode (perm is used
// for a new file); a symlink is followed and its target rewritten.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	target, err := ResolveTarget(path)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(target); err == nil {
		perm = KeepPerm(target, fi, perm)
	}
	tmp, err := writeTemp(target, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", target, err)
	}
	return syncDir(filepath.Dir(target))
}

// CreateExclusive writes a new file at path with data and perm, failing with an error
// matching ErrExist when path already exists. The file appears complete or not at all.
func CreateExclusive(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	// A hard link never replaces an existing name, unlike rename.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		}
		// File systems without hard links (some network and FAT mounts): fall back to an
		// O_EXCL create of the final name, which still never overwrites.
		if err := writeExclusive(path, data, perm); err != nil {
			return err
		}
	}
	return syncDir(filepath.Dir(path))
}

func writeExclusive(path string, data []byte, perm fs.FileMode) error {
	f, err := openExclusive(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// writeTemp writes data to a new temporary file next to path, created O_EXCL with perm
// from the start (never briefly world-readable), fsynced and closed.
func writeTemp(path string, data []byte, perm fs.FileMode) (string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStaleTemps(dir, base)
	// Created with perm from the start (never briefly open to others).
	f, err := createTemp(dir, "."+base+".tmp-*", perm)
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return name, nil
}

// StaleTempAge is the age past which a temporary file of bbkey's is a leftover of a killed
// run: a write takes milliseconds from creating its temporary file to renaming it.
const StaleTempAge = 10 * time.Minute

// removeStaleTemps deletes the temporary files a killed run left next to base (an
// encrypted private key among them), so they do not pile up. Only regular files named as
// writeTemp names them and older than StaleTempAge go: a write in progress is never
// touched.
func removeStaleTemps(dir, base string) {
	pat, ok := globEscape(base)
	if !ok {
		return
	}
	matches, err := filepath.Glob(filepath.Join(dir, "."+pat+".tmp-*"))
	if err != nil {
		return
	}
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > StaleTempAge {
			_ = os.Remove(m)
		}
	}
}

// RemoveStaleTemps sweeps dir for the temporary files of bbkey's writes (".NAME.tmp-*")
// that killed runs left behind, NAME accepted by own, older than StaleTempAge, and
// removes them; it returns what it removed. A write in progress is never touched.
func RemoveStaleTemps(dir string, own func(name string) bool) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), ".")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		i := strings.LastIndex(name, ".tmp-")
		if i <= 0 || !own(name[:i]) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Lstat(p); err == nil && time.Since(fi.ModTime()) > StaleTempAge && os.Remove(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}

// globEscape quotes the pattern characters of a file name for filepath.Glob; ok is false
// where they cannot be quoted (Windows).
func globEscape(s string) (string, bool) {
	if !strings.ContainsAny(s, "*?[\\") {
		return s, true
	}
	if runtime.GOOS == "windows" {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("*?[\\", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String(), true
}

// MkdirPrivate creates dir (and parents) with mode 0700 for the last element.
func MkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return nil
}

// Exists reports whether path exists (a dangling symlink does); an error when that cannot
// be told.
func Exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// MayExist reports whether path exists or cannot be told not to: the cautious answer for
// a check that keeps bbkey from writing over something.
func MayExist(path string) bool {
	ok, err := Exists(path)
	return ok || err != nil
}
