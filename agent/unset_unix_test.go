//go:build !windows

package agent

// unsetWant is what Connect says without SSH_AUTH_SOCK.
const unsetWant = "SSH_AUTH_SOCK is not set"
