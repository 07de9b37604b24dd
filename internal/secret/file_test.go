package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/errkind"
)

// Every way a secret file can be wrong is a usage error that names the flag and says what
// to do about it, in the words of the secret it should hold.
func TestSecretFileErrorsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	big := filepath.Join(dir, "big")
	blank := filepath.Join(dir, "blank")
	for p, b := range map[string][]byte{empty: nil, big: []byte(strings.Repeat("a", maxFile+1)), blank: []byte(" \n")} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		flag, path, holds string
		read              func(flag, path string) ([]byte, error)
	}{
		{"--token-file", empty, "token", ReadNonEmpty},
		{"--token-file", blank, "token", ReadNonEmpty},
		{"--passphrase-file", empty, "passphrase", ReadNonEmpty},
		{"--token-file", big, "token", ReadFile},
		{"--passphrase-file", big, "passphrase", ReadFile},
	} {
		_, err := c.read(c.flag, c.path)
		h := errkind.Hints(err)
		if errkind.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%s %s: %v (exit %d), want a usage error naming the flag", c.flag, c.path, err, errkind.ExitCode(err))
		}
		if len(h) != 1 || !strings.Contains(h[0], c.flag) || !strings.Contains(h[0], c.holds) {
			t.Errorf("%s %s: hints %q, want one naming %s and the %s it holds", c.flag, c.path, h, c.flag, c.holds)
		}
	}
}
