// Package remote is `bbkey remote`: it rewrites the Bitbucket Cloud remotes of the
// repository here, of the paths given, or of every clone under --recursive DIR, to
// git@<ssh-host>:WS/REPO.git (or back to https://bitbucket.org/WS/REPO.git with --to
// https), and with --scrub removes the Bitbucket secrets git left in credential files and
// helpers. The engine lives in internal/remote.
//
// Terminal contract: the table of changes (or the JSON document) goes to stdout; skipped
// remotes, backups made, progress and the summary go to stderr. Changing more than one
// repository asks first on a terminal; without one it needs --yes, else it prints the
// plan and exits 2 before changing anything.
//
// The --json document (one object, stable):
//
//	{
//	  "dry_run": true,                  // nothing was written
//	  "to": "ssh",                      // or "https"
//	  "host": "ssh.bitbucket.org",      // the host remotes are written with
//	  "repositories": 12,               // repositories examined
//	  "changes": [{                     // every remote value rewritten (or to rewrite)
//	    "repository": "/abs/work/tree",
//	    "config_file": "/abs/work/tree/.git/config",
//	    "key": "remote.origin.url",     // url.<base>.insteadOf for insteadOf bases
//	    "remote": "origin",             // remote or submodule name; "" for insteadOf
//	    "field": "url",                 // url | pushurl | submodule | insteadOf
//	    "old": "https://alice:***@bitbucket.org/ws/repo.git",  // secrets masked
//	    "new": "git@ssh.bitbucket.org:ws/repo.git",
//	    "had_secret": true,
//	    "applied": false
//	  }],
//	  "left_alone": [{                  // Bitbucket URLs not rewritten, and why
//	    "repository": "…", "config_file": "…", "remote": "origin", "field": "url",
//	    "url": "ssh://git@bitbucket.example.com:7999/PROJ/r.git",
//	    "status": "datacenter",         // or "unsupported"
//	    "reason": "…", "has_secret": false
//	  }],
//	  "failed": [{"repository": "…", "error": "…"}],
//	  "scrub": {                        // present with --scrub or a dry run
//	    "files": [{"path": "/home/u/.git-credentials", "format": "git-credentials",
//	               "entries": ["https://alice:***@bitbucket.org"], "removed": 1,
//	               "backup": "/home/u/.git-credentials.bbkey-backup-20261122T101500Z"}],
//	    "credential_helpers": ["store"],
//	    "helpers_rejected": true
//	  },
//	  "changed_files": ["…"]            // every file written: configs, credential files, backups
//	}
package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/errkind"
	engine "github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/settings"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/state"
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
BITBUCKET_SERVER) it rewrites that Bitbucket Data Center server's remotes instead:
https://[user[:secret]@]host[/context]/scm/PROJ/repo.git (~user personal repositories too)
and its other SSH forms become ssh://git@<ssh host>:<port>/proj/repo.git, with the SSH
host and port 'bbkey setup --server URL' recorded.

Rewritten: remote url and pushurl of every remote, submodule urls, and url.<base>.insteadOf
bases in each repository's own config, from https://[user[:secret]@]bitbucket.org/…,
ssh://git@bitbucket.org/…, git@bitbucket.org:… and ssh://git@altssh.bitbucket.org:443/….
Secrets in those URLs go with the rewrite. Other hosts are never touched; Bitbucket Data
Center remotes are reported and left alone unless --server names their server. A second
run changes nothing.

--scrub also removes bitbucket.org entries from ~/.git-credentials,
$XDG_CONFIG_HOME/git/credentials, ~/.netrc and ~/_netrc (after a backup copy, named on
stderr) and asks git's credential helpers to forget https://bitbucket.org; with --server,
the server's entries and URL instead.

--dry-run prints the table of changes and what --scrub would remove, and changes
nothing. More than one repository to change asks first; with --no-input or without a
terminal that needs --yes. --to https goes back to https://bitbucket.org/WS/REPO.git,
without any user name or secret.`,
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
	confirm := len(changed) > 1 && !opts.Yes && !opts.DryRun
	dryRun := opts.DryRun
	tablePrinted := false
	if confirm {
		if !opts.JSON {
			printTable(opts, plan)
			tablePrinted = true
		}
		if opts.NoInput {
			dryRun = true
			failed = withPlanErrors(failed, plan)
			if opts.JSON {
				printJSON(opts, plan, sp, failed, dryRun)
			}
			report(opts, plan, sp, failed, dryRun, scrubErr)
			return errkind.UsageError(fmt.Errorf("%d repositories would change: nothing changed without confirmation", len(changed)),
				"re-run with --yes to rewrite them, or --dry-run to only look")
		}
		ok, err := opts.Prompter().Confirm(fmt.Sprintf("Rewrite %d remotes in %d repositories?", plan.NumChanges(), len(changed)), false)
		if err != nil {
			return errkind.CancelError(fmt.Errorf("confirming the rewrite: %w", err))
		}
		if !ok {
			return errkind.CancelError(errors.New("cancelled: nothing changed"))
		}
	}

	if !dryRun {
		// Failures are recorded per repository (RepoPlan.Err) and reported below.
		_ = engine.Apply(ctx, opts.Git, plan)
		if opts.Scrub && sp != nil && scrubErr == nil {
			scrubErr = engine.Scrub(ctx, opts.Git, sp, opts.Now())
		}
	}
	failed = withPlanErrors(failed, plan)
	if opts.JSON {
		printJSON(opts, plan, sp, failed, dryRun)
	} else if !tablePrinted {
		printTable(opts, plan)
	}
	report(opts, plan, sp, failed, dryRun, scrubErr)

	total := len(plan.Repos) + countUnresolved(failed)
	switch {
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

// withPlanErrors adds the repositories that could not be read or written.
func withPlanErrors(failed []failure, plan *engine.Plan) []failure {
	for _, rp := range plan.Repos {
		if rp.Err != nil {
			failed = append(failed, failure{dir: rp.Repo.Dir, err: rp.Err})
		}
	}
	return failed
}

func resolveTarget(opts *Options) (engine.Rewriter, error) {
	s, err := opts.Settings()
	if err != nil {
		return nil, err
	}
	if s.Server != "" {
		return dataCenterTarget(opts, s.Server)
	}
	var t engine.Target
	switch opts.To {
	case "ssh", "":
	case "https":
		t.HTTPS = true
		if opts.Name != "" {
			return t, errkind.UsageError(errors.New("--name names an SSH account alias and cannot be used with --to https"))
		}
	default:
		return t, errkind.UsageError(fmt.Errorf("invalid --to %q: want ssh or https", opts.To))
	}
	t.SSHHost = s.SSHHost
	if err := t.Validate(); err != nil {
		return t, errkind.UsageError(err, "set --ssh-host (or BBKEY_SSH_HOST) to a host name such as "+settings.DefaultSSHHost)
	}
	if opts.Name == "" {
		return t, nil
	}
	if err := keylabel.ValidName(opts.Name); err != nil {
		return t, errkind.UsageError(err)
	}
	// The alias follows the ssh config bbkey writes: the first account answers for the
	// ssh-host itself, further accounts for <ssh-host>-<name>.
	p, err := opts.Paths()
	if err != nil {
		return t, err
	}
	st, err := state.Dir{Path: p.ConfigDir, Now: opts.Now}.Load()
	if err != nil {
		return t, err
	}
	if _, ok := st.Accounts[opts.Name]; !ok {
		opts.IO.Warnf("no account key named %q on this machine yet: run `bbkey setup --name %s` so the remotes have an ssh Host block", opts.Name, opts.Name)
	}
	if alias := identity.AccountAlias(s.SSHHost, st, opts.Name); alias != s.SSHHost {
		t.Name = strings.TrimPrefix(alias, s.SSHHost+"-")
	}
	return t, nil
}

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
		r, err := engine.Resolve(ctx, opts.Git, absDir(opts.WorkDir, d))
		if err != nil {
			if errors.Is(err, gitrun.ErrNotFound) {
				return nil, nil, err
			}
			failed = append(failed, failure{dir: d, err: err, unresolved: true})
			continue
		}
		repos = append(repos, r)
	}
	for _, root := range opts.Recursive {
		found, warns := engine.Find(ctx, absDir(opts.WorkDir, root))
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
	check := func(flag, d string) error {
		fi, err := os.Stat(absDir(opts.WorkDir, d))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return errkind.UsageError(fmt.Errorf("%s%s: no such directory", flag, d), "check the path; bbkey remote takes directories of clones")
		case err != nil:
			return errkind.UsageError(fmt.Errorf("%s%s: %w", flag, d, err), "check the path and its permissions")
		case !fi.IsDir():
			return errkind.UsageError(fmt.Errorf("%s%s is not a directory", flag, d), "give the directory of a clone, or one that holds clones")
		}
		return nil
	}
	for _, d := range opts.Dirs {
		if err := check("", d); err != nil {
			return err
		}
	}
	for _, d := range opts.Recursive {
		if err := check("--recursive ", d); err != nil {
			return err
		}
	}
	return nil
}

func absDir(wd, d string) string {
	if filepath.IsAbs(d) {
		return filepath.Clean(d)
	}
	return filepath.Join(wd, d)
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

// dataCenterTarget is the form a Data Center server's remotes take:
// ssh://git@<ssh host>:<port>/proj/repo.git with the SSH host and port setup (or
// add-access-key) recorded for the server, or the alias <ssh host>-<name> of a further
// account with --name. It needs no network: the state has them.
func dataCenterTarget(opts *Options, server string) (engine.Rewriter, error) {
	if opts.To == "https" {
		return nil, errkind.UsageError(errors.New("--to https is for Bitbucket Cloud remotes"),
			"a Data Center clone URL over HTTPS is the server's /scm/ URL: see the repository's Clone button")
	}
	if opts.To != "ssh" && opts.To != "" {
		return nil, errkind.UsageError(fmt.Errorf("invalid --to %q: want ssh or https", opts.To))
	}
	p, err := opts.Paths()
	if err != nil {
		return nil, err
	}
	st, err := state.Dir{Path: p.ConfigDir, Now: opts.Now}.Load()
	if err != nil {
		return nil, err
	}
	v := st.ServerOf(server)
	if v == nil || v.SSHHost == "" {
		return nil, errkind.UsageError(fmt.Errorf("bbkey has no key on %s yet, so it does not know where its SSH git is", server),
			"run 'bbkey setup --server "+server+"' first: it records the server's SSH host and port, and the Host block the remotes need")
	}
	host := v.SSHHost
	if opts.Name != "" {
		if err := keylabel.ValidName(opts.Name); err != nil {
			return nil, errkind.UsageError(err)
		}
		if _, ok := v.Accounts[opts.Name]; !ok {
			opts.IO.Warnf("no account key named %q on %s on this machine yet: run `bbkey setup --server %s --name %s` so the remotes have an ssh Host block", opts.Name, server, server, opts.Name)
		}
		host = identity.AccountAlias(v.SSHHost, v.View(), opts.Name)
	}
	t := engine.DataCenterTarget{ServerURL: server, SSHHost: host, SSHPort: v.SSHPort}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}
