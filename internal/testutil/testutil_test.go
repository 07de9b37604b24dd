package testutil

import (
	"strings"
	"testing"
)

func TestStartAgentIsReal(t *testing.T) {
	RequireBinary(t, "ssh-add")
	sock := StartAgent(t)
	out, err := RunErr("", []string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", "-l")
	// A fresh agent answers "The agent has no identities." with exit 1; a missing agent
	// says "Could not open a connection" with exit 2.
	if !strings.Contains(out, "no identities") {
		t.Fatalf("ssh-add -l against the new agent: %v %q", err, out)
	}
}
