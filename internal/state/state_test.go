package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)

func testDir(t *testing.T) Dir {
	t.Helper()
	now := t0
	return Dir{Path: filepath.Join(t.TempDir(), "config", "bbkey"), Now: func() time.Time { return now }}
}

func TestLoadMissingIsEmpty(t *testing.T) {
	d := testDir(t)
	s, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != Version || s.Accounts == nil || s.AccessKeys == nil || len(s.Rotations) != 0 {
		t.Fatalf("empty state = %+v", s)
	}
	if _, err := os.Stat(d.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load created the config directory")
	}
}

func TestUpdateRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := testDir(t)
	err := d.Update(ctx, func(s *State) error {
		s.Accounts["ann"] = &Account{UUID: "{u-1}", Nickname: "ann", KeyName: "ann", KeyPath: "/h/.ssh/bbkey_ann_ed25519",
			Fingerprint: "SHA256:abc", KeyID: "{k-1}", Label: "bbkey:ann:2026-11-22", Created: t0}
		k := &AccessKey{Path: "/h/.ssh/bbkey_access_ci_ed25519", Fingerprint: "SHA256:def", Created: t0}
		k.SetTarget(Target{Kind: TargetRepo, Workspace: "ws", Slug: "api", KeyID: "12"})
		s.AccessKeys["ci"] = k
		s.AddRotation(Rotation{Time: t0, Kind: RotateAccount, Name: "ann", OldFingerprint: "SHA256:old", NewFingerprint: "SHA256:abc", Result: ResultOK})
		s.LastScheduledRun = &ScheduledRun{Time: t0, Result: ResultOK}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := s.Accounts["ann"]
	if a == nil || a.KeyID != "{k-1}" || !a.Created.Equal(t0) || a.Fingerprint != "SHA256:abc" {
		t.Errorf("account = %+v", a)
	}
	if k := s.AccessKeys["ci"]; k == nil || len(k.Targets) != 1 || k.Targets[0].Key() != "repo:ws/api" || k.Targets[0].KeyID != "12" {
		t.Errorf("access key = %+v", k)
	}
	if r, ok := s.LastRotation(RotateAccount, "ann"); !ok || r.Result != ResultOK || r.NewFingerprint != "SHA256:abc" {
		t.Errorf("last rotation = %+v, %v", r, ok)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(filepath.Join(d.Path, StateFile))
		di, _ := os.Stat(d.Path)
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Errorf("modes: state.json %04o, dir %04o; want 0600, 0700", fi.Mode().Perm(), di.Mode().Perm())
		}
	}
	b, _ := os.ReadFile(filepath.Join(d.Path, StateFile))
	if !strings.Contains(string(b), `"version": 1`) || !strings.Contains(string(b), `"key_path": "/h/.ssh/bbkey_ann_ed25519"`) {
		t.Errorf("state.json:\n%s", b)
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	d := testDir(t)
	if err := d.Update(ctx, func(s *State) error { s.Accounts["a"] = &Account{KeyName: "a"}; return nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := d.Update(ctx, func(s *State) error { delete(s.Accounts, "a"); return boom })
	if err != boom {
		t.Fatalf("Update = %v, want the callback's error", err)
	}
	if s, _ := d.Load(); s.Accounts["a"] == nil {
		t.Error("a failed Update changed the state")
	}
}

// TestUpdateConcurrent proves the state lock: no increment is lost between writers.
func TestUpdateConcurrent(t *testing.T) {
	ctx := context.Background()
	d := testDir(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- d.Update(ctx, func(s *State) error {
				s.AddRotation(Rotation{Kind: RotateAccount, Name: fmt.Sprint(i), Result: ResultOK})
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rotations) != n {
		t.Fatalf("%d rotations recorded, want %d: the lock let writers overwrite each other", len(s.Rotations), n)
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	for _, tt := range []struct{ name, content, want string }{
		{"newer", `{"version": 7}`, "newer bbkey"},
		{"no version", `{"accounts": {}}`, "no format version"},
		{"corrupt", `{"version": 1,`, "reading"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := testDir(t)
			os.MkdirAll(d.Path, 0o700)
			os.WriteFile(filepath.Join(d.Path, StateFile), []byte(tt.content), 0o600)
			_, err := d.Load()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.want)
			}
			if err := d.Update(context.Background(), func(*State) error { return nil }); err == nil {
				t.Fatal("Update over a bad file succeeded (it would overwrite it)")
			}
		})
	}
}

func TestHistoryIsBounded(t *testing.T) {
	s := New()
	for i := range MaxHistory + 5 {
		s.AddRotation(Rotation{Kind: RotateAccessKeys, Name: fmt.Sprint(i)})
	}
	if len(s.Rotations) != MaxHistory || s.Rotations[0].Name != "5" {
		t.Fatalf("history has %d entries starting at %q", len(s.Rotations), s.Rotations[0].Name)
	}
	if r, ok := s.LastRotation(RotateAccessKeys, ""); !ok || r.Name != fmt.Sprint(MaxHistory+4) {
		t.Errorf("LastRotation = %+v", r)
	}
	if _, ok := s.LastRotation(RotateAccount, ""); ok {
		t.Error("LastRotation found an account rotation that never happened")
	}
}

func TestTargets(t *testing.T) {
	for _, tt := range []struct {
		kind TargetKind
		ref  string
		ok   bool
	}{
		{TargetRepo, "ws/api", true},
		{TargetProject, "ws/OPS", true},
		{TargetRepo, "ws", false},
		{TargetRepo, "/api", false},
		{TargetRepo, "ws/api/x", false},
		{"workspace", "ws/api", false},
	} {
		_, err := ParseTarget(tt.kind, tt.ref)
		if (err == nil) != tt.ok {
			t.Errorf("ParseTarget(%s, %q) = %v, want ok=%v", tt.kind, tt.ref, err, tt.ok)
		}
	}
	k := &AccessKey{}
	r, _ := ParseTarget(TargetRepo, "ws/web")
	p, _ := ParseTarget(TargetProject, "ws/web")
	r.KeyID, p.KeyID = "1", "2"
	k.SetTarget(r)
	k.SetTarget(p)
	upd := Target{Kind: TargetRepo, Workspace: "WS", Slug: "Web", KeyID: "3"}
	k.SetTarget(upd) // same repository, other case: replaces
	if len(k.Targets) != 2 || k.Targets[0].Key() != "project:ws/web" || k.Targets[1].KeyID != "3" {
		t.Fatalf("targets = %+v", k.Targets)
	}
	if got, ok := k.Target(r); !ok || got.KeyID != "3" {
		t.Errorf("Target(repo) = %+v, %v", got, ok)
	}
	if !k.RemoveTarget(p) || k.RemoveTarget(p) || len(k.Targets) != 1 {
		t.Errorf("RemoveTarget left %+v", k.Targets)
	}
}

// TestLockWriters: a second writer names the first (command, pid), waits the time it is
// given, and gets the lock as soon as the first lets go; the note is cleared on Unlock.
func TestLockWriters(t *testing.T) {
	d := testDir(t)
	ctx := context.Background()
	l, err := d.LockWriters(ctx, "add-access-key", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.LockWriters(ctx, "rotate", -1, func(Holder) { t.Error("waiting called with no wait") })
	want := fmt.Sprintf("bbkey add-access-key (pid %d", os.Getpid())
	if !errors.Is(err, ErrBusy) || len(hintsOf(err)) != 1 || !strings.Contains(err.Error(), want) {
		t.Fatalf("second LockWriters = %v (hints %q), want ErrBusy naming %q with one hint", err, hintsOf(err), want)
	}
	var seen Holder
	_, err = d.LockWriters(ctx, "setup", 100*time.Millisecond, func(h Holder) { seen = h })
	if !errors.Is(err, ErrBusy) || seen.Command != "add-access-key" || seen.PID != os.Getpid() || !strings.Contains(err.Error(), "waited 100ms") {
		t.Fatalf("LockWriters with a wait = %v, holder %+v", err, seen)
	}
	got := make(chan error, 1)
	go func() {
		l2, err := d.LockWriters(ctx, "remove", time.Minute, nil)
		if err == nil {
			err = l2.Unlock()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("a waiting writer after Unlock: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.Path, RotateLockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after Unlock: %v; want it removed", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	l3, _ := d.LockWriters(ctx, "rotate", -1, nil)
	defer l3.Unlock()
	if _, err := d.LockWriters(cctx, "setup", time.Minute, nil); err == nil || errors.Is(err, ErrBusy) {
		t.Errorf("LockWriters with an ended context = %v, want the context's error", err)
	}
}

// An account's agent lifetime (setup --agent-lifetime) round-trips through state.json,
// and a state written before the field existed loads with none.
func TestAccountAgentLifetime(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	old := `{"version": 1, "accounts": {"ada": {"uuid": "{u}", "key_name": "ada", "key_path": "/k", "fingerprint": "SHA256:x", "created": "2026-01-02T03:04:05Z"}}}`
	if err := os.WriteFile(filepath.Join(d.Path, StateFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := d.Load()
	if err != nil {
		t.Fatalf("an older state file does not load: %v", err)
	}
	a := st.Accounts["ada"]
	if a == nil || a.AgentLifetime() != 0 || a.Fingerprint != "SHA256:x" {
		t.Fatalf("account from an older state: %+v", a)
	}
	a.AgentLifetimeSeconds = 8 * 3600
	if err := d.Save(st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(d.Path, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"agent_lifetime_seconds": 28800`) {
		t.Errorf("state.json lacks the lifetime:\n%s", b)
	}
	st, err = d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Accounts["ada"].AgentLifetime(); got != 8*time.Hour {
		t.Errorf("AgentLifetime after a round trip = %s, want 8h", got)
	}
}
