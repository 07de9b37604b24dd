package schedule

import (
	"fmt"
	"strings"
)

// launchdLabel is the launchd label of a job; the plist is <label>.plist in
// ~/Library/LaunchAgents.
func launchdLabel(id string) string { return "com.github.bbkey." + id }

// LaunchdPlist renders the launch agent of j. launchd runs a missed calendar interval
// when the Mac wakes up.
func LaunchdPlist(j Job) (string, error) {
	if err := j.validate(Launchd); err != nil {
		return "", err
	}
	var args, env, when strings.Builder
	for _, a := range append([]string{j.Executable}, j.Args...) {
		fmt.Fprintf(&args, "\t\t<string>%s</string>\n", xmlText(a))
	}
	if len(j.Env) > 0 {
		env.WriteString("\t<key>EnvironmentVariables</key>\n\t<dict>\n")
		for _, kv := range j.Env {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(&env, "\t\t<key>%s</key>\n\t\t<string>%s</string>\n", xmlText(k), xmlText(v))
		}
		env.WriteString("\t</dict>\n")
	}
	switch j.Calendar.Frequency {
	case Weekly:
		when.WriteString("\t\t<key>Weekday</key>\n\t\t<integer>1</integer>\n")
	case Monthly:
		when.WriteString("\t\t<key>Day</key>\n\t\t<integer>1</integer>\n")
	}
	log := xmlText(j.LogFile)
	// "--" may not appear inside an XML comment, so the flags are not named there.
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- %s. Managed by bbkey: remove it with bbkey rotate and its unschedule flag. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>%s</string>
	<key>ProgramArguments</key>
	<array>
%s	</array>
%s	<key>StartCalendarInterval</key>
	<dict>
%s		<key>Hour</key>
		<integer>%d</integer>
		<key>Minute</key>
		<integer>%d</integer>
	</dict>
	<key>StandardOutPath</key>
	<string>%s</string>
	<key>StandardErrorPath</key>
	<string>%s</string>
	<key>ProcessType</key>
	<string>Background</string>
</dict>
</plist>
`, xmlText(strings.ReplaceAll(j.Description, "--", "- -")), xmlText(launchdLabel(j.ID)), args.String(), env.String(),
		when.String(), j.Calendar.Hour, j.Calendar.Minute, log, log), nil
}

// xmlText escapes character data; quotes need no escaping there, and leaving them
// keeps the files readable. validate has refused control characters already.
func xmlText(s string) string { return xmlEscaper.Replace(s) }

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
