package rotate

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/gitssh"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

// lsRemoteRecorder stands in for git in the ls-remote proof and records what it was
// given: its arguments, GIT_SSH_COMMAND, and whether the private agent was there to use.
type lsRemoteRecorder struct {
	mu        sync.Mutex
	args      [][]string
	sshCmd    string
	agentAddr string
	agentUp   bool
}

func (r *lsRemoteRecorder) runner(env []string) gitrun.Runner { return recordingGit{r, env} }

type recordingGit struct {
	r   *lsRemoteRecorder
	env []string
}

func (g recordingGit) RunInput(ctx context.Context, dir, _ string, args ...string) (string, error) {
	return g.Run(ctx, dir, args...)
}

func (g recordingGit) Run(_ context.Context, _ string, args ...string) (string, error) {
	r, env := g.r, g.env
	r.mu.Lock()
	defer r.mu.Unlock()
	r.args = append(r.args, args)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GIT_SSH_COMMAND="); ok {
			r.sshCmd = v
		}
		if v, ok := strings.CutPrefix(kv, "SSH_AUTH_SOCK="); ok {
			r.agentAddr = v
			_, err := os.Stat(v) // a socket file, or (Windows) the named pipe
			r.agentUp = err == nil
		}
	}
	return "", nil
}

// The access-key rotation proves the successor with git ls-remote through the one private
// agent of package privagent on every OS: a socket on Unix, a named pipe Windows OpenSSH
// takes in SSH_AUTH_SOCK on Windows, where the proof used to be skipped. GIT_SSH_COMMAND
// names the ssh that reaches that agent (Windows OpenSSH's ssh.exe when installed).
func TestLsRemoteProofUsesThePrivateAgentOnEveryOS(t *testing.T) {
	f := newFixture(t)
	f.seedAccess("ci-01", "bbkey:ci-01:2026-08-01:ttl=90d", time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), "repo:acme/api")
	rec := &lsRemoteRecorder{}
	e := f.engine()
	e.Git = rec.runner
	if _, err := e.Run(context.Background(), Request{Kind: state.RotateAccessKeys, IfOlderThan: 365 * 24 * time.Hour}); err != nil {
		t.Fatalf("%v\n%s", err, f.stderr)
	}
	if len(rec.args) != 1 || len(rec.args[0]) != 2 || rec.args[0][0] != "ls-remote" || !strings.HasPrefix(rec.args[0][1], "ssh://git@") || !strings.HasSuffix(rec.args[0][1], "/acme/api.git") {
		t.Fatalf("git ran %q", rec.args)
	}
	if !strings.Contains(rec.sshCmd, text.ShellQuote("IdentityAgent="+rec.agentAddr)) || !strings.Contains(rec.sshCmd, "IdentitiesOnly=yes") {
		t.Errorf("GIT_SSH_COMMAND=%s does not send ssh to the private agent %s alone", rec.sshCmd, rec.agentAddr)
	}
	if runtime.GOOS == "windows" {
		if !strings.HasPrefix(rec.agentAddr, `\\.\pipe\bbkey-agent-`) {
			t.Errorf("SSH_AUTH_SOCK=%s, want the private agent's named pipe", rec.agentAddr)
		}
	} else if !rec.agentUp {
		t.Errorf("SSH_AUTH_SOCK=%s: no agent there while git ran", rec.agentAddr)
	}
	if !strings.HasPrefix(rec.sshCmd, text.ShellQuote(gitssh.ProofSSH())+" ") {
		t.Errorf("GIT_SSH_COMMAND=%s, want %s first", rec.sshCmd, gitssh.ProofSSH())
	}
	if out := f.stderr.String(); !strings.Contains(out, "git ls-remote acme/api works with it") || strings.Contains(out, "skipped") {
		t.Errorf("stderr:\n%s", out)
	}
}
