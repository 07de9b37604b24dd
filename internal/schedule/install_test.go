package schedule

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/schedule/scheduletest"
	"github.com/bbkey/bbkey/internal/text"
)

func installer(t *testing.T, b Backend, r Runner) *Installer {
	t.Helper()
	home := t.TempDir()
	return &Installer{
		Backend:   b,
		Runner:    r,
		Home:      home,
		ConfigDir: filepath.Join(home, ".config", "bbkey"),
		UID:       501,
		Now:       func() time.Time { return now },
	}
}

// install and uninstall plan and apply, as rotate --schedule and --unschedule do.
func install(ctx context.Context, in *Installer, j Job) (*Plan, error) {
	p, err := in.PlanInstall(ctx, j)
	if err != nil {
		return nil, err
	}
	return p, in.Apply(ctx, p)
}

func uninstall(ctx context.Context, in *Installer, id string) (*Plan, error) {
	p, err := in.PlanUninstall(ctx, id)
	if err != nil {
		return nil, err
	}
	return p, in.Apply(ctx, p)
}

func exitErr(args []string, stderr string) error {
	return &CommandError{Args: args, Stderr: stderr, Err: errors.New("exit status 1")}
}

func TestDetect(t *testing.T) {
	ctx := context.Background()
	ok := &scheduletest.FakeRunner{}
	if b := Detect(ctx, "linux", ok); b != Systemd {
		t.Errorf("Detect with a user manager = %s", b)
	}
	if got := ok.Commands(); got != "systemctl --user show-environment\n" {
		t.Errorf("Detect ran %q", got)
	}
	none := &scheduletest.FakeRunner{Handle: func(c scheduletest.Call) ([]byte, error) { return nil, exitErr(c.Args, "Failed to connect to bus") }}
	if b := Detect(ctx, "linux", none); b != Cron {
		t.Errorf("Detect without a user manager = %s", b)
	}
	if b := Detect(ctx, "darwin", none); b != Launchd || len(none.Calls()) != 1 {
		t.Errorf("Detect on darwin = %s", b)
	}
	if b := Detect(ctx, "windows", none); b != TaskScheduler {
		t.Errorf("Detect on windows = %s", b)
	}
}

func TestSystemdInstaller(t *testing.T) {
	ctx := context.Background()
	r := &scheduletest.FakeRunner{}
	in := installer(t, Systemd, r)
	j := linuxJob(t, Weekly)
	p, err := install(ctx, in, j)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(in.Home, ".config", "systemd", "user", "bbkey-rotate")
	if got, want := r.Commands(), "systemctl --user daemon-reload\nsystemctl --user enable bbkey-rotate.timer\nsystemctl --user restart bbkey-rotate.timer\n"; got != want {
		t.Errorf("install ran\n%s\nwant\n%s", got, want)
	}
	svc, tmr, _ := SystemdUnits(j)
	for path, want := range map[string]string{unit + ".service": svc, unit + ".timer": tmr} {
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", path, b, err)
		}
	}
	if got := strings.Join(p.Lines(), "\n"); !strings.Contains(got, "write "+unit+".timer") || !strings.Contains(got, "run systemctl --user enable bbkey-rotate.timer") {
		t.Errorf("plan lines:\n%s", got)
	}

	if got := in.Files("rotate"); len(got) != 2 || got[0] != unit+".service" || got[1] != unit+".timer" {
		t.Errorf("Files = %q", got)
	}
	if spec := j.Calendar.Spec(Systemd); spec != "Mon *-*-* 10:17:00" || !strings.Contains(tmr, "OnCalendar="+spec+"\n") {
		t.Errorf("Spec = %q", spec)
	}

	// Uninstall stops the timer before removing its files; a second one does nothing.
	if _, err := uninstall(ctx, in, "rotate"); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Commands(), "systemctl --user disable --now bbkey-rotate.timer\nsystemctl --user daemon-reload\n"; got != want {
		t.Errorf("uninstall ran\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(unit + ".timer"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("timer still there: %v", err)
	}
	p, err = uninstall(ctx, in, "rotate")
	if err != nil || !p.Empty() || r.Commands() != "" {
		t.Errorf("second uninstall: %+v, %v", p, err)
	}
}

func TestSystemdInstallFailureIsReported(t *testing.T) {
	r := &scheduletest.FakeRunner{Handle: func(c scheduletest.Call) ([]byte, error) {
		if c.Args[2] == "enable" {
			return nil, exitErr(c.Args, "Failed to enable unit: Unit file bbkey-rotate.timer does not exist.")
		}
		return nil, nil
	}}
	in := installer(t, Systemd, r)
	_, err := install(context.Background(), in, linuxJob(t, Daily))
	if err == nil || !strings.Contains(err.Error(), "systemctl --user enable bbkey-rotate.timer") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Install = %v, want the failing command and its stderr", err)
	}
}

func TestLaunchdInstaller(t *testing.T) {
	ctx := context.Background()
	// bootout of a job that is not loaded fails; that must not stop the install.
	r := &scheduletest.FakeRunner{Handle: func(c scheduletest.Call) ([]byte, error) {
		if c.Args[1] == "bootout" {
			return nil, exitErr(c.Args, "Boot-out failed: 3: No such process")
		}
		return nil, nil
	}}
	in := installer(t, Launchd, r)
	j := macJob(t, Monthly)
	if _, err := install(ctx, in, j); err != nil {
		t.Fatal(err)
	}
	plist := filepath.Join(in.Home, "Library", "LaunchAgents", "com.github.bbkey.rotate-access-keys.plist")
	want := "launchctl bootout gui/501/com.github.bbkey.rotate-access-keys\nlaunchctl bootstrap gui/501 " + text.ShellQuote(plist) + "\n"
	if got := r.Commands(); got != want {
		t.Errorf("install ran\n%s\nwant\n%s", got, want)
	}
	wantPlist, _ := LaunchdPlist(j)
	if b, err := os.ReadFile(plist); err != nil || string(b) != wantPlist {
		t.Errorf("%s = %q, %v", plist, b, err)
	}
	if _, err := uninstall(ctx, in, "rotate-access-keys"); err != nil {
		t.Fatal(err)
	}
	if got := r.Commands(); got != "launchctl bootout gui/501/com.github.bbkey.rotate-access-keys\n" {
		t.Errorf("uninstall ran %q", got)
	}
	if _, err := os.Stat(plist); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("plist still there")
	}
}

func TestTaskSchedulerInstaller(t *testing.T) {
	ctx := context.Background()
	registered := false
	r := &scheduletest.FakeRunner{Handle: func(c scheduletest.Call) ([]byte, error) {
		switch c.Args[1] {
		case "/Create":
			registered = true
		case "/Delete":
			registered = false
		case "/Query":
			if !registered {
				return nil, exitErr(c.Args, "ERROR: The system cannot find the file specified.")
			}
		}
		return nil, nil
	}}
	in := installer(t, TaskScheduler, r)
	j := windowsJob(t, Daily)
	if _, err := install(ctx, in, j); err != nil {
		t.Fatal(err)
	}
	xmlPath := filepath.Join(in.ConfigDir, "schedule", "bbkey-rotate.xml")
	if got := r.Commands(); got != "schtasks /Create /TN bbkey-rotate /XML "+text.ShellQuote(xmlPath)+" /F\n" {
		t.Errorf("install ran %q", got)
	}
	b, err := os.ReadFile(xmlPath)
	if err != nil || b[0] != 0xFF || b[1] != 0xFE {
		t.Fatalf("task XML is not UTF-16LE with a BOM: % x, %v", b[:min(4, len(b))], err)
	}
	want, _ := TaskXML(j, now)
	if string(b) != string(EncodeUTF16(want)) {
		t.Errorf("task XML on disk differs from TaskXML")
	}
	r.Calls()
	if _, err := uninstall(ctx, in, "rotate"); err != nil {
		t.Fatal(err)
	}
	if got := r.Commands(); got != "schtasks /Query /TN bbkey-rotate\nschtasks /Delete /TN bbkey-rotate /F\n" {
		t.Errorf("uninstall ran %q", got)
	}
	if _, err := os.Stat(xmlPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task XML still there: %v", err)
	}
}

// fakeCron keeps a crontab in memory behind `crontab -l` and `crontab -`.
type fakeCron struct {
	mu  sync.Mutex
	tab *string // nil: the user has no crontab
}

func (f *fakeCron) handle(c scheduletest.Call) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Args[0] != "crontab" {
		return nil, exitErr(c.Args, "unexpected command")
	}
	switch c.Args[1] {
	case "-l":
		if f.tab == nil {
			return nil, exitErr(c.Args, "no crontab for ann")
		}
		return []byte(*f.tab), nil
	case "-":
		s := string(c.Stdin)
		f.tab = &s
		return nil, nil
	}
	return nil, exitErr(c.Args, "bad usage")
}

func TestCronInstaller(t *testing.T) {
	ctx := context.Background()
	mine := "MAILTO=ann@example.com\n# backups\n0 3 * * * /usr/bin/backup --all # nightly"
	fc := &fakeCron{tab: &mine}
	r := &scheduletest.FakeRunner{Handle: fc.handle}
	in := installer(t, Cron, r)

	j := linuxJob(t, Weekly)
	if _, err := install(ctx, in, j); err != nil {
		t.Fatal(err)
	}
	line, _ := CronLine(j)
	if *fc.tab != mine+"\n"+line+"\n" {
		t.Errorf("crontab after install:\n%s", *fc.tab)
	}
	// Re-installing with another schedule replaces the line instead of adding one.
	j2 := linuxJob(t, Daily)
	if _, err := install(ctx, in, j2); err != nil {
		t.Fatal(err)
	}
	line2, _ := CronLine(j2)
	if *fc.tab != mine+"\n"+line2+"\n" {
		t.Errorf("crontab after re-install:\n%s", *fc.tab)
	}
	// Installing the same again changes nothing and writes nothing.
	r.Calls()
	p, err := install(ctx, in, j2)
	if err != nil || len(p.After) != 0 || r.Commands() != "crontab -l\n" {
		t.Errorf("idempotent install: %+v, %v", p, err)
	}
	// An access-key job sits beside the account job.
	ak := rotateJob(Calendar{Frequency: Monthly, Hour: 4}, "/usr/local/bin/bbkey", "/c/rotate.log", "--access-keys", "--if-older-than", "90d", "--no-input")
	if _, err := install(ctx, in, ak); err != nil {
		t.Fatal(err)
	}
	akLine, _ := CronLine(ak)
	if *fc.tab != mine+"\n"+line2+"\n"+akLine+"\n" || !strings.HasPrefix(line2, j2.Calendar.Spec(Cron)+" BBKEY_SCHEDULED=rotate /usr/local/bin/bbkey rotate") {
		t.Errorf("crontab with both jobs:\n%s", *fc.tab)
	}
	if _, err := uninstall(ctx, in, "rotate"); err != nil {
		t.Fatal(err)
	}
	if _, err := uninstall(ctx, in, "rotate-access-keys"); err != nil {
		t.Fatal(err)
	}
	if *fc.tab != mine+"\n" {
		t.Errorf("crontab after uninstall:\n%q\nwant the user's own lines back:\n%q", *fc.tab, mine+"\n")
	}
	r.Calls()
	if p, err := uninstall(ctx, in, "rotate"); err != nil || !p.Empty() || r.Commands() != "crontab -l\n" {
		t.Errorf("second uninstall: %+v, %v", p, err)
	}

	// A user without a crontab gets one.
	fc.tab = nil
	if _, err := install(ctx, in, j); err != nil {
		t.Fatal(err)
	}
	if *fc.tab != line+"\n" {
		t.Errorf("new crontab = %q", *fc.tab)
	}
}

func TestCronMissing(t *testing.T) {
	r := &scheduletest.FakeRunner{Handle: func(c scheduletest.Call) ([]byte, error) {
		return nil, &CommandError{Args: c.Args, Err: &exec.Error{Name: "crontab", Err: exec.ErrNotFound}}
	}}
	_, err := install(context.Background(), installer(t, Cron, r), linuxJob(t, Daily))
	if err == nil || !strings.Contains(err.Error(), "install cron") {
		t.Fatalf("Install without crontab = %v", err)
	}
}

func TestExecRunner(t *testing.T) {
	ctx := context.Background()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	out, err := ExecRunner{}.Run(ctx, []byte("in"), "sh", "-c", "cat; echo out")
	if err != nil || string(out) != "inout\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	_, err = ExecRunner{}.Run(ctx, nil, "sh", "-c", "echo boom >&2; exit 4")
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "sh -c") {
		t.Fatalf("failing Run = %v", err)
	}
}

// A Task Scheduler plan shows its commands quoted for Windows, not for a Unix shell, and
// the exact command line the task will run, which splits back (as cmd.exe and bbkey.exe's
// C runtime split it) into the job's own arguments.
func TestTaskSchedulerPlanLinesAreWindowsQuoted(t *testing.T) {
	in := installer(t, TaskScheduler, &scheduletest.FakeRunner{})
	in.ConfigDir = `C:\Users\Ann Lee\AppData\Roaming\bbkey`
	j := windowsJob(t, Weekly)
	p, err := in.PlanInstall(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	lines := p.Lines()
	xml := in.Files(j.ID)[0]
	want := []string{
		"write " + xml,
		`run schtasks /Create /TN bbkey-rotate /XML "` + xml + `" /F`,
	}
	if len(lines) != 3 || lines[0] != want[0] || lines[1] != want[1] || !strings.HasPrefix(lines[2], "register the task to run: ") {
		t.Fatalf("lines:\n%s", strings.Join(lines, "\n"))
	}
	if strings.Contains(strings.Join(lines, "\n"), "'") {
		t.Errorf("Unix shell quoting in a Windows plan:\n%s", strings.Join(lines, "\n"))
	}
	task := strings.TrimPrefix(lines[2], "register the task to run: ")
	if task != p.Task || !strings.HasPrefix(task, `%SystemRoot%\System32\cmd.exe /d /s /c "`) {
		t.Fatalf("task %q", task)
	}
	if !strings.Contains(task, `"C:\Program Files\bbkey\bbkey.exe" rotate`) || !strings.Contains(task, `--passphrase-file "C:\Users\ann\AppData\Roaming\bbkey\pass phrase"`) {
		t.Errorf("task %q does not quote the paths for Windows", task)
	}
}

// TestCronRunning reads a cron daemon from a /proc-shaped directory: by name, as busybox's
// applet, and not at all where /proc is missing or hides other users' processes.
func TestCronRunning(t *testing.T) {
	proc := func(t *testing.T, procs map[string][2]string) string {
		dir := t.TempDir()
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		for pid, p := range procs {
			must(os.MkdirAll(filepath.Join(dir, pid), 0o755))
			must(os.WriteFile(filepath.Join(dir, pid, "comm"), []byte(p[0]+"\n"), 0o644))
			must(os.WriteFile(filepath.Join(dir, pid, "cmdline"), []byte(p[1]), 0o644))
		}
		must(os.MkdirAll(filepath.Join(dir, "self"), 0o755)) // not a pid
		return dir
	}
	init := [2]string{"systemd", "/sbin/init\x00"}
	for _, tt := range []struct {
		name           string
		procs          map[string][2]string
		running, known bool
	}{
		{"none", map[string][2]string{"1": init, "42": {"sshd", "sshd\x00"}, "77": {"bash", "bash\x00crond\x00"}}, false, true},
		{"cron", map[string][2]string{"1": init, "300": {"cron", "/usr/sbin/cron\x00-f\x00"}}, true, true},
		{"cronie", map[string][2]string{"1": init, "300": {"crond", "/usr/sbin/crond\x00-n\x00"}}, true, true},
		{"busybox crond", map[string][2]string{"1": {"busybox", "busybox\x00init\x00"}, "9": {"busybox", "busybox\x00crond\x00-f\x00"}}, true, true},
		{"busybox other applet", map[string][2]string{"1": init, "9": {"busybox", "busybox\x00syslogd\x00"}}, false, true},
		{"pid 1 hidden (hidepid)", map[string][2]string{"500": {"bash", "bash\x00"}}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if running, known := CronRunning(proc(t, tt.procs)); running != tt.running || known != tt.known {
				t.Errorf("CronRunning = %v, %v; want %v, %v", running, known, tt.running, tt.known)
			}
		})
	}
	if running, known := CronRunning(filepath.Join(t.TempDir(), "absent")); running || known {
		t.Errorf("no /proc: CronRunning = %v, %v; want false, false", running, known)
	}
}
