package e2e

import (
	"net/http"
	"path/filepath"
	"testing"
)

// TestRotateRefusesUnreadableHostKeysFirst: an unusable --ssh-host-keys file is a usage
// error found before a successor is generated or uploaded (before, rotate uploaded a key,
// failed its proof, and deleted it again, exiting 5).
func TestRotateRefusesUnreadableHostKeysFirst(t *testing.T) {
	w := NewWorld(t)
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	before := w.Snapshot()
	w.Emu.ResetRequests()
	r := w.Run("", "rotate", "--passphrase-file", w.PassFile, "--ssh-host-keys", filepath.Join(w.Home.Dir, "nope.pub"))
	if r.Code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.Code, r)
	}
	for _, q := range w.Emu.Requests() {
		if q.Method != http.MethodGet {
			t.Errorf("rotate sent %s %s before refusing", q.Method, q.Path)
		}
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
}
