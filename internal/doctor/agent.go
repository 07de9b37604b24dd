package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/gitssh"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/text"
)

func checkAgent(_ context.Context, e *Env, _ Deps) Result {
	ai, err := e.agentConn()
	if err != nil {
		r := Result{Status: Fail, Summary: err.Error(),
			Cause: "without an agent ssh asks for the key's passphrase on every git command, and tools without a terminal (IDEs, scripts) cannot ask at all",
			Fix:   apierr.FirstHint(err, "start one: eval \"$(ssh-agent -s)\"")}
		if !errors.Is(err, agent.ErrNoAgent) {
			r.Summary = "the ssh agent does not answer: " + err.Error()
			r.Fix = "restart the agent (on Unix: eval \"$(ssh-agent -s)\"; on Windows: Start-Service ssh-agent)"
		}
		if problem, fix := e.agentService(); problem != "" {
			r.Summary += "; " + problem
			r.Fix = fix
		}
		if allPlain(e) {
			// A build server with unencrypted access keys needs no agent: ssh reads them.
			r.Status = Warn
			r.Cause = "ssh reads keys without a passphrase directly, so git works; an agent is needed only for passphrase-protected keys"
		}
		return r
	}
	where := cmp.Or(e.Getenv("SSH_AUTH_SOCK"), "the agent")
	if c, ok := ai.Agent.(*agent.Client); ok {
		where = c.Addr
	}
	r := Result{Status: OK, Summary: fmt.Sprintf("%s answers and holds %d %s", where, len(ai.IDs), text.Plural(len(ai.IDs), "key", "keys"))}
	if e.Getenv("SSH_AUTH_SOCK") == "" {
		// Windows' own agent answers: make sure it will after a reboot too.
		if problem, fix := e.agentService(); problem != "" {
			r.Status, r.Summary, r.Fix = Warn, r.Summary+"; but "+problem, fix
			r.Cause = "the agent is what keeps git from asking for the passphrase; if the service does not start with Windows, git asks again after every reboot"
		}
	}
	return r
}

// agentService says what is wrong with the Windows ssh-agent service and how to fix it
// ("" elsewhere, when it is fine, or when it cannot be read).
func (e *Env) agentService() (problem, fix string) {
	if e.goos() != "windows" {
		return "", ""
	}
	q := e.AgentService
	if q == nil {
		q = agent.QueryService
	}
	if st, err := q(); err == nil {
		return st.Problem()
	}
	return "", ""
}

func checkAgentKey(_ context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("agent"); bad {
		return skip(d)
	}
	mks, _ := e.keys()
	if len(mks) == 0 {
		return Result{Status: Skipped, Summary: "skipped: no bbkey key to look for"}
	}
	ai, err := e.agentConn()
	if err != nil {
		return Result{Status: Skipped, Summary: "skipped: the agent does not answer"}
	}
	var fs []finding
	var fixes []*Fix
	manual := false
	for _, k := range mks {
		if k.Fingerprint == "" || !fsutil.MayExist(k.Path) {
			continue
		}
		if slices.ContainsFunc(ai.IDs, func(id agent.Identity) bool { return id.Fingerprint == k.Fingerprint }) {
			fs = append(fs, finding{OK, k.what(), "", ""})
			continue
		}
		fix := "run: ssh-add " + k.Path + " (or bbkey doctor --fix with --passphrase-file FILE or BBKEY_PASSPHRASE)"
		if k.encrypted {
			fs = append(fs, finding{Fail, fmt.Sprintf("%s (%s) is not loaded", k.what(), k.Path), agentForgets, fix})
			manual = manual || !canUnlock(e.FixPassphrase)
		} else {
			fs = append(fs, finding{Warn, fmt.Sprintf("%s (%s) is not loaded; it has no passphrase, so ssh reads the file itself", k.what(), k.Path), agentForgets, fix})
		}
		fixes = append(fixes, agentFix(e, k))
	}
	if len(fs) == 0 {
		return Result{Status: Skipped, Summary: "skipped: no key file to look for"}
	}
	r := fold(fs, "")
	if r.Status == OK {
		r.Summary = "loaded: " + r.Summary
	} else if !manual {
		r.fixes = fixes
	}
	return r
}

const agentForgets = "the agent forgets its keys when it restarts (a logout, a reboot); git then asks for the passphrase each time, and cannot where there is no terminal"

// canUnlock reports whether the passphrase of an encrypted key can be had: a file,
// the environment, or a terminal to ask at.
func canUnlock(s secret.Source) bool {
	env := ""
	if s.LookupEnv != nil {
		env, _ = s.LookupEnv(secret.PassphraseEnv)
	}
	return s.File != "" || env != "" || !s.NoInput && s.Prompter != nil
}

// agentFix loads a key into the agent, decrypting it in memory.
func agentFix(e *Env, k managedKey) *Fix {
	return &Fix{Key: "agent:" + k.Path, Description: "load " + k.Path + " into the agent",
		apply: func(context.Context) ([]string, error) {
			ai, err := e.agentConn()
			if err != nil {
				return nil, err
			}
			key, err := e.FixPassphrase.Unlock(k.Path)
			if err != nil {
				return nil, err
			}
			defer key.Wipe()
			if err := ai.Agent.Add(key.Private, cmp.Or(key.Comment, filepath.Base(k.Path)), 0, false); err != nil {
				return nil, fmt.Errorf("adding %s to the agent: %w", k.Path, err)
			}
			return nil, nil
		}}
}

// checkGitSSH (Windows only) finds which ssh git runs (gitssh.Find: GIT_SSH_COMMAND,
// core.sshCommand, GIT_SSH, else Git for Windows' own MSYS ssh, which cannot reach the
// Windows OpenSSH agent's pipe and so asks for the passphrase every time). --fix sets
// core.sshCommand globally to Windows OpenSSH's ssh.exe, as setup does.
func checkGitSSH(ctx context.Context, e *Env, _ Deps) Result {
	if e.goos() != "windows" {
		return Result{Status: notApplicable}
	}
	which, err := gitssh.Find(ctx, e.Git, cmp.Or(e.WorkDir, e.Paths.Home), e.Getenv)
	if err != nil {
		return Result{Status: Warn, Summary: "cannot read git's core.sshCommand: " + err.Error()}
	}
	if which.IsWindowsOpenSSH() {
		return Result{Status: OK, Summary: "git uses Windows OpenSSH: " + which.String()}
	}
	win := gitssh.WindowsSSH(e.Getenv)
	r := Result{Status: Warn,
		Summary: "git uses " + which.String() + ", not Windows OpenSSH, so it cannot reach the Windows agent",
		Cause:   "Git for Windows ships its own ssh.exe and uses it unless told otherwise; that ssh does not talk to the ssh-agent service, so the passphrase is asked every time",
		Fix:     fmt.Sprintf("run: bbkey doctor --fix, or: git config --global core.sshCommand %q", win)}
	switch which.Source {
	case gitssh.FromEnvCommand, gitssh.FromEnvSSH:
		// The environment wins over any config: only the user can change it.
		r.Fix = "remove " + which.Source + " from your environment (git prefers it over core.sshCommand), then run: bbkey doctor --fix"
		return r
	}
	if _, err := os.Stat(filepath.FromSlash(win)); err != nil && e.GOOS == "" {
		r.Fix = "install the OpenSSH client (Settings → System → Optional features → OpenSSH Client), then run: bbkey doctor --fix"
		return r
	}
	r.fixes = []*Fix{{Key: "git-ssh", Description: "make git use Windows OpenSSH: git config --global core.sshCommand " + win,
		apply: func(ctx context.Context) ([]string, error) {
			if _, err := e.Git.Run(ctx, e.Paths.Home, "config", "--global", gitssh.FromConfig, win); err != nil {
				return nil, err
			}
			return []string{"git config --global " + gitssh.FromConfig}, nil
		}}}
	return r
}

// allPlain reports whether there are keys and none of them needs a passphrase.
func allPlain(e *Env) bool {
	mks, err := e.keys()
	if err != nil || len(mks) == 0 {
		return false
	}
	for _, k := range mks {
		if k.fileErr != nil || k.encrypted {
			return false
		}
	}
	return true
}
