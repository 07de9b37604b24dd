package schedule

import (
	"fmt"
	"strconv"
	"strings"
)

// CronMarker ends the crontab line of a job, so bbkey finds and replaces only its own.
func CronMarker(id string) string { return "# bbkey:" + id }

// CronLine renders the crontab line of j (without newline).
func CronLine(j Job) (string, error) {
	if err := j.validate(Cron); err != nil {
		return "", err
	}
	c := j.Calendar
	var when string
	switch c.Frequency {
	case Daily:
		when = fmt.Sprintf("%d %d * * *", c.Minute, c.Hour)
	case Weekly:
		when = fmt.Sprintf("%d %d * * 1", c.Minute, c.Hour)
	case Monthly:
		when = fmt.Sprintf("%d %d 1 * *", c.Minute, c.Hour)
	}
	var cmd []string
	cmd = append(cmd, when)
	for _, kv := range j.Env {
		k, v, _ := strings.Cut(kv, "=")
		cmd = append(cmd, k+"="+shQuote(v))
	}
	for _, a := range append([]string{j.Executable}, j.Args...) {
		cmd = append(cmd, shQuote(a))
	}
	cmd = append(cmd, ">>", shQuote(j.LogFile), "2>&1", CronMarker(j.ID))
	// cron turns an unescaped % into a newline.
	return strings.ReplaceAll(strings.Join(cmd, " "), "%", `\%`), nil
}

// shQuote single-quotes s for sh when it has anything but safe characters.
func shQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isCronLine reports whether line is the crontab line of job id.
func isCronLine(line, id string) bool {
	return strings.HasSuffix(strings.TrimRight(line, " \t\r"), " "+CronMarker(id))
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
		if isCronLine(strings.TrimSuffix(l, "\n"), id) {
			found = true
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, ""), found
}

// findCron returns the line of job id in crontab.
func findCron(crontab, id string) (string, bool) {
	for l := range strings.SplitSeq(crontab, "\n") {
		if isCronLine(l, id) {
			return strings.TrimRight(l, " \t\r"), true
		}
	}
	return "", false
}

// readCronLine reads back the calendar and command of a line CronLine wrote.
func readCronLine(line, id string) (cal Calendar, command, log string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 || f[3] != "*" {
		return cal, "", "", false
	}
	m, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return cal, "", "", false
	}
	cal = Calendar{Hour: h, Minute: m}
	switch {
	case f[2] == "*" && f[4] == "*":
		cal.Frequency = Daily
	case f[2] == "*" && f[4] == "1":
		cal.Frequency = Weekly
	case f[2] == "1" && f[4] == "*":
		cal.Frequency = Monthly
	default:
		return cal, "", "", false
	}
	// The command is everything after the five time fields, without the marker.
	rest := line
	for range 5 {
		rest = strings.TrimLeft(rest, " \t")
		rest = rest[strings.IndexAny(rest, " \t"):]
	}
	command = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), CronMarker(id)))
	command = strings.ReplaceAll(command, `\%`, "%")
	if i := strings.LastIndex(command, " >> "); i >= 0 {
		log = shUnquote(strings.TrimSuffix(command[i+4:], " 2>&1"))
	}
	return cal, command, log, true
}

// shUnquote undoes shQuote on one word.
func shUnquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], `'\''`, "'")
	}
	return s
}
