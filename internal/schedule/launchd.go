package schedule

import (
	"fmt"
	"strings"
)

// LaunchdLabel is the launchd label of a job; the plist is <label>.plist in
// ~/Library/LaunchAgents.
func LaunchdLabel(id string) string { return "com.github.bbkey." + id }

// LaunchdPlist renders the launch agent of j.
func LaunchdPlist(j Job) (string, error) {
	if err := j.validate(Launchd); err != nil {
		return "", err
	}
	var b strings.Builder
	str := func(indent, s string) { fmt.Fprintf(&b, "%s<string>%s</string>\n", indent, xmlText(s)) }
	key := func(indent, k string) { fmt.Fprintf(&b, "%s<key>%s</key>\n", indent, xmlText(k)) }
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
`)
	// "--" may not appear inside an XML comment, so the flags are not named here.
	fmt.Fprintf(&b, "<!-- %s. Managed by bbkey: remove it with bbkey rotate and its unschedule flag. -->\n",
		xmlText(strings.ReplaceAll(j.Description, "--", "- -")))
	b.WriteString("<plist version=\"1.0\">\n<dict>\n")
	key("\t", "Label")
	str("\t", LaunchdLabel(j.ID))
	key("\t", "ProgramArguments")
	b.WriteString("\t<array>\n")
	for _, a := range append([]string{j.Executable}, j.Args...) {
		str("\t\t", a)
	}
	b.WriteString("\t</array>\n")
	if len(j.Env) > 0 {
		key("\t", "EnvironmentVariables")
		b.WriteString("\t<dict>\n")
		for _, kv := range j.Env {
			k, v, _ := strings.Cut(kv, "=")
			key("\t\t", k)
			str("\t\t", v)
		}
		b.WriteString("\t</dict>\n")
	}
	// launchd runs a missed calendar interval when the Mac wakes up.
	key("\t", "StartCalendarInterval")
	b.WriteString("\t<dict>\n")
	switch j.Calendar.Frequency {
	case Weekly:
		key("\t\t", "Weekday")
		b.WriteString("\t\t<integer>1</integer>\n")
	case Monthly:
		key("\t\t", "Day")
		b.WriteString("\t\t<integer>1</integer>\n")
	}
	key("\t\t", "Hour")
	fmt.Fprintf(&b, "\t\t<integer>%d</integer>\n", j.Calendar.Hour)
	key("\t\t", "Minute")
	fmt.Fprintf(&b, "\t\t<integer>%d</integer>\n", j.Calendar.Minute)
	b.WriteString("\t</dict>\n")
	key("\t", "StandardOutPath")
	str("\t", j.LogFile)
	key("\t", "StandardErrorPath")
	str("\t", j.LogFile)
	key("\t", "ProcessType")
	str("\t", "Background")
	b.WriteString("</dict>\n</plist>\n")
	return b.String(), nil
}

// xmlText escapes character data; quotes need no escaping there, and leaving them
// keeps the files readable. validate has refused control characters already.
func xmlText(s string) string { return xmlEscaper.Replace(s) }

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
