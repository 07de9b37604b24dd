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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	engine "github.com/bbkey/bbkey/internal/remote"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

// Options are the dependencies and flags of `bbkey remote`.
type Options struct {
	IO       *iostreams.IOStreams
	Git      gitrun.Runner
	Prompter func() prompt.Prompter
	Settings func() (cmdutil.Settings, error)
	Paths    func() (cmdutil.Paths, error)
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
setting; git@<ssh-host>-<name>:… for another account with --name).

Rewritten: remote url and pushurl of every remote, submodule urls, and url.<base>.insteadOf
bases in each repository's own config, from https://[user[:secret]@]bitbucket.org/…,
ssh://git@bitbucket.org/…, git@bitbucket.org:… and ssh://git@altssh.bitbucket.org:443/….
Secrets in those URLs go with the rewrite. Other hosts are never touched; Bitbucket Data
Center remotes are reported and left alone. A second run changes nothing.

--scrub also removes bitbucket.org entries from ~/.git-credentials,
$XDG_CONFIG_HOME/git/credentials, ~/.netrc and ~/_netrc (after a backup copy, named on
stderr) and asks git's credential helpers to forget https://bitbucket.org.

--dry-run prints the table of changes and what --scrub would remove, and changes
nothing. More than one repository to change asks first; with --no-input or without a
terminal that needs --yes. --to https goes back to https://bitbucket.org/WS/REPO.git,
without any user name or secret.`,
		Example: `  bbkey remote
  bbkey remote --recursive ~/src --dry-run
  bbkey remote --recursive ~/src --yes --scrub
  bbkey remote --name work ~/src/client-a
  bbkey remote --to https`,
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
			return cmdutil.UsageError(fmt.Errorf("%d repositories would change: nothing changed without confirmation", len(changed)),
				"re-run with --yes to rewrite them, or --dry-run to only look")
		}
		ok, err := opts.Prompter().Confirm(fmt.Sprintf("Rewrite %d remotes in %d repositories?", plan.NumChanges(), len(changed)), false)
		if err != nil {
			return cmdutil.CancelError(fmt.Errorf("confirming the rewrite: %w", err))
		}
		if !ok {
			return cmdutil.CancelError(errors.New("cancelled: nothing changed"))
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
		return cmdutil.PartialError(fmt.Errorf("%d of %d repositories failed", len(failed), total),
			"fix the errors above and re-run: repositories already rewritten are left as they are")
	case len(failed) == 1:
		return plainFailure(failed[0].err)
	case scrubErr != nil:
		return plainFailure(scrubErr)
	}
	return nil
}

// plainFailure makes err exit 1. A failed git command carries *exec.ExitError, whose
// ExitCode method cmdutil.ExitCode would otherwise take for bbkey's own exit code (128).
func plainFailure(err error) error {
	return &cmdutil.ExitError{Code: cmdutil.ExitFailure, Err: err}
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

// failure is a repository (or a PATH that is not one) that could not be read or written.
type failure struct {
	dir        string
	err        error
	unresolved bool // a PATH argument that is not a repository
}

func countUnresolved(fs []failure) int {
	n := 0
	for _, f := range fs {
		if f.unresolved {
			n++
		}
	}
	return n
}

func resolveTarget(opts *Options) (engine.Target, error) {
	var t engine.Target
	switch opts.To {
	case "ssh", "":
	case "https":
		t.HTTPS = true
		if opts.Name != "" {
			return t, cmdutil.UsageError(errors.New("--name names an SSH account alias and cannot be used with --to https"))
		}
	default:
		return t, cmdutil.UsageError(fmt.Errorf("invalid --to %q: want ssh or https", opts.To))
	}
	s, err := opts.Settings()
	if err != nil {
		return t, err
	}
	t.SSHHost = s.SSHHost
	if err := t.Validate(); err != nil {
		return t, cmdutil.UsageError(err, "set --ssh-host (or BBKEY_SSH_HOST) to a host name such as "+cmdutil.DefaultSSHHost)
	}
	if opts.Name == "" {
		return t, nil
	}
	if err := keylabel.ValidName(opts.Name); err != nil {
		return t, cmdutil.UsageError(err)
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
func discover(ctx context.Context, opts *Options, t engine.Target) (*engine.Plan, []failure, error) {
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
		return nil, nil, cmdutil.WithHint(plainFailure(failed[0].err), "run bbkey remote inside a clone, give its PATH, or use --recursive DIR")
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
			return cmdutil.UsageError(fmt.Errorf("%s%s: no such directory", flag, d), "check the path; bbkey remote takes directories of clones")
		case err != nil:
			return cmdutil.UsageError(fmt.Errorf("%s%s: %w", flag, d, err), "check the path and its permissions")
		case !fi.IsDir():
			return cmdutil.UsageError(fmt.Errorf("%s%s is not a directory", flag, d), "give the directory of a clone, or one that holds clones")
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
	return engine.PlanScrub(ctx, opts.Git, p.Home, opts.Getenv("XDG_CONFIG_HOME"))
}

// display shows a repository path relative to the working directory when it is below it.
func display(wd, dir string) string {
	if rel, err := filepath.Rel(wd, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return dir
}

func remoteColumn(c engine.Change) string {
	switch c.Field {
	case engine.FieldPushURL:
		return c.Name + " (push)"
	case engine.FieldSubmodule:
		return "submodule " + c.Name
	case engine.FieldInsteadOf:
		return "insteadOf"
	}
	return c.Name
}

// printTable writes the changes to stdout: aligned with a header on a terminal, tab
// separated without one otherwise (for cut and awk).
func printTable(opts *Options, plan *engine.Plan) {
	changed := plan.Changed()
	if len(changed) == 0 {
		return
	}
	var w io.Writer = opts.IO.Out
	var tw *tabwriter.Writer
	if opts.IO.IsStdoutTTY() {
		tw = tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
		w = tw
		fmt.Fprintln(w, "REPOSITORY\tREMOTE\tOLD\tNEW")
	}
	for _, rp := range changed {
		for _, c := range rp.Changes {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", display(opts.WorkDir, rp.Repo.Dir), remoteColumn(c), c.Old, c.New)
		}
	}
	if tw != nil {
		tw.Flush()
	}
}

// report writes what was left alone, what failed, what was scrubbed and the summary to
// stderr.
func report(opts *Options, plan *engine.Plan, sp *engine.ScrubPlan, failed []failure, dryRun bool, scrubErr error) {
	s := opts.IO
	for _, rp := range plan.Repos {
		for _, sk := range rp.Skipped {
			msg := fmt.Sprintf("%s: %s left alone: %s (%s)", display(opts.WorkDir, rp.Repo.Dir), skipWhat(sk), sk.URL, sk.Reason)
			if sk.Secret {
				msg += "; it holds a secret: remove it by hand"
			}
			s.Step(iostreams.MarkWarn, "%s", msg)
		}
	}
	for _, f := range failed {
		s.Step(iostreams.MarkFail, "%v", f.err)
	}
	n, repos, secrets := 0, 0, 0
	for _, rp := range plan.Changed() {
		if !dryRun && !rp.Applied {
			continue
		}
		repos++
		for _, c := range rp.Changes {
			n++
			if c.Secret {
				secrets++
			}
		}
	}
	examined := len(plan.Repos)
	switch {
	case plan.NumChanges() == 0:
		s.Step(iostreams.MarkOK, "Nothing to rewrite: %s examined, every Bitbucket Cloud remote already uses %s", text.Count(examined, "repository", "repositories"), plan.Target.Host())
	case dryRun:
		s.Step(iostreams.MarkWarn, "Dry run: would rewrite %s in %s (%d examined); nothing changed", text.Count(n, "remote", "remotes"), text.Count(repos, "repository", "repositories"), examined)
	default:
		s.Step(iostreams.MarkOK, "Rewrote %s in %s to %s", text.Count(n, "remote", "remotes"), text.Count(repos, "repository", "repositories"), plan.Target.Host())
	}
	if secrets > 0 {
		verb := "removed with the rewrite"
		if dryRun {
			verb = "to be removed with the rewrite"
		}
		s.Step(iostreams.MarkWarn, "%s carried a secret (%s): treat it as leaked and revoke it", text.Count(secrets, "URL", "URLs"), verb)
	}
	reportScrub(opts, sp, dryRun, scrubErr)
}

func skipWhat(s engine.Skip) string {
	switch s.Field {
	case engine.FieldPushURL:
		return "remote " + s.Name + " (push)"
	case engine.FieldSubmodule:
		return "submodule " + s.Name
	case engine.FieldInsteadOf:
		return "insteadOf"
	}
	return "remote " + s.Name
}

func reportScrub(opts *Options, sp *engine.ScrubPlan, dryRun bool, scrubErr error) {
	s := opts.IO
	if scrubErr != nil {
		s.Step(iostreams.MarkFail, "%v", scrubErr)
	}
	if sp == nil {
		return
	}
	scrubbing := opts.Scrub && !dryRun
	for _, f := range sp.Files {
		switch {
		case scrubbing && f.Backup != "":
			s.Step(iostreams.MarkOK, "Removed %s from %s (backup: %s)", text.Count(f.Removed, "Bitbucket entry", "Bitbucket entries"), f.Path, f.Backup)
		case scrubbing:
		case dryRun:
			s.Step(iostreams.MarkWarn, "--scrub would remove from %s: %s", f.Path, strings.Join(f.Entries, ", "))
		default:
			s.Step(iostreams.MarkWarn, "%s holds %s: run `bbkey remote --scrub` to remove it", f.Path, text.Count(len(f.Entries), "Bitbucket secret", "Bitbucket secrets"))
		}
	}
	if len(sp.Helpers) == 0 {
		return
	}
	helpers := strings.Join(sp.Helpers, ", ")
	switch {
	case scrubbing && sp.Rejected:
		s.Step(iostreams.MarkOK, "Asked the credential helpers (%s) to forget https://bitbucket.org", helpers)
	case scrubbing:
	case dryRun && opts.Scrub:
		s.Step(iostreams.MarkWarn, "--scrub would ask the credential helpers (%s) to forget https://bitbucket.org", helpers)
	}
}

type jsonChange struct {
	Repository string `json:"repository"`
	ConfigFile string `json:"config_file"`
	Key        string `json:"key"`
	Remote     string `json:"remote"`
	Field      string `json:"field"`
	Old        string `json:"old"`
	New        string `json:"new"`
	HadSecret  bool   `json:"had_secret"`
	Applied    bool   `json:"applied"`
}

type jsonSkip struct {
	Repository string `json:"repository"`
	ConfigFile string `json:"config_file"`
	Remote     string `json:"remote"`
	Field      string `json:"field"`
	URL        string `json:"url"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	HasSecret  bool   `json:"has_secret"`
}

type jsonFailure struct {
	Repository string `json:"repository"`
	Error      string `json:"error"`
}

type jsonCredFile struct {
	Path    string   `json:"path"`
	Format  string   `json:"format"`
	Entries []string `json:"entries"`
	Removed int      `json:"removed"`
	Backup  string   `json:"backup,omitempty"`
}

type jsonScrub struct {
	Files           []jsonCredFile `json:"files"`
	Helpers         []string       `json:"credential_helpers"`
	HelpersRejected bool           `json:"helpers_rejected"`
}

type jsonDoc struct {
	DryRun       bool          `json:"dry_run"`
	To           string        `json:"to"`
	Host         string        `json:"host"`
	Repositories int           `json:"repositories"`
	Changes      []jsonChange  `json:"changes"`
	LeftAlone    []jsonSkip    `json:"left_alone"`
	Failed       []jsonFailure `json:"failed"`
	Scrub        *jsonScrub    `json:"scrub,omitempty"`
	ChangedFiles []string      `json:"changed_files"`
}

func printJSON(opts *Options, plan *engine.Plan, sp *engine.ScrubPlan, failed []failure, dryRun bool) {
	doc := jsonDoc{
		DryRun: dryRun, To: "ssh", Host: plan.Target.Host(), Repositories: len(plan.Repos),
		Changes: []jsonChange{}, LeftAlone: []jsonSkip{}, Failed: []jsonFailure{}, ChangedFiles: []string{},
	}
	if plan.Target.HTTPS {
		doc.To = "https"
	}
	files := map[string]bool{}
	addFile := func(f string) {
		if !files[f] {
			files[f] = true
			doc.ChangedFiles = append(doc.ChangedFiles, f)
		}
	}
	for _, rp := range plan.Repos {
		for _, c := range rp.Changes {
			doc.Changes = append(doc.Changes, jsonChange{
				Repository: rp.Repo.Dir, ConfigFile: c.File, Key: c.Key(), Remote: c.Name, Field: string(c.Field),
				Old: c.Old, New: c.New, HadSecret: c.Secret, Applied: rp.Applied,
			})
			if rp.Applied {
				addFile(c.File)
			}
		}
		for _, s := range rp.Skipped {
			doc.LeftAlone = append(doc.LeftAlone, jsonSkip{
				Repository: rp.Repo.Dir, ConfigFile: s.File, Remote: s.Name, Field: string(s.Field),
				URL: s.URL, Status: s.Status.String(), Reason: s.Reason, HasSecret: s.Secret,
			})
		}
	}
	for _, f := range failed {
		doc.Failed = append(doc.Failed, jsonFailure{Repository: f.dir, Error: f.err.Error()})
	}
	if sp != nil && (opts.Scrub || dryRun) {
		js := &jsonScrub{Files: []jsonCredFile{}, Helpers: sp.Helpers, HelpersRejected: sp.Rejected}
		if js.Helpers == nil {
			js.Helpers = []string{}
		}
		for _, f := range sp.Files {
			js.Files = append(js.Files, jsonCredFile{Path: f.Path, Format: f.Format, Entries: f.Entries, Removed: f.Removed, Backup: f.Backup})
			if f.Backup != "" {
				addFile(f.Path)
				addFile(f.Backup)
			}
		}
		doc.Scrub = js
	}
	enc := json.NewEncoder(opts.IO.Out)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}
