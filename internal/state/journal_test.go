package state

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestJournalLifecycle(t *testing.T) {
	d := testDir(t)
	clock := t0
	d.Now = func() time.Time { return clock }

	if _, err := d.LoadJournal(); !errors.Is(err, ErrNoJournal) {
		t.Fatalf("LoadJournal before Begin = %v, want ErrNoJournal", err)
	}
	j, err := d.Begin(Journal{Kind: RotateAccessKeys, Name: "ci-01", OldFingerprint: "SHA256:old",
		OldPath: "/h/.ssh/bbkey_access_ci-01_ed25519"})
	if err != nil {
		t.Fatal(err)
	}
	j.OldKeyIDs = map[string]string{"repo:ws/api": "11", "project:ws/OPS": "21"}
	if err := j.Advance("plan"); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Second)
	j.NewFingerprint, j.NewPath = "SHA256:new", "/h/.ssh/bbkey_access_ci-01_ed25519.new"
	if err := j.Advance("generate"); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Second)
	j.SetNewKeyID("repo:ws/api", "12")
	if err := j.Advance("upload:repo:ws/api"); err != nil {
		t.Fatal(err)
	}

	// What is on disk is byte-for-byte the documented format.
	got, err := os.ReadFile(filepath.Join(d.Path, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "journal.golden.json")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("journal on disk:\n%s\nwant (testdata/journal.golden.json):\n%s", got, want)
	}

	// A second rotation cannot start over it.
	if _, err := d.Begin(Journal{Kind: RotateAccount, Name: "ann"}); !errors.Is(err, ErrInProgress) || len(hintsOf(err)) == 0 {
		t.Fatalf("second Begin = %v, want ErrInProgress with a hint", err)
	}

	// A fresh process reads back exactly where the rotation got.
	r, err := d.LoadJournal()
	if err != nil {
		t.Fatal(err)
	}
	if r.Step != "upload:repo:ws/api" || !r.Did("generate") || r.Did("upload:project:ws/OPS") ||
		r.NewKeyIDs["repo:ws/api"] != "12" || r.OldKeyIDs["project:ws/OPS"] != "21" || !r.Started.Equal(t0) {
		t.Fatalf("loaded journal = %+v", r)
	}
	if got := strings.Join(r.Targets(), ","); got != "project:ws/OPS,repo:ws/api" {
		t.Errorf("Targets = %s", got)
	}
	// The loaded journal keeps being written to the same file.
	if err := r.Advance("upload:project:ws/OPS"); err != nil {
		t.Fatal(err)
	}
	if again, _ := d.LoadJournal(); !again.Did("upload:project:ws/OPS") || len(again.Done) != 4 {
		t.Errorf("after Advance on the loaded journal: %+v", again.Done)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoadJournal(); !errors.Is(err, ErrNoJournal) {
		t.Fatalf("LoadJournal after Finish = %v", err)
	}
	if err := r.Finish(); err != nil {
		t.Errorf("second Finish = %v", err)
	}
	if _, err := d.Begin(Journal{Kind: RotateAccount, Name: "ann"}); err != nil {
		t.Fatalf("Begin after Finish: %v", err)
	}
	entries, _ := os.ReadDir(d.Path)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestJournalRefusesBadFiles(t *testing.T) {
	d := testDir(t)
	if _, err := d.Begin(Journal{Name: "x"}); err == nil {
		t.Error("Begin without a kind succeeded")
	}
	os.MkdirAll(d.Path, 0o700)
	os.WriteFile(filepath.Join(d.Path, JournalFile), []byte(`{"version":2,"kind":"account"}`), 0o600)
	if _, err := d.LoadJournal(); err == nil || !strings.Contains(err.Error(), "newer bbkey") {
		t.Errorf("LoadJournal of a newer journal = %v", err)
	}
	os.WriteFile(filepath.Join(d.Path, JournalFile), []byte(`{"version":1,`), 0o600)
	if _, err := d.LoadJournal(); err == nil || errors.Is(err, ErrNoJournal) {
		t.Errorf("LoadJournal of a corrupt journal = %v", err)
	}
}

// TestKilledRotation runs a rotation in a child process, kills it mid-way, and checks that
// the run lock was released by its death and the journal says how far it got.
func TestKilledRotation(t *testing.T) {
	if os.Getenv("BBKEY_STATE_CHILD") != "" {
		child()
		return
	}
	d := testDir(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestKilledRotation$")
	cmd.Env = append(os.Environ(), "BBKEY_STATE_CHILD="+d.Path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("child said %q, %v", line, err)
	}
	if _, err := d.LockWriters(context.Background(), "rotate", -1, nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("LockWriters while the child runs = %v, want ErrBusy", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	l, err := d.LockWriters(context.Background(), "rotate", -1, nil)
	if err != nil {
		t.Fatalf("LockWriters after the child was killed: %v", err)
	}
	defer l.Unlock()
	j, err := d.LoadJournal()
	if err != nil {
		t.Fatal(err)
	}
	if j.Step != "upload:account" || j.NewKeyIDs[AccountTarget] != "{new}" || j.Did("revoke:account") {
		t.Fatalf("journal after the kill = %+v", j)
	}
}

// child starts a rotation, completes two steps and waits to be killed.
func child() {
	d := Dir{Path: os.Getenv("BBKEY_STATE_CHILD")}
	fail := func(err error) { fmt.Fprintln(os.Stderr, "child:", err); os.Exit(1) }
	l, err := d.LockWriters(context.Background(), "rotate", -1, nil)
	if err != nil {
		fail(err)
	}
	defer l.Unlock()
	j, err := d.Begin(Journal{Kind: RotateAccount, Name: "ann", OldFingerprint: "SHA256:old", OldPath: "/k"})
	if err != nil {
		fail(err)
	}
	if err := j.Advance("generate"); err != nil {
		fail(err)
	}
	j.SetNewKeyID(AccountTarget, "{new}")
	if err := j.Advance("upload:account"); err != nil {
		fail(err)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute) // killed long before
	os.Exit(1)
}
