package agent

import (
	"strings"
	"testing"
)

// Each state of the ssh-agent service gets its own problem and the one step that fixes
// it; a running service that starts with Windows has none.
func TestServiceStateProblem(t *testing.T) {
	for _, tc := range []struct {
		st           ServiceState
		problem, fix string
	}{
		{ServiceState{}, "not installed", "Add-WindowsCapability -Online -Name OpenSSH.Client"},
		{ServiceState{Installed: true, Start: "disabled"}, "is disabled", EnableServiceCommand},
		{ServiceState{Installed: true, Start: "manual"}, "is stopped (startup type manual)", EnableServiceCommand},
		{ServiceState{Installed: true, Running: true, Start: "manual"}, "will not be running after a reboot", EnableServiceCommand},
		{ServiceState{Installed: true, Running: true, Start: "automatic"}, "", ""},
	} {
		problem, fix := tc.st.Problem()
		if (tc.problem == "") != (problem == "") || !strings.Contains(problem, tc.problem) || !strings.Contains(fix, tc.fix) {
			t.Errorf("%+v: %q, %q; want %q, %q", tc.st, problem, fix, tc.problem, tc.fix)
		}
		if problem != "" && (!strings.Contains(problem, "ssh-agent service") || !strings.Contains(fix, "as administrator")) {
			t.Errorf("%+v: %q, %q does not name the service or say to run as administrator", tc.st, problem, fix)
		}
	}
	if EnableServiceCommand != "Get-Service ssh-agent | Set-Service -StartupType Automatic; Start-Service ssh-agent" {
		t.Errorf("EnableServiceCommand = %q", EnableServiceCommand)
	}
}
