package secret

import (
	"testing"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
)

// CheckNew answers as NewPassphrase would, and never prompts.
func TestCheckNew(t *testing.T) {
	fake := &prompttest.Fake{}
	for _, tt := range []struct {
		name string
		src  Source
		code int
	}{
		{"no source, no terminal", Source{NoInput: true}, errkind.ExitUsage},
		{"terminal", Source{Prompter: fake}, errkind.ExitOK},
		{"file", Source{File: writeSecret(t, testPass)}, errkind.ExitOK},
		{"short file", Source{File: writeSecret(t, "short")}, errkind.ExitUsage},
		{"env", Source{LookupEnv: env(PassphraseEnv, testPass), NoInput: true}, errkind.ExitOK},
		{"no passphrase", Source{NoPassphrase: true, NoInput: true}, errkind.ExitOK},
		{"both", Source{NoPassphrase: true, File: writeSecret(t, testPass)}, errkind.ExitUsage},
	} {
		if got := errkind.ExitCode(tt.src.CheckNew()); got != tt.code {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.code)
		}
	}
	if len(fake.Asked) != 0 {
		t.Errorf("CheckNew asked %q", fake.Asked)
	}
}
