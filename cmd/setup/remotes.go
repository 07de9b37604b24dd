package setup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/text"
)

// switchRemotes moves the Bitbucket remotes of the repository setup runs in to the
// account's ssh host, and says how to do the same for every other clone.
func (r *run) switchRemotes(ctx context.Context) error {
	r.current = "remotes"
	name := ""
	if r.res.Host != r.ssh.Host {
		name = r.name
	}
	target := r.b.Remotes(r.ssh, name)
	if r.server == "" {
		r.res.RemoteForm = target.URL("WORKSPACE", "REPO")
	} else {
		r.res.RemoteForm = target.URL("PROJECT", "REPO")
	}
	if name != "" {
		r.step("account", statusDone, "remotes of this account use %s (ssh alias %s)", r.res.RemoteForm, r.res.Host)
	}
	everyClone := "to switch every clone on this machine: bbkey remote --recursive DIR"
	if r.server != "" {
		everyClone += " --server " + r.server
	}
	if name != "" {
		everyClone += " --name " + name
	}
	if r.server != "" {
		if err := r.scrubCredentials(ctx); err != nil {
			return err
		}
		r.current = "remotes"
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
			r.step("remotes", statusWarning, "left %s %s alone: %s", s.Name, s.Old, s.Reason)
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
		r.step("remotes", statusPlanned, "would switch %s in %s; %s", text.Count(plan.NumChanges(), "remote value", "remote values"), repo, everyClone)
		return nil
	}
	if err := remote.Apply(ctx, r.opts.Git, plan); err != nil {
		return errkind.WithHint(fmt.Errorf("switching the remotes of %s: %w", repo, err),
			"the key is set up and proven; re-run 'bbkey setup' or 'bbkey remote' to switch the remotes")
	}
	for _, c := range r.res.RemotesChanged {
		r.changed(c.ConfigFile)
		r.step("remotes", statusDone, "%s %s: %s -> %s", c.Remote, c.Field, c.Old, c.New)
	}
	fmt.Fprintf(r.opts.IOStreams.ErrOut, "  %s\n", everyClone)
	return nil
}

// scrubCredentials removes the passwords and tokens stored for the Data Center server
// from ~/.netrc, ~/_netrc and the git credential store files (a backup of each file
// kept next to it), and asks git's credential helpers to forget the server: with the
// key proven, they are what is left of the HTTPS login.
func (r *run) scrubCredentials(ctx context.Context) error {
	r.current = "credentials files"
	t := r.b.CredentialHosts()
	sp, err := remote.PlanScrubFor(ctx, r.opts.Git, r.paths.Home, r.opts.Getenv("XDG_CONFIG_HOME"), t)
	switch {
	case errors.Is(err, gitrun.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("looking for credentials stored for %s: %w", r.server, err)
	}
	var entries []string
	for _, f := range sp.Files {
		for _, e := range f.Entries {
			entries = append(entries, f.Path+": "+e)
		}
	}
	if len(entries) == 0 && len(sp.Helpers) == 0 {
		return nil
	}
	if r.opts.DryRun {
		for _, f := range sp.Files {
			r.changed(f.Path)
		}
		r.step("credentials files", statusPlanned, "would remove %s stored for %s (%s)", text.Count(len(entries), "entry", "entries"), r.server, strings.Join(entries, "; "))
		return nil
	}
	if err := remote.Scrub(ctx, r.opts.Git, sp, r.now); err != nil {
		return errkind.WithHint(fmt.Errorf("removing the credentials stored for %s: %w", r.server, err),
			"the key is set up and proven; remove them by hand, or re-run 'bbkey setup --server "+r.server+"'")
	}
	for _, f := range sp.Files {
		if f.Removed > 0 {
			r.changed(f.Path)
			r.step("credentials files", statusDone, "removed %s for %s from %s (backup %s)", text.Count(f.Removed, "entry", "entries"), r.server, f.Path, f.Backup)
		}
	}
	if sp.Rejected {
		r.step("credentials files", statusDone, "asked git's credential helpers (%s) to forget %s", strings.Join(sp.Helpers, ", "), r.server)
	}
	return nil
}
