package agent

import "fmt"

// ServiceName is the Windows service of the OpenSSH agent ("OpenSSH Authentication Agent").
const ServiceName = "ssh-agent"

// EnableServiceCommand is the PowerShell that makes the agent service start with Windows
// and starts it now; it must run as administrator.
const EnableServiceCommand = "Get-Service ssh-agent | Set-Service -StartupType Automatic; Start-Service ssh-agent"

// ServiceState is what Windows' service manager says of the ssh-agent service.
type ServiceState struct {
	Installed bool
	Running   bool
	Start     string // "automatic", "manual" or "disabled" (the default)
}

// Problem says what keeps the service from serving keys now or after a reboot, and the
// fix; "" when it runs and starts with Windows.
func (s ServiceState) Problem() (problem, fix string) {
	enable := "in PowerShell as administrator: " + EnableServiceCommand
	switch {
	case !s.Installed:
		return "the " + ServiceName + " service is not installed (it comes with the OpenSSH client)",
			"install the OpenSSH client (Settings → System → Optional features → OpenSSH Client, or in PowerShell as administrator: Add-WindowsCapability -Online -Name OpenSSH.Client~~~~0.0.1.0), then " + enable
	case s.Start == "disabled":
		return "the " + ServiceName + " service is disabled (Windows' default)", "enable and start it, once, " + enable
	case !s.Running:
		return fmt.Sprintf("the %s service is stopped (startup type %s)", ServiceName, s.Start), "start it, and have it start with Windows, " + enable
	case s.Start != "automatic":
		return fmt.Sprintf("the %s service runs but its startup type is %s, so it will not be running after a reboot", ServiceName, s.Start),
			"have it start with Windows, " + enable
	}
	return "", ""
}
