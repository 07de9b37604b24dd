package schedule

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/internal/text"
)

// CronMarker ends the crontab line of a job, so bbkey finds and replaces only its own.
func CronMarker(id string) string { return "# bbkey:" + id }

// CronLine renders the crontab line of j (without newline).
func CronLine(j Job) (string, error) {
	if err := j.validate(Cron); err != nil {
		return "", err
	}
	cmd := []string{cronWhen(j.Calendar)}
	for _, kv := range j.Env {
		k, v, _ := strings.Cut(kv, "=")
		cmd = append(cmd, k+"="+text.ShellQuote(v))
	}
	cmd = append(cmd, text.JoinQuoted(append([]string{j.Executable}, j.Args...), text.ShellQuote))
	cmd = append(cmd, ">>", text.ShellQuote(j.LogFile), "2>&1", CronMarker(j.ID))
	// cron turns an unescaped % into a newline.
	return strings.ReplaceAll(strings.Join(cmd, " "), "%", `\%`), nil
}

// cronWhen is the five time fields of c.
func cronWhen(c Calendar) string {
	switch c.Frequency {
	case Weekly:
		return fmt.Sprintf("%d %d * * 1", c.Minute, c.Hour)
	case Monthly:
		return fmt.Sprintf("%d %d 1 * *", c.Minute, c.Hour)
	}
	return fmt.Sprintf("%d %d * * *", c.Minute, c.Hour)
}

// CronInstall returns crontab with the line of the job replaced or appended; every other
// line stays byte-for-byte.
func CronInstall(crontab, line, id string) string {
	out, _ := CronRemove(crontab, id)
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out + line + "\n"
}

// CronRemove returns crontab without the line of job id, and whether there was one.
func CronRemove(crontab, id string) (string, bool) {
	lines := strings.SplitAfter(crontab, "\n")
	kept := lines[:0]
	found := false
	for _, l := range lines {
		if strings.HasSuffix(strings.TrimRight(l, " \t\r\n"), " "+CronMarker(id)) {
			found = true
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, ""), found
}

// cronDaemons are the process names of the cron daemons (cronie and dcron run as crond).
var cronDaemons = []string{"cron", "crond", "fcron"}

// CronRunning reports whether a cron daemon runs, looking through procDir ("": /proc); known
// is false where that cannot be told: no such directory (not Linux), or other users'
// processes hidden (hidepid), as pid 1 is then not readable.
func CronRunning(procDir string) (running, known bool) {
	procDir = cmp.Or(procDir, "/proc")
	if _, err := os.ReadFile(filepath.Join(procDir, "1", "comm")); err != nil {
		return false, false
	}
	dirs, err := os.ReadDir(procDir)
	if err != nil {
		return false, false
	}
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(procDir, d.Name(), "comm"))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if name == "busybox" { // `busybox crond`: the applet is the first argument
			args, _ := os.ReadFile(filepath.Join(procDir, d.Name(), "cmdline"))
			if parts := strings.Split(string(args), "\x00"); len(parts) > 1 {
				name = parts[1]
			}
		}
		if slices.Contains(cronDaemons, name) {
			return true, true
		}
	}
	return false, true
}
