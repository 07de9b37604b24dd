package setup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"

	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/gitssh"
)

// gitSSH (Windows only) makes git run Windows OpenSSH, the ssh that reaches the agent
// service's pipe: it finds which ssh git runs (GIT_SSH_COMMAND, core.sshCommand, GIT_SSH,
// else Git for Windows' own MSYS ssh) and, when that is not Windows OpenSSH, sets
// core.sshCommand globally to its ssh.exe. --no-git-ssh leaves git alone. A failure here
// is a warning: the key works, git only asks for its passphrase.
func (r *run) gitSSH(ctx context.Context) {
	goos := r.opts.GOOS
	if goos == "" {
		goos = runtime.GOOS
	}
	if goos != "windows" {
		return
	}
	r.current = "git ssh"
	defer func() { r.current = "" }()
	if r.opts.NoGitSSH {
		r.step("git ssh", statusSkipped, "left git's ssh alone (--no-git-ssh)")
		return
	}
	which, err := gitssh.Find(ctx, r.opts.Git, r.paths.Home, r.opts.Getenv)
	if errors.Is(err, gitrun.ErrNotFound) {
		r.step("git ssh", statusSkipped, "git is not installed: nothing to point at Windows OpenSSH")
		return
	}
	if err != nil {
		r.step("git ssh", statusWarning, "cannot read git's core.sshCommand: %v", err)
		return
	}
	if which.IsWindowsOpenSSH() {
		r.step("git ssh", statusSkipped, "git uses Windows OpenSSH (%s)", which)
		return
	}
	win := gitssh.WindowsSSH(r.opts.Getenv)
	switch {
	case which.Source == gitssh.FromEnvCommand || which.Source == gitssh.FromEnvSSH:
		r.step("git ssh", statusWarning, "git uses %s, not Windows OpenSSH, and the environment wins over git's config: remove %s so git can reach the agent", which, which.Source)
		return
	case r.opts.GOOS == "":
		if _, err := os.Stat(filepath.FromSlash(win)); err != nil {
			r.step("git ssh", statusWarning, "git uses %s, which cannot reach the agent, and Windows OpenSSH (%s) is not installed: install the OpenSSH client (Settings → System → Optional features), then run bbkey setup again", which, win)
			return
		}
	}
	if r.opts.DryRun {
		r.step("git ssh", statusPlanned, "would run git config --global core.sshCommand %s (git uses %s, which cannot reach the agent)", win, which)
		return
	}
	if _, err := r.opts.Git.Run(ctx, r.paths.Home, "config", "--global", gitssh.FromConfig, win); err != nil {
		r.step("git ssh", statusWarning, "could not set core.sshCommand: %v; run: git config --global core.sshCommand %s", err, win)
		return
	}
	r.step("git ssh", statusDone, "git config --global core.sshCommand %s (git used %s, which cannot reach the agent)", win, which)
}
