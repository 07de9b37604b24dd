package schedule

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
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

// parsePlist decodes a property list into map[string]any, []any, string, int and bool.
func parsePlist(data []byte) (map[string]any, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("reading plist: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			v, err := plistValue(d, se)
			if err != nil {
				return nil, err
			}
			return v.(map[string]any), nil
		}
	}
}

func plistValue(d *xml.Decoder, start xml.StartElement) (any, error) {
	switch start.Name.Local {
	case "dict":
		m := map[string]any{}
		var key string
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				if t.Name.Local == "key" {
					if err := d.DecodeElement(&key, &t); err != nil {
						return nil, err
					}
					continue
				}
				v, err := plistValue(d, t)
				if err != nil {
					return nil, err
				}
				m[key] = v
			case xml.EndElement:
				return m, nil
			}
		}
	case "array":
		var a []any
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				v, err := plistValue(d, t)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			case xml.EndElement:
				return a, nil
			}
		}
	case "true", "false":
		if err := d.Skip(); err != nil {
			return nil, err
		}
		return start.Name.Local == "true", nil
	case "integer":
		var s string
		if err := d.DecodeElement(&s, &start); err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("plist integer %q: %w", s, err)
		}
		return n, nil
	default: // string, and types bbkey does not write, kept as text
		var s string
		if err := d.DecodeElement(&s, &start); err != nil {
			return nil, err
		}
		return s, nil
	}
}

// readPlist reads back a plist LaunchdPlist wrote: calendar, command and log.
func readPlist(data []byte) (cal Calendar, argv []string, log string, err error) {
	m, err := parsePlist(data)
	if err != nil {
		return cal, nil, "", err
	}
	if a, ok := m["ProgramArguments"].([]any); ok {
		for _, v := range a {
			s, _ := v.(string)
			argv = append(argv, s)
		}
	}
	log, _ = m["StandardOutPath"].(string)
	sci, ok := m["StartCalendarInterval"].(map[string]any)
	if !ok {
		return cal, argv, log, errors.New("plist has no StartCalendarInterval")
	}
	h, hok := sci["Hour"].(int)
	mi, mok := sci["Minute"].(int)
	if !hok || !mok {
		return cal, argv, log, errors.New("plist StartCalendarInterval has no Hour and Minute")
	}
	cal = Calendar{Frequency: Daily, Hour: h, Minute: mi}
	if wd, ok := sci["Weekday"].(int); ok {
		if wd != 1 {
			return cal, argv, log, fmt.Errorf("plist runs on weekday %d, not Monday", wd)
		}
		cal.Frequency = Weekly
	}
	if day, ok := sci["Day"].(int); ok {
		if day != 1 {
			return cal, argv, log, fmt.Errorf("plist runs on day %d, not the first", day)
		}
		cal.Frequency = Monthly
	}
	return cal, argv, log, nil
}
