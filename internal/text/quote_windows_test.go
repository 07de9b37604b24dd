package text

import "testing"

// On Windows a hint's path is quoted for PowerShell and cmd.exe, never with POSIX quotes.
func TestCommandQuoteWindows(t *testing.T) {
	if got := CommandQuote(`C:\Users\Ann Lee\k`); got != `"C:\Users\Ann Lee\k"` {
		t.Errorf("CommandQuote = %s", got)
	}
}
