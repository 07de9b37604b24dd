package setup

import (
	"context"
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/remote"
)

// switchRemotes moves the Bitbucket remotes of the repository setup runs in to the
// account's ssh host, and says how to do the same for every other clone.
func (r *run) switchRemotes(ctx context.Context) error {
	r.current = "remotes"
	target := remote.Target{SSHHost: r.settings.SSHHost}
	if r.res.Host != r.settings.SSHHost {
		target.Name = r.name
	}
	r.res.RemoteForm = target.URL("WORKSPACE", "REPO")
	if target.Name != "" {
		r.step("account", statusDone, "remotes of this account use %s (ssh alias %s)", r.res.RemoteForm, r.res.Host)
	}
	everyClone := "to switch every clone on this machine: bbkey remote --recursive DIR"
	if target.Name != "" {
		everyClone += " --name " + target.Name
	}
	if r.opts.NoRemotes {
		r.step("remotes", statusSkipped, "left alone (--no-remotes); %s", everyClone)
		return nil
	}
	plan, err := remote.PlanDir(ctx, r.opts.Git, r.opts.WorkDir, target)
	switch {
	case errors.Is(err, gitrun.ErrNotFound):
		r.step("remotes", statusWarning, "git is not installed; %s", everyClone)
		return nil
	case err != nil:
		// Outside a repository there is nothing here to switch.
		r.step("remotes", statusSkipped, "not in a git repository; %s", everyClone)
		return nil
	}
	changed := plan.Changed()
	for _, rp := range changed {
		for _, c := range rp.Changes {
			r.res.RemotesChanged = append(r.res.RemotesChanged, RemoteChange{
				Repository: rp.Repo.Dir,
				ConfigFile: c.File,
				Remote:     c.Name,
				Field:      string(c.Field),
				Old:        c.Old,
				New:        c.New,
				HadSecret:  c.Secret,
			})
		}
	}
	for _, rp := range plan.Repos {
		for _, s := range rp.Skipped {
			r.step("remotes", statusWarning, "left %s %s alone: %s", s.Name, s.URL, s.Reason)
		}
	}
	repo := plan.Repos[0].Repo.Dir
	switch {
	case len(changed) == 0:
		r.step("remotes", statusSkipped, "nothing to switch in %s; %s", repo, everyClone)
		return nil
	case r.opts.DryRun:
		for _, c := range r.res.RemotesChanged {
			r.changed(c.ConfigFile)
		}
		values := "remote values"
		if plan.NumChanges() == 1 {
			values = "remote value"
		}
		r.step("remotes", statusPlanned, "would switch %d %s in %s; %s", plan.NumChanges(), values, repo, everyClone)
		return nil
	}
	if err := remote.Apply(ctx, r.opts.Git, plan); err != nil {
		return cmdutil.WithHint(fmt.Errorf("switching the remotes of %s: %w", repo, err),
			"the key is set up and proven; re-run 'bbkey setup' or 'bbkey remote' to switch the remotes")
	}
	for _, c := range r.res.RemotesChanged {
		r.changed(c.ConfigFile)
		r.step("remotes", statusDone, "%s %s: %s -> %s", c.Remote, c.Field, c.Old, c.New)
	}
	fmt.Fprintf(r.opts.IO.ErrOut, "  %s\n", everyClone)
	return nil
}
