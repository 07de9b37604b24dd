//go:build windows

package agent

import (
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/testutil"
)

// QueryService reads the real service manager. Wine has no ssh-agent service, so there
// it must say "not installed", and Connect without SSH_AUTH_SOCK must say so with the
// install step.
func TestQueryServiceReal(t *testing.T) {
	st, err := QueryService()
	if err != nil {
		t.Fatal(err)
	}
	if !testutil.UnderWine() {
		t.Logf("ssh-agent service: %+v", st) // any state is possible on a real machine
		return
	}
	if st.Installed {
		t.Fatalf("Wine has an ssh-agent service? %+v", st)
	}
	_, err = Connect(func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "the ssh-agent service is not installed") {
		t.Fatalf("Connect: %v", err)
	}
	h := strings.Join(err.(*NoAgentError).Hints(), "\n")
	if !strings.Contains(h, "OpenSSH Client") || !strings.Contains(h, EnableServiceCommand) {
		t.Fatalf("hints: %s", h)
	}
}
