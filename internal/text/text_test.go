package text

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/testutil"
)

func TestPlural(t *testing.T) {
	if Plural(1, "key", "keys") != "key" || Plural(0, "key", "keys") != "keys" || Count(2, "key", "keys") != "2 keys" || Count(1, "key", "keys") != "1 key" {
		t.Error("plural")
	}
}

func TestFirstFew(t *testing.T) {
	for _, tt := range []struct {
		items []string
		want  string
	}{
		{nil, ""},
		{[]string{"a", "b"}, "a, b"},
		{[]string{"a", "b", "c"}, "a, b, c"},
		{[]string{"a", "b", "c", "d", "e"}, "a, b, c and 2 more"},
	} {
		if got := FirstFew(tt.items, 3); got != tt.want {
			t.Errorf("FirstFew(%q, 3) = %q, want %q", tt.items, got, tt.want)
		}
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

// TestJoinQuoted runs a shell-quoted command line through a real sh and reads the words back.
func TestJoinQuoted(t *testing.T) {
	testutil.RequireBinary(t, "sh")
	args := []string{"plain", "with space", "it's", `back\slash`, "$HOME", "", "-o", "UserKnownHostsFile=/tmp/a b/known_hosts"}
	out, err := exec.Command("sh", "-c", `for a in `+JoinQuoted(args, ShellQuote)+`; do printf '%s\n' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, args) {
		t.Errorf("sh read %q, want %q", got, args)
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

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		8 * time.Hour:                  "8h",
		24 * time.Hour:                 "24h",
		90 * time.Minute:               "1h30m",
		30 * time.Minute:               "30m",
		10 * time.Second:               "10s",
		4 * time.Second:                "4s",
		time.Minute + 30*time.Second:   "1m30s",
		2*time.Hour + 10*time.Second:   "2h0m10s",
		100*time.Hour + 20*time.Minute: "100h20m",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
