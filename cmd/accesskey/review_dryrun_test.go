package accesskey

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A dry run reports what the real run then does: the same files (key, state, ssh config
// and pinned host keys) and the same key protection.
func TestAddDryRunListsTheFilesTheRunWrites(t *testing.T) {
	h := newHarness(t)
	h.f.Globals.JSON = true
	type doc struct {
		Key struct {
			Encrypted bool `json:"encrypted"`
		} `json:"key"`
		ChangedFiles []string `json:"changed_files"`
	}
	var docs [2]doc
	for i, dry := range []bool{true, false} {
		args := []string{"--repo", "acme/api", "--passphrase-file", h.pass, "--write-ssh-config"}
		if dry {
			args = append(args, "--dry-run")
		}
		h.stdout.Reset()
		if err := h.run(context.Background(), args...); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(h.stdout.String()), &docs[i]); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(h.home.SSHDir); dry && len(entries) != 0 {
			t.Fatalf("the dry run wrote into the ssh dir: %v", entries)
		}
	}
	dry, real := docs[0], docs[1]
	// config.json is left out: whether it would change is cmdutil.PersistSettings' to
	// say, and it has no dry-run mode.
	real.ChangedFiles = slices.DeleteFunc(real.ChangedFiles, func(p string) bool { return filepath.Base(p) == "config.json" })
	slices.Sort(dry.ChangedFiles)
	slices.Sort(real.ChangedFiles)
	if !slices.Equal(dry.ChangedFiles, real.ChangedFiles) {
		t.Errorf("dry run would change %q\nthe run changed %q", dry.ChangedFiles, real.ChangedFiles)
	}
	if dry.Key.Encrypted != real.Key.Encrypted || !real.Key.Encrypted {
		t.Errorf("key encrypted: dry run %v, run %v", dry.Key.Encrypted, real.Key.Encrypted)
	}
}
