//go:build !windows

package gitssh

// ProofSSH is the ssh a proof puts in GIT_SSH_COMMAND: ssh from PATH.
func ProofSSH() string { return "ssh" }
