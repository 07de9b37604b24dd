package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
)

// raceLatency is the emulator's delay per request while two writers race: enough for a
// command's requests to interleave with another's, as they would against Bitbucket.
const raceLatency = 40 * time.Millisecond

// raceWriter is one command that writes keys, the state or Bitbucket's keys, with the
// points the test hook can stop it at (reachable on a machine set up by raceWorld).
type raceWriter struct {
	name   string
	points []string
	// prep readies the world so the command has something to do (nil: nothing); i numbers
	// the interleaving, for fresh repository names.
	prep func(t *testing.T, w *World, i int)
	// args is the command line of interleaving i.
	args func(w *World, i int) []string
}

// raceSlugs are the repositories whose access keys are checked.
var raceSlugs = []string{"api", "web", raceRepo(0), raceRepo(1), raceRepo(2), raceRepo(3), raceRepo(4)}

// raceRepo is the repository add-access-key and remove work on in interleaving i.
func raceRepo(i int) string { return fmt.Sprintf("race%02d", i) }

var raceWriters = []raceWriter{
	{name: "setup", points: []string{"setup:locked", "setup:prepared", "setup:writing"},
		args: func(w *World, _ int) []string {
			return []string{"setup", "--passphrase-file", w.PassFile, "--no-remotes"}
		}},
	{name: "add-access-key", points: []string{"add-access-key:locked", "add-access-key:planned", "add-access-key:added"},
		args: func(w *World, i int) []string {
			return []string{"add-access-key", "--repo", "acme/" + raceRepo(i), "--name", "ci", "--passphrase-file", w.PassFile}
		}},
	{name: "rotate", points: []string{"rotate:locked", "rotate:upload", "rotate:revoke"},
		args: func(w *World, _ int) []string {
			return []string{"rotate", "--passphrase-file", w.PassFile}
		}},
	{name: "rotate --access-keys", points: []string{"rotate:locked", "rotate:prove", "rotate:config-final"},
		args: func(w *World, _ int) []string {
			return []string{"rotate", "--access-keys", "--passphrase-file", w.PassFile}
		}},
	{name: "remove", points: []string{"remove:locked", "remove:planned"},
		// A second access key "rm", on the interleaving's repository, is removed
		// everywhere (Bitbucket, state, files, ssh config) while the other command runs.
		prep: func(t *testing.T, w *World, i int) {
			w.MustRun("", "add-access-key", "--repo", "acme/"+raceRepo(i), "--name", "rm", "--passphrase-file", w.PassFile)
		},
		args: func(w *World, _ int) []string {
			return []string{"remove", "rm", "--everywhere", "--yes"}
		}},
	{name: "doctor --fix", points: []string{"doctor:locked", "doctor:checked"},
		// An empty agent gives doctor a fix to apply: load the account key.
		prep: func(t *testing.T, w *World, _ int) {
			if out, err := rotateExec(w, "ssh-add", "-D"); err != nil {
				t.Fatalf("ssh-add -D: %v\n%s", err, out)
			}
		},
		args: func(w *World, _ int) []string {
			return []string{"doctor", "--fix", "--yes", "--passphrase-file", w.PassFile}
		}},
}

// raceStep is one interleaving: first is stopped at point, second is started and must
// wait for first's lock; then first goes on and both finish.
type raceStep struct {
	first, second raceWriter
	point         string
	// mayFinish lets the second command run to its end without waiting (see
	// raceInterleave); the race suite requires the wait.
	mayFinish bool
}

// raceSteps picks five interleavings of a pair: each command stopped at each of its
// points in turn, the other started then, alternating which goes first.
func raceSteps(a, b raceWriter) []raceStep {
	var out []raceStep
	for i := 0; len(out) < 5; i++ {
		x, y := a, b
		if i%2 == 1 {
			x, y = b, a
		}
		out = append(out, raceStep{first: x, second: y, point: x.points[(i/2)%len(x.points)]})
	}
	return out
}

// TestRaceWriters runs every pair of writing commands at five interleavings each, at a
// realistic latency, against the emulator, the real agent, ssh and git. In each, the first
// command is stopped at a chosen point (after its lock, after an upload, before its last
// write…), the second is started, and must wait for the first (saying whom it waits
// for) instead of acting on a state that is being changed; then both finish. After each:
// one working key per identity (the account's one key is the file ssh uses and git
// works with it; every repository in the state has the access key file's key and no
// other), the state matches the files and Bitbucket, and a re-run of setup changes
// nothing.
func TestRaceWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("the race suite runs two bbkey processes per interleaving")
	}
	for i, a := range raceWriters {
		for _, b := range raceWriters[i+1:] {
			t.Run(strings.ReplaceAll(a.name+"+"+b.name, " ", ""), func(t *testing.T) {
				t.Parallel()
				w := raceWorld(t)
				for n, st := range raceSteps(a, b) {
					raceInterleave(t, w, n, st)
					if t.Failed() {
						return
					}
				}
			})
		}
	}
}

// raceWorld is a machine with an account key (setup) and an access key "ci" on acme/api,
// and the repositories the interleavings use.
func raceWorld(t *testing.T) *World {
	w := NewWorld(t)
	for i := range 5 {
		if err := w.Emu.AddRepo(bbapitest.DefaultWorkspace, raceRepo(i), bbapitest.DefaultProject); err != nil {
			t.Fatal(err)
		}
	}
	rotateSetup(t, w)
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile)
	return w
}

// raceProc is a bbkey process whose stderr can be read while it runs.
type raceProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	errb bytes.Buffer
	// done is closed when the process has ended, err set.
	done chan struct{}
	err  error
}

func (p *raceProc) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *raceProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func raceStart(t *testing.T, w *World, env []string, args []string) *raceProc {
	t.Helper()
	p := &raceProc{cmd: exec.Command(bbkeyBin, args...), done: make(chan struct{})}
	p.cmd.Env, p.cmd.Dir = env, w.Home.Dir
	p.cmd.Stdout = lockedWriter{&p.mu, &p.out}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.errb}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.ended() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// raceUntil polls cond until it holds, failing when p ends first or a minute passes.
func raceUntil(t *testing.T, p *raceProc, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case <-p.done:
			t.Fatalf("bbkey %s ended (%v) before %s\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), p.err, what, p.stderr())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("bbkey %s: no %s in a minute\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), what, p.stderr())
		}
	}
}

func (p *raceProc) wait(t *testing.T) Result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("bbkey %s did not finish\nstderr:\n%s", strings.Join(p.cmd.Args[1:], " "), p.stderr())
	}
	err, code := p.err, 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return Result{Args: p.cmd.Args[1:], Stdout: p.out.String(), Stderr: p.errb.String(), Code: code}
}

func raceInterleave(t *testing.T, w *World, n int, st raceStep) {
	t.Helper()
	for _, wr := range []raceWriter{st.first, st.second} {
		if wr.prep != nil {
			wr.prep(t, w, n)
		}
	}
	hook := t.TempDir()
	w.Emu.SetLatency(raceLatency)
	firstEnv := append(slices.Clone(w.Env), testhook.PauseEnv+"="+st.point, testhook.PauseDirEnv+"="+hook)
	first := raceStart(t, w, firstEnv, st.first.args(w, n))
	paused := filepath.Join(hook, strings.ReplaceAll(st.point, ":", "-")+".paused")
	raceUntil(t, first, "the pause at "+st.point, func() bool { _, err := os.Stat(paused); return err == nil })

	secondEnv := append(slices.Clone(w.Env), state.LockWaitEnv+"=2m")
	second := raceStart(t, w, secondEnv, st.second.args(w, n))
	holder := fmt.Sprintf("Waiting for bbkey %s (pid %d", st.first.name, first.cmd.Process.Pid)
	if st.mayFinish {
		// A regression test of a known race: the second command may also run to its end
		// (as it did before the lock); what counts is what both leave behind.
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(second.stderr(), holder) && !second.ended() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	} else {
		raceUntil(t, second, "the line saying it waits", func() bool { return strings.Contains(second.stderr(), holder) })
	}
	if err := os.WriteFile(filepath.Join(hook, strings.ReplaceAll(st.point, ":", "-")+".resume"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r1, r2 := first.wait(t), second.wait(t)
	w.Emu.SetLatency(0)
	label := fmt.Sprintf("interleaving %d (%s stopped at %s, then %s)", n, st.first.name, st.point, st.second.name)
	for _, r := range []Result{r1, r2} {
		if r.Code != 0 {
			t.Errorf("%s: %s", label, r)
		}
	}
	raceCheck(t, w, label)
}

// raceCheck asserts the invariants after an interleaving.
func raceCheck(t *testing.T, w *World, label string) {
	t.Helper()
	st := raceState(t, w)
	// The account: one key on Bitbucket, the one the state records, the one ssh uses, and
	// git works with it.
	acct := st.Accounts["ada"]
	if acct == nil {
		t.Fatalf("%s: no account ada in the state: %+v", label, st.Accounts)
	}
	if keys := rotateAccountKeys(w); len(keys) != 1 || keys[0] != acct.Fingerprint {
		t.Errorf("%s: account keys %v, state %s", label, keys, acct.Fingerprint)
	}
	if fp := rotateConfigKey(t, w, "ssh.bitbucket.org"); fp != acct.Fingerprint {
		t.Errorf("%s: ssh uses %s, state %s", label, fp, acct.Fingerprint)
	}
	if fp := raceFileKey(t, w, acct.KeyPath); fp != acct.Fingerprint {
		t.Errorf("%s: key file %s is %s, state %s", label, acct.KeyPath, fp, acct.Fingerprint)
	}
	// The access keys: each file is the state's key; every repository has exactly the
	// keys the state lists for it, and "ci" is still on acme/api.
	if ak := st.AccessKeys["ci"]; ak == nil || !slices.ContainsFunc(ak.Targets, func(tg state.Target) bool { return tg.Slug == "api" }) {
		t.Errorf("%s: access key ci is not on acme/api in the state: %+v", label, ak)
	}
	want := map[string][]string{}
	for name, ak := range st.AccessKeys {
		if fp := raceFileKey(t, w, ak.Path); fp != ak.Fingerprint {
			t.Errorf("%s: access key %s: file %s is %s, state %s", label, name, ak.Path, fp, ak.Fingerprint)
		}
		for _, tg := range ak.Targets {
			want[tg.Slug] = append(want[tg.Slug], ak.Fingerprint)
		}
	}
	for _, slug := range raceSlugs {
		have := rotateRepoKeys(w, slug)
		slices.Sort(have)
		slices.Sort(want[slug])
		if !slices.Equal(have, want[slug]) {
			t.Errorf("%s: acme/%s has access keys %v, the state says %v", label, slug, have, want[slug])
		}
	}
	// git works with the account key, through the agent setup loads it into.
	before, keysBefore := w.Snapshot(), raceRemoteKeys(w)
	r := w.Run("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if r.Code != 0 {
		t.Errorf("%s: setup re-run: %s", label, r)
	}
	if d := DiffSnapshots(before, w.Snapshot()); d != "" {
		t.Errorf("%s: a re-run of setup changed files:\n%s", label, d)
	}
	if k := raceRemoteKeys(w); !slices.Equal(k, keysBefore) {
		t.Errorf("%s: a re-run of setup changed Bitbucket's keys: %v, was %v", label, k, keysBefore)
	}
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
}

func raceState(t *testing.T, w *World) *state.State {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.Home.ConfigDir, "bbkey", state.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	st := &state.State{}
	if err := json.Unmarshal(b, st); err != nil {
		t.Fatal(err)
	}
	return st
}

// raceFileKey is the fingerprint of a key file's .pub, as ssh-keygen reads it.
func raceFileKey(t *testing.T, w *World, path string) string {
	t.Helper()
	out, err := rotateExec(w, "ssh-keygen", "-l", "-f", path+".pub")
	if f := strings.Fields(out); err == nil && len(f) >= 2 {
		return f[1]
	}
	t.Errorf("ssh-keygen -l %s: %v\n%s", path, err, out)
	return ""
}

// raceRemoteKeys lists every key on the account and the repositories, for comparison.
func raceRemoteKeys(w *World) []string {
	out := rotateAccountKeys(w)
	for _, slug := range raceSlugs {
		for _, k := range rotateRepoKeys(w, slug) {
			out = append(out, slug+"="+k)
		}
	}
	return out
}

// raceWriterNamed returns the race suite's writer of that name.
func raceWriterNamed(t *testing.T, name string) raceWriter {
	for _, w := range raceWriters {
		if w.name == name {
			return w
		}
	}
	t.Fatalf("no writer %q", name)
	return raceWriter{}
}

// Issue 13, defect 1: add-access-key read the state and the key before it took the lock,
// so a `rotate --access-keys` finishing in between left it adding the rotated-out key,
// and the state recording the old fingerprint at the new key's path: every later rotation
// stopped at move-old and the old keys were never revoked. Here add-access-key is stopped
// after it planned its run, with the key on 20 repositories, and the rotation started.
func TestRaceAddAccessKeyDuringAccessKeyRotation(t *testing.T) {
	w := raceWorld(t)
	refs := accesskeyAddRepos(t, w.Emu, 20)
	args := []string{"add-access-key", "--name", "ci", "--passphrase-file", w.PassFile}
	for _, ref := range refs {
		args = append(args, "--repo", ref)
	}
	w.MustRun("", args...)
	raceInterleave(t, w, 0, raceStep{first: raceWriterNamed(t, "add-access-key"), second: raceWriterNamed(t, "rotate --access-keys"),
		point: "add-access-key:planned", mayFinish: true})
	fp := raceState(t, w).AccessKeys["ci"].Fingerprint
	for ref, n := range accesskeyKeysOn(w.Emu, refs, fp) {
		if n != 1 {
			t.Errorf("%s has the current key %d times", ref, n)
		}
	}
	for _, ref := range refs {
		_, slug, _ := strings.Cut(ref, "/")
		if keys := rotateRepoKeys(w, slug); len(keys) != 1 || keys[0] != fp {
			t.Errorf("%s has access keys %v, want only %s", ref, keys, fp)
		}
	}
	// The next rotation works, and so does the one after it.
	w.MustRun("", "rotate", "--access-keys", "--passphrase-file", w.PassFile)
	raceCheck(t, w, "after a second rotation")
}

// Issue 13, defect 2: setup took no lock, so a setup re-run during a rotation (as
// configuration management does) uploaded the just-revoked key again; the state no longer
// matched the key file and every later rotate failed, adding one more key each time.
// Here setup is stopped after it read the state and the key file, a rotation is started,
// and then setup goes on; then the other way round, the rotation
// stopped right after it revoked the old key.
func TestRaceSetupDuringRotation(t *testing.T) {
	w := raceWorld(t)
	raceInterleave(t, w, 0, raceStep{first: raceWriterNamed(t, "setup"), second: raceWriterNamed(t, "rotate"),
		point: "setup:prepared", mayFinish: true})
	raceInterleave(t, w, 1, raceStep{first: raceWriterNamed(t, "rotate"), second: raceWriterNamed(t, "setup"),
		point: "rotate:revoke", mayFinish: true})
	w.MustRun("", "rotate", "--passphrase-file", w.PassFile)
	raceCheck(t, w, "after the next rotation")
}
