//go:build !windows

package text

import "testing"

// Outside Windows a hint's path is quoted for a POSIX shell.
func TestCommandQuotePOSIX(t *testing.T) {
	if got := CommandQuote("/home/ann lee/k"); got != "'/home/ann lee/k'" {
		t.Errorf("CommandQuote = %s", got)
	}
}
