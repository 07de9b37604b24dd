// Package fsutil writes files whole or not at all: to a fsynced temporary file renamed (or,
// when the target must not exist, hard-linked) into place. Rewrites keep the file's mode
// and follow symlinks; advisory locks keep two bbkey runs from editing a file at once.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ResolveTarget follows the symlinks of an existing path, so an edit changes the file a
// link points at; a missing path is returned as is.
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

// ReplaceProblem says why replacing the file at path with a new one (WriteFileAtomic)
// would surprise its owner: read-only, someone else's, or hard-linked; "" when none.
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

// CreateExclusive writes a new file at path, failing with fs.ErrExist when it exists.
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
	return writeClose(f, data)
}

// writeTemp writes data to a new temporary file next to path, with perm from the start,
// fsynced and closed.
func writeTemp(path string, data []byte, perm fs.FileMode) (string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	RemoveStaleTemps(dir, func(name string) bool { return name == base })
	f, err := createTemp(dir, "."+base+".tmp-*", perm)
	if err == nil {
		err = writeClose(f, data)
	}
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Name(), nil
}

// writeClose writes data to the new file f, fsyncs and closes it; on failure it removes it.
func writeClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// StaleTempAge is the age past which a temporary file is a leftover of a killed run (a
// write takes milliseconds).
const StaleTempAge = 10 * time.Minute

// RemoveStaleTemps removes the temporary files (".NAME.tmp-*", NAME accepted by own) that
// killed runs left in dir, older than StaleTempAge, and returns them.
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

// MkdirPrivate creates dir (and parents) with mode 0700.
func MkdirPrivate(dir string) error { return os.MkdirAll(dir, 0o700) }

// Exists reports whether path exists (a dangling symlink does).
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

// MayExist reports whether path exists or may: the cautious answer before writing.
func MayExist(path string) bool {
	ok, err := Exists(path)
	return ok || err != nil
}
