// Package accesskey is `bbkey add-access-key`: a key for a build server (new, or an
// existing one with --key) added as a read-only access key to repositories, projects or
// the repositories of a workspace, within Bitbucket's hourly call budget, resumable by
// running it again. The bulk work lives in internal/accesskey.
package accesskey

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/accesskey"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/keylabel"
)

// Options are the Factory and the flags of add-access-key.
type Options struct {
	*cmdutil.Factory

	Repos          []string
	ReposFrom      string
	Projects       []string
	Workspace      string
	All            bool
	Query          string
	Name           string
	KeyFile        string
	TTL            string
	Concurrency    int
	LoadAgent      bool
	WriteSSHConfig bool
	Verify         bool
	PassphraseFile string
	NoPassphrase   bool
	DryRun         bool
	// Write gives the key write permission (Data Center only).
	Write bool
}

// Limits of --concurrency: Bitbucket counts calls per hour, not per second, so more
// parallel calls only reach the rate limit sooner.
const (
	defaultConcurrency = 4
	maxConcurrency     = 32
)

// NewCmdAddAccessKey builds the command; runF replaces the run function in tests.
func NewCmdAddAccessKey(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "add-access-key",
		Short: "Add this machine's read-only access key to repositories or projects",
		Long: `Add a key for this machine (a build server) as a read-only access key ("deploy key")
to repositories (--repo, --repos-from), projects (--project: one key covers every
repository in it) or the repositories of a workspace you administer (--workspace with
--all or --query).

On Bitbucket Data Center (--server URL or BITBUCKET_SERVER) a repository is PROJ/slug
(~user/slug for a personal one), a project is its key (--project OPS), and --all is every
repository the token administers; --query is Cloud's only. Data Center access keys may
also push: --write gives REPO_WRITE (PROJECT_WRITE on a project) instead of REPO_READ.

The key is ~/.ssh/bbkey_access_<name>_ed25519, made on first use and reused for every
later target; <name> is the short host name or --name. Its label on Bitbucket,
bbkey:<name>:<date>:ttl=<ttl>, lets 'bbkey list' and 'bbkey rotate' tell its owner and
age. Build servers cannot type a passphrase: it comes from --passphrase-file or
BBKEY_PASSPHRASE; --no-passphrase writes the key unencrypted and says so.

Each target costs one call; a workspace adds one call per hundred repositories listed.
The plan (targets, calls, hourly budget) is printed first, --dry-run stops there. Every
target is recorded as it is done, so an interrupted or rate-limited run is finished by
running the same command again. Inside Bitbucket Pipelines, BITBUCKET_WORKSPACE and
BITBUCKET_REPO_SLUG are the default target.

Exit codes: 0 every target has the key; 2 bad flags (--write on Cloud, --query on Data
Center); 3 some do not (failed, or --max-wait ran out; --json lists them); 4 not
authenticated or missing scope; 5 --verify failed.`,
		Example: `  # this repository's CI server, key loaded into its agent, ssh config written
  bbkey add-access-key --repo acme/api --passphrase-file /run/secrets/key-pass --agent --write-ssh-config --verify

  # every repository of a workspace you administer, plan only
  bbkey add-access-key --workspace acme --all --dry-run

  # repositories from a file, an existing key
  bbkey add-access-key --repos-from repos.txt --key ~/.ssh/id_ed25519.pub

  # Bitbucket Data Center: every repository the token administers, and a deploy key that pushes
  bbkey add-access-key --server https://bitbucket.example.com --all
  bbkey add-access-key --server https://bitbucket.example.com --repo OPS/site --write --verify`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runAdd(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Repos, "repo", nil, "add the key to repository `WS/SLUG` (Data Center: PROJ/slug or ~user/slug; repeatable)")
	fl.StringVar(&opts.ReposFrom, "repos-from", "", "read WS/SLUG (Data Center: PROJ/slug) lines from `FILE` ('-' for stdin)")
	fl.StringSliceVar(&opts.Projects, "project", nil, "add the key to project `WS/KEY` (Data Center: KEY), which covers all its repositories (repeatable)")
	fl.StringVar(&opts.Workspace, "workspace", "", "add the key to repositories of workspace `WS` (with --all or --query; Cloud)")
	fl.BoolVar(&opts.All, "all", false, "every repository of --workspace you administer (Data Center: every repository the token administers)")
	fl.StringVar(&opts.Query, "query", "", "repositories of --workspace matching Bitbucket's filter `Q`, e.g. 'project.key = \"OPS\"' (Cloud)")
	fl.StringVar(&opts.Name, "name", "", "key `NAME` (default: this machine's short host name)")
	fl.StringVar(&opts.KeyFile, "key", "", "add the existing public key `FILE` instead of this machine's access key")
	fl.StringVar(&opts.TTL, "ttl", "90d", "rotation policy `DURATION` written into the key's label, e.g. 90d or 12w")
	fl.IntVar(&opts.Concurrency, "concurrency", defaultConcurrency, fmt.Sprintf("calls in flight at once (1-%d)", maxConcurrency))
	fl.BoolVar(&opts.LoadAgent, "agent", false, "load the key into this machine's ssh-agent")
	fl.BoolVar(&opts.WriteSSHConfig, "write-ssh-config", false, "write the ssh config block and pinned host keys for this user")
	fl.BoolVar(&opts.Verify, "verify", false, "prove the key: git ls-remote over ssh works and a push is refused as read-only (accepted with --write)")
	fl.BoolVar(&opts.Write, "write", false, "give the key write permission, REPO_WRITE or PROJECT_WRITE (Bitbucket Data Center only)")
	fl.StringVar(&opts.PassphraseFile, "passphrase-file", "", "read the key passphrase from `FILE` (or set BBKEY_PASSPHRASE)")
	fl.BoolVar(&opts.NoPassphrase, "no-passphrase", false, "write a new key unencrypted (warned; anyone who can read the file can use the key)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (targets, calls, budget) and change nothing")
	cmd.MarkFlagsMutuallyExclusive("all", "query")
	cmd.MarkFlagsMutuallyExclusive("no-passphrase", "passphrase-file")
	cmd.MarkFlagsMutuallyExclusive("key", "no-passphrase")
	return cmd
}

// checkFlagsFor refuses, before anything else, a run without a target and the flags the
// selected Bitbucket does not have (server "" is Cloud): --write on Cloud, whose access
// keys only read; --query and --workspace on Data Center, which has neither.
func (o *Options) checkFlagsFor(server string) error {
	none := len(o.Repos)+len(o.Projects) == 0 && o.ReposFrom == "" && o.Workspace == "" && !o.All && o.Query == ""
	switch {
	case server == "" && o.Write:
		return errkind.UsageError(fmt.Errorf("--write: %w", backend.ErrWriteUnsupported),
			"drop --write: on Bitbucket Cloud an access key can clone and fetch, never push (Data Center's may: --server URL)")
	case server == "" && none && (o.Getenv("BITBUCKET_WORKSPACE") == "" || o.Getenv("BITBUCKET_REPO_SLUG") == ""):
		return errkind.UsageError(errors.New("no target given"),
			"give --repo WS/SLUG, --repos-from FILE, --project WS/KEY, or --workspace WS with --all or --query")
	case server == "":
		return nil
	case none:
		return errkind.UsageError(errors.New("no target given"),
			"give --repo PROJ/slug, --repos-from FILE, --project KEY, or --all for every repository the token administers")
	case o.Query != "":
		return errkind.UsageError(fmt.Errorf("--query is Bitbucket Cloud's filter language; Bitbucket Data Center at %s has none", server),
			"name the repositories (--repo PROJ/slug, --repos-from FILE), a project (--project KEY), or every one the token administers (--all)")
	case o.Workspace != "":
		return errkind.UsageError(fmt.Errorf("--workspace is Bitbucket Cloud's; Bitbucket Data Center at %s has projects, not workspaces", server),
			"use --all for every repository the token administers, or --project KEY")
	}
	return nil
}

// spec turns the target flags (and, inside Bitbucket Pipelines, its variables) into a
// Spec, failing on combinations that say nothing. Names are read the way b's Bitbucket
// writes them.
func (o *Options) spec(b backend.Backend) (accesskey.Spec, error) {
	s := accesskey.Spec{Repos: o.Repos, Projects: o.Projects, Workspace: o.Workspace, All: o.All, Query: o.Query,
		DataCenter: b.Kind() == backend.DataCenter}

	if o.ReposFrom != "" {
		var (
			r    io.Reader = o.IOStreams.In
			name           = "stdin"
		)
		if o.ReposFrom != "-" {
			f, err := os.Open(o.ReposFrom)
			if err != nil {
				return s, errkind.UsageError(fmt.Errorf("reading --repos-from: %w", err),
					"give a file you can read with one WS/SLUG (Data Center: PROJ/slug) per line, or '-' to read them from stdin")
			}
			defer f.Close()
			r, name = f, o.ReposFrom
		}
		repos, err := accesskey.ReadRepoList(r, name, b)
		if err != nil {
			return s, errkind.UsageError(err)
		}
		if len(repos) == 0 {
			return s, errkind.UsageError(fmt.Errorf("--repos-from %s names no repository", name), "write one WORKSPACE/REPO (Data Center: PROJ/slug) per line")
		}
		s.Repos = append(s.Repos, repos...)
	}
	if s.DataCenter {
		return s, nil
	}
	if (s.All || s.Query != "") && s.Workspace == "" {
		s.Workspace = o.Getenv("BITBUCKET_WORKSPACE")
		if s.Workspace == "" {
			return s, errkind.UsageError(errors.New("--all and --query need --workspace WS"),
				"add --workspace WS, the workspace whose repositories to list")
		}
	}
	if s.Workspace != "" && !s.Listing() {
		return s, errkind.UsageError(fmt.Errorf("--workspace %s needs --all or --query Q", s.Workspace),
			"--all adds the key to every repository of the workspace you administer; --query 'project.key = \"OPS\"' to some")
	}
	if len(s.Repos) == 0 && len(s.Projects) == 0 && s.Workspace == "" {
		// Inside Bitbucket Pipelines the repository being built is the natural target
		// (checkFlagsFor refused a run with no target anywhere).
		s.Repos = []string{o.Getenv("BITBUCKET_WORKSPACE") + "/" + o.Getenv("BITBUCKET_REPO_SLUG")}
	}
	return s, nil
}

// keyName is --name, else the short host name made fit for a file name and a label.
func (o *Options) keyName() (string, error) {
	name := o.Name
	if name == "" {
		h, err := o.Hostname()
		if err != nil {
			return "", errkind.UsageError(fmt.Errorf("finding the host name for the key name: %w", err), "give the key a name with --name")
		}
		if name = keylabel.SanitizeName(h); name == "" {
			return "", errkind.UsageError(fmt.Errorf("host name %q does not make a key name", h), "give the key a name with --name")
		}
	}
	if err := keylabel.ValidName(name); err != nil {
		return "", errkind.UsageError(fmt.Errorf("--name: %w", err), "name the key with lowercase letters, digits, '.' and '-', e.g. --name ci-01")
	}
	return name, nil
}

func (o *Options) ttl() (time.Duration, error) {
	d, err := keylabel.ParseDuration(o.TTL)
	if err != nil || d <= 0 {
		return 0, errkind.UsageError(fmt.Errorf("--ttl %q is not a positive duration", o.TTL), "write it like 90d, 12w or 720h")
	}
	return d, nil
}

// gitEnv runs git with extra environment (the proof's GIT_SSH_COMMAND). Only an Exec can
// take it; any other runner (a test's) is replaced by the git on PATH, as the proof needs
// the real git anyway.
func (o *Options) gitEnv(env []string) gitrun.Runner {
	if g, ok := o.Git.(gitrun.Exec); ok {
		g.Env = append(slices.Clone(g.Env), env...)
		return g
	}
	return gitrun.Exec{Env: env}
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
