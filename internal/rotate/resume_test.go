package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
)

// checkWorking asserts the invariant every boundary keeps: the ssh config names a file
// that exists and holds a key Bitbucket has (and the agent holds, so ssh can use it).
func (f *fixture) checkWorking(alias string, onBitbucket func() []string) string {
	f.t.Helper()
	id := f.configIdentity(alias)
	fp := fingerprintAt(f.t, id)
	if !slices.Contains(onBitbucket(), fp) {
		f.t.Errorf("the config names %s (%s), which Bitbucket does not have (%v)", id, fp, onBitbucket())
	}
	if has, _ := f.agent.Has(fp); !has {
		f.t.Errorf("the config names %s (%s), which the agent does not hold", id, fp)
	}
	return fp
}

// TestRotateResumesAfterCrashAtEveryStep kills the account rotation after each step's
// journal write, checks that the config still works at that point, and that the next run
// converges to exactly one valid key: rolled back and rotated afresh before the proof,
// finished after it.
func TestRotateResumesAfterCrashAtEveryStep(t *testing.T) {
	for _, step := range Steps {
		t.Run(step, func(t *testing.T) {
			f := newFixture(t)
			old := f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
			f.env[CrashEnv] = step
			_, err, crashed := f.run(Request{Kind: state.RotateAccount})
			if !crashed {
				t.Fatalf("the crash hook did not fire at %s (err %v)", step, err)
			}
			f.checkWorking(settings.DefaultSSHHost, f.accountKeys)
			j, err := f.stateDir().LoadJournal()
			if step == StepRetire {
				// After the last journal write the rotation is complete but for the history.
				if err != nil {
					t.Fatalf("journal: %v", err)
				}
			} else if err != nil || (step != StepBegin && j.Step != step) {
				t.Fatalf("journal = %+v, %v", j, err)
			}

			delete(f.env, CrashEnv)
			f.stderr.Reset()
			rep, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
			must(t, err)
			fp := f.checkWorking(settings.DefaultSSHHost, f.accountKeys)
			final := filepath.Join(f.home.SSHDir, "bbkey_ada_ed25519")
			if got := f.accountKeys(); !slices.Equal(got, []string{fp}) || fp == old.Fingerprint {
				t.Errorf("account keys = %v; config key %s; old %s", got, fp, old.Fingerprint)
			}
			if f.configIdentity(settings.DefaultSSHHost) != final {
				t.Errorf("config names %s", f.configIdentity(settings.DefaultSSHHost))
			}
			if st := f.state(); st.Accounts["ada"].Fingerprint != fp || st.Accounts["ada"].KeyPath != final {
				t.Errorf("state = %+v", st.Accounts["ada"])
			}
			if got := listDir(t, f.home.SSHDir); slices.ContainsFunc(got, func(n string) bool { return strings.Contains(n, ".next") }) {
				t.Errorf("leftovers: %v", got)
			}
			if len(f.agent.Entries) != 1 {
				t.Errorf("agent holds %d keys", len(f.agent.Entries))
			}
			if _, err := f.stateDir().LoadJournal(); !errors.Is(err, state.ErrNoJournal) {
				t.Errorf("journal left: %v", err)
			}
			// Before the proof the interrupted rotation is undone and a fresh one made;
			// after it, the interrupted one is finished and no second one started.
			proven := slices.Index(Steps, step) >= slices.Index(Steps, StepProve)
			var results []string
			for _, o := range rep.Rotations {
				results = append(results, fmt.Sprintf("%s resumed=%v", o.Result, o.Resumed))
			}
			want := []string{"rolled-back resumed=true", "ok resumed=false"}
			if proven {
				want = []string{"ok resumed=true"}
			}
			if !slices.Equal(results, want) {
				t.Errorf("outcomes = %v, want %v\n%s", results, want, f.stderr)
			}
		})
	}
}

// TestRotateRollbackFindsHiddenUpload: the process died after Bitbucket took the new key
// but before the journal had its id; the rollback finds it by fingerprint.
func TestRotateRollbackFindsHiddenUpload(t *testing.T) {
	f := newFixture(t)
	old := f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	f.env[CrashEnv] = StepUpload
	if _, _, crashed := f.run(Request{Kind: state.RotateAccount}); !crashed {
		t.Fatal("no crash")
	}
	// Forget the id, as if the crash had come between the POST and the journal write.
	j, err := f.stateDir().LoadJournal()
	if err != nil {
		t.Fatal(err)
	}
	newFP := j.NewFingerprint
	j.NewKeyIDs = nil
	j.Done = j.Done[:len(j.Done)-1]
	j.Step = StepGenerate
	must(t, j.Advance(StepGenerate))
	if got := f.accountKeys(); len(got) != 2 {
		t.Fatalf("keys = %v", got)
	}
	delete(f.env, CrashEnv)
	_, err = f.engine().Run(context.Background(), Request{Kind: state.RotateAccount, IfOlderThan: 1000 * 24 * time.Hour})
	must(t, err)
	if got := f.accountKeys(); !slices.Equal(got, []string{old.Fingerprint}) {
		t.Errorf("keys after rollback = %v, want only the old %s (hidden new %s)", got, old.Fingerprint, newFP)
	}
}

// TestRotateAccessKeysOnTwentyRepos rotates an access key on 20 repositories and a project:
// every target ends with only the new key, a real git ls-remote proves it, and the label
// keeps its ttl.
func TestRotateAccessKeysOnTwentyRepos(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	f := newFixture(t)
	var targets []string
	for i := range 20 {
		slug := fmt.Sprintf("svc-%02d", i)
		if err := f.emu.AddRepo(bbapitest.DefaultWorkspace, slug, bbapitest.DefaultProject); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, "repo:acme/"+slug)
	}
	targets = append(targets, "project:acme/OPS")
	old := f.seedAccess("ci-01", "bbkey:ci-01:2026-08-01:ttl=90d", time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), targets...)
	f.emu.ResetRequests()

	e := f.engine()
	rep, err := e.Run(context.Background(), Request{Kind: state.RotateAccessKeys, IfOlderThan: 365 * 24 * time.Hour})
	must(t, err)
	st := f.state()
	ak := st.AccessKeys["ci-01"]
	newFP := ak.Fingerprint
	if newFP == old.Fingerprint || ak.Label != "bbkey:ci-01:2026-11-22:ttl=90d" || ak.Path != filepath.Join(f.home.SSHDir, "bbkey_access_ci-01_ed25519") {
		t.Errorf("state = %+v", ak)
	}
	for i := range 20 {
		slug := fmt.Sprintf("svc-%02d", i)
		if got := f.repoKeys(slug); !slices.Equal(got, []string{newFP}) {
			t.Errorf("%s keys = %v, want only the new one", slug, got)
		}
	}
	if got := f.emu.ProjectDeployKeys("acme", "OPS"); len(got) != 1 || "SHA256:"+got[0].Fingerprint != newFP || got[0].Label != ak.Label {
		t.Errorf("project keys = %+v", got)
	}
	for _, tg := range ak.Targets {
		if tg.KeyID == "" {
			t.Errorf("target %s has no key id", tg.Key())
		}
	}
	// The ttl=90d label is stricter than --if-older-than 365d: the 113-day-old key was due.
	o := rep.Rotations[0]
	if o.Result != "ok" || !strings.Contains(o.Reason, "older than 90d") || len(o.NewKeyIDs) != 21 || len(o.OldKeyIDs) != 21 {
		t.Errorf("outcome = %+v", o)
	}
	if !strings.Contains(f.stderr.String(), "✓ git ls-remote acme/svc-00 works with it") {
		t.Errorf("no ls-remote proof in:\n%s", f.stderr)
	}
	if n := countRequests(f.emu, "POST", "/2.0/"); n != 21 {
		t.Errorf("%d POSTs, want 21", n)
	}
	if n := countRequests(f.emu, "DELETE", "/2.0/"); n != 21 {
		t.Errorf("%d DELETEs, want 21", n)
	}
	if alias := "ssh.bitbucket.org"; f.configIdentity(alias) != ak.Path {
		t.Errorf("config names %s", f.configIdentity(alias))
	}
}

// TestRotateAccessUploadFailureRollsBack: one target refuses the new key; every target
// that took it has it deleted again and the old key stays everywhere.
func TestRotateAccessUploadFailureRollsBack(t *testing.T) {
	f := newFixture(t)
	old := f.seedAccess("ci-01", "bbkey:ci-01:2026-08-01", time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC),
		"repo:acme/api", "repo:acme/web", "repo:acme/infra")
	before := testutil.Snapshot(t, f.home.SSHDir)
	f.emu.FailNext(bbapitest.Match("POST", "/2.0/repositories/acme/web/deploy-keys"), 1, 403, "")
	rep, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccessKeys})
	if err == nil || !strings.Contains(err.Error(), "repo:acme/web") {
		t.Fatalf("err = %v", err)
	}
	for _, slug := range bbapitest.DefaultRepos {
		if got := f.repoKeys(slug); !slices.Equal(got, []string{old.Fingerprint}) {
			t.Errorf("%s keys = %v, want only the old key", slug, got)
		}
	}
	if d := testutil.DiffSnapshots(before, testutil.Snapshot(t, f.home.SSHDir)); d != "" {
		t.Errorf("~/.ssh changed:\n%s", d)
	}
	if rep.Rotations[0].Result != "failed" {
		t.Errorf("outcome = %+v", rep.Rotations[0])
	}
	if _, err := f.stateDir().LoadJournal(); !errors.Is(err, state.ErrNoJournal) {
		t.Errorf("journal: %v", err)
	}
}

// TestRotateAccessCrashAfterMoveOld: access keys resume like account keys.
func TestRotateAccessCrashAfterMoveOld(t *testing.T) {
	testutil.RequireBinary(t, "git", "ssh")
	f := newFixture(t)
	f.seedAccess("ci-01", "bbkey:ci-01:2026-08-01", time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), "repo:acme/api", "repo:acme/web")
	f.env[CrashEnv] = StepMoveOld
	if _, _, crashed := f.run(Request{Kind: state.RotateAccessKeys}); !crashed {
		t.Fatal("no crash")
	}
	f.checkWorking("ssh.bitbucket.org", func() []string { return f.repoKeys("api") })
	delete(f.env, CrashEnv)
	_, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccessKeys})
	must(t, err)
	fp := f.checkWorking("ssh.bitbucket.org", func() []string { return f.repoKeys("api") })
	for _, slug := range []string{"api", "web"} {
		if got := f.repoKeys(slug); !slices.Equal(got, []string{fp}) {
			t.Errorf("%s keys = %v", slug, got)
		}
	}
}

// TestRotateStrayNextIsMovedAside: a P.next no journal owns is kept, not overwritten.
func TestRotateStrayNextIsMovedAside(t *testing.T) {
	f := newFixture(t)
	f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	stray := filepath.Join(f.home.SSHDir, "bbkey_ada_ed25519.next")
	if err := os.WriteFile(stray, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
	must(t, err)
	found := false
	for _, n := range listDir(t, f.home.SSHDir) {
		if strings.HasPrefix(n, "bbkey_ada_ed25519.next.bak-") {
			found = true
		}
	}
	if !found {
		t.Errorf("the stray file was not kept: %v", listDir(t, f.home.SSHDir))
	}
}
