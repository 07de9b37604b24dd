package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/keys"
)

func checkAgent(_ context.Context, e *Env, _ Deps) Result {
	ai, err := e.agentConn()
	if err != nil {
		r := Result{Status: Fail, Summary: err.Error(),
			Cause: "without an agent ssh asks for the key's passphrase on every git command, and tools without a terminal (IDEs, scripts) cannot ask at all",
			Fix:   firstHint(err, "start one: eval \"$(ssh-agent -s)\"")}
		if !errors.Is(err, agent.ErrNoAgent) {
			r.Summary = "the ssh agent does not answer: " + err.Error()
			r.Fix = "restart the agent (on Unix: eval \"$(ssh-agent -s)\"; on Windows: Start-Service ssh-agent)"
		}
		if allPlain(e) {
			// A build server with unencrypted access keys needs no agent: ssh reads them.
			r.Status = Warn
			r.Cause = "ssh reads keys without a passphrase directly, so git works; an agent is needed only for passphrase-protected keys"
		}
		return r
	}
	where := e.getenv("SSH_AUTH_SOCK")
	if c, ok := ai.Agent.(*agent.Client); ok {
		where = c.Addr
	}
	if where == "" {
		where = "the agent"
	}
	return Result{Status: OK, Summary: fmt.Sprintf("%s answers and holds %d %s", where, len(ai.IDs), plural(len(ai.IDs), "key", "keys"))}
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
	status := OK
	var missing, ok, adds []string
	var fixes []*Fix
	manual := false
	for _, k := range mks {
		if k.Fingerprint == "" || !exists(k.Path) {
			continue
		}
		loaded := false
		for _, id := range ai.IDs {
			if id.Fingerprint == k.Fingerprint {
				loaded = true
			}
		}
		if loaded {
			ok = append(ok, k.what())
			continue
		}
		enc, _ := isEncrypted(k.Path)
		if enc {
			status = Fail
			missing = append(missing, fmt.Sprintf("%s (%s) is not loaded", k.what(), k.Path))
		} else {
			if status == OK {
				status = Warn
			}
			missing = append(missing, fmt.Sprintf("%s (%s) is not loaded; it has no passphrase, so ssh reads the file itself", k.what(), k.Path))
		}
		adds = append(adds, "ssh-add "+k.Path)
		if enc && !canUnlock(e.FixPassphrase) {
			manual = true
			continue
		}
		fixes = append(fixes, agentFix(e, k))
	}
	if len(missing) == 0 {
		if len(ok) == 0 {
			return Result{Status: Skipped, Summary: "skipped: no key file to look for"}
		}
		return Result{Status: OK, Summary: "loaded: " + strings.Join(ok, ", ")}
	}
	r := Result{Status: status, Summary: strings.Join(missing, "; "), Details: ok,
		Cause: "the agent forgets its keys when it restarts (a logout, a reboot); git then asks for the passphrase each time, and cannot where there is no terminal",
		Fix:   "run: " + strings.Join(adds, " && ") + " (or bbkey doctor --fix with --passphrase-file FILE or BBKEY_PASSPHRASE)",
		fixes: fixes}
	if manual {
		r.fixes = nil
	}
	return r
}

// canUnlock reports whether the passphrase of an encrypted key can be had: a file,
// the environment, or a terminal to ask at.
func canUnlock(s keys.PassphraseSource) bool {
	if s.File != "" {
		return true
	}
	if s.LookupEnv != nil {
		if v, ok := s.LookupEnv(keys.PassphraseEnv); ok && v != "" {
			return true
		}
	}
	return !s.NoInput && s.Prompter != nil
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
			comment := key.Comment
			if pub, err := keys.LoadPublic(k.Path); err == nil && pub.Comment != "" {
				comment = pub.Comment
			}
			if comment == "" {
				comment = filepath.Base(k.Path)
			}
			if err := ai.Agent.Add(key.Private, comment, 0, false); err != nil {
				return nil, fmt.Errorf("adding %s to the agent: %w", k.Path, err)
			}
			return nil, nil
		}}
}

// windowsSSH is Windows' own OpenSSH client, the one that reaches the Windows agent.
const windowsSSH = "C:/Windows/System32/OpenSSH/ssh.exe"

// checkGitSSH (Windows only) finds git using Git for Windows' bundled ssh, which cannot
// reach the Windows OpenSSH agent's pipe and so asks for the passphrase every time.
func checkGitSSH(ctx context.Context, e *Env, _ Deps) Result {
	if e.goos() != "windows" {
		return Result{Status: notApplicable}
	}
	for _, v := range []string{"GIT_SSH_COMMAND", "GIT_SSH"} {
		if s := e.getenv(v); s != "" {
			return Result{Status: OK, Summary: fmt.Sprintf("git uses %s=%s", v, s)}
		}
	}
	dir := e.WorkDir
	if dir == "" {
		dir = e.Paths.Home
	}
	out, err := e.Git.Run(ctx, dir, "config", "--get", "core.sshCommand")
	var ge *gitrun.Error
	switch {
	case err == nil && strings.TrimSpace(out) != "":
		cmd := strings.TrimSpace(out)
		if strings.Contains(strings.ToLower(filepath.ToSlash(cmd)), "/git/usr/bin/ssh") {
			break
		}
		return Result{Status: OK, Summary: "git uses core.sshCommand " + cmd}
	case err == nil, errors.As(err, &ge) && ge.ExitCode == 1:
		// Unset: Git for Windows runs the ssh it ships.
	default:
		return Result{Status: Warn, Summary: "cannot read git's core.sshCommand: " + err.Error()}
	}
	r := Result{Status: Warn,
		Summary: "git uses Git for Windows' own ssh, which cannot reach the Windows OpenSSH agent",
		Cause:   "Git for Windows ships its own ssh.exe and uses it unless told otherwise; that ssh does not talk to the ssh-agent service, so the passphrase is asked every time",
		Fix:     fmt.Sprintf("run: git config --global core.sshCommand %q", windowsSSH)}
	if _, err := os.Stat(filepath.FromSlash(windowsSSH)); err != nil && e.GOOS == "" {
		r.Fix = "install the OpenSSH client (Settings → Optional features), then run: git config --global core.sshCommand \"" + windowsSSH + "\""
	}
	return r
}

// allPlain reports whether there are keys and none of them needs a passphrase.
func allPlain(e *Env) bool {
	mks, err := e.keys()
	if err != nil || len(mks) == 0 {
		return false
	}
	for _, k := range mks {
		if enc, err := isEncrypted(k.Path); err != nil || enc {
			return false
		}
	}
	return true
}
