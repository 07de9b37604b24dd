//go:build !windows

package agent

import "errors"

// QueryService is for Windows, where the agent is a service.
func QueryService() (ServiceState, error) {
	return ServiceState{}, errors.New("the ssh-agent service exists on Windows only")
}
