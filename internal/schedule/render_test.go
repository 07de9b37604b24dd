package schedule

import (
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from testdata/%s:\n--- got\n%s\n--- want\n%s", name, name, got, want)
	}
}

// now is Sunday 2026-11-22 09:30 local time.
var now = time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)

// rotateJob is a job as `bbkey rotate --schedule` builds it (cmd/rotate): "rotate" and
// args, which name the age and whether it is the access-key job.
func rotateJob(cal Calendar, exe, logFile string, args ...string) Job {
	id, what := "rotate", "the Bitbucket account key"
	if slices.Contains(args, "--access-keys") {
		id, what = "rotate-access-keys", "this machine's Bitbucket access keys"
	}
	age := args[slices.Index(args, "--if-older-than")+1]
	return Job{ID: id, Calendar: cal, Executable: exe, Args: append([]string{"rotate"}, args...), LogFile: logFile,
		Env: []string{ScheduledEnv + "=" + id}, Description: "bbkey: replace " + what + " when older than " + age}
}

func linuxJob(t *testing.T, f Frequency) Job {
	return rotateJob(Calendar{Frequency: f, Hour: 10, Minute: 17}, "/usr/local/bin/bbkey", "/home/ann/.config/bbkey/rotate.log",
		"--if-older-than", "90d", "--no-input", "--passphrase-file", "/home/ann/.config/bbkey/passphrase")
}

func macJob(t *testing.T, f Frequency) Job {
	j := rotateJob(Calendar{Frequency: f, Hour: 10, Minute: 17}, "/opt/homebrew/bin/bbkey", "/Users/ann/Library/Application Support/bbkey/rotate.log",
		"--access-keys", "--if-older-than", "90d", "--no-input")
	j.Env = append(j.Env, "BBKEY_SSH_DIR=/Users/ann/.ssh & <keys>")
	return j
}

func windowsJob(t *testing.T, f Frequency) Job {
	return rotateJob(Calendar{Frequency: f, Hour: 10, Minute: 17}, `C:\Program Files\bbkey\bbkey.exe`, `C:\Users\ann\AppData\Roaming\bbkey\rotate.log`,
		"--if-older-than", "90d", "--no-input", "--passphrase-file", `C:\Users\ann\AppData\Roaming\bbkey\pass phrase`)
}

// trickyJob has every character the quoting of systemd and sh must survive.
func trickyJob(t *testing.T, dir string) Job {
	return rotateJob(Calendar{Frequency: Monthly, Hour: 0, Minute: 5}, dir+`/My Keys 50%$HOME;x/bbkey`, dir+`/cfg 100%/rotate.log`,
		"--if-older-than", "30d", "--no-input", "--passphrase-file", dir+`/O'Brien "keys" \x;$(reboot)`)
}

func TestRenderGolden(t *testing.T) {
	for _, f := range []Frequency{Daily, Weekly, Monthly} {
		svc, tmr, err := SystemdUnits(linuxJob(t, f))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "systemd-"+string(f)+".timer", tmr)
		if f == Weekly {
			golden(t, "systemd-weekly.service", svc)
		}
		line, err := CronLine(linuxJob(t, f))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "cron-"+string(f)+".txt", line+"\n")
		plist, err := LaunchdPlist(macJob(t, f))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "launchd-"+string(f)+".plist", plist)
		task, err := TaskXML(windowsJob(t, f), now)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "task-"+string(f)+".xml", task)
	}
	tricky := trickyJob(t, "/home/ann")
	svc, _, err := SystemdUnits(tricky)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "systemd-tricky.service", svc)
	line, err := CronLine(tricky)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "cron-tricky.txt", line+"\n")
}

// TestXMLWellFormed parses the plists and task definitions with a strict XML parser.
func TestXMLWellFormed(t *testing.T) {
	for _, f := range []Frequency{Daily, Weekly, Monthly} {
		plist, _ := LaunchdPlist(macJob(t, f))
		task, _ := TaskXML(windowsJob(t, f), now)
		for name, doc := range map[string]string{"plist": plist, "task": strings.Replace(task, "UTF-16", "UTF-8", 1)} {
			d := xml.NewDecoder(strings.NewReader(doc))
			d.Strict = true
			for {
				_, err := d.Token()
				if err != nil {
					if err.Error() != "EOF" {
						t.Errorf("%s %s: %v", name, f, err)
					}
					break
				}
			}
		}
	}
}

// TestSpec: what --status shows as the schedule is the backend's own expression.
func TestSpec(t *testing.T) {
	for _, tt := range []struct {
		f                  Frequency
		systemd, cron, any string
	}{
		{Daily, "*-*-* 10:17:00", "17 10 * * *", "daily (10:17)"},
		{Weekly, "Mon *-*-* 10:17:00", "17 10 * * 1", "weekly (Monday 10:17)"},
		{Monthly, "*-*-01 10:17:00", "17 10 1 * *", "monthly (day 1, 10:17)"},
	} {
		c := Calendar{Frequency: tt.f, Hour: 10, Minute: 17}
		if got := c.Spec(Systemd); got != tt.systemd {
			t.Errorf("%s systemd = %q, want %q", tt.f, got, tt.systemd)
		}
		if got := c.Spec(Cron); got != tt.cron {
			t.Errorf("%s cron = %q, want %q", tt.f, got, tt.cron)
		}
		if got := c.Spec(Launchd); got != tt.any || c.Spec(TaskScheduler) != tt.any {
			t.Errorf("%s launchd = %q, want %q", tt.f, got, tt.any)
		}
	}
}

func TestSystemdQuoting(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a b", `"a b"`},
		{`O'Brien "keys" 50%$HOME\x`, `"O'Brien \"keys\" 50%%$$HOME\\x"`},
		{";", `";"`},
		{"", `""`},
		{`\`, `"\\"`},
		{`$$`, `$$$$`},
	} {
		if got := systemdQuote(tt.in, false, false); got != tt.want {
			t.Errorf("systemdQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	j := linuxJob(t, Daily)
	j.Executable = `/home/o'brien/bin/bbkey`
	if _, _, err := SystemdUnits(j); err == nil || !strings.Contains(err.Error(), "install bbkey elsewhere") {
		t.Errorf("SystemdUnits with a quote in the executable = %v", err)
	}
}

func TestEncodeUTF16(t *testing.T) {
	if b := EncodeUTF16("€😀"); string(b) != "\xff\xfe\xac\x20\x3d\xd8\x00\xde" {
		t.Errorf("EncodeUTF16 = % x, want a BOM, then € and a surrogate pair", b)
	}
	if b := EncodeUTF16("<"); len(b) != 4 || b[0] != 0xFF || b[1] != 0xFE || b[2] != '<' || b[3] != 0 {
		t.Errorf("EncodeUTF16 = % x, want a little-endian BOM and text", b)
	}
}

func TestJobValidation(t *testing.T) {
	ok := linuxJob(t, Daily)
	for _, tt := range []struct {
		name    string
		backend Backend
		mutate  func(*Job)
		want    string
	}{
		{"relative exe", Systemd, func(j *Job) { j.Executable = "bbkey" }, "absolute"},
		{"relative log", Cron, func(j *Job) { j.LogFile = "rotate.log" }, "absolute"},
		{"linux path on windows", TaskScheduler, func(j *Job) {}, "absolute"},
		{"secret env", Launchd, func(j *Job) { j.Env = append(j.Env, "BBKEY_PASSPHRASE=hunter2") }, "secret"},
		{"bad env", Systemd, func(j *Job) { j.Env = []string{"A B=1"} }, "environment"},
		{"newline", Cron, func(j *Job) { j.Args = append(j.Args, "x\n* * * * * evil") }, "control character"},
		{"bad id", Systemd, func(j *Job) { j.ID = "../x" }, "job id"},
		{"bad time", Systemd, func(j *Job) { j.Calendar.Hour = 24 }, "time of day"},
		{"bad frequency", Launchd, func(j *Job) { j.Calendar.Frequency = "hourly" }, "unknown schedule"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := ok
			j.Env = append([]string(nil), ok.Env...)
			j.Args = append([]string(nil), ok.Args...)
			tt.mutate(&j)
			err := j.validate(tt.backend)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
	w := windowsJob(t, Daily)
	w.LogFile = `C:\Users\100%\rotate.log`
	if _, err := TaskXML(w, now); err == nil || !strings.Contains(err.Error(), "cmd.exe") {
		t.Errorf("TaskXML with %% in a path = %v", err)
	}
}

func TestParseFrequency(t *testing.T) {
	for in, want := range map[string]Frequency{"daily": Daily, " Weekly": Weekly, "MONTHLY": Monthly} {
		if got, err := ParseFrequency(in); err != nil || got != want {
			t.Errorf("ParseFrequency(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFrequency("hourly"); err == nil {
		t.Error("ParseFrequency(hourly) succeeded")
	}
	a, b := DefaultCalendar(Weekly, "host-a:rotate"), DefaultCalendar(Weekly, "host-a:rotate")
	if a != b || a.Hour != 10 || a.Minute < 0 || a.Minute > 59 {
		t.Errorf("DefaultCalendar = %+v, %+v", a, b)
	}
}

func TestNext(t *testing.T) {
	zone := time.FixedZone("UTC+1", 3600)
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, zone)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tt := range []struct {
		cal        Calendar
		from, want string
	}{
		{Calendar{Daily, 10, 17}, "2026-11-22 09:30", "2026-11-22 10:17"},
		{Calendar{Daily, 10, 17}, "2026-11-22 10:17", "2026-11-23 10:17"}, // strictly after
		{Calendar{Daily, 10, 17}, "2026-12-31 23:00", "2027-01-01 10:17"},
		{Calendar{Weekly, 10, 0}, "2026-11-22 09:30", "2026-11-23 10:00"}, // Sunday → Monday
		{Calendar{Weekly, 10, 0}, "2026-11-23 09:59", "2026-11-23 10:00"}, // Monday before
		{Calendar{Weekly, 10, 0}, "2026-11-23 10:00", "2026-11-30 10:00"}, // Monday at
		{Calendar{Weekly, 10, 0}, "2026-11-28 12:00", "2026-11-30 10:00"}, // Saturday
		{Calendar{Monthly, 0, 5}, "2026-11-22 09:30", "2026-12-01 00:05"},
		{Calendar{Monthly, 0, 5}, "2026-12-01 00:04", "2026-12-01 00:05"},
		{Calendar{Monthly, 0, 5}, "2026-12-15 00:00", "2027-01-01 00:05"},
	} {
		got := tt.cal.Next(at(tt.from))
		if !got.Equal(at(tt.want)) || got.Location() != zone {
			t.Errorf("%v.Next(%s) = %v, want %s", tt.cal, tt.from, got, tt.want)
		}
	}
	if !(Calendar{Frequency: "hourly"}).Next(now).IsZero() {
		t.Error("Next of an unknown frequency is not zero")
	}
}
