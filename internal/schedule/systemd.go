package schedule

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// UnitName is the systemd unit base name of a job ("bbkey-rotate").
func UnitName(id string) string { return "bbkey-" + id }

// SystemdUnits renders the .service and .timer of j for a systemd user manager.
func SystemdUnits(j Job) (service, timer string, err error) {
	if err := j.validate(Systemd); err != nil {
		return "", "", err
	}
	var s strings.Builder
	fmt.Fprintf(&s, "# Written by bbkey rotate --schedule; bbkey rotate --unschedule removes it.\n")
	fmt.Fprintf(&s, "[Unit]\nDescription=%s\n\n", systemdEscape(j.Description))
	fmt.Fprintf(&s, "[Service]\nType=oneshot\n")
	for _, kv := range j.Env {
		fmt.Fprintf(&s, "Environment=%s\n", systemdQuote(kv, true, true))
	}
	// systemd refuses these in the executable's path whatever the quoting.
	if strings.ContainsAny(j.Executable, `'"\`) {
		return "", "", fmt.Errorf("systemd cannot start %q: its path contains a quote or a backslash; install bbkey elsewhere", j.Executable)
	}
	// The executable is never $-expanded, so only its % is doubled.
	argv := []string{systemdQuote(j.Executable, false, true)}
	for _, a := range j.Args {
		argv = append(argv, systemdQuote(a, false, false))
	}
	fmt.Fprintf(&s, "ExecStart=%s\n", strings.Join(argv, " "))
	fmt.Fprintf(&s, "StandardOutput=append:%s\n", systemdEscape(j.LogFile))
	fmt.Fprintf(&s, "StandardError=append:%s\n", systemdEscape(j.LogFile))

	var t strings.Builder
	fmt.Fprintf(&t, "# Written by bbkey rotate --schedule; bbkey rotate --unschedule removes it.\n")
	fmt.Fprintf(&t, "[Unit]\nDescription=%s (%s)\n\n", systemdEscape(j.Description), j.Calendar.Frequency)
	fmt.Fprintf(&t, "[Timer]\nOnCalendar=%s\n", OnCalendar(j.Calendar))
	// Persistent catches up on a run missed while the machine was off; the delay keeps
	// many machines from calling Bitbucket in the same second.
	fmt.Fprintf(&t, "Persistent=true\nRandomizedDelaySec=10min\n\n")
	fmt.Fprintf(&t, "[Install]\nWantedBy=timers.target\n")
	return s.String(), t.String(), nil
}

// OnCalendar is the systemd calendar expression of c.
func OnCalendar(c Calendar) string {
	hm := fmt.Sprintf("%02d:%02d:00", c.Hour, c.Minute)
	switch c.Frequency {
	case Weekly:
		return "Mon *-*-* " + hm
	case Monthly:
		return "*-*-01 " + hm
	}
	return "*-*-* " + hm
}

// parseOnCalendar reads back what OnCalendar writes, and systemd's own shorthands.
func parseOnCalendar(spec string) (Calendar, bool) {
	switch spec {
	case "daily":
		return Calendar{Frequency: Daily}, true
	case "weekly":
		return Calendar{Frequency: Weekly}, true
	case "monthly":
		return Calendar{Frequency: Monthly}, true
	}
	f := strings.Fields(spec)
	var c Calendar
	switch {
	case len(f) == 2 && f[0] == "*-*-*":
		c.Frequency = Daily
	case len(f) == 2 && f[0] == "*-*-01":
		c.Frequency = Monthly
	case len(f) == 3 && f[0] == "Mon" && f[1] == "*-*-*":
		c.Frequency, f = Weekly, f[1:]
	default:
		return c, false
	}
	h, m, ok := parseHM(strings.TrimSuffix(f[1], ":00"))
	c.Hour, c.Minute = h, m
	return c, ok
}

func parseHM(s string) (int, int, bool) {
	hs, ms, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// systemdEscape doubles the characters systemd expands in unit settings: % (specifiers).
func systemdEscape(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// systemdQuote makes s one word of a command line or Environment= assignment: specifiers
// (%) doubled, variable references ($) doubled unless noVars (the executable, and
// Environment= values, are not expanded), and double quotes with C-style escapes around
// anything with blanks, quotes, backslashes or semicolons (or always).
func systemdQuote(s string, always, noVars bool) string {
	s = systemdEscape(s)
	if !noVars {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	if !always && s != "" && s != ";" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// systemdSplit undoes systemdQuote on a whole ExecStart value.
func systemdSplit(line string) []string {
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			quoted, inWord = !quoted, true
		case !quoted && (c == ' ' || c == '\t'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	for i, w := range out {
		if i == 0 { // the executable: no $ expansion
			out[i] = strings.ReplaceAll(w, "%%", "%")
			continue
		}
		out[i] = strings.NewReplacer("%%", "%", "$$", "$").Replace(w)
	}
	return out
}

// unitValues returns the first value of each key in a unit file.
func unitValues(content string) map[string]string {
	vals := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(content))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if _, seen := vals[k]; ok && !seen {
			vals[k] = strings.TrimSpace(v)
		}
	}
	return vals
}
