package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/gitssh"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/privagent"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/sshproof"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
	"github.com/bbkey/bbkey/keys"
)

// proofAlias is the Host of the throw-away ssh config the ls-remote proof uses.
const proofAlias = "bbkey-rotate-proof"

// prove shows the successor works before anything relies on it: an SSH handshake with it
// alone, and for an access key a real `git ls-remote` on one of its repositories.
func (e *Engine) prove(ctx context.Context, s *subject, k *keys.Key, out *Outcome) error {
	at := s.ssh
	if at == nil {
		var err error
		if at, err = s.b.SSH(ctx); err != nil {
			return fmt.Errorf("finding %s's SSH server: %w", s.b.Describe(), err)
		}
	}
	kh := hostkeys.Path(e.SSHDir)
	w, err := hostkeys.Write(ctx, kh, at.Pins, false)
	if err != nil {
		return fmt.Errorf("writing pinned host keys: %w", err)
	}
	if w.Changed {
		out.changed(kh)
	}
	v, err := hostkeys.NewVerifier(kh, at.Host)
	if err != nil {
		return err
	}
	res, err := sshproof.Prove(ctx, sshproof.Options{
		Endpoint:          at.Endpoint,
		HostKeyAlias:      at.Host,
		HostKeyCallback:   v.HostKeyCallback(),
		HostKeyAlgorithms: v.HostKeyAlgorithms(),
		Signers:           []ssh.Signer{k.Signer},
		Timeout:           e.ProofTimeout,
		Trace:             e.Trace,
	})
	if err != nil {
		return err
	}
	e.IO.Step(iostreams.MarkOK, "proved it over SSH: %s accepted %s", at.Endpoint, res.Fingerprint)
	if s.kind != state.RotateAccessKeys {
		return nil
	}
	repo, err := e.proofRepo(ctx, s)
	if errors.Is(err, errNoTarget) {
		e.IO.Step(iostreams.MarkWarn, "no repository to run git ls-remote on (only empty projects): the handshake is the proof")
		return nil
	}
	if err != nil {
		return err
	}
	if err := e.lsRemote(ctx, k, at, repo); err != nil {
		return err
	}
	e.IO.Step(iostreams.MarkOK, "git ls-remote %s works with it", repo)
	return nil
}

// proofRepo picks the repository for the ls-remote proof: the first repository target,
// else the first repository of the first project target that has one.
func (e *Engine) proofRepo(ctx context.Context, s *subject) (string, error) {
	for _, t := range s.targets {
		if t.Kind == state.TargetRepo {
			return t.Ref(), nil
		}
	}
	for _, t := range s.targets {
		repo, err := firstProjectRepo(ctx, s.b, t)
		if err != nil {
			return "", fmt.Errorf("finding a repository of project %s: %w", t.Ref(), err)
		}
		if repo != "" {
			return repo, nil
		}
	}
	return "", errNoTarget
}

// firstProjectRepo names one repository of project t ("" when it has none).
func firstProjectRepo(ctx context.Context, b backend.Backend, t state.Target) (string, error) {
	project := place{key: t.Key(), target: t}.backendPlace()
	for r, err := range b.Repos(ctx, backend.RepoQuery{Project: &project}) {
		if err != nil {
			return "", err
		}
		return r.String(), nil
	}
	return "", nil
}

// lsRemote runs the real git and ssh against repo with only the successor: a private
// agent holding just that key, and a throw-away ssh config with bbkey's pins. The user's
// agent and ~/.ssh/config are not consulted, so nothing else can make it pass.
func (e *Engine) lsRemote(ctx context.Context, k *keys.Key, at *backend.SSH, repo string) error {
	dir, err := os.MkdirTemp("", "bbkey-proof-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock, stop, err := privagent.Serve(k.Private, k.Comment)
	if err != nil {
		return err
	}
	defer stop()
	host, port, err := settings.SplitEndpoint(at.Endpoint)
	if err != nil {
		return err
	}
	idFile, err := filepath.Abs(k.Path)
	if err != nil {
		return err
	}
	cfg := sshconfig.RenderManaged([]sshconfig.HostBlock{{
		Alias: proofAlias, HostName: host, Port: port, IdentityFile: idFile,
		KnownHostsFile: hostkeys.Path(e.SSHDir), HostKeyAlias: at.Host,
	}})
	cfgPath := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return err
	}
	env := []string{
		"SSH_AUTH_SOCK=" + sock,
		"GIT_SSH_COMMAND=" + text.ShellQuote(gitssh.ProofSSH()) + " -F " + text.ShellQuote(cfgPath) + " -o BatchMode=yes",
		"GIT_SSH_VARIANT=ssh",
	}
	git := e.Git
	if git == nil {
		git = func(env []string) gitrun.Runner { return gitrun.Exec{Env: env} }
	}
	if _, err := git(env).Run(ctx, dir, "ls-remote", "--heads", "git@"+proofAlias+":"+repo+".git"); err != nil {
		return fmt.Errorf("git ls-remote %s with the new key: %w", repo, err)
	}
	return nil
}
