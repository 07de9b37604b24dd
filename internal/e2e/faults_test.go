package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// The fault matrix: every command that talks to Bitbucket, against every fault the
// emulator can inject, held for the whole run (so retries cannot save it). Each case is its
// own world, run in parallel. What every case must show:
//   - no panic, exactly one `bbkey: error:` line and a `bbkey: hint:` naming the next step;
//   - the documented exit code (proofFault.code unless the command documents otherwise);
//   - no partial local state: a checksum of every file under $HOME before and after,
//     minus what the command is documented to leave (proofCommand.allow), and the agent
//     holding what it held before;
//   - no partial remote state: the account and access keys on Bitbucket as they were.
//
// Transient faults are retried within --max-wait; every run here gets --max-wait 2s,
// which also bounds each request (a hung server is given up on after 2s).

// proofCommand is one command under test.
type proofCommand struct {
	name string
	// target is the request the fault answers, described for the test name.
	target string
	match  bbapitest.Matcher
	// prepare brings the world to where the command makes sense (e.g. a key set up) and
	// returns the arguments to run.
	prepare func(t *testing.T, w *World) []string
	// allow lists home-relative paths a failed run may leave changed, each documented by
	// the command.
	allow []string
	// codes overrides proofFault.code by fault name, where the command documents another;
	// allCodes (when not 0) overrides it for every fault.
	codes    map[string]int
	allCodes int
	// succeeds names the faults the command documents as reaching its goal anyway (a
	// DELETE answered 404: the key is gone already).
	succeeds []string
	// check, when set, asserts what else a failed run owes its user.
	check func(t *testing.T, w *World, r Result)
	// history: the failed run may add one "failed" entry to the rotation history in
	// state.json (what `rotate --status` reports) and change nothing else in it.
	history bool
}

const proofKeysPath = "/2.0/users/*/ssh-keys"

// proofSetUp runs setup so that commands working on an existing key have one, and returns
// its fingerprint.
func proofSetUp(t *testing.T, w *World) string {
	t.Helper()
	r := w.MustRun("", "setup", "--json", "--passphrase-file", w.PassFile, "--no-remotes")
	var res setupJSON
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || res.Key.Fingerprint == "" {
		t.Fatalf("setup --json: %v\n%s", err, r)
	}
	return res.Key.Fingerprint
}

func proofCommands() []proofCommand {
	setupKey := []string{".ssh/bbkey_ada_ed25519", ".ssh/bbkey_ada_ed25519.pub"}
	setupArgs := func(t *testing.T, w *World) []string {
		return []string{"setup", "--passphrase-file", w.PassFile, "--no-remotes"}
	}
	return []proofCommand{
		{
			// setup documents: a key whose upload or proof fails keeps its local files (a
			// re-run reuses them) but leaves the agent; nothing else is written.
			name: "setup", target: "GET /user", match: bbapitest.Match("GET", "/2.0/user"),
			prepare: setupArgs, allow: setupKey,
		},
		{
			name: "setup", target: "POST ssh-keys", match: bbapitest.Match("POST", proofKeysPath),
			prepare: setupArgs, allow: setupKey,
		},
		{
			// add-access-key keeps the machine's access key pair for the next run, like setup.
			name: "add-access-key", target: "POST deploy-keys", match: bbapitest.Match("POST", "/2.0/repositories/*/*/deploy-keys"),
			prepare: func(t *testing.T, w *World) []string {
				return []string{"add-access-key", "--name", "ci", "--repo", "acme/api", "--repo", "acme/web", "--passphrase-file", w.PassFile}
			},
			// It also records that key in the state (a re-run must reuse it, not make
			// another), before any target is tried.
			allow: []string{".ssh/bbkey_access_ci_ed25519", ".ssh/bbkey_access_ci_ed25519.pub",
				".config/bbkey", ".config/bbkey/state.json", ".config/bbkey/state.lock"},
			// Documented: 3 when some target lacks the key (failed, or --max-wait ran out),
			// 4 not authenticated or missing scope.
			codes: proofBulkCodes(),
			check: func(t *testing.T, w *World, r Result) {
				var st struct {
					AccessKeys map[string]struct {
						Targets []json.RawMessage `json:"targets"`
					} `json:"access_keys"`
				}
				b, err := os.ReadFile(filepath.Join(w.Home.ConfigDir, "bbkey", "state.json"))
				if err == nil {
					err = json.Unmarshal(b, &st)
				}
				if err != nil || len(st.AccessKeys) != 1 || len(st.AccessKeys["ci"].Targets) != 0 {
					t.Errorf("the state should record the key ci and no target: %v\n%s", err, b)
				}
			},
		},
		{
			// rotate documents: a failure before the proof rolls the rotation back (the
			// new key deleted on Bitbucket, its file removed) and the run is recorded in
			// the history; its lock file stays, empty.
			name: "rotate", target: "POST ssh-keys", match: bbapitest.Match("POST", proofKeysPath),
			prepare: func(t *testing.T, w *World) []string {
				proofSetUp(t, w)
				return []string{"rotate", "--passphrase-file", w.PassFile}
			},
			allow:   []string{".config/bbkey/rotate.lock", ".config/bbkey/state.json"},
			history: true,
		},
		{
			name: "list", target: "GET ssh-keys", match: bbapitest.Match("GET", proofKeysPath),
			prepare: func(t *testing.T, w *World) []string {
				proofSetUp(t, w)
				return []string{"list"}
			},
		},
		{
			name: "remove", target: "DELETE ssh-key", match: bbapitest.Match("DELETE", proofKeysPath+"/*"),
			prepare: func(t *testing.T, w *World) []string {
				fp := proofSetUp(t, w)
				return []string{"remove", fp, "--everywhere", "--force", "--yes"}
			},
			// Documented: a key Bitbucket no longer has is removed already.
			succeeds: []string{"404"},
		},
		{
			name: "doctor", target: "any request", match: bbapitest.MatchAll(),
			prepare: func(t *testing.T, w *World) []string {
				proofSetUp(t, w)
				return []string{"doctor"}
			},
			// Documented: exit 1 when a check failed, whatever made it fail; the next step
			// is the fix printed under the ✗ line.
			allCodes: 1,
			check: func(t *testing.T, _ *World, r Result) {
				if !strings.Contains(r.Stdout, "✗ Bitbucket credential") || !strings.Contains(r.Stdout, "    fix:") {
					t.Errorf("the report has no failed credential check with its fix\n%s", r)
				}
			},
		},
		{
			name: "auth-login", target: "GET /user", match: bbapitest.Match("GET", "/2.0/user"),
			prepare: func(t *testing.T, w *World) []string {
				return []string{"auth", "login", "--insecure-storage"}
			},
		},
	}
}

func TestFaultMatrix(t *testing.T) {
	for _, c := range proofCommands() {
		t.Run(c.name+"/"+strings.ReplaceAll(c.target, " ", "_"), func(t *testing.T) {
			t.Parallel()
			for _, f := range proofFaults() {
				t.Run(f.name, func(t *testing.T) {
					t.Parallel()
					proofRunFault(t, c, f)
				})
			}
		})
	}
}

func proofRunFault(t *testing.T, c proofCommand, f proofFault) {
	w := NewWorld(t)
	args := c.prepare(t, w)
	before, agentBefore, remoteBefore := w.Snapshot(), w.AgentList(), proofRemoteState(w.Emu)
	statePath := filepath.Join(w.Home.ConfigDir, "bbkey", "state.json")
	stateBefore, _ := os.ReadFile(statePath)

	f.inject(w.Emu, c.match, proofPersistent)
	r := w.Run("", append(args, "--max-wait", "2s")...)

	if slices.Contains(c.succeeds, f.name) {
		if r.Code != 0 || strings.Contains(r.Stderr, "panic:") {
			t.Errorf("documented to succeed:\n%s", r)
		}
		return
	}
	want := f.code
	if c.allCodes != 0 {
		want = c.allCodes
	}
	if code, ok := c.codes[f.name]; ok {
		want = code
	}
	proofCheckFailure(t, r, want)
	if c.check != nil {
		c.check(t, w, r)
	}
	if !proofFaulted(w.Emu) {
		t.Errorf("the fault never fired: %s was not requested\n%s", c.target, r)
	}
	if diff := proofFilterDiff(DiffSnapshots(before, w.Snapshot()), c.allow); diff != "" {
		t.Errorf("the failed run left files behind:\n%s\n%s", diff, r)
	}
	if c.history {
		stateAfter, _ := os.ReadFile(statePath)
		if err := proofOnlyHistoryAdded(stateBefore, stateAfter); err != nil {
			t.Errorf("state.json: %v\n%s", err, r)
		}
	}
	if got := w.AgentList(); got != agentBefore {
		t.Errorf("the agent changed:\nbefore: %s\nafter:  %s", agentBefore, got)
	}
	if got := proofRemoteState(w.Emu); got != remoteBefore {
		t.Errorf("Bitbucket's keys changed:\nbefore:\n%s\nafter:\n%s", remoteBefore, got)
	}
}

// proofBulkCodes are the exit codes of a bulk command, where a target that fails for any
// reason but credentials leaves the run partial (3).
func proofBulkCodes() map[string]int {
	codes := map[string]int{}
	for _, f := range proofFaults() {
		if f.code != 4 {
			codes[f.name] = 3
		}
	}
	return codes
}

// proofFaulted reports whether an injected fault answered (or held) any request. A hung
// request enters the log only once the server notices the client gave up, which may be a
// moment after bbkey exits, so it looks again for a while before saying no.
func proofFaulted(emu *bbapitest.Server) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range emu.Requests() {
			if r.Fault {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFaultTransientRecovers: a fault that happens once (a blip) is retried within
// --max-wait and setup succeeds as if nothing happened, uploading exactly one key.
func TestFaultTransientRecovers(t *testing.T) {
	for _, f := range proofFaults() {
		if f.code != 3 {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			w := NewWorld(t)
			f.inject(w.Emu, bbapitest.Match("POST", proofKeysPath), 1)
			r := w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes", "--max-wait", "3s")
			if r.Code != 0 {
				t.Fatalf("one %s was not retried:\n%s", f.name, r)
			}
			if !proofFaulted(w.Emu) {
				t.Fatal("the fault never fired")
			}
			if keys := w.Emu.UserKeys(bbapitest.DefaultAccountID); len(keys) != 1 {
				t.Errorf("%d account keys after the retry, want 1: %+v", len(keys), keys)
			}
		})
	}
}

// proofOnlyHistoryAdded checks that after differs from before by one more rotation history
// entry, with result "failed", and in nothing else.
func proofOnlyHistoryAdded(before, after []byte) error {
	var b, a map[string]json.RawMessage
	if err := json.Unmarshal(before, &b); err != nil {
		return fmt.Errorf("before: %w", err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return fmt.Errorf("after: %w", err)
	}
	var hb, ha []struct {
		Result string `json:"result"`
	}
	_ = json.Unmarshal(b["rotations"], &hb)
	_ = json.Unmarshal(a["rotations"], &ha)
	if len(ha) != len(hb)+1 || ha[len(ha)-1].Result != "failed" {
		return fmt.Errorf("rotation history went from %d to %d entries (last %+v), want one more, failed", len(hb), len(ha), ha)
	}
	delete(b, "rotations")
	delete(a, "rotations")
	bj, _ := json.Marshal(b)
	aj, _ := json.Marshal(a)
	if string(bj) != string(aj) {
		return fmt.Errorf("changed besides the history:\n%s\n%s", bj, aj)
	}
	return nil
}

// TestFaultRotateRevoke: every fault at the last Bitbucket step of a rotation, deleting
// the old key. The new key is proven by then, so rotate documents exit 3 (a 404 counts
// as done): the successor in place and working, and the next run finishing the revoke
// instead of rotating again.
func TestFaultRotateRevoke(t *testing.T) {
	for _, f := range proofFaults() {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			w := NewWorld(t)
			old := proofSetUp(t, w)
			f.inject(w.Emu, bbapitest.Match("DELETE", proofKeysPath+"/*"), proofPersistent)
			r := w.Run("", "rotate", "--passphrase-file", w.PassFile, "--max-wait", "2s")
			keys := w.Emu.UserKeys(bbapitest.DefaultAccountID)
			if f.name == "404" {
				if r.Code != 0 || len(keys) != 2 {
					t.Fatalf("a 404 on the revoke counts as done: exit %d, %d keys\n%s", r.Code, len(keys), r)
				}
				return
			}
			proofCheckFailure(t, r, 3)
			if len(keys) != 2 || "SHA256:"+keys[0].Fingerprint != old {
				t.Fatalf("after a failed revoke Bitbucket holds %+v, want the old key and its successor", keys)
			}
			w.Emu.ClearFaults()
			again := w.Run("", "rotate", "--passphrase-file", w.PassFile)
			if again.Code != 0 {
				t.Fatalf("the re-run did not finish the revoke:\n%s", again)
			}
			after := w.Emu.UserKeys(bbapitest.DefaultAccountID)
			if len(after) != 1 || after[0].Fingerprint != keys[1].Fingerprint {
				t.Errorf("after the re-run Bitbucket holds %+v, want only the successor %s (the re-run must not rotate again)", after, keys[1].Fingerprint)
			}
		})
	}
}
