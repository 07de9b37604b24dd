//go:build !windows

package secret

import (
	"os"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/errkind"
)

// A --passphrase-file others can read is a bad flag value (exit 2, as an unreadable
// --token-file is), and the hint gives the real reason: ssh never reads this file.
func TestPassphraseFileReadableByOthersIsUsage(t *testing.T) {
	p := writeSecret(t, testPass)
	os.Chmod(p, 0o644)
	_, err := Source{File: p}.NewPassphrase()
	if errkind.ExitCode(err) != errkind.ExitUsage {
		t.Errorf("exit %d, want %d (err %v)", errkind.ExitCode(err), errkind.ExitUsage, err)
	}
	if !strings.Contains(err.Error(), "--passphrase-file") {
		t.Errorf("error %q does not name the flag", err)
	}
	h := errkind.Hints(err)
	if len(h) != 2 || !strings.Contains(h[0], "chmod 600 "+p) || strings.Contains(h[0], "ssh refuses") ||
		!strings.Contains(h[1], "set "+PassphraseEnv) {
		t.Errorf("hints = %q, want the chmod 600 hint without the ssh reason, then %s for a file that cannot be chmod'ed", h, PassphraseEnv)
	}
}

// A --token-file others can read is refused with a reason about a token, not a passphrase.
func TestTokenFileReadableByOthersSaysToken(t *testing.T) {
	p := writeSecret(t, "token-value")
	os.Chmod(p, 0o644)
	_, err := ReadNonEmpty("--token-file", p)
	h := errkind.Hints(err)
	if errkind.ExitCode(err) != errkind.ExitUsage || len(h) != 2 || !strings.Contains(h[0], "chmod 600 ") ||
		!strings.Contains(h[0], "token") || strings.Contains(strings.Join(h, "\n"), "passphrase") ||
		!strings.Contains(h[1], "BITBUCKET_SERVER_TOKEN") || !strings.Contains(h[1], "BITBUCKET_API_TOKEN") || !strings.Contains(h[1], "BITBUCKET_ACCESS_TOKEN") {
		t.Errorf("err %v, hints %q: want exit 2, a chmod 600 hint that speaks of a token, then the token variables", err, h)
	}
}
