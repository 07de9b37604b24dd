package schedule

import (
	"github.com/bbkey/bbkey/internal/text"

	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/testutil"
)

// argsRecorder writes a shell script at path that records its arguments, one per line,
// and the BBKEY_SCHEDULED variable, into out.
func argsRecorder(t *testing.T, path, out string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n{ echo \"env=$BBKEY_SCHEDULED\"; for a in \"$@\"; do echo \"arg=$a\"; done; } > " + text.ShellQuote(out) + "\necho logged-to-stdout\necho logged-to-stderr >&2\nexit 3\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestCronLineRunsInSh runs the command part of a crontab line the way cron does (% undone,
// then sh -c) and checks that every argument arrives intact and the log gets both streams.
func TestCronLineRunsInSh(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs sh")
	}
	sh := testutil.RequireBinary(t, "sh")[0]
	dir := t.TempDir()
	j := trickyJob(t, dir)
	if err := os.MkdirAll(filepath.Dir(j.LogFile), 0o700); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "args.txt")
	argsRecorder(t, j.Executable, out)
	line, err := CronLine(j)
	if err != nil {
		t.Fatal(err)
	}
	cmd := strings.SplitN(line, " ", 6)[5]   // after the five time fields
	cmd = strings.ReplaceAll(cmd, `\%`, "%") // what cron does before handing the line to sh
	c := exec.Command(sh, "-c", cmd)
	c.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	err = c.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("cron command: %v, want the job's exit code 3 to come through", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "env=rotate\narg=" + strings.Join(j.Args, "\narg=") + "\n"
	if string(got) != want {
		t.Errorf("the job saw\n%s\nwant\n%s", got, want)
	}
	log, _ := os.ReadFile(j.LogFile)
	if string(log) != "logged-to-stdout\nlogged-to-stderr\n" {
		t.Errorf("log = %q", log)
	}
}

// TestSystemdAnalyzeVerify has systemd itself check the units, including that the quoted
// ExecStart of the tricky job names an executable that exists.
func TestSystemdAnalyzeVerify(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): unit files are checked by content only")
	}
	for _, name := range []string{"plain", "tricky"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var j Job
			if name == "plain" {
				j = linuxJob(t, Weekly)
				j.Executable = filepath.Join(dir, "bin", "bbkey")
				j.LogFile = filepath.Join(dir, "rotate.log")
				j.Args = j.Args[:len(j.Args)-2]
			} else {
				j = trickyJob(t, dir)
			}
			argsRecorder(t, j.Executable, filepath.Join(dir, "args.txt"))
			svc, tmr, err := SystemdUnits(j)
			if err != nil {
				t.Fatal(err)
			}
			units := filepath.Join(dir, "units")
			os.MkdirAll(units, 0o755)
			base := filepath.Join(units, jobName(j.ID))
			os.WriteFile(base+".service", []byte(svc), 0o644)
			os.WriteFile(base+".timer", []byte(tmr), 0o644)
			runtimeDir := filepath.Join(dir, "run")
			os.Mkdir(runtimeDir, 0o700)
			c := exec.Command(bin, "verify", "--user", base+".service", base+".timer")
			c.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir, "SYSTEMD_LOG_LEVEL=notice")
			out, err := c.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "" {
				t.Fatalf("systemd-analyze verify: %v\n%s\nservice:\n%s\ntimer:\n%s", err, out, svc, tmr)
			}
			// And systemd reads the calendar as bbkey computes it.
			c = exec.Command(bin, "calendar", OnCalendar(j.Calendar))
			out, err = c.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Normalized form: "+OnCalendar(j.Calendar)) {
				t.Fatalf("systemd-analyze calendar: %v\n%s", err, out)
			}
		})
	}
}
