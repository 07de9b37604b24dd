//go:build !windows

package text

// CommandQuote quotes s for a command a hint tells the user to type: a POSIX shell's
// quoting outside Windows.
func CommandQuote(s string) string { return ShellQuote(s) }
