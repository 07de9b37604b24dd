// Package schedule installs and removes the native timer that runs `bbkey rotate`
// unattended: a systemd user timer, a crontab line where systemd has no user manager, a
// launchd agent, or a Task Scheduler task. Rendering a Job into each backend's files is
// pure (tested for every backend on every OS); the Installer writes them and runs the
// backend's commands through a Runner. A job never carries a secret and logs to a file.
package schedule

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/redact"
)

// Frequency is how often the job runs.
type Frequency string

// The frequencies of `--schedule`.
const (
	Daily   Frequency = "daily"
	Weekly  Frequency = "weekly"
	Monthly Frequency = "monthly"
)

// ParseFrequency reads the value of --schedule.
func ParseFrequency(s string) (Frequency, error) {
	switch f := Frequency(strings.ToLower(strings.TrimSpace(s))); f {
	case Daily, Weekly, Monthly:
		return f, nil
	}
	return "", fmt.Errorf("unknown schedule %q: want daily, weekly or monthly", s)
}

// Calendar is when the job runs, in local time: daily, Mondays, or the first of the
// month, at Hour:Minute.
type Calendar struct {
	Frequency Frequency
	Hour      int
	Minute    int
}

// DefaultCalendar runs at 10:MM local time (daytime, when laptops are awake), MM derived
// from seed (the host and job name) so machines do not all call Bitbucket at once.
func DefaultCalendar(f Frequency, seed string) Calendar {
	h := fnv.New32a()
	h.Write([]byte(seed))
	return Calendar{Frequency: f, Hour: 10, Minute: int(h.Sum32() % 60)}
}

func (c Calendar) valid() error {
	if _, err := ParseFrequency(string(c.Frequency)); err != nil {
		return err
	}
	if c.Hour < 0 || c.Hour > 23 || c.Minute < 0 || c.Minute > 59 {
		return fmt.Errorf("invalid time of day %02d:%02d", c.Hour, c.Minute)
	}
	return nil
}

// String is e.g. "weekly (Monday 10:17)".
func (c Calendar) String() string {
	switch c.Frequency {
	case Daily:
		return fmt.Sprintf("daily (%02d:%02d)", c.Hour, c.Minute)
	case Weekly:
		return fmt.Sprintf("weekly (Monday %02d:%02d)", c.Hour, c.Minute)
	case Monthly:
		return fmt.Sprintf("monthly (day 1, %02d:%02d)", c.Hour, c.Minute)
	}
	return string(c.Frequency)
}

// Spec is c as backend b holds it: systemd's OnCalendar, cron's five time fields, or
// String for launchd and Task Scheduler (their calendars have no one-line form).
func (c Calendar) Spec(b Backend) string {
	switch b {
	case Systemd:
		return OnCalendar(c)
	case Cron:
		return cronWhen(c)
	}
	return c.String()
}

// Next is the first run strictly after t, in t's location (zero for an unknown
// frequency). It ignores systemd's random delay and the catch-up runs after the machine
// was off.
func (c Calendar) Next(t time.Time) time.Time {
	y, m, d := t.Date()
	for day := d; day <= d+31; day++ {
		n := time.Date(y, m, day, c.Hour, c.Minute, 0, 0, t.Location())
		due := c.Frequency == Daily || c.Frequency == Weekly && n.Weekday() == time.Monday ||
			c.Frequency == Monthly && n.Day() == 1
		if due && n.After(t) {
			return n
		}
	}
	return time.Time{}
}

// Job is one scheduled command.
type Job struct {
	// ID names the job ("rotate", "rotate-access-keys"), and so its units, plist label,
	// task name and crontab marker.
	ID       string
	Calendar Calendar
	// Executable (absolute) runs with Args; its output is appended to LogFile (absolute).
	Executable string
	Args       []string
	LogFile    string
	// Env are KEY=VALUE pairs set for the job. Never a secret: the files are not private
	// and the values show in process listings.
	Env []string
	// Description is one line for the unit, plist comment and task.
	Description string
}

// DefaultIfOlderThan is the age at which a scheduled run replaces a key.
const DefaultIfOlderThan = "90d"

// ScheduledEnv is set to the job ID in the environment of every scheduled run, so
// `bbkey rotate` can record the outcome as the last scheduled run.
const ScheduledEnv = "BBKEY_SCHEDULED"

// LogFileName is the log of scheduled runs in the config directory.
const LogFileName = "rotate.log"

// JobID returns the ID of the rotate job for account keys or access keys.
func JobID(accessKeys bool) string {
	if accessKeys {
		return "rotate-access-keys"
	}
	return "rotate"
}

var (
	idRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validate checks what every backend needs; backends add their own quoting limits.
func (j Job) validate(b Backend) error {
	if !idRE.MatchString(j.ID) {
		return fmt.Errorf("invalid job id %q", j.ID)
	}
	if err := j.Calendar.valid(); err != nil {
		return err
	}
	if !isAbs(b, j.Executable) {
		return fmt.Errorf("the job's executable must be an absolute path, not %q", j.Executable)
	}
	if !isAbs(b, j.LogFile) {
		return fmt.Errorf("the job's log file must be an absolute path, not %q", j.LogFile)
	}
	all := append([]string{j.Executable, j.LogFile, j.Description}, j.Args...)
	for _, kv := range j.Env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !envNameRE.MatchString(name) {
			return fmt.Errorf("invalid environment entry %q for the job", name)
		}
		// Unit files, plists and crontabs are not private: a job reads secrets from a file
		// or the keychain.
		if slices.Contains(redact.SecretEnv, strings.ToUpper(name)) {
			return fmt.Errorf("%s holds a secret and cannot be put into a scheduled job: use a file or the keychain", name)
		}
		all = append(all, kv)
	}
	for _, s := range all {
		if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("control character in %q", s)
		}
	}
	return nil
}

func isAbs(b Backend, p string) bool {
	if b == TaskScheduler {
		return len(p) > 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') ||
			strings.HasPrefix(p, `\\`)
	}
	return strings.HasPrefix(p, "/")
}
