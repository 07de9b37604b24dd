//go:build windows

package agent

// unsetWant is what Connect says without SSH_AUTH_SOCK: it names the agent service.
const unsetWant = "ssh-agent service"
