package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// under reports whether rel is one of the paths in skip or inside one of them.
func under(rel string, skip []string) bool {
	for _, s := range skip {
		s = filepath.Clean(s)
		if rel == s || strings.HasPrefix(rel, s+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// Snapshot maps every file and directory under root (paths relative to root, minus those
// under skip) to its mode and a hash of its content, so a test can assert that a run
// changed nothing, or exactly what it changed.
func Snapshot(tb testing.TB, root string, skip ...string) map[string]string {
	tb.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if under(rel, skip) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			sum = hex.EncodeToString(h[:8])
		}
		snap[rel] = fmt.Sprintf("%v %s", info.Mode(), sum)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// DiffSnapshots describes what changed between two snapshots, one sorted line a path
// ("" when nothing did), leaving out paths under skip.
func DiffSnapshots(before, after map[string]string, skip ...string) string {
	var lines []string
	for k, v := range before {
		if under(k, skip) {
			continue
		}
		if a, ok := after[k]; !ok {
			lines = append(lines, "removed "+k)
		} else if a != v {
			lines = append(lines, fmt.Sprintf("changed %s: %s -> %s", k, v, a))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok && !under(k, skip) {
			lines = append(lines, "added "+k)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
