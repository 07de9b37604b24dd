package text

import (
	"os/exec"
	"testing"
)

func TestPlural(t *testing.T) {
	if Plural(1, "key", "keys") != "key" || Plural(0, "key", "keys") != "keys" || Count(2, "key", "keys") != "2 keys" || Count(1, "key", "keys") != "1 key" {
		t.Error("plural")
	}
}

// TestShellQuote runs each quoted word through a real sh and reads it back.
func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"/tmp/x:1", "a b'c", "", "$HOME", "C:\\Users\\me", "it's", "x;rm -rf /", "user@host", "*"} {
		q := ShellQuote(s)
		out, err := exec.Command(sh, "-c", "printf %s "+q).Output()
		if err != nil || string(out) != s {
			t.Errorf("ShellQuote(%q) = %s: sh read back %q (%v)", s, q, out, err)
		}
	}
	if ShellQuote("/tmp/x:1") != "/tmp/x:1" || ShellQuote("a b") != "'a b'" {
		t.Error("a plain word is left alone, a spaced one quoted")
	}
}

// TestWindowsQuote checks the quoting CommandLineToArgvW undoes: blanks, cmd.exe operators
// and PowerShell's quote character are quoted, a trailing backslash is doubled.
func TestWindowsQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`C:\Users\ann\.ssh\bbkey_ann_ed25519`, `C:\Users\ann\.ssh\bbkey_ann_ed25519`},
		{`C:\Users\Ann Lee\.ssh\k`, `"C:\Users\Ann Lee\.ssh\k"`},
		{`C:\Users\o'brien\k`, `"C:\Users\o'brien\k"`},
		{`C:\a b\`, `"C:\a b\\"`},
		{`R&D`, `"R&D"`},
		{``, `""`},
	} {
		if got := WindowsQuote(tt.in); got != tt.want {
			t.Errorf("WindowsQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
