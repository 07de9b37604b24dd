// Package remote is `bbkey remote`: it rewrites the Bitbucket remotes of the repository
// here, of the paths given, or of every clone under --recursive DIR, and with --scrub
// removes the secrets git left in credential files and helpers. The engine is
// internal/remote; the contract (output, --json document, exit codes) is docs/remote.md.
//
// The table of changes (or the JSON document) goes to stdout; skipped remotes, backups,
// progress and the summary go to stderr.
package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/errkind"
	engine "github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/settings"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/prompt"
)

// Options are the dependencies and flags of `bbkey remote`.
type Options struct {
	IO       *iostreams.IOStreams
	Git      gitrun.Runner
	Prompter func() prompt.Prompter
	Settings func() (settings.Settings, error)
	Paths    func() (settings.Paths, error)
	Getenv   func(string) string
	Now      func() time.Time
	// WorkDir is the current directory: the default repository, and the base that
	// repository paths are shown relative to.
	WorkDir string

	JSON    bool
	Yes     bool
	NoInput bool

	Dirs      []string // PATH arguments
	Recursive []string
	Scrub     bool
	To        string
	Name      string
	DryRun    bool
}

// NewCmdRemote builds `bbkey remote`. runF replaces runRemote in tests.
func NewCmdRemote(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{
		IO:       f.IOStreams,
		Git:      f.Git,
		Prompter: f.Prompter,
		Settings: f.Settings,
		Paths:    f.Paths,
		Getenv:   f.Getenv,
		Now:      f.Now,
	}
	cmd := &cobra.Command{
		Use:   "remote [PATH...]",
		Short: "Rewrite Bitbucket remotes to SSH and scrub stored secrets",
		Long: `Rewrite the Bitbucket Cloud remotes of the repository here, of each PATH, or of every
clone under --recursive DIR, to git@ssh.bitbucket.org:WS/REPO.git (the --ssh-host
setting; git@<ssh-host>-<name>:… for another account with --name). With --server URL (or
BITBUCKET_SERVER) that Data Center server's remotes become ssh://git@<ssh host>:<port>/
proj/repo.git instead, with the SSH host and port 'bbkey setup --server URL' recorded.

Rewritten: url and pushurl of every remote, submodule urls, and url.<base>.insteadOf
bases in each repository's own config; secrets in those URLs go with the rewrite. Other
hosts are never touched, and a second run changes nothing.

--scrub also removes the Bitbucket entries of ~/.git-credentials,
$XDG_CONFIG_HOME/git/credentials, ~/.netrc and ~/_netrc (after a backup copy, named on
stderr) and asks git's credential helpers to forget them. --dry-run changes nothing.
More than one repository to change asks first; with --no-input or without a terminal
that needs --yes. --to https goes back to https://bitbucket.org/WS/REPO.git, without any
user name or secret. Details: docs/remote.md.`,
		Example: `  bbkey remote
  bbkey remote --recursive ~/src --dry-run
  bbkey remote --recursive ~/src --yes --scrub
  bbkey remote --name work ~/src/client-a
  bbkey remote --to https
  bbkey remote --server https://bitbucket.example.com --recursive ~/src`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dirs = args
			opts.JSON = f.Globals.JSON
			opts.Yes = f.Globals.Yes
			opts.NoInput = f.NoInput()
			wd, err := os.Getwd()
			if err != nil {
				return fmt.Errorf("finding the current directory: %w", err)
			}
			opts.WorkDir = wd
			if runF != nil {
				return runF(opts)
			}
			return runRemote(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Recursive, "recursive", nil, "rewrite every clone under `DIR` (repeatable)")
	fl.BoolVar(&opts.Scrub, "scrub", false, "also remove Bitbucket entries from credential files and helpers")
	fl.StringVar(&opts.To, "to", "ssh", "rewrite to `ssh` or https")
	fl.StringVar(&opts.Name, "name", "", "account `NAME`: remotes use the ssh alias <ssh-host>-<name>")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print what would change and change nothing")
	return cmd
}

func runRemote(ctx context.Context, opts *Options) error {
	target, err := resolveTarget(opts)
	if err != nil {
		return err
	}
	if err := checkOperands(opts); err != nil {
		return err
	}
	plan, failed, err := discover(ctx, opts, target)
	if err != nil {
		return err
	}
	sp, scrubErr := planScrub(ctx, opts)
	if scrubErr != nil && !opts.Scrub {
		// Only looking: say so and carry on with the remotes.
		opts.IO.Warnf("could not look for Bitbucket secrets in credential files: %v", scrubErr)
		sp, scrubErr = nil, nil
	}

	changed := plan.Changed()
	dryRun, tablePrinted := opts.DryRun, false
	if len(changed) > 1 && !opts.Yes && !opts.DryRun {
		if opts.NoInput {
			dryRun = true
		} else {
			if !opts.JSON {
				printTable(opts, plan)
				tablePrinted = true
			}
			ok, err := opts.Prompter().Confirm(fmt.Sprintf("Rewrite %d remotes in %d repositories?", plan.NumChanges(), len(changed)), false)
			if err != nil {
				return errkind.CancelError(fmt.Errorf("confirming the rewrite: %w", err))
			}
			if !ok {
				return errkind.CancelError(errors.New("cancelled: nothing changed"))
			}
		}
	}
	if !dryRun {
		// Failures are recorded per repository (RepoPlan.Err) and reported below.
		_ = engine.Apply(ctx, opts.Git, plan)
		if opts.Scrub && sp != nil && scrubErr == nil {
			scrubErr = engine.Scrub(ctx, opts.Git, sp, opts.Now())
		}
	}
	unresolved := len(failed) // PATHs that are not repositories
	for _, rp := range plan.Repos {
		if rp.Err != nil {
			failed = append(failed, failure{dir: rp.Repo.Dir, err: rp.Err})
		}
	}
	if opts.JSON {
		printJSON(opts, plan, sp, failed, dryRun)
	} else if !tablePrinted {
		printTable(opts, plan)
	}
	report(opts, plan, sp, failed, dryRun, scrubErr)

	total := len(plan.Repos) + unresolved
	switch {
	case dryRun && !opts.DryRun:
		return errkind.UsageError(fmt.Errorf("%d repositories would change: nothing changed without confirmation", len(changed)),
			"re-run with --yes to rewrite them, or --dry-run to only look")
	case len(failed) > 0 && total > 1:
		return errkind.PartialError(fmt.Errorf("%d of %d repositories failed", len(failed), total),
			"fix the errors above and re-run: repositories already rewritten are left as they are")
	case len(failed) == 1:
		return plainFailure(failed[0].err)
	case scrubErr != nil:
		return plainFailure(scrubErr)
	}
	return nil
}

// plainFailure makes err exit 1. A failed git command carries *exec.ExitError, whose
// ExitCode method apierr.ExitCode would otherwise take for bbkey's own exit code (128).
func plainFailure(err error) error {
	return &errkind.ExitError{Code: errkind.ExitFailure, Err: err}
}

// failure is a repository (or a PATH that is not one) that could not be read or written.
type failure struct {
	dir string
	err error
}
