package rotate

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

func TestRotateJSON(t *testing.T) {
	w := newWorld(t)
	old := w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	opts := w.options()
	opts.JSON, opts.PassphraseFile = true, w.passFile
	if err := runRotate(context.Background(), opts); err != nil {
		t.Fatalf("%v\n%s", err, w.stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(w.stdout.String()), &doc); err != nil {
		t.Fatalf("%v\n%s", err, w.stdout)
	}
	a := w.state().Accounts["ada"]
	for k, want := range map[string]any{"dry_run": false, "kind": "account", "scheduled": false, "result": "ok", "if_older_than": ""} {
		if doc[k] != want {
			t.Errorf("%s = %v, want %v", k, doc[k], want)
		}
	}
	rots := doc["rotations"].([]any)
	r := rots[0].(map[string]any)
	if r["old_fingerprint"] != old.Fingerprint || r["new_fingerprint"] != a.Fingerprint || r["result"] != "ok" ||
		r["resumed"] != false || r["label"] != "bbkey:ada:2026-11-22" || r["key_path"] != a.KeyPath || r["created"] != "2026-06-01T00:00:00Z" {
		t.Errorf("rotation = %v", r)
	}
	if ids := r["new_key_ids"].(map[string]any); ids["account"] != a.KeyID {
		t.Errorf("new_key_ids = %v", ids)
	}
	if steps := r["steps"].([]any); len(steps) != 11 || steps[0] != "generate" || steps[10] != "retire" {
		t.Errorf("steps = %v", steps)
	}
	files := doc["changed_files"].([]any)
	if !slices.Contains(files, any(a.KeyPath)) || !slices.Contains(files, any(filepath.Join(w.home.SSHDir, "bbkey", "config"))) {
		t.Errorf("changed_files = %v", files)
	}
}

func TestRotatePlainOutput(t *testing.T) {
	w := newWorld(t)
	old := w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	opts := w.options()
	opts.PassphraseFile = w.passFile
	if err := runRotate(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	newFP := w.state().Accounts["ada"].Fingerprint
	got := w.stdout.String()
	want := fmt.Sprintf("KIND     NAME  RESULT  %-*sNEW KEY\naccount  ada   ok      %s  %s\n", len(old.Fingerprint)+2, "OLD KEY", old.Fingerprint, newFP)
	if got != want {
		t.Errorf("stdout:\n%q\nwant\n%q", got, want)
	}
	// The new key is encrypted with the file's passphrase.
	if _, err := keys.LoadPrivate(w.state().Accounts["ada"].KeyPath, []byte(testPass)); err != nil {
		t.Error(err)
	}
}

// TestRotateWithoutPassphraseFailsFirst: no terminal, no file, no variable, no keychain
// entry: exit 2 naming the flag and variable, and nothing written.
func TestRotateWithoutPassphraseFailsFirst(t *testing.T) {
	w := newWorld(t)
	w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	before := w.state()
	err := runRotate(context.Background(), w.options())
	if apierr.ExitCode(err) != errkind.ExitUsage {
		t.Fatalf("err = %v (exit %d)", err, apierr.ExitCode(err))
	}
	msg := err.Error() + strings.Join(apierr.Hints(err), "\n")
	if !strings.Contains(msg, "--passphrase-file") || !strings.Contains(msg, "BBKEY_PASSPHRASE") {
		t.Errorf("err = %s", msg)
	}
	if after := w.state(); after.Accounts["ada"].Fingerprint != before.Accounts["ada"].Fingerprint || len(after.Rotations) != 0 {
		t.Error("the state changed")
	}
	if _, err := os.Stat(filepath.Join(w.paths.ConfigDir, state.JournalFile)); !os.IsNotExist(err) {
		t.Errorf("a journal was started: %v", err)
	}
	if n := len(w.emu.UserKeys(w.state().Accounts["ada"].AccountID)); n != 1 {
		t.Errorf("%d keys on the account", n)
	}
}

func TestRotatePassphraseFromKeychain(t *testing.T) {
	w := newWorld(t)
	w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	must(t, w.store.Set(context.Background(), credstore.PassphraseAccount("ada"),
		credstore.Secret{Kind: credstore.KindPassphrase, Secret: []byte("kept in the keychain")}))
	if err := runRotate(context.Background(), w.options()); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LoadPrivate(w.state().Accounts["ada"].KeyPath, []byte("kept in the keychain")); err != nil {
		t.Errorf("the new key does not open with the keychain's passphrase: %v", err)
	}
}

func TestRotatePassphraseFromTerminalAskedOnce(t *testing.T) {
	w := newWorld(t)
	w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	w.prompter.Answers = []string{"typed at the terminal", "typed at the terminal"}
	opts := w.options()
	opts.NoInput = false
	if err := runRotate(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if len(w.prompter.Asked) != 2 {
		t.Errorf("asked %q", w.prompter.Asked)
	}
	if _, err := keys.LoadPrivate(w.state().Accounts["ada"].KeyPath, []byte("typed at the terminal")); err != nil {
		t.Error(err)
	}
}

// TestScheduledRunRecordsOutcome: the timer's runs default to --if-older-than 90d and
// leave their outcome for --status, failures included.
func TestScheduledRunRecordsOutcome(t *testing.T) {
	w := newWorld(t)
	old := w.seedAccount("ada", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	w.env[schedule.ScheduledEnv] = "rotate"
	opts := w.options()
	opts.PassphraseFile = w.passFile
	if err := runRotate(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	st := w.state()
	if st.Accounts["ada"].Fingerprint != old.Fingerprint {
		t.Error("a 52-day-old key was rotated by the timer")
	}
	if r := st.LastScheduledRun; r == nil || r.Result != state.ResultSkipped || r.ExitCode != 0 || !r.Time.Equal(testNow) {
		t.Errorf("last scheduled run = %+v", r)
	}
	if !strings.Contains(w.stderr.String(), `scheduled run "rotate" started 2026-11-22T10:00:00Z`) {
		t.Errorf("stderr:\n%s", w.stderr)
	}

	// A due key whose successor SSH refuses: recorded as failed, exit 5.
	opts = w.options()
	opts.PassphraseFile, opts.IfOlderThan = w.passFile, "30d"
	w.emu.DenySSHNewKeys()
	err := runRotate(context.Background(), opts)
	if apierr.ExitCode(err) != errkind.ExitVerify {
		t.Fatalf("err = %v", err)
	}
	st = w.state()
	if r := st.LastScheduledRun; r == nil || r.Result != state.ResultFailed || r.ExitCode != 5 || r.Error == "" {
		t.Errorf("last scheduled run = %+v", r)
	}
	if last, _ := st.LastRotation(state.RotateAccount, "ada"); !last.Scheduled || last.Result != state.ResultFailed {
		t.Errorf("history = %+v", st.Rotations)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"bad age", func(o *Options) { o.IfOlderThan = "soon" }, "--if-older-than"},
		{"zero age", func(o *Options) { o.IfOlderThan = "0d" }, "--if-older-than"},
		{"bad keep", func(o *Options) { o.KeepRetired = "-3" }, "--keep-retired"},
		{"bad schedule", func(o *Options) { o.Schedule = "hourly" }, "--schedule"},
		{"name with schedule", func(o *Options) { o.Schedule, o.Name = "weekly", "ada" }, "--name"},
		{"bad name", func(o *Options) { o.Name = "-x" }, "--name"},
		{"both passphrases", func(o *Options) { o.PassphraseFile, o.NoPassphrase = "f", true }, "--no-passphrase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &Options{}
			tc.set(o)
			_, err := parseFlags(o)
			if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v", err)
			}
		})
	}
	fl, err := parseFlags(&Options{KeepRetired: "7", IfOlderThan: "12w"})
	if err != nil || fl.keepRetired != 7*24*time.Hour || fl.ifOlderThan != 84*24*time.Hour || !fl.ageGiven {
		t.Errorf("flags = %+v, %v", fl, err)
	}
	if fl, _ := parseFlags(&Options{}); fl.keepRetired != 30*24*time.Hour || fl.ageGiven {
		t.Errorf("defaults = %+v", fl)
	}
}

// TestScheduleEveryBackend installs, reads back and removes the timer with each backend,
// checking the files by content and the commands run.
func TestScheduleEveryBackend(t *testing.T) {
	for _, b := range []schedule.Backend{schedule.Systemd, schedule.Cron, schedule.Launchd, schedule.TaskScheduler} {
		t.Run(string(b), func(t *testing.T) {
			if (b == schedule.TaskScheduler) != (runtime.GOOS == "windows") {
				// A job's paths must be the backend's own kind (C:\ or /); schedule's render
				// tests check every backend's files by content on every OS.
				t.Skipf("%s takes %s paths: installed here only on that OS", b, map[bool]string{true: "Windows", false: "Unix"}[b == schedule.TaskScheduler])
			}
			w := newWorld(t)
			w.backend = b
			if b == schedule.Cron {
				w.useFileStore() // a cron job cannot reach the keychain
			}
			w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
			opts := w.options()
			opts.Schedule, opts.PassphraseFile, opts.JSON = "weekly", w.passFile, true
			if err := runRotate(context.Background(), opts); err != nil {
				t.Fatalf("%v\n%s", err, w.stderr)
			}
			var doc jsonSchedule
			must(t, json.Unmarshal([]byte(w.stdout.String()), &doc))
			wantCmd := []string{w.exe, "rotate", "--if-older-than", "90d", "--no-input", "--passphrase-file", w.passFile}
			if doc.Action != "schedule" || doc.Job != "rotate" || doc.Backend != string(b) || !slices.Equal(doc.Command, wantCmd) ||
				!strings.HasPrefix(doc.Schedule, "weekly (Monday 10:") || doc.Passphrase != "file" || !doc.Changed {
				t.Errorf("doc = %+v", doc)
			}
			if next, err := time.Parse(time.RFC3339, doc.NextRun); err != nil || next.Weekday() != time.Monday || !next.After(testNow) {
				t.Errorf("next run %q", doc.NextRun)
			}
			content := w.installed(b, doc)
			for _, want := range []string{w.exe, "--if-older-than", "--passphrase-file", w.passFile, filepath.Join(w.paths.ConfigDir, "rotate.log"), "BBKEY_SCHEDULED"} {
				if !strings.Contains(content, want) {
					t.Errorf("installed job lacks %q:\n%s", want, content)
				}
			}
			if strings.Contains(content, testPass) {
				t.Error("the passphrase itself is in the job")
			}
			if b == schedule.Systemd {
				verifyUnits(t, w, doc.ChangedFiles)
			}

			// --status reads it back.
			opts = w.options()
			opts.Status, opts.JSON = true, true
			must(t, runRotate(context.Background(), opts))
			var status jsonStatus
			must(t, json.Unmarshal([]byte(w.stdout.String()), &status))
			j := status.Schedules[0]
			if !j.Installed || j.Schedule != doc.Schedule || j.IfOlderThan != "90d" || j.NextRun != doc.NextRun ||
				j.Command != strings.Join(wantCmd, " ") || j.LogFile != doc.LogFile || !slices.Equal(j.Files, doc.ChangedFiles) ||
				(b == schedule.Systemd || b == schedule.Cron) != strings.Contains(content, j.Spec) || j.Error != "" {
				t.Errorf("status = %+v", j)
			}
			if status.Schedules[1].Installed {
				t.Error("the access-key timer shows as installed")
			}
			if len(doc.ChangedFiles) > 0 {
				// A timer file removed by hand: the timer is gone, and --status says so.
				gone := doc.ChangedFiles[len(doc.ChangedFiles)-1]
				saved, err := os.ReadFile(gone)
				must(t, err)
				must(t, os.Remove(gone))
				opts = w.options()
				opts.Status = true
				must(t, runRotate(context.Background(), opts))
				if want := "not installed (" + string(b) + "): its file " + gone + " is gone"; !strings.Contains(w.stdout.String(), want) {
					t.Errorf("status with %s removed:\n%s\nwant %q", gone, w.stdout, want)
				}
				must(t, os.WriteFile(gone, saved, 0o644))
			}

			// A second --schedule changes nothing; --unschedule removes it all.
			opts = w.options()
			opts.Schedule, opts.PassphraseFile, opts.JSON = "weekly", w.passFile, true
			must(t, runRotate(context.Background(), opts))
			w.runner.Calls()
			opts = w.options()
			opts.Unschedule, opts.JSON = true, true
			must(t, runRotate(context.Background(), opts))
			var un jsonSchedule
			must(t, json.Unmarshal([]byte(w.stdout.String()), &un))
			if !un.Changed || un.Action != "unschedule" {
				t.Errorf("unschedule = %+v", un)
			}
			for _, f := range doc.ChangedFiles {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("%s is still there", f)
				}
			}
			if b == schedule.Cron && strings.Contains(*w.runner.crontab, "bbkey") {
				t.Errorf("crontab still has the job:\n%s", *w.runner.crontab)
			}
			if b == schedule.TaskScheduler && len(w.runner.tasks) != 0 {
				t.Errorf("tasks left: %v", w.runner.tasks)
			}
			opts = w.options()
			opts.Status = true
			must(t, runRotate(context.Background(), opts))
			if !strings.Contains(w.stdout.String(), "schedule (account key)  not installed ("+string(b)+")") {
				t.Errorf("status after unschedule:\n%s", w.stdout)
			}
		})
	}
}

// installed returns what the backend now holds for the job, and checks the commands.
// TestScheduleAccessKeysJob: the access-key timer's job is its own (rotate-access-keys,
// marked so in its environment) and carries the age and --no-passphrase it was given.
func TestScheduleAccessKeysJob(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("cron takes Unix paths: installed here only on that OS")
	}
	w := newWorld(t)
	w.backend = schedule.Cron
	w.useFileStore()
	w.update(func(st *state.State) {
		st.AccessKeys["ci"] = &state.AccessKey{Path: "/x", Fingerprint: "SHA256:ci", Targets: []state.Target{{Kind: state.TargetRepo, Workspace: "acme", Slug: "api"}}}
	})
	opts := w.options()
	opts.Schedule, opts.AccessKeys, opts.NoPassphrase, opts.IfOlderThan, opts.JSON = "weekly", true, true, "60d", true
	must(t, runRotate(context.Background(), opts))
	var doc jsonSchedule
	must(t, json.Unmarshal([]byte(w.stdout.String()), &doc))
	want := []string{w.exe, "rotate", "--access-keys", "--if-older-than", "60d", "--no-input", "--no-passphrase"}
	if doc.Job != "rotate-access-keys" || !slices.Equal(doc.Command, want) || doc.LogFile != filepath.Join(w.paths.ConfigDir, "rotate.log") {
		t.Errorf("doc = %+v", doc)
	}
	if tab := *w.runner.crontab; !strings.Contains(tab, "BBKEY_SCHEDULED=rotate-access-keys ") || !strings.HasSuffix(tab, "# bbkey:rotate-access-keys\n") {
		t.Errorf("crontab:\n%s", tab)
	}
	if rec := w.state().Schedules["rotate-access-keys"]; rec == nil || rec.IfOlderThan != "60d" {
		t.Errorf("recorded timer = %+v", rec)
	}
}

func (w *world) installed(b schedule.Backend, doc jsonSchedule) string {
	w.t.Helper()
	cmds := w.runner.Commands()
	switch b {
	case schedule.Cron:
		if !strings.Contains(cmds, "crontab -l") || w.runner.crontab == nil {
			w.t.Fatalf("commands:\n%s", cmds)
		}
		return *w.runner.crontab
	case schedule.Systemd:
		if !strings.Contains(cmds, "systemctl --user enable bbkey-rotate.timer") {
			w.t.Errorf("commands:\n%s", cmds)
		}
	case schedule.Launchd:
		if !strings.Contains(cmds, "launchctl bootstrap gui/1000 ") {
			w.t.Errorf("commands:\n%s", cmds)
		}
	case schedule.TaskScheduler:
		if !strings.Contains(cmds, "schtasks /Create /TN bbkey-rotate") {
			w.t.Errorf("commands:\n%s", cmds)
		}
	}
	var all strings.Builder
	for _, f := range doc.ChangedFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			w.t.Fatal(err)
		}
		all.WriteString(fromUTF16(b))
	}
	if all.Len() == 0 {
		w.t.Fatalf("no files written: %+v", doc)
	}
	return all.String()
}

// verifyUnits has systemd check the units the command wrote, when systemd-analyze exists.
func verifyUnits(t *testing.T, w *world, files []string) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil || runtime.GOOS != "linux" {
		t.Log("systemd-analyze is not installed: the units are checked by content only")
		return
	}
	must(t, os.MkdirAll(filepath.Dir(w.exe), 0o755))
	must(t, os.WriteFile(w.exe, []byte("#!/bin/sh\nexit 0\n"), 0o755))
	runtimeDir := filepath.Join(t.TempDir(), "run")
	must(t, os.Mkdir(runtimeDir, 0o700))
	c := exec.Command(bin, append([]string{"verify", "--user"}, files...)...)
	c.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir, "SYSTEMD_LOG_LEVEL=notice")
	if out, err := c.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestScheduleNeedsPassphraseSource(t *testing.T) {
	w := newWorld(t)
	w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	opts := w.options()
	opts.Schedule = "daily"
	err := runRotate(context.Background(), opts)
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "--passphrase-file") {
		t.Fatalf("err = %v, hints %q", err, apierr.Hints(err))
	}
	if cmds := w.runner.Commands(); cmds != "" {
		t.Errorf("ran %s", cmds)
	}
	if _, err := os.Stat(filepath.Join(w.home.ConfigDir, "systemd")); !os.IsNotExist(err) {
		t.Error("units were written")
	}
	if _, err := os.Stat(filepath.Join(w.paths.ConfigDir, "schedule")); !os.IsNotExist(err) {
		t.Error("a task was written")
	}
}

// TestScheduleKeepsPassphraseInKeychain: on a terminal the passphrase is asked once and
// kept in the keychain for the job, which then carries no passphrase flag.
func TestScheduleKeepsPassphraseInKeychain(t *testing.T) {
	w := newWorld(t)
	w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	w.prompter.Answers = []string{"for the timer's keys", "for the timer's keys"}
	opts := w.options()
	opts.Schedule, opts.NoInput, opts.JSON = "monthly", false, true
	must(t, runRotate(context.Background(), opts))
	sec, err := w.store.Get(context.Background(), credstore.PassphraseAccount("ada"))
	if err != nil || string(sec.Secret) != "for the timer's keys" || sec.Kind != credstore.KindPassphrase {
		t.Fatalf("keychain: %+v %v", sec, err)
	}
	var doc jsonSchedule
	must(t, json.Unmarshal([]byte(w.stdout.String()), &doc))
	if slices.Contains(doc.Command, "--passphrase-file") || doc.Passphrase != "memory" {
		t.Errorf("doc = %+v", doc)
	}
	// A scheduled run then finds it there.
	w.env[schedule.ScheduledEnv] = "rotate"
	opts = w.options()
	opts.IfOlderThan = "1d"
	must(t, runRotate(context.Background(), opts))
	if _, err := keys.LoadPrivate(w.state().Accounts["ada"].KeyPath, []byte("for the timer's keys")); err != nil {
		t.Error(err)
	}
}

func TestStatusPlain(t *testing.T) {
	w := newWorld(t)
	w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	w.update(func(st *state.State) {
		st.Accounts["ada"].Fingerprint = "SHA256:ada"
		st.LastScheduledRun = &state.ScheduledRun{Time: time.Date(2026, 11, 16, 10, 17, 0, 0, time.UTC), Result: state.ResultPartial, ExitCode: 3, Error: "rate limited"}
		st.AccessKeys["ci"] = &state.AccessKey{Path: "/x", Fingerprint: "SHA256:ci", Label: "bbkey:ci:2026-11-01:ttl=30d",
			Targets: []state.Target{{Kind: state.TargetRepo, Workspace: "acme", Slug: "api"}}}
	})
	opts := w.options()
	opts.Status = true
	must(t, runRotate(context.Background(), opts))
	want := `schedule (account key)  not installed (systemd)
schedule (access keys)  not installed (systemd)
last scheduled run      2026-11-16T10:17:00Z partial (exit 3): rate limited
last rotation           never

KIND         NAME  FINGERPRINT  AGE   DUE
account      ada   SHA256:ada   174d  2026-08-30 (overdue)
access-keys  ci    SHA256:ci    21d   2026-12-01
`
	want = strings.ReplaceAll(want, "(systemd)", "("+string(w.backend)+")") // Windows: taskscheduler
	if got := w.stdout.String(); got != want {
		t.Errorf("status:\n%s\nwant:\n%s", got, want)
	}
}

// TestStatusShowsAScheduledRunOnce: a timer's run is in its log and in the state; the
// plain --status names it once, on the job's own "last run" line, while --json keeps
// both documented fields.
func TestStatusShowsAScheduledRunOnce(t *testing.T) {
	w := newWorld(t)
	w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	w.env[schedule.ScheduledEnv] = "rotate"
	opts := w.options()
	opts.PassphraseFile = w.passFile
	must(t, runRotate(context.Background(), opts))
	// What the job printed on stderr, framed by its started and finished lines, is its log.
	log := filepath.Join(w.paths.ConfigDir, schedule.LogFileName)
	must(t, os.WriteFile(log, []byte(w.stderr.String()), 0o600))
	delete(w.env, schedule.ScheduledEnv)

	opts = w.options()
	opts.Status = true
	must(t, runRotate(context.Background(), opts))
	got := w.stdout.String()
	run := "2026-11-22T10:00:00Z ok (exit 0)"
	if !strings.Contains(got, "last run (account key)  "+run+"\n") || strings.Count(got, run) != 1 ||
		strings.Contains(got, "last scheduled run") {
		t.Errorf("status names the run other than once, on the job's line:\n%s", got)
	}

	opts = w.options()
	opts.Status, opts.JSON = true, true
	must(t, runRotate(context.Background(), opts))
	var doc jsonStatus
	must(t, json.Unmarshal([]byte(w.stdout.String()), &doc))
	if r := doc.LastScheduledRun; r == nil || r.Result != state.ResultOK || !r.Time.Equal(testNow) {
		t.Errorf("last_scheduled_run = %+v", r)
	}
	if r := doc.Schedules[0].LastRun; r == nil || r.Result != "ok" || !r.Started.Equal(testNow) {
		t.Errorf("last_run = %+v", r)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestScheduleRefusesAJobThatCouldNotRun: a job gets none of this shell's environment and,
// under cron, no keychain; --schedule refuses with exit 2, before running or writing
// anything, naming the way out.
func TestScheduleRefusesAJobThatCouldNotRun(t *testing.T) {
	tests := []struct {
		name    string
		backend schedule.Backend
		prepare func(w *world)
		want    string
		hints   []string
	}{
		{"credential only in the environment", localBackend(), // Task Scheduler on Windows
			func(w *world) { must(t, w.store.Delete(context.Background(), credstore.DefaultAccount)) },
			"the timer's job would have no Bitbucket credential", []string{"`bbkey auth login`", "--insecure-storage"}},
		{"credential in the keychain under cron", schedule.Cron, func(*world) {},
			"it is in the memory, and cron jobs have no session bus", []string{"--insecure-storage", "systemd user timer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.backend == schedule.Cron && runtime.GOOS == "windows" {
				t.Skip("cron takes Unix paths: installed here only on that OS")
			}
			w := newWorld(t)
			w.backend = tt.backend
			w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
			tt.prepare(w)
			opts := w.options()
			opts.Schedule, opts.PassphraseFile = "daily", w.passFile
			err := runRotate(context.Background(), opts)
			hints := strings.Join(apierr.Hints(err), "\n")
			if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Fatalf("err = %v (exit %d), want exit 2 with %q", err, apierr.ExitCode(err), tt.want)
			}
			for _, h := range tt.hints {
				if !strings.Contains(hints, h) {
					t.Errorf("hints lack %q:\n%s", h, hints)
				}
			}
			if cmds := w.runner.Commands(); cmds != "" {
				t.Errorf("ran %s", cmds)
			}
			if w.runner.crontab != nil {
				t.Errorf("crontab written: %s", *w.runner.crontab)
			}
			if _, err := os.Stat(filepath.Join(w.home.ConfigDir, "systemd")); !os.IsNotExist(err) {
				t.Error("units were written")
			}
		})
	}

	// Under cron, a credential and a passphrase in the 0600 file both reach the job: the
	// passphrase from BBKEY_PASSPHRASE is kept there.
	if runtime.GOOS == "windows" {
		return // cron takes Unix paths
	}
	w := newWorld(t)
	w.backend = schedule.Cron
	w.useFileStore()
	w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	w.env[secret.PassphraseEnv] = "kept for cron"
	opts := w.options()
	opts.Schedule = "daily"
	must(t, runRotate(context.Background(), opts))
	if sec, err := w.fileStore.Get(context.Background(), credstore.PassphraseAccount("ada")); err != nil || string(sec.Secret) != "kept for cron" {
		t.Errorf("passphrase in the file store: %v", err)
	}
}

// fromUTF16 reads the task XML Task Scheduler takes (UTF-16LE after a byte-order mark);
// other files are returned as they are.
func fromUTF16(b []byte) string {
	rest, ok := bytes.CutPrefix(b, []byte{0xFF, 0xFE})
	if !ok {
		return string(b)
	}
	u := make([]uint16, len(rest)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(rest[2*i:])
	}
	return string(utf16.Decode(u))
}

// TestScheduleCronWithoutDaemonWarns: cron chosen but no cron daemon running (WSL, a
// container): the line is still installed (exit 0), with a warning, its hint and the
// --json warnings; with a daemon running, no warning.
func TestScheduleCronWithoutDaemonWarns(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("cron takes Unix paths: installed here only on that OS")
	}
	for _, daemon := range []string{"", "cron"} {
		t.Run("daemon="+daemon, func(t *testing.T) {
			proc := t.TempDir()
			procs := map[string]string{"1": "init", "40": "sshd"}
			if daemon != "" {
				procs["41"] = daemon
			}
			for pid, comm := range procs {
				must(t, os.MkdirAll(filepath.Join(proc, pid), 0o755))
				must(t, os.WriteFile(filepath.Join(proc, pid, "comm"), []byte(comm+"\n"), 0o644))
			}
			w := newWorld(t)
			w.backend = schedule.Cron
			w.useFileStore()
			w.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
			opts := w.options()
			scheduler := opts.Scheduler
			opts.Scheduler = func(ctx context.Context, p settings.Paths) (*schedule.Installer, error) {
				in, err := scheduler(ctx, p)
				in.ProcDir = proc
				return in, err
			}
			opts.Schedule, opts.PassphraseFile, opts.JSON = "weekly", w.passFile, true
			must(t, runRotate(context.Background(), opts))
			var doc jsonSchedule
			must(t, json.Unmarshal([]byte(w.stdout.String()), &doc))
			if tab := *w.runner.crontab; !strings.Contains(tab, "# bbkey:rotate") {
				t.Errorf("crontab:\n%s", tab)
			}
			warned := strings.Contains(w.stderr.String(), "bbkey: warning: no cron daemon is running")
			hinted := strings.Contains(w.stderr.String(), "bbkey: hint: start the cron service (e.g. `sudo service cron start`")
			if want := daemon == ""; warned != want || hinted != want || (len(doc.Warnings) == 1) != want {
				t.Errorf("daemon %q: warned %v, hinted %v, warnings %q\n%s", daemon, warned, hinted, doc.Warnings, w.stderr)
			}
		})
	}
}
