// Package text holds the small wordings every command shares: plurals and quoting a word
// for a shell command bbkey prints as a hint.
package text

import (
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Plural picks one or many by n.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Count is n and the word for it: "1 key", "3 keys".
func Count(n int, one, many string) string {
	return strconv.Itoa(n) + " " + Plural(n, one, many)
}

// FirstFew joins the first n items with ", ", and says how many more there are:
// "a, b and 3 more".
func FirstFew(items []string, n int) string {
	s := strings.Join(items[:min(len(items), n)], ", ")
	if len(items) > n {
		s += " and " + strconv.Itoa(len(items)-n) + " more"
	}
	return s
}

// ShellQuote quotes s for a POSIX shell when it needs it: a word of letters, digits and
// -_./:@%+=, is left as it is, anything else is single-quoted.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShortDuration writes d as Go does without its trailing zero units: "8h", "1h30m", "10m"
// (not "8h0m0s").
func ShortDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// CommandQuote quotes s for a command a hint tells the user to type: for PowerShell and
// cmd.exe on Windows (where a POSIX single quote means nothing), else for a POSIX shell.
func CommandQuote(s string) string {
	if runtime.GOOS == "windows" {
		return WindowsQuote(s)
	}
	return ShellQuote(s)
}

// JoinQuoted is a command line: each of args quoted by quote (ShellQuote, WindowsQuote),
// joined by spaces.
func JoinQuoted(args []string, quote func(string) string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = quote(a)
	}
	return strings.Join(q, " ")
}

// WindowsQuote quotes s the way CommandLineToArgvW splits it: quotes around anything with
// blanks or cmd.exe operators, backslashes before the closing quote doubled.
func WindowsQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t&|<>^(),;=!'") {
		return s
	}
	trail := len(s) - len(strings.TrimRight(s, `\`))
	return `"` + s + strings.Repeat(`\`, trail) + `"`
}
