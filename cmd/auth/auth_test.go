package auth

import (
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
)

func TestMissingScopes(t *testing.T) {
	if names, _ := missingScopes(nil); names != nil {
		t.Errorf("unknown scopes: %q, want nothing known missing", names)
	}
	if names, _ := missingScopes([]string{}); len(names) != len(Scopes) {
		t.Errorf("no scopes: %q", names)
	}
	names, whys := missingScopes([]string{"read:user:bitbucket", "x"})
	if len(names) != len(Scopes)-1 || slices.Contains(names, "read:user:bitbucket") || whys[0] != Scopes[1].Why {
		t.Errorf("got %q %q", names, whys)
	}
}

func TestRequireScopes(t *testing.T) {
	if err := RequireScopes(nil, SetupScopes, "setup"); err != nil {
		t.Errorf("unknown scopes must not fail: %v", err)
	}
	err := RequireScopes([]string{"read:user:bitbucket"}, SetupScopes, "bbkey setup")
	if apierr.ExitCode(err) != errkind.ExitAuth || !strings.Contains(err.Error(), "read:ssh-key:bitbucket, write:ssh-key:bitbucket") {
		t.Errorf("err = %v (exit %d)", err, apierr.ExitCode(err))
	}
}

// secretPrompter answers Secret with the buffers given, in order.
type secretPrompter struct {
	prompttest.Fake
	answers [][]byte
}

func (p *secretPrompter) Secret(string) ([]byte, error) {
	b := p.answers[0]
	p.answers = p.answers[1:]
	return b, nil
}

// askSecret asks again after a blank answer and trims without a copy, so clearing what
// it returns clears the secret everywhere it was.
func TestAskSecretTrimsInPlace(t *testing.T) {
	b := []byte("  tok\r\n")
	got, err := askSecret(&secretPrompter{answers: [][]byte{[]byte(" \n"), b}}, "token", "the token")
	if err != nil || string(got) != "tok" {
		t.Fatalf("got %q, %v", got, err)
	}
	clear(got)
	if strings.Contains(string(b), "tok") {
		t.Fatalf("the secret is still in the answer: %q", b)
	}
}
