package provision

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/gitssh"
	"github.com/bbkey/bbkey/internal/privagent"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

// Proof is bbkey's one git proof of a key (add-access-key --verify, rotate's successor):
// real git over real ssh reads one repository (git ls-remote) with the key alone, then a
// push must be refused as read-only (a key added with --write on Data Center must be
// allowed to push instead); with ReadOnly the read is the whole proof.
type Proof struct {
	// Git runs git with extra environment (GIT_SSH_COMMAND, which git reads from nowhere
	// else once the user's environment sets it); nil runs the git on PATH.
	Git    func(env []string) gitrun.Runner
	Target state.Target
	// ReadHint replaces the hint of a failed read (add-access-key's by default).
	ReadOnly bool
	ReadHint string

	// DataCenter writes the remote as Remote does; Write (a key added with write
	// permission) makes the push one that must be accepted.
	DataCenter bool
	Write      bool

	// ConfigFile, when set, is the ssh config bbkey wrote: the proof goes through it and
	// Alias, proving the config too. Otherwise ssh reads no config, and gets Endpoint,
	// HostKeyAlias, KnownHosts (the pinned keys) and KeyPath on its command line.
	ConfigFile string
	Alias      string

	Endpoint     string
	HostKeyAlias string
	KnownHosts   []byte
	KeyPath      string

	// Private, when set, is served to ssh from a temporary agent only this proof can
	// reach (privagent), so an encrypted key works without its passphrase typed again and
	// no other key of the user's can make the proof pass. Otherwise UserAgent lets ssh
	// use the user's agent, or ssh reads the key file itself (unencrypted).
	Private   crypto.PrivateKey
	UserAgent bool
}

// ProofResult is what the proof saw.
type ProofResult struct {
	Target      string `json:"target"`
	Remote      string `json:"remote"`
	Read        bool   `json:"read"`
	PushRefused bool   `json:"push_refused"`
	// PushAccepted is a key added with --write (Data Center) that the server lets push.
	PushAccepted bool `json:"push_accepted,omitempty"`
	// Message is the server's refusal of the push.
	Message string `json:"message,omitempty"`
}

// checkBranch is the branch the refused push names; it never exists because the push
// is a dry run that Bitbucket refuses before it starts.
const checkBranch = "refs/heads/bbkey-read-only-check"

// Run performs the proof. Failures are errkind.VerifyError (exit 5).
func (p Proof) Run(ctx context.Context) (ProofResult, error) {
	res := ProofResult{Target: p.Target.Ref()}
	work, err := os.MkdirTemp("", "bbkey-verify-")
	if err != nil {
		return res, fmt.Errorf("verifying: %w", err)
	}
	defer os.RemoveAll(work)

	// ControlPath=none: a master connection the user's config multiplexes through (Host *
	// ControlMaster auto) was authenticated with another key, and would prove nothing.
	sshArgs := []string{gitssh.ProofSSH(), "-o", "BatchMode=yes", "-o", "ControlPath=none"}
	var env []string
	if p.ConfigFile != "" {
		sshArgs = append(sshArgs, "-F", p.ConfigFile)
		res.Remote = Remote(p.Target, p.DataCenter, p.Alias, 0)
	} else {
		host, port, err := settings.SplitEndpoint(p.Endpoint)
		if err != nil {
			return res, err
		}
		kh := filepath.Join(work, "known_hosts")
		if err := os.WriteFile(kh, p.KnownHosts, 0o600); err != nil {
			return res, fmt.Errorf("verifying: %w", err)
		}
		key, err := filepath.Abs(p.KeyPath)
		if err != nil {
			return res, err
		}
		sshArgs = append(sshArgs, "-F", "none", "-i", key, "-o", "IdentitiesOnly=yes",
			"-o", "UserKnownHostsFile="+kh, "-o", "GlobalKnownHostsFile="+kh,
			"-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlias="+p.HostKeyAlias)
		res.Remote = Remote(p.Target, p.DataCenter, host, port)
	}
	switch {
	case p.Private != nil:
		addr, stop, err := privagent.Serve(p.Private, "bbkey proof")
		if err != nil {
			return res, fmt.Errorf("verifying: starting a temporary agent: %w", err)
		}
		defer stop()
		sshArgs = append(sshArgs, "-o", "IdentityAgent="+addr)
		env = append(env, "SSH_AUTH_SOCK="+addr)
	case !p.UserAgent:
		sshArgs = append(sshArgs, "-o", "IdentityAgent=none")
	}
	run := p.Git
	if run == nil {
		run = func(env []string) gitrun.Runner { return gitrun.Exec{Env: env} }
	}
	git := run(append(env, "GIT_SSH_COMMAND="+text.JoinQuoted(sshArgs, text.ShellQuote), "GIT_SSH_VARIANT=ssh"))

	if _, err := git.Run(ctx, work, "ls-remote", res.Remote); err != nil {
		hint := p.ReadHint
		if hint == "" {
			hint = "the key was added, but ssh could not use it; check the endpoint (--ssh-endpoint) and re-run with --verify --debug"
		}
		return res, errkind.VerifyError(fmt.Errorf("reading %s over ssh with the key: %w", p.Target.Ref(), err), hint)
	}
	res.Read = true
	if p.ReadOnly {
		return res, nil
	}

	repo := filepath.Join(work, "repo")
	if _, err := git.Run(ctx, work, "init", "-q", repo); err != nil {
		return res, fmt.Errorf("verifying: %w", err)
	}
	tree, err := git.Run(ctx, repo, "mktree")
	if err != nil {
		return res, fmt.Errorf("verifying: %w", err)
	}
	commit, err := git.Run(ctx, repo, "-c", "user.name=bbkey", "-c", "user.email=bbkey@localhost",
		"commit-tree", strings.TrimSpace(tree), "-m", "bbkey: read-only check")
	if err != nil {
		return res, fmt.Errorf("verifying: %w", err)
	}
	_, err = git.Run(ctx, repo, "push", "--dry-run", res.Remote, strings.TrimSpace(commit)+":"+checkBranch)
	if p.Write {
		if err != nil {
			return res, errkind.VerifyError(fmt.Errorf("the key was added with write permission, but a push to %s is refused: %w", p.Target.Ref(), err),
				"check that access keys may write on the server and that no branch permission blocks the key")
		}
		res.PushAccepted = true
		return res, nil
	}
	if err == nil {
		return res, errkind.VerifyError(fmt.Errorf("the key can push to %s: it is not a read-only access key", p.Target.Ref()),
			"remove it from the repository's access keys, and check that the key is not also on a user account")
	}
	var ge *gitrun.Error
	if errors.As(err, &ge) {
		if line := refusal(ge.Stderr); line != "" {
			res.PushRefused, res.Message = true, line
			return res, nil
		}
	}
	return res, errkind.VerifyError(fmt.Errorf("a push to %s failed, but not as read-only: %w", p.Target.Ref(), err))
}

// Remote is the URL of repository t on host (an ssh config alias when port is 0):
// Cloud's git@host:WS/slug.git, Data Center's ssh://git@host:port/proj/slug.git (the
// project key in lower case).
func Remote(t state.Target, dataCenter bool, host string, port int) string {
	if port > 0 {
		host = net.JoinHostPort(host, strconv.Itoa(port))
	}
	if dataCenter {
		return "ssh://git@" + host + "/" + strings.ToLower(t.Workspace) + "/" + t.Slug + ".git"
	}
	if port == 0 {
		return "git@" + host + ":" + t.Ref() + ".git"
	}
	return "ssh://git@" + host + "/" + t.Ref() + ".git"
}

// refusalMarkers are what a refusal to push for want of write permission says: Cloud's
// "conq: repository access denied. access via a deployment key is read-only.", Data
// Center's "You are not permitted to push to this repository…".
var refusalMarkers = []string{"read-only", "not permitted to push", "permission to push"}

// refusal finds Bitbucket's read-only refusal in git's stderr, without git's "remote:"
// or "fatal:" prefix.
func refusal(stderr string) string {
	for line := range strings.Lines(stderr) {
		l := strings.ToLower(line)
		if slices.ContainsFunc(refusalMarkers, func(m string) bool { return strings.Contains(l, m) }) {
			line = strings.TrimSpace(line)
			for _, p := range []string{"remote:", "fatal:", "ERROR:"} {
				line = strings.TrimSpace(strings.TrimPrefix(line, p))
			}
			return line
		}
	}
	return ""
}
