package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSnapshotDiff(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string, mode os.FileMode) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "1", 0o600)
	write("b", "2", 0o600)
	write("cache/x", "3", 0o600)
	before := Snapshot(t, root, "cache")
	if d := DiffSnapshots(before, Snapshot(t, root, "cache")); d != "" {
		t.Fatalf("unchanged tree differs: %s", d)
	}
	write("a", "changed", 0o600)
	// Read-only: a mode change Windows has too (Go shows its read-only attribute as 0444).
	if err := os.Chmod(filepath.Join(root, "b"), 0o444); err != nil {
		t.Fatal(err)
	}
	write("c", "new", 0o600)
	write("cache/y", "skipped", 0o600)
	write("lock", "", 0o600)
	d := DiffSnapshots(before, Snapshot(t, root, "cache"), "lock")
	lines := strings.Split(d, "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "added c") || !strings.HasPrefix(lines[1], "changed a:") || !strings.HasPrefix(lines[2], "changed b: -r") {
		t.Errorf("diff =\n%s", d)
	}
	if err := os.Remove(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	if d := DiffSnapshots(before, Snapshot(t, root, "cache"), "lock", "b", "c"); d != "removed a" {
		t.Errorf("diff = %q, want removed a", d)
	}
}
