package schedule

import (
	"fmt"
	"strings"
)

// jobName is a job's systemd unit base name and its Task Scheduler task name (in the
// root folder): "bbkey-rotate".
func jobName(id string) string { return "bbkey-" + id }

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
