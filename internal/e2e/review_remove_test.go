package e2e

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestReviewRemoveDryRunSaysWhatEverywhereDoes: `remove --everywhere --dry-run --json`
// lists what the real run then does on this machine (agent, moved files, changed files),
// instead of empty lists.
func TestReviewRemoveDryRunSaysWhatEverywhereDoes(t *testing.T) {
	d := newDoctorEnv(t)
	before := d.Snapshot()
	dry := removeJSON(t, d.MustRun("", "remove", d.FP, "--everywhere", "--force", "--dry-run", "--json"))
	if diff := DiffSnapshots(before, d.Snapshot()); diff != "" {
		t.Fatalf("the dry run changed files:\n%s", diff)
	}
	real := removeJSON(t, d.MustRun("", "remove", d.FP, "--everywhere", "--force", "--yes", "--json"))
	if !dry.DryRun || !slices.Equal(dry.AgentRemoved, real.AgentRemoved) || len(real.AgentRemoved) != 1 {
		t.Errorf("agent_removed: dry run %v, run %v", dry.AgentRemoved, real.AgentRemoved)
	}
	if len(dry.FilesMoved) != len(real.FilesMoved) || len(real.FilesMoved) != 2 {
		t.Fatalf("files_moved: dry run %+v, run %+v", dry.FilesMoved, real.FilesMoved)
	}
	for i := range real.FilesMoved {
		if dry.FilesMoved[i].From != real.FilesMoved[i].From || filepath.Dir(dry.FilesMoved[i].To) != filepath.Dir(real.FilesMoved[i].To) {
			t.Errorf("files_moved[%d]: dry run %+v, run %+v", i, dry.FilesMoved[i], real.FilesMoved[i])
		}
	}
	// The retired names carry the time of the run; compare the rest.
	norm := func(fs []string) []string {
		var out []string
		for _, f := range fs {
			if filepath.Base(filepath.Dir(f)) != "retired" {
				out = append(out, f)
			}
		}
		slices.Sort(out)
		return out
	}
	if a, b := norm(dry.ChangedFiles), norm(real.ChangedFiles); !slices.Equal(a, b) || len(b) == 0 {
		t.Errorf("changed_files: dry run %q, run %q", a, b)
	}
	if len(dry.ChangedFiles) != len(real.ChangedFiles) {
		t.Errorf("changed_files: dry run %q, run %q", dry.ChangedFiles, real.ChangedFiles)
	}
}

// TestReviewRemoveEverywhereBadHostKeysFailsFirst: --everywhere rewrites the pins at the
// end, so an unreadable --ssh-host-keys is refused (exit 2) before the key is deleted
// from Bitbucket, not after.
func TestReviewRemoveEverywhereBadHostKeysFailsFirst(t *testing.T) {
	d := newDoctorEnv(t)
	r := d.Run("", "remove", d.FP, "--everywhere", "--force", "--yes", "--ssh-host-keys", filepath.Join(t.TempDir(), "missing"))
	if r.Code != 2 || !removeHasKey(d.Emu, d.FP) {
		t.Fatalf("want exit 2 with the key still on Bitbucket (has it: %v)\n%s", removeHasKey(d.Emu, d.FP), r)
	}
}
