// What remote looks at: the repositories (PATH arguments, --recursive trees, or the one
// here) and the credential files and helpers --scrub cleans.

package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/bbkey/bbkey/internal/errkind"
	engine "github.com/bbkey/bbkey/internal/remote"

	"github.com/bbkey/bbkey/internal/gitrun"
)

// discover finds the repositories (PATH arguments, --recursive trees, or the one here)
// and plans them.
func discover(ctx context.Context, opts *Options, t engine.Rewriter) (*engine.Plan, []failure, error) {
	var repos []engine.Repo
	var failed []failure
	dirs := opts.Dirs
	if len(dirs) == 0 && len(opts.Recursive) == 0 {
		dirs = []string{opts.WorkDir}
	}
	for _, d := range dirs {
		d = engine.AbsPath(opts.WorkDir, d) // absolute in --json, as every repository is
		r, err := engine.Resolve(ctx, opts.Git, d)
		if err != nil {
			if errors.Is(err, gitrun.ErrNotFound) {
				return nil, nil, err
			}
			failed = append(failed, failure{dir: d, err: err})
			continue
		}
		repos = append(repos, r)
	}
	for _, root := range opts.Recursive {
		found, warns := engine.Find(ctx, engine.AbsPath(opts.WorkDir, root))
		for _, w := range warns {
			opts.IO.Warnf("%v", w)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if len(found) == 0 {
			opts.IO.Warnf("no git repositories under %s", root)
		}
		repos = append(repos, found...)
	}
	seen := map[string]bool{}
	repos = slices.DeleteFunc(repos, func(r engine.Repo) bool {
		if seen[r.GitDir] {
			return true
		}
		seen[r.GitDir] = true
		return false
	})
	if len(repos) == 0 && len(failed) == 1 && len(opts.Recursive) == 0 {
		return nil, nil, errkind.WithHint(plainFailure(failed[0].err), "run bbkey remote inside a clone, give its PATH, or use --recursive DIR")
	}
	return engine.PlanRepos(ctx, opts.Git, repos, t), failed, nil
}

// checkOperands refuses a PATH or --recursive DIR that is not there before anything is
// read or changed: a typo is a usage error, not a warning or a repository that failed.
func checkOperands(opts *Options) error {
	for i, d := range append(slices.Clone(opts.Dirs), opts.Recursive...) {
		flag := ""
		if i >= len(opts.Dirs) {
			flag = "--recursive "
		}
		fi, err := os.Stat(engine.AbsPath(opts.WorkDir, d))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return errkind.UsageError(fmt.Errorf("%s%s: no such directory", flag, d), "check the path; bbkey remote takes directories of clones")
		case err != nil:
			return errkind.UsageError(fmt.Errorf("%s%s: %w", flag, d, err), "check the path and its permissions")
		case !fi.IsDir():
			return errkind.UsageError(fmt.Errorf("%s%s is not a directory", flag, d), "give the directory of a clone, or one that holds clones")
		}
	}
	return nil
}

// planScrub looks for Bitbucket secrets in credential files and helpers. It always runs:
// --scrub removes them, --dry-run lists them, any other run says they are there.
func planScrub(ctx context.Context, opts *Options) (*engine.ScrubPlan, error) {
	p, err := opts.Paths()
	if err != nil {
		return nil, err
	}
	s, err := opts.Settings()
	if err != nil {
		return nil, err
	}
	t := engine.CloudScrub
	if s.Server != "" {
		t = engine.DataCenterScrub(s.Server)
	}
	return engine.PlanScrubFor(ctx, opts.Git, p.Home, opts.Getenv("XDG_CONFIG_HOME"), t)
}
