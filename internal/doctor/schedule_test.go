package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/state"
)

// TestScheduleCheck: the timer's last run, read from its log, fails the check when it
// failed, never finished, could not start bbkey, or is older than twice the period.
func TestScheduleCheck(t *testing.T) {
	ran := now.Add(-36 * time.Hour)
	started := "✓ " + schedule.StartedLine("rotate", ran) + "\n"
	tests := []struct {
		name      string
		frequency string
		installed time.Time
		log       string
		gone      bool // the timer's file was removed
		status    Status
		want      string
	}{
		{"ok", "daily", now.Add(-72 * time.Hour), started + "✓ " + schedule.FinishedLine("rotate", "skipped", 0) + "\n", false, OK, "last run"},
		{"failed", "daily", now.Add(-72 * time.Hour),
			started + "✗ " + schedule.FinishedLine("rotate", "failed", 4) + "\nbbkey: error: not logged in to Bitbucket\nbbkey: hint: run 'bbkey auth login'\n",
			false, Fail, "failed with exit 4: not logged in to Bitbucket"},
		{"never finished", "weekly", now.Add(-72 * time.Hour), started + "✓ generated the new key\n", false, Fail, "never finished"},
		{"bbkey did not start", "weekly", now.Add(-72 * time.Hour),
			started + "✓ " + schedule.FinishedLine("rotate", "ok", 0) + "\n/bin/sh: 1: /opt/bbkey: not found\n", false, Fail, "did not start bbkey"},
		{"installed long ago, ran recently", "daily", now.Add(-30 * 24 * time.Hour), started + "✓ " + schedule.FinishedLine("rotate", "ok", 0) + "\n", false, OK, "last run"},
		{"stopped", "daily", now.Add(-30 * 24 * time.Hour), "", false, Fail, "has never run since it was installed"},
		{"weekly, late", "weekly", now.Add(-30 * 24 * time.Hour),
			"✓ " + schedule.StartedLine("rotate", now.Add(-15*24*time.Hour)) + "\n✓ " + schedule.FinishedLine("rotate", "ok", 0) + "\n", false, Fail, "has not run since"},
		{"not due yet", "monthly", now.Add(-24 * time.Hour), "", false, OK, "not due yet"},
		{"timer file removed", "daily", now.Add(-72 * time.Hour), started + "✓ " + schedule.FinishedLine("rotate", "ok", 0) + "\n", true, Fail, "bbkey-rotate.timer is gone"},
		{"other job's error is not this one's", "daily", now.Add(-72 * time.Hour),
			started + "✓ " + schedule.FinishedLine("rotate", "ok", 0) + "\n✓ " + schedule.StartedLine("rotate-access-keys", ran) + "\n✗ " +
				schedule.FinishedLine("rotate-access-keys", "failed", 1) + "\nbbkey: error: boom\n", false, OK, "last run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			log := filepath.Join(e.Paths.ConfigDir, schedule.LogFileName)
			if err := os.MkdirAll(e.Paths.ConfigDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if tt.log != "" {
				if err := os.WriteFile(log, []byte(tt.log), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rec := &state.Schedule{Backend: "cron", Frequency: tt.frequency, LogFile: log, Installed: tt.installed}
			if tt.gone {
				rec.Backend, rec.Files = "systemd", []string{filepath.Join(e.Paths.ConfigDir, "bbkey-rotate.timer")}
			}
			err := state.Dir{Path: e.Paths.ConfigDir}.Update(context.Background(), func(st *state.State) error {
				st.Schedules = map[string]*state.Schedule{"rotate": rec}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			r := runOnly(t, e, "schedule")["schedule"]
			if r.Status != tt.status || !strings.Contains(r.Summary, tt.want) {
				t.Errorf("= %s %q, want %s with %q", r.Status, r.Summary, tt.status, tt.want)
			}
			if r.Status == Fail && r.Fix == "" {
				t.Error("a failed check without a fix")
			}
		})
	}
	// No timer: fine, naming how to install one.
	if r := runOnly(t, newEnv(t), "schedule")["schedule"]; r.Status != OK || !strings.Contains(r.Summary, "--schedule") {
		t.Errorf("no timer: %s %q", r.Status, r.Summary)
	}
}

// TestStoppedTimerFix: a timer that stopped firing is looked at with its scheduler's own
// tool, by the name bbkey installed it under; an unknown scheduler is installed again.
func TestStoppedTimerFix(t *testing.T) {
	id := schedule.JobID(true)
	for backend, want := range map[string]string{
		"systemd":       "`systemctl --user list-timers bbkey-rotate-access-keys.timer`; a user manager stops at logout",
		"cron":          "`crontab -l` still has the bbkey line",
		"launchd":       "`launchctl print gui/$(id -u)/com.github.bbkey.rotate-access-keys`",
		"taskscheduler": "`schtasks /Query /TN bbkey-rotate-access-keys /V /FO LIST`",
		"at":            "reinstall it: bbkey rotate --schedule weekly --access-keys",
	} {
		e := newEnv(t)
		rec := &state.Schedule{Backend: backend, Frequency: "daily", LogFile: filepath.Join(e.Paths.ConfigDir, schedule.LogFileName), Installed: now.Add(-30 * 24 * time.Hour)}
		err := state.Dir{Path: e.Paths.ConfigDir}.Update(context.Background(), func(st *state.State) error {
			st.Schedules = map[string]*state.Schedule{id: rec}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if r := runOnly(t, e, "schedule")["schedule"]; r.Status != Fail || !strings.Contains(r.Fix, want) {
			t.Errorf("%s: = %s, fix %q, want one with %q", backend, r.Status, r.Fix, want)
		}
	}
}
