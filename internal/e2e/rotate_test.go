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
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/state"
)

// rotateSteps are the crash points of internal/rotate, in order (BBKEY_TEST_CRASH_AFTER).
var rotateSteps = []string{"begin", "generate", "upload", "prove", "agent-add", "config-next", "move-old",
	"link-new", "config-final", "agent-remove", "revoke", "retire"}

// The account key after `bbkey setup`, rotated: afterwards only the new key is on
// Bitbucket, in the agent and in the config, and git fetch in a clone works with it.
func TestRotateAccountKey(t *testing.T) {
	w := NewWorld(t)
	old := rotateSetup(t, w)
	clone := filepath.Join(w.Home.Dir, "api")
	w.MustGit(w.Home.Dir, "clone", "-q", "git@ssh.bitbucket.org:acme/api.git", clone)
	w.Emu.ResetRequests()

	r := w.MustRun("", "rotate", "--passphrase-file", w.PassFile, "--json")
	d := rotateDecode(t, r)
	if d.Result != "ok" || len(d.Rotations) != 1 || d.Rotations[0].OldFingerprint != old {
		t.Fatalf("%s", r)
	}
	newFP := d.Rotations[0].NewFingerprint
	rotateOnly(t, "account keys", rotateAccountKeys(w), newFP)
	if got := rotateConfigKey(t, w, "ssh.bitbucket.org"); got != newFP {
		t.Errorf("the config's key is %s, want the new %s", got, newFP)
	}
	final := filepath.Join(w.Home.SSHDir, "bbkey_ada_ed25519")
	if id := rotateIdentityFile(t, w, "ssh.bitbucket.org"); id != final {
		t.Errorf("IdentityFile %s, want %s", id, final)
	}
	if !rotateAgentHolds(w, newFP) || rotateAgentHolds(w, old) {
		t.Errorf("agent:\n%s\nwant %s and not %s", w.AgentList(), newFP, old)
	}
	w.MustGit(clone, "fetch", "-q", "origin")
	rotateLsRemote(t, w, "ssh.bitbucket.org", "web")
	retired, _ := os.ReadDir(filepath.Join(w.Home.SSHDir, "bbkey", "retired"))
	if len(retired) != 2 {
		t.Errorf("retired files: %v", retired)
	}
	for _, want := range []string{"generated the new key " + newFP, "proved it over SSH", "revoked the old key " + old} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	// Calls: the old key looked up, the new one added, the old one deleted.
	var calls []string
	for _, q := range w.Emu.Requests() {
		calls = append(calls, q.Method)
	}
	if slices.Index(calls, "POST") < 0 || strings.Count(strings.Join(calls, " "), "POST") != 1 || strings.Count(strings.Join(calls, " "), "DELETE") != 1 {
		t.Errorf("calls = %v", calls)
	}

	// A second run with --if-older-than does nothing at all.
	before := w.Snapshot("api")
	w.Emu.ResetRequests()
	r = w.MustRun("", "rotate", "--if-older-than", "90d", "--no-input")
	if !strings.Contains(r.Stderr, "younger than 90d; nothing to do") {
		t.Errorf("%s", r)
	}
	if diff := DiffSnapshots(before, w.Snapshot("api")); diff != "" {
		t.Errorf("a skipped rotation changed files:\n%s", diff)
	}
}

// An access key on 20 repositories, rotated: every repository ends with only the new
// key, which works for git through the config and the agent.
func TestRotateAccessKeysTwentyRepos(t *testing.T) {
	w := NewWorld(t)
	args := []string{"add-access-key", "--name", "ci", "--passphrase-file", w.PassFile, "--agent", "--write-ssh-config"}
	var slugs []string
	for i := range 20 {
		slug := fmt.Sprintf("svc-%02d", i)
		if err := w.Emu.AddRepo("acme", slug, bbapitest.DefaultProject); err != nil {
			t.Fatal(err)
		}
		slugs = append(slugs, slug)
		args = append(args, "--repo", "acme/"+slug)
	}
	w.MustRun("", args...)
	old := rotateConfigKey(t, w, "ssh.bitbucket.org")
	rotateLsRemote(t, w, "ssh.bitbucket.org", "svc-07")
	w.Emu.ResetRequests()

	r := w.MustRun("", "rotate", "--access-keys", "--passphrase-file", w.PassFile, "--json")
	d := rotateDecode(t, r)
	if d.Result != "ok" || d.Rotations[0].Kind != "access-keys" || len(d.Rotations[0].NewKeyIDs) != 20 {
		t.Fatalf("%s", r)
	}
	newFP := d.Rotations[0].NewFingerprint
	for _, slug := range slugs {
		rotateOnly(t, slug+" access keys", rotateRepoKeys(w, slug), newFP)
	}
	if got := rotateConfigKey(t, w, "ssh.bitbucket.org"); got != newFP {
		t.Errorf("config key %s, want %s", got, newFP)
	}
	if !rotateAgentHolds(w, newFP) || rotateAgentHolds(w, old) {
		t.Errorf("agent:\n%s", w.AgentList())
	}
	if !strings.Contains(r.Stderr, "git ls-remote acme/svc-00 works with it") {
		t.Errorf("no ls-remote proof:\n%s", r.Stderr)
	}
	for _, slug := range []string{"svc-00", "svc-13", "svc-19"} {
		rotateLsRemote(t, w, "ssh.bitbucket.org", slug)
	}
	clone := filepath.Join(w.Home.Dir, "svc-05")
	w.MustGit(w.Home.Dir, "clone", "-q", "git@ssh.bitbucket.org:acme/svc-05.git", clone)
	w.MustGit(clone, "fetch", "-q", "origin")
	posts, deletes := 0, 0
	for _, q := range w.Emu.Requests() {
		switch q.Method {
		case "POST":
			posts++
		case "DELETE":
			deletes++
		}
	}
	if posts != 20 || deletes != 20 {
		t.Errorf("%d POSTs and %d DELETEs, want 20 each", posts, deletes)
	}
}

// Crash safety: the rotation is killed right after each step's journal write, one
// boundary per rotation, in one world. At every boundary git ls-remote through the written
// config works, and the next run converges to exactly one valid key.
func TestRotateCrashAtEveryBoundary(t *testing.T) {
	w := NewWorld(t)
	current := rotateSetup(t, w)
	for _, step := range rotateSteps {
		w.Setenv("BBKEY_TEST_CRASH_AFTER", step)
		r := w.Run("", "rotate", "--passphrase-file", w.PassFile)
		w.Unsetenv("BBKEY_TEST_CRASH_AFTER")
		if r.Code != 99 {
			t.Fatalf("crash after %s: %s", step, r)
		}
		rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
		if keys := rotateAccountKeys(w); len(keys) == 0 || !slices.Contains(keys, rotateConfigKey(t, w, "ssh.bitbucket.org")) {
			t.Errorf("after %s: the config's key is not on Bitbucket (%v)", step, keys)
		}
		if _, err := os.Stat(filepath.Join(w.Home.ConfigDir, "bbkey", "rotation-journal.json")); err != nil {
			t.Errorf("after %s: no journal: %v", step, err)
		}

		r = w.Run("", "rotate", "--passphrase-file", w.PassFile, "--json")
		if r.Code != 0 {
			t.Fatalf("re-run after a crash at %s: %s", step, r)
		}
		d := rotateDecode(t, r)
		fp := rotateConfigKey(t, w, "ssh.bitbucket.org")
		rotateOnly(t, "account keys after "+step, rotateAccountKeys(w), fp)
		if fp == current {
			t.Errorf("after %s: still the key from before (%s)", step, fp)
		}
		if !rotateAgentHolds(w, fp) || rotateAgentHolds(w, current) {
			t.Errorf("after %s: agent\n%s", step, w.AgentList())
		}
		rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
		leftovers, _ := filepath.Glob(filepath.Join(w.Home.SSHDir, "*.next*"))
		if len(leftovers) != 0 {
			t.Errorf("after %s: leftovers %v", step, leftovers)
		}
		if len(d.Rotations) == 0 || !d.Rotations[0].Resumed {
			t.Errorf("after %s: the re-run did not resume: %s", step, r.Stdout)
		}
		current = fp
	}
}

// The same for an access key on three repositories: every boundary keeps git working
// through the config, every re-run converges to one key on each repository.
func TestRotateAccessKeysCrashAtEveryBoundary(t *testing.T) {
	w := NewWorld(t)
	w.MustRun("", "add-access-key", "--name", "ci", "--passphrase-file", w.PassFile, "--agent", "--write-ssh-config",
		"--repo", "acme/api", "--repo", "acme/web", "--repo", "acme/infra")
	current := rotateConfigKey(t, w, "ssh.bitbucket.org")
	for _, step := range rotateSteps {
		w.Setenv("BBKEY_TEST_CRASH_AFTER", step)
		r := w.Run("", "rotate", "--access-keys", "--passphrase-file", w.PassFile)
		w.Unsetenv("BBKEY_TEST_CRASH_AFTER")
		if r.Code != 99 {
			t.Fatalf("crash after %s: %s", step, r)
		}
		rotateLsRemote(t, w, "ssh.bitbucket.org", "infra")
		w.MustRun("", "rotate", "--access-keys", "--passphrase-file", w.PassFile)
		fp := rotateConfigKey(t, w, "ssh.bitbucket.org")
		for _, slug := range bbapitest.DefaultRepos {
			rotateOnly(t, slug+" access keys after "+step, rotateRepoKeys(w, slug), fp)
		}
		if fp == current || !rotateAgentHolds(w, fp) || rotateAgentHolds(w, current) {
			t.Errorf("after %s: key %s (before %s), agent\n%s", step, fp, current, w.AgentList())
		}
		rotateLsRemote(t, w, "ssh.bitbucket.org", "web")
		current = fp
	}
}

// The emulator refuses the new key over SSH: exit 5, the new key gone from Bitbucket and
// disk, the old one still on Bitbucket, in the agent and working.
func TestRotateProofFailure(t *testing.T) {
	w := NewWorld(t)
	old := rotateSetup(t, w)
	before := w.Snapshot()
	w.Emu.DenySSHNewKeys()
	r := w.Run("", "rotate", "--passphrase-file", w.PassFile)
	if r.Code != 5 || !strings.Contains(r.Stderr, "not proven") {
		t.Fatalf("%s", r)
	}
	rotateOnly(t, "account keys", rotateAccountKeys(w), old)
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
	if !rotateAgentHolds(w, old) || strings.Count(w.AgentList(), "SHA256:") != 1 {
		t.Errorf("agent:\n%s", w.AgentList())
	}
	// Only bbkey's own state changed (the failure is in the history); ~/.ssh is as it was.
	diff := DiffSnapshots(before, w.Snapshot())
	for line := range strings.Lines(diff) {
		if !strings.Contains(line, filepath.Join(".config", "bbkey")) {
			t.Errorf("changed: %s", line)
		}
	}
}

// Two rotations at once: with BBKEY_LOCK_WAIT=0 the second stops at once with a message
// naming the first (command and pid) and one hint; the first finishes; one key results.
// (Waiting, the default, is covered by the race suite.)
func TestRotateConcurrentRuns(t *testing.T) {
	w := NewWorld(t)
	rotateSetup(t, w)
	w.Emu.SetLatency(400 * time.Millisecond)
	first := exec.Command(bbkeyBin, "rotate", "--passphrase-file", w.PassFile)
	first.Env, first.Dir = w.Env, w.Home.Dir
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// The first run takes the lock before its first request; wait for that request.
	deadline := time.Now().Add(time.Minute)
	for w.Emu.Hanging() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	w.Setenv(state.LockWaitEnv, "0")
	second := w.Run("", "rotate", "--passphrase-file", w.PassFile)
	w.Unsetenv(state.LockWaitEnv)
	if err := first.Wait(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out1.String())
	}
	holder := fmt.Sprintf("bbkey rotate (pid %d, since ", first.Process.Pid)
	if second.Code != 1 || !strings.Contains(second.Stderr, holder) || strings.Count(second.Stderr, "hint:") != 1 {
		t.Errorf("second run: %s", second)
	}
	w.Emu.SetLatency(0)
	fp := rotateConfigKey(t, w, "ssh.bitbucket.org")
	rotateOnly(t, "account keys", rotateAccountKeys(w), fp)
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
}

// The old key cannot be revoked: exit 3, the new key in use; the next run only finishes
// the revoke.
func TestRotatePartialRevoke(t *testing.T) {
	w := NewWorld(t)
	old := rotateSetup(t, w)
	w.Emu.FailNext(bbapitest.Match("DELETE", "/2.0/users/*/ssh-keys/*"), 1, 500, "")
	r := w.Run("", "rotate", "--passphrase-file", w.PassFile)
	if r.Code != 3 || !strings.Contains(r.Stderr, "run `bbkey rotate` again") {
		t.Fatalf("%s", r)
	}
	fp := rotateConfigKey(t, w, "ssh.bitbucket.org")
	if fp == old || len(rotateAccountKeys(w)) != 2 {
		t.Errorf("config %s, keys %v", fp, rotateAccountKeys(w))
	}
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
	st := w.MustRun("", "rotate", "--status")
	if !strings.Contains(st.Stdout, "stopped after agent-remove; the next run will finish it") {
		t.Errorf("status:\n%s", st.Stdout)
	}
	w.Emu.ResetRequests()
	w.MustRun("", "rotate", "--no-input")
	rotateOnly(t, "account keys", rotateAccountKeys(w), fp)
	for _, q := range w.Emu.Requests() {
		if q.Method == "POST" {
			t.Errorf("the re-run added a key: %s %s", q.Method, q.Path)
		}
	}
}

// --schedule with systemd (stand-in systemctl): the units are written, verified by
// systemd-analyze when present, shown by --status, and removed by --unschedule. A run the
// timer starts then records its outcome.
func TestRotateScheduleSystemd(t *testing.T) {
	w := NewWorld(t)
	rotateSetup(t, w)
	w.MustRun("", "auth", "login", "--insecure-storage") // where the job finds it
	bin := rotateFakeTimerTools(t, w, true)
	r := w.MustRun("", "rotate", "--schedule", "weekly", "--passphrase-file", w.PassFile)
	units := filepath.Join(w.Home.ConfigDir, "systemd", "user")
	svc, err := os.ReadFile(filepath.Join(units, "bbkey-rotate.service"))
	if err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	timer, err := os.ReadFile(filepath.Join(units, "bbkey-rotate.timer"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{bbkeyBin, "rotate --if-older-than 90d --no-input --passphrase-file " + w.PassFile,
		"BBKEY_SCHEDULED=rotate", "BBKEY_SSH_DIR=" + w.Home.SSHDir, filepath.Join(w.Home.ConfigDir, "bbkey", "rotate.log")} {
		if !strings.Contains(string(svc), want) {
			t.Errorf("service lacks %q:\n%s", want, svc)
		}
	}
	if !strings.Contains(string(timer), "OnCalendar=Mon *-*-* 10:") {
		t.Errorf("timer:\n%s", timer)
	}
	calls, _ := os.ReadFile(filepath.Join(bin, "calls.log"))
	if !strings.Contains(string(calls), "systemctl --user enable bbkey-rotate.timer") {
		t.Errorf("calls:\n%s", calls)
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		rt := filepath.Join(t.TempDir(), "run")
		os.Mkdir(rt, 0o700)
		c := exec.Command(sa, "verify", "--user", filepath.Join(units, "bbkey-rotate.service"), filepath.Join(units, "bbkey-rotate.timer"))
		c.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "SYSTEMD_LOG_LEVEL=notice")
		if out, err := c.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else {
		t.Log("systemd-analyze is not installed: units checked by content only")
	}

	// A run as the timer starts it, then --status.
	w.Setenv("BBKEY_SCHEDULED", "rotate")
	w.MustRun("", "rotate", "--if-older-than", "90d", "--no-input", "--passphrase-file", w.PassFile)
	w.Unsetenv("BBKEY_SCHEDULED")
	st := w.MustRun("", "rotate", "--status", "--json")
	var doc struct {
		Schedules []struct {
			Installed bool   `json:"installed"`
			Backend   string `json:"backend"`
			Schedule  string `json:"schedule"`
			NextRun   string `json:"next_run"`
		} `json:"schedules"`
		LastScheduledRun *struct {
			Result   string `json:"result"`
			ExitCode int    `json:"exit_code"`
		} `json:"last_scheduled_run"`
		Keys []struct {
			Name string `json:"name"`
			Due  string `json:"due"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(st.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, st)
	}
	if s := doc.Schedules[0]; !s.Installed || s.Backend != "systemd" || !strings.HasPrefix(s.Schedule, "weekly") || s.NextRun == "" {
		t.Errorf("schedule = %+v", s)
	}
	if r := doc.LastScheduledRun; r == nil || r.Result != "skipped" || r.ExitCode != 0 {
		t.Errorf("last scheduled run = %+v", r)
	}
	if want := time.Now().UTC().Add(90 * 24 * time.Hour).Format(time.DateOnly); len(doc.Keys) != 1 || doc.Keys[0].Due != want {
		t.Errorf("keys = %+v, want due %s", doc.Keys, want)
	}

	w.MustRun("", "rotate", "--unschedule")
	for _, f := range []string{"bbkey-rotate.service", "bbkey-rotate.timer"} {
		if _, err := os.Stat(filepath.Join(units, f)); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", f, err)
		}
	}
}

// Without a systemd user manager the timer is a crontab line, replaced in place by a
// second --schedule and removed by --unschedule; other lines stay.
func TestRotateScheduleCron(t *testing.T) {
	w := NewWorld(t)
	rotateSetup(t, w)
	w.MustRun("", "auth", "login", "--insecure-storage") // a cron job reads only the file
	bin := rotateFakeTimerTools(t, w, false)
	tab := filepath.Join(bin, "crontab.txt")
	if err := os.WriteFile(tab, []byte("0 3 * * * /usr/bin/backup\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.MustRun("", "rotate", "--schedule", "daily", "--no-passphrase")
	w.MustRun("", "rotate", "--schedule", "monthly", "--no-passphrase")
	b, _ := os.ReadFile(tab)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "0 3 * * * /usr/bin/backup" || !strings.Contains(lines[1], " 10 1 * * ") ||
		!strings.Contains(lines[1], "rotate --if-older-than 90d --no-input --no-passphrase") {
		t.Errorf("crontab:\n%s", b)
	}
	w.MustRun("", "rotate", "--unschedule")
	if b, _ := os.ReadFile(tab); string(b) != "0 3 * * * /usr/bin/backup\n" {
		t.Errorf("crontab after --unschedule:\n%s", b)
	}
}

// Without a passphrase source a scheduled (no terminal) rotation fails before writing.
func TestRotateNoPassphraseNoInput(t *testing.T) {
	w := NewWorld(t)
	rotateSetup(t, w)
	before := w.Snapshot()
	r := w.Run("", "rotate")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--passphrase-file") {
		t.Fatalf("%s", r)
	}
	if diff := DiffSnapshots(before, w.Snapshot(filepath.Join(".config", "bbkey", "rotate.lock"))); diff != "" {
		t.Errorf("changed:\n%s", diff)
	}
}
