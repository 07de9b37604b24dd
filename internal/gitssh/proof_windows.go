//go:build windows

package gitssh

import (
	"os"
	"path/filepath"
)

// ProofSSH is the ssh a proof puts in GIT_SSH_COMMAND: Windows OpenSSH's ssh.exe, which
// takes a named pipe as its agent (a bare "ssh" could be Git for Windows' own, which
// cannot), when it is installed; else "ssh" from PATH.
func ProofSSH() string {
	p := WindowsSSH(os.Getenv)
	if _, err := os.Stat(filepath.FromSlash(p)); err == nil {
		return p
	}
	return "ssh"
}
