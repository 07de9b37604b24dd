package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/text"
)

// planHere plans the repository of the working directory; errNoRepo outside one.
func planHere(ctx context.Context, e *Env) (*remote.Plan, error) {
	if e.Git == nil || e.WorkDir == "" {
		return nil, errNoRepo
	}
	if _, err := remote.Resolve(ctx, e.Git, e.WorkDir); err != nil {
		if errors.Is(err, gitrun.ErrNotFound) {
			return nil, err
		}
		return nil, errNoRepo
	}
	return remote.PlanDir(ctx, e.Git, e.WorkDir, remote.Target{SSHHost: e.Settings.SSHHost})
}

// remotesFix rewrites this repository's Bitbucket remotes to SSH (and so drops the
// secrets in their URLs).
func remotesFix(e *Env) *Fix {
	return &Fix{Key: "remotes", Description: "rewrite this repository's Bitbucket remotes to git@" + e.Settings.SSHHost + ":WS/REPO.git (dropping any secret in them)",
		apply: func(ctx context.Context) ([]string, error) {
			plan, err := planHere(ctx, e)
			if err != nil {
				return nil, err
			}
			err = remote.Apply(ctx, e.Git, plan)
			var changed []string
			for _, rp := range plan.Changed() {
				if rp.Applied {
					for _, c := range rp.Changes {
						if !slices.Contains(changed, c.File) {
							changed = append(changed, c.File)
						}
					}
				}
			}
			return changed, err
		}}
}

func checkRemotes(_ context.Context, e *Env, _ Deps) Result {
	plan, err := e.plan()
	switch {
	case errors.Is(err, errNoRepo):
		return Result{Status: Skipped, Summary: "skipped: not in a git repository (run doctor inside a clone to check its remotes)"}
	case errors.Is(err, gitrun.ErrNotFound):
		return Result{Status: Fail, Summary: "git is not installed or not on PATH", Fix: "install git"}
	case err != nil:
		return Result{Status: Warn, Summary: "could not read this repository's remotes: " + err.Error()}
	}
	rp := plan.Repos[0]
	var details, causes []string
	for _, c := range rp.Changes {
		cause := "git over SSH moved from bitbucket.org to ssh.bitbucket.org on 2026-11-12"
		if strings.HasPrefix(c.Old, "http") {
			cause = "git over HTTPS needs a password or token (app passwords stopped working on " + AppPasswordsRemoved + ")"
		}
		causes = appendOnce(causes, cause)
		details = append(details, fmt.Sprintf("%s: %s → %s", c.Key(), c.Old, c.New))
	}
	for _, s := range rp.Skipped {
		details = append(details, fmt.Sprintf("%s %s: %s left alone (%s)", s.Field, s.Name, s.Old, s.Reason))
	}
	if len(rp.Changes) == 0 {
		r := Result{Status: OK, Details: details}
		if rp.Current == 0 {
			r.Summary = "no Bitbucket Cloud remote in " + rp.Repo.Dir
		} else {
			r.Summary = fmt.Sprintf("%d Bitbucket %s in %s %s git@%s", rp.Current, text.Plural(rp.Current, "remote", "remotes"), rp.Repo.Dir, text.Plural(rp.Current, "uses", "use"), e.Settings.SSHHost)
		}
		return r
	}
	r := Result{Status: Fail, Details: details,
		Summary: fmt.Sprintf("%d Bitbucket %s in %s %s not use git@%s", len(rp.Changes), text.Plural(len(rp.Changes), "remote", "remotes"), rp.Repo.Dir, text.Plural(len(rp.Changes), "does", "do"), e.Settings.SSHHost),
		Fix:     "run: bbkey remote", Cause: strings.Join(causes, "; ")}
	if mks, _ := e.keys(); len(mks) == 0 {
		r.Fix = "run: bbkey setup (it makes a key and switches the remotes)"
		return r
	}
	r.fixes = []*Fix{remotesFix(e)}
	return r
}
