// Package gitssh finds which ssh git runs, and knows Windows OpenSSH's ssh.exe: on
// Windows, Git for Windows runs the MSYS ssh it ships unless told otherwise, and that ssh
// cannot reach the Windows agent's named pipe (API.md §6), so bbkey points git at Windows
// OpenSSH.
package gitssh

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bbkey/bbkey/internal/gitrun"
)

// Sources of the ssh git runs, in git's order.
const (
	FromEnvCommand = "GIT_SSH_COMMAND"
	FromConfig     = "core.sshCommand"
	FromEnvSSH     = "GIT_SSH"
	FromDefault    = "default" // git's own: on Windows, the ssh Git for Windows ships
)

// Which is the ssh git will run and where git got it.
type Which struct {
	Source  string // one of the From constants
	Command string // as given ("" for FromDefault)
}

// Find asks as git does: GIT_SSH_COMMAND, then core.sshCommand (read by git in dir, so
// every config file counts), then GIT_SSH, else git's default.
func Find(ctx context.Context, git gitrun.Runner, dir string, getenv func(string) string) (Which, error) {
	if v := strings.TrimSpace(getenv(FromEnvCommand)); v != "" {
		return Which{FromEnvCommand, v}, nil
	}
	out, err := git.Run(ctx, dir, "config", "--get", FromConfig)
	var ge *gitrun.Error
	switch {
	case err == nil && strings.TrimSpace(out) != "":
		return Which{FromConfig, strings.TrimSpace(out)}, nil
	case err == nil, errors.As(err, &ge) && ge.ExitCode == 1: // unset
	default:
		return Which{}, err
	}
	if v := strings.TrimSpace(getenv(FromEnvSSH)); v != "" {
		return Which{FromEnvSSH, v}, nil
	}
	return Which{Source: FromDefault}, nil
}

// String says it for a person: "core.sshCommand C:/Windows/System32/OpenSSH/ssh.exe".
func (w Which) String() string {
	if w.Source == FromDefault {
		return "git's own ssh"
	}
	if w.Source == FromConfig {
		return w.Source + " " + w.Command
	}
	return w.Source + "=" + w.Command
}

// IsWindowsOpenSSH reports whether the command runs Windows OpenSSH's ssh.exe (the one in
// System32\OpenSSH, or an OpenSSH install of its own such as C:\Program Files\OpenSSH),
// not Git for Windows' MSYS ssh or a bare "ssh" that git's PATH resolves to its own.
func (w Which) IsWindowsOpenSSH() bool {
	if w.Source == FromDefault {
		return false
	}
	prog := strings.ToLower(strings.ReplaceAll(program(w.Command), `\`, "/"))
	prog = strings.TrimSuffix(prog, ".exe")
	return strings.HasSuffix(prog, "/openssh/ssh") && !strings.Contains(prog, "/usr/bin/")
}

// program is the first word of a command line, unquoted ("C:/Program Files/x/ssh.exe"
// in quotes is one word).
func program(cmd string) string {
	cmd = strings.TrimSpace(cmd)
	for _, q := range []string{`"`, `'`} {
		if rest, ok := strings.CutPrefix(cmd, q); ok {
			if i := strings.Index(rest, q); i >= 0 {
				return rest[:i]
			}
		}
	}
	if i := strings.IndexAny(cmd, " \t"); i >= 0 {
		return cmd[:i]
	}
	return cmd
}

// WindowsSSH is where Windows OpenSSH's ssh.exe is, with forward slashes as git config
// takes it: %SystemRoot%\System32\OpenSSH\ssh.exe (C:\Windows when SystemRoot is unset).
func WindowsSSH(getenv func(string) string) string {
	root := getenv("SystemRoot")
	if root == "" {
		root = getenv("SYSTEMROOT")
	}
	if root == "" {
		root = `C:\Windows`
	}
	return strings.ReplaceAll(root, `\`, "/") + "/System32/OpenSSH/ssh.exe"
}

// ProofSSH is the ssh a proof puts in GIT_SSH_COMMAND: on Windows, Windows OpenSSH's
// ssh.exe when it is installed, which takes a named pipe as its agent (a bare "ssh" could
// be Git for Windows' own, which cannot); else ssh from PATH.
func ProofSSH() string {
	p := WindowsSSH(os.Getenv)
	if _, err := os.Stat(filepath.FromSlash(p)); runtime.GOOS == "windows" && err == nil {
		return p
	}
	return "ssh"
}
