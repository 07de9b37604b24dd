package text

// CommandQuote quotes s for a command a hint tells the user to type: on Windows for
// PowerShell and cmd.exe (double quotes; a POSIX single quote means nothing there).
func CommandQuote(s string) string { return WindowsQuote(s) }
