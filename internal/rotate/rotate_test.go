package rotate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

func TestRotateAccountKey(t *testing.T) {
	f := newFixture(t)
	old := f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	f.emu.ResetRequests()

	rep, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
	must(t, err)

	st := f.state()
	a := st.Accounts["ada"]
	final := filepath.Join(f.home.SSHDir, "bbkey_ada_ed25519")
	newFP := a.Fingerprint
	if newFP == old.Fingerprint {
		t.Fatal("the state still names the old key")
	}
	// Only the new key is on Bitbucket, in the agent and in the config.
	if got := f.accountKeys(); !slices.Equal(got, []string{newFP}) {
		t.Errorf("account keys = %v, want only the new %s", got, newFP)
	}
	if has, _ := f.agent.Has(old.Fingerprint); has {
		t.Error("the old key is still in the agent")
	}
	if has, _ := f.agent.Has(newFP); !has {
		t.Error("the new key is not in the agent")
	}
	if got := f.configIdentity(settings.DefaultSSHHost); got != final {
		t.Errorf("IdentityFile = %s, want %s", got, final)
	}
	if got := fingerprintAt(t, final); got != newFP {
		t.Errorf("%s holds %s, want %s", final, got, newFP)
	}
	if a.KeyPath != final || a.Label != "bbkey:ada:2026-11-22" || !a.Created.Equal(testNow) || a.KeyID == "" || a.KeyID == old.Fingerprint {
		t.Errorf("state account = %+v", a)
	}
	// The successor is encrypted with the passphrase, the old pair retired, nothing left over.
	if _, err := keys.LoadPrivate(final, []byte(testPass)); err != nil {
		t.Errorf("new key with the passphrase: %v", err)
	}
	if enc, _ := keys.IsEncrypted(final); !enc {
		t.Error("the new key is not encrypted")
	}
	if got := listDir(t, f.home.SSHDir); slices.Contains(got, "bbkey_ada_ed25519.next") || slices.Contains(got, "bbkey_ada_ed25519.next.pub") {
		t.Errorf("leftovers in ~/.ssh: %v", got)
	}
	retired := filepath.Join(f.home.SSHDir, "bbkey", "retired")
	sum := sha256.Sum256([]byte(old.Fingerprint))
	stamp := "20261122T100000Z-" + hex.EncodeToString(sum[:4])
	wantRetired := []string{"bbkey_ada_ed25519." + stamp, "bbkey_ada_ed25519.pub." + stamp}
	if got := listDir(t, retired); !slices.Equal(got, wantRetired) {
		t.Errorf("retired = %v, want %v", got, wantRetired)
	}
	if got := fingerprintAt(t, filepath.Join(retired, wantRetired[0])); got != old.Fingerprint {
		t.Errorf("retired key is %s, want the old %s", got, old.Fingerprint)
	}
	if _, err := f.stateDir().LoadJournal(); !errors.Is(err, state.ErrNoJournal) {
		t.Errorf("journal after the rotation: %v", err)
	}
	last, ok := st.LastRotation(state.RotateAccount, "ada")
	if !ok || last.Result != state.ResultOK || last.OldFingerprint != old.Fingerprint || last.NewFingerprint != newFP {
		t.Errorf("history = %+v", st.Rotations)
	}

	// The report.
	if rep.Result != "ok" || len(rep.Rotations) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	o := rep.Rotations[0]
	wantSteps := []string{StepGenerate, StepUpload, StepProve, StepAgentAdd, StepConfigNext, StepMoveOld, StepLinkNew,
		StepConfigFinal, StepAgentRemove, StepRevoke, StepRetire}
	if !slices.Equal(o.Steps, wantSteps) || o.OldFingerprint != old.Fingerprint || o.NewFingerprint != newFP ||
		o.NewKeyIDs[state.AccountTarget] != a.KeyID || o.OldKeyIDs[state.AccountTarget] == "" || o.AgeDays != 174 {
		t.Errorf("outcome = %+v", o)
	}
	for _, p := range []string{final, final + ".pub", filepath.Join(retired, wantRetired[0]), filepath.Join(f.home.SSHDir, "bbkey", "config")} {
		if !slices.Contains(rep.ChangedFiles, p) {
			t.Errorf("changed files lack %s: %v", p, rep.ChangedFiles)
		}
	}

	// One line per step, in order.
	want := `✓ account key "ada" (OLD) is 174 days old; replacing it (run without --if-older-than)
✓ generated the new key NEW (~/.ssh/bbkey_ada_ed25519.next)
✓ uploaded it to the Bitbucket account as "bbkey:ada:2026-11-22"
✓ proved it over SSH: ENDPOINT accepted NEW
✓ loaded the new key into the ssh agent
✓ ssh config now uses the new key (~/.ssh/bbkey_ada_ed25519.next)
✓ moved the old key to ~/.ssh/bbkey/retired/bbkey_ada_ed25519.STAMP
✓ put the new key in place at ~/.ssh/bbkey_ada_ed25519
✓ ssh config now uses the new key (~/.ssh/bbkey_ada_ed25519)
✓ removed the old key OLD from the ssh agent
✓ revoked the old key OLD on Bitbucket
✓ kept retired key files younger than 30d
`
	got := normalize(f.stderr.String(), f.home.Dir, map[string]string{old.Fingerprint: "OLD", newFP: "NEW", f.emu.SSHEndpoint(): "ENDPOINT", stamp: "STAMP"})
	if got = testutil.SlashPaths(got); got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}
	// Calls: a lookup of the old key, one add, one delete.
	if n := countRequests(f.emu, "POST", "/2.0/users/"); n != 1 {
		t.Errorf("%d POSTs of account keys, want 1", n)
	}
	if n := countRequests(f.emu, "DELETE", "/2.0/users/"); n != 1 {
		t.Errorf("%d DELETEs of account keys, want 1", n)
	}
}

func TestRotateSkipsYoungKey(t *testing.T) {
	f := newFixture(t)
	old := f.seedAccount("ada", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	f.emu.ResetRequests()
	before := testutil.Snapshot(t, f.home.Dir)

	rep, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount, IfOlderThan: 90 * 24 * time.Hour})
	must(t, err)
	if rep.Result != "ok" || rep.Rotations[0].Result != "skipped" || rep.Rotations[0].AgeDays != 21 {
		t.Errorf("report = %+v %+v", rep, rep.Rotations[0])
	}
	if d := testutil.DiffSnapshots(before, testutil.Snapshot(t, f.home.Dir), ".config/bbkey/rotate.lock"); d != "" {
		t.Errorf("a skipped run changed files:\n%s", d)
	}
	for _, r := range f.emu.Requests() {
		if r.Method != "GET" {
			t.Errorf("a skipped run sent %s %s", r.Method, r.Path)
		}
	}
	want := `✓ account key "ada" (OLD) is 21 days old, younger than 90d; nothing to do (due 2027-01-30)` + "\n"
	if got := normalize(f.stderr.String(), f.home.Dir, map[string]string{old.Fingerprint: "OLD"}); got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

func TestRotateDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	f.emu.ResetRequests()
	before := testutil.Snapshot(t, f.home.Dir)
	rep, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount, DryRun: true})
	must(t, err)
	if !rep.DryRun || rep.Rotations[0].Result != ResultWouldRotate {
		t.Errorf("report = %+v", rep.Rotations[0])
	}
	if d := testutil.DiffSnapshots(before, testutil.Snapshot(t, f.home.Dir)); d != "" {
		t.Errorf("a dry run changed files:\n%s", d)
	}
	for _, r := range f.emu.Requests() {
		if r.Method != "GET" {
			t.Errorf("a dry run sent %s %s", r.Method, r.Path)
		}
	}
}

// TestRotateProofFailure: Bitbucket takes the new key but SSH refuses it. The new key is
// deleted again, the old one stays everywhere, and the error is exit 5.
func TestRotateProofFailure(t *testing.T) {
	f := newFixture(t)
	old := f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	before := testutil.Snapshot(t, f.home.SSHDir)
	f.emu.DenySSHNewKeys()

	rep, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
	if apierr.ExitCode(err) != errkind.ExitVerify {
		t.Fatalf("err = %v (exit %d), want exit 5", err, apierr.ExitCode(err))
	}
	if !strings.Contains(err.Error(), "not proven") || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("err = %v", err)
	}
	if got := f.accountKeys(); !slices.Equal(got, []string{old.Fingerprint}) {
		t.Errorf("account keys = %v, want only the old one", got)
	}
	if d := testutil.DiffSnapshots(before, testutil.Snapshot(t, f.home.SSHDir)); d != "" {
		t.Errorf("a failed proof changed ~/.ssh:\n%s", d)
	}
	if st := f.state(); st.Accounts["ada"].Fingerprint != old.Fingerprint {
		t.Error("the state moved to the unproven key")
	} else if last, _ := st.LastRotation(state.RotateAccount, "ada"); last.Result != state.ResultFailed || last.Error == "" {
		t.Errorf("history = %+v", st.Rotations)
	}
	if _, err := f.stateDir().LoadJournal(); !errors.Is(err, state.ErrNoJournal) {
		t.Errorf("journal after a rolled-back failure: %v", err)
	}
	if has, _ := f.agent.Has(old.Fingerprint); !has || len(f.agent.Entries) != 1 {
		t.Errorf("agent = %+v", f.agent.Entries)
	}
	if rep.Result != "failed" || rep.Rotations[0].Result != "failed" || !slices.Contains(rep.Rotations[0].Steps, "rollback") {
		t.Errorf("report = %+v", rep.Rotations[0])
	}
}

func TestRotateLockedRun(t *testing.T) {
	f := newFixture(t)
	f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	lock, err := f.stateDir().LockWriters(context.Background(), "setup", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	f.env[state.LockWaitEnv] = "0"
	before := testutil.Snapshot(t, f.home.Dir)
	_, err = f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
	if !errors.Is(err, state.ErrBusy) || len(apierr.Hints(err)) != 1 || !strings.Contains(err.Error(), "bbkey setup (pid") {
		t.Fatalf("err = %v", err)
	}
	if d := testutil.DiffSnapshots(before, testutil.Snapshot(t, f.home.Dir)); d != "" {
		t.Errorf("a locked-out run changed files:\n%s", d)
	}
}

// TestRotateRevokeFailureIsPartial: the old key cannot be deleted; the new one is in use,
// the run exits 3, and the next run only finishes the revoke.
func TestRotateRevokeFailureIsPartial(t *testing.T) {
	f := newFixture(t)
	old := f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	f.emu.FailNext(bbapitest.Match("DELETE", "/2.0/users/*/ssh-keys/*"), 1, 500, "")

	rep, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
	if apierr.ExitCode(err) != errkind.ExitPartial {
		t.Fatalf("err = %v (exit %d), want exit 3", err, apierr.ExitCode(err))
	}
	newFP := f.state().Accounts["ada"].Fingerprint
	if rep.Result != "partial" || newFP == old.Fingerprint {
		t.Errorf("report %s, state key %s", rep.Result, newFP)
	}
	if got := f.accountKeys(); len(got) != 2 {
		t.Errorf("account keys = %v, want old and new", got)
	}
	j, err := f.stateDir().LoadJournal()
	if err != nil || j.Step != StepAgentRemove {
		t.Fatalf("journal = %+v, %v", j, err)
	}

	f.emu.ResetRequests()
	f.stderr.Reset()
	rep, err = f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
	must(t, err)
	if got := f.accountKeys(); !slices.Equal(got, []string{newFP}) {
		t.Errorf("account keys = %v, want only %s", got, newFP)
	}
	if n := countRequests(f.emu, "POST", "/2.0/"); n != 0 {
		t.Errorf("the re-run added %d keys; it should only finish the revoke", n)
	}
	if len(rep.Rotations) != 1 || !rep.Rotations[0].Resumed || !slices.Equal(rep.Rotations[0].Steps, []string{StepRevoke, StepRetire}) {
		t.Errorf("re-run = %+v", rep.Rotations)
	}
}

func TestRotateNoAgent(t *testing.T) {
	f := newFixture(t)
	f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	e := f.engine()
	e.Agent = func() (agent.Agent, error) { return nil, agent.ErrNoAgent }
	if _, err := e.Run(context.Background(), Request{Kind: state.RotateAccount}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.stderr.String(), "! no ssh agent") {
		t.Errorf("stderr:\n%s", f.stderr)
	}
}

func TestRotateUnknownName(t *testing.T) {
	f := newFixture(t)
	f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	_, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount, Name: "bob"})
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "ada") {
		t.Errorf("err = %v, hints %q", err, apierr.Hints(err))
	}
	_, err = f.engine().Run(context.Background(), Request{Kind: state.RotateAccessKeys})
	if err == nil || !strings.Contains(err.Error(), "no access key") {
		t.Errorf("no access keys: %v", err)
	}
}

// TestRotatePassphraseFailsBeforeWriting: without a passphrase nothing is written.
func TestRotatePassphraseFailsBeforeWriting(t *testing.T) {
	f := newFixture(t)
	f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	before := testutil.Snapshot(t, f.home.Dir)
	e := f.engine()
	e.Passphrase = func(context.Context, string) ([]byte, error) {
		return nil, errkind.UsageError(errors.New("no passphrase: --passphrase-file or BBKEY_PASSPHRASE"))
	}
	_, err := e.Run(context.Background(), Request{Kind: state.RotateAccount})
	if apierr.ExitCode(err) != errkind.ExitUsage {
		t.Fatalf("err = %v", err)
	}
	if d := testutil.DiffSnapshots(before, testutil.Snapshot(t, f.home.Dir), ".config/bbkey/rotate.lock"); d != "" {
		t.Errorf("changed:\n%s", d)
	}
}

func TestRotateKeepsRetiredUntilDue(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, n := range []string{
		"bbkey_ada_ed25519.20261001T000000Z-0a1b2c3d", "bbkey_ada_ed25519.pub.20261001T000000Z-0a1b2c3d", // 52 days
		"bbkey_access_ci_ed25519.20261002T000000Z",                                                       // 51 days, without a digest
		"bbkey_ada_ed25519.20261120T000000Z-4e5f6a7b", "bbkey_ada_ed25519.pub.20261120T000000Z-4e5f6a7b", // 2 days
		"notes.txt.20200101T000000Z", "bbkey_ada_ed25519.garbage", "README",
	} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := pruneRetired(dir, now, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v", removed)
	}
	want := []string{"README", "bbkey_ada_ed25519.20261120T000000Z-4e5f6a7b", "bbkey_ada_ed25519.garbage", "bbkey_ada_ed25519.pub.20261120T000000Z-4e5f6a7b", "notes.txt.20200101T000000Z"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	if removed, _ := pruneRetired(filepath.Join(dir, "missing"), now, 0); removed != nil {
		t.Errorf("missing dir: %v", removed)
	}
}

// TestRotateTwiceInOneSecond: two rotations stamped the same second retire to different
// names (the e2e crash test found the collision: it stopped every later run).
func TestRotateTwiceInOneSecond(t *testing.T) {
	f := newFixture(t)
	f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	for range 2 {
		_, err := f.engine().Run(context.Background(), Request{Kind: state.RotateAccount})
		must(t, err)
	}
	if got := listDir(t, filepath.Join(f.home.SSHDir, "bbkey", "retired")); len(got) != 4 {
		t.Errorf("retired = %v, want two pairs", got)
	}
	if got := f.accountKeys(); len(got) != 1 || got[0] != f.state().Accounts["ada"].Fingerprint {
		t.Errorf("keys = %v", got)
	}
}
