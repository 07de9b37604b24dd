package keys

import (
	"testing"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/prompt"
)

// CheckNew answers as NewPassphrase would, and never prompts.
func TestCheckNew(t *testing.T) {
	fake := &prompt.Fake{}
	for _, tt := range []struct {
		name string
		src  PassphraseSource
		code int
	}{
		{"no source, no terminal", PassphraseSource{NoInput: true}, cmdutil.ExitUsage},
		{"terminal", PassphraseSource{Prompter: fake}, cmdutil.ExitOK},
		{"file", PassphraseSource{File: writeSecret(t, testPass)}, cmdutil.ExitOK},
		{"short file", PassphraseSource{File: writeSecret(t, "short")}, cmdutil.ExitUsage},
		{"env", PassphraseSource{LookupEnv: env(PassphraseEnv, testPass), NoInput: true}, cmdutil.ExitOK},
		{"no passphrase", PassphraseSource{NoPassphrase: true, NoInput: true}, cmdutil.ExitOK},
		{"both", PassphraseSource{NoPassphrase: true, File: writeSecret(t, testPass)}, cmdutil.ExitUsage},
	} {
		if got := cmdutil.ExitCode(tt.src.CheckNew()); got != tt.code {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.code)
		}
	}
	if len(fake.Asked) != 0 {
		t.Errorf("CheckNew asked %q", fake.Asked)
	}
}
