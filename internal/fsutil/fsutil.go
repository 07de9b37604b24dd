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

// MkdirPrivate creates dir (and parents) with mode 0700 for the last element.
func MkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return nil
}
