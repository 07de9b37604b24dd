// The ssh side of add-access-key: the pinned host key, the ssh config, and --verify.

package accesskey

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/accesskey"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/sshproof"
	"github.com/bbkey/bbkey/internal/state"
)

// sshSetup works out the ssh config block and the pinned host keys for the key, and
// writes them with --write-ssh-config.
func (o *Options) sshSetup(ctx context.Context, rep *report, s cmdutil.Settings, paths cmdutil.Paths, sd state.Dir) error {
	st, err := sd.Load()
	if err != nil {
		return err
	}
	rep.SSH.Alias = identity.AccessAlias(s.SSHHost, st, rep.Key.name)
	// The block to show (or write) for this key, even when it gets none in the file.
	shown := *st
	shown.AccessKeys = maps.Clone(st.AccessKeys)
	if k := shown.AccessKeys[rep.Key.name]; k != nil && k.NoSSHConfig {
		c := *k
		c.NoSSHConfig = false
		shown.AccessKeys[rep.Key.name] = &c
	}
	blocks, err := identity.Blocks(s, paths.SSHDir, &shown)
	if err != nil {
		return fmt.Errorf("ssh config: %w", err)
	}
	if b, ok := sshconfig.Find(blocks, rep.SSH.Alias); ok {
		rep.SSH.Config = strings.TrimLeft(strings.TrimPrefix(string(sshconfig.RenderManaged([]sshconfig.HostBlock{b})), sshconfig.Header), "\n")
	}
	pins, err := hostkeys.Pinned(s)
	if err != nil {
		return err
	}
	rep.SSH.KnownHosts = string(hostkeys.Render(pins))
	rep.SSH.KnownHostsFile = hostkeys.Path(paths.SSHDir)
	rep.SSH.ConfigFile = sshconfig.FilesIn(paths.SSHDir).Managed
	if !o.WriteSSHConfig {
		return nil
	}
	res, err := identity.Sync(ctx, s, paths.SSHDir, st, false)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		o.IO.Warnf("%s", w)
	}
	rep.SSH.Written = true
	rep.Changed = append(rep.Changed, res.ChangedFiles...)
	if len(res.ChangedFiles) > 0 {
		o.IO.Step(iostreams.MarkOK, "wrote the ssh config for %s and the pinned host keys", rep.SSH.Alias)
	}
	return nil
}

// verify proves the key on one repository that has it.
func (o *Options) verify(ctx context.Context, rep *report, client *bbapi.Client, s cmdutil.Settings, paths cmdutil.Paths) error {
	t, err := verifyTarget(ctx, client, rep.Results)
	if err != nil {
		return err
	}
	pr := accesskey.Proof{Git: o.Git, Target: t}
	if o.WriteSSHConfig {
		pr.ConfigFile, pr.Alias = sshconfig.FilesIn(paths.SSHDir).UserConfig, rep.SSH.Alias
	} else {
		pr.Endpoint, pr.HostKeyAlias, pr.KnownHosts, pr.KeyPath = s.SSHEndpoint, s.SSHHost, []byte(rep.SSH.KnownHosts), rep.Key.path
	}
	switch {
	case o.LoadAgent:
		pr.UserAgent = true
	case rep.Key.key.Encrypted && rep.Key.key.HasPrivate():
		pr.Private = rep.Key.key.Private
	}
	if err := o.checkHostKey(ctx, s); err != nil {
		rep.Verify = &accesskey.ProofResult{Target: t.Ref()}
		o.IO.Step(iostreams.MarkFail, "proof on %s failed", t.Ref())
		return err
	}
	res, err := pr.Run(ctx)
	rep.Verify = &res
	if err != nil {
		o.IO.Step(iostreams.MarkFail, "proof on %s failed", t.Ref())
		return err
	}
	o.IO.Step(iostreams.MarkOK, "proved on %s: git ls-remote works, a push is refused as read-only", t.Ref())
	return nil
}

// checkHostKey compares the endpoint's host key with the pins before git runs: OpenSSH's
// refusal names only the key it was shown (and blames whichever pin it tried first),
// where bbkey's names every pinned key and where to check them. Any other failure is
// left to the proof, which reports it in git's words.
func (o *Options) checkHostKey(ctx context.Context, s cmdutil.Settings) error {
	pins, err := hostkeys.Pinned(s)
	if err != nil {
		return err
	}
	po := sshproof.Options{
		Endpoint: s.SSHEndpoint, HostKeyAlias: pins.Alias, HostKeyCallback: pins.HostKeyCallback(s.SSHEndpoint),
		HostKeyAlgorithms: hostkeys.HostKeyAlgorithms(pins.Keys),
	}
	if o.Globals != nil && o.Globals.Debug {
		po.Trace = o.IO.ErrOut
	}
	_, err = sshproof.CheckHostKey(ctx, po)
	if mm, ok := errors.AsType[*hostkeys.MismatchError](err); ok {
		return fmt.Errorf("verifying the key over ssh: %w", mm)
	}
	return nil
}

// verifyTarget picks a repository that has the key: the first repository target done,
// else a repository of the first project done (one listing call).
func verifyTarget(ctx context.Context, client *bbapi.Client, results []accesskey.Result) (state.Target, error) {
	for _, r := range results {
		if r.Status.Done() && r.Target.Kind == state.TargetRepo {
			return r.Target, nil
		}
	}
	for _, r := range results {
		if !r.Status.Done() || r.Target.Kind != state.TargetProject {
			continue
		}
		q := fmt.Sprintf("project.key = %q", r.Target.Slug)
		for repo, err := range client.Repositories.ListWorkspace(ctx, r.Target.Workspace, &bbapi.ListRepositoriesOptions{Query: q}) {
			if err != nil {
				return state.Target{}, cmdutil.VerifyError(fmt.Errorf("finding a repository of project %s to verify on: %w", r.Target.Ref(), err))
			}
			return state.Target{Kind: state.TargetRepo, Workspace: r.Target.Workspace, Slug: repo.RepoSlug()}, nil
		}
	}
	return state.Target{}, cmdutil.VerifyError(errors.New("nothing to verify: no repository has the key"))
}
