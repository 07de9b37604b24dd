// Package audit is `bbkey audit`: every access key across a Bitbucket workspace, grouped
// by key, judged against its own ttl and the run's policy, optionally revoked. The work
// lives in internal/audit; audit.go has the flags and the run, flags.go checks them,
// collect.go lists and judges, revoke.go deletes, datacenter.go has what is a Data
// Center server's, output.go and json.go render.
//
// Terminal contract: the report (table, --json or --format csv) is the only thing on
// stdout; the plan (calls, hourly limit), progress with call count and ETA (a bar on a
// terminal, one line per target otherwise) and warnings go to stderr. The confirmation
// of --revoke-flagged is asked on the terminal; without one it needs --yes.
package audit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/audit"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

// Options are the dependencies and flags of `bbkey audit`.
type Options struct {
	IO       *iostreams.IOStreams
	Now      func() time.Time
	Paths    func() (settings.Paths, error)
	Agent    func() (agent.Agent, error)
	Prompter func() prompt.Prompter
	NoInput  func() bool
	// LookupEnv reads BBKEY_LOCK_WAIT (nil: none set).
	LookupEnv func(string) (string, bool)
	// APIClient resolves the credential and builds a client with the run's settings plus
	// extra options (the progress's wait hook).
	APIClient func(ctx context.Context, extra ...bbapi.Option) (*bbapi.Client, error)
	// Server is the Data Center server the run selects (--server, BITBUCKET_SERVER),
	// "" for Cloud.
	Server func() (string, error)
	// DataCenterClient resolves the server's credential and builds its client, with the
	// run's settings plus extra options.
	DataCenterClient func(ctx context.Context, server string, extra ...bbapi.Option) (*dc.Client, error)

	JSON bool
	Yes  bool

	Workspace      string
	Projects       []string
	All            bool
	Query          string
	OlderThan      string
	UnusedFor      string
	Wide           int
	MaxAge         string
	Format         string
	Concurrency    int
	RevokeFlagged  bool
	IncludeForeign bool
	Force          bool
	DryRun         bool
}

// Defaults of the policy flags.
const (
	defaultOlderThan   = "365d" // Atlassian: replace SSH keys at least once a year
	defaultUnusedFor   = "90d"
	defaultWide        = 20
	defaultMaxAge      = "1h"
	defaultConcurrency = 10 // reads; the hourly limit, not parallelism, bounds a run
	maxConcurrency     = 32
)

// NewCmdAudit builds `bbkey audit`; runF replaces runAudit in tests.
func NewCmdAudit(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{
		IO:        f.IOStreams,
		Now:       f.Now,
		Paths:     f.Paths,
		Agent:     f.Agent,
		Prompter:  f.Prompter,
		NoInput:   f.NoInput,
		LookupEnv: f.LookupEnv,
		APIClient: func(ctx context.Context, extra ...bbapi.Option) (*bbapi.Client, error) {
			rc, err := f.ResolveCredential(ctx)
			if err != nil {
				return nil, err
			}
			return f.NewAPIClient(rc.Credential, extra...)
		},
		Server: func() (string, error) {
			s, err := f.Settings()
			return s.Server, err
		},
		DataCenterClient: func(ctx context.Context, server string, extra ...bbapi.Option) (*dc.Client, error) {
			rc, err := f.ResolveServerCredential(ctx, server)
			if err != nil {
				return nil, err
			}
			return dc.NewClient(server, rc.Credential, f.ClientOptions(extra...)...)
		},
	}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Every access key across a workspace: who can read what, and what is stale",
		Long: `List every access key of a workspace: each repository's (one call per repository you
administer) and each project's (one call per project), grouped by key. On a Data Center
server (--server URL or BITBUCKET_SERVER) there is no workspace: every repository and
project the token administers, or those of --project PROJ (repeatable), with each key's
permission (access keys there may push). For every key:
its label and comment, where it is, when it was added and last used, whether bbkey made
it (a bbkey: label) or not, and its age against its own ttl and --older-than.

Flags: past-ttl (older than the ttl in its bbkey label), unused (no use for --unused-for,
or never since added), older-than, wide (reaches more than --wide repositories, counting
every repository of a project it is on), foreign (not made by bbkey), and this-machine
(a key this machine's 'bbkey list' knows: information, not a problem).

Before listing, the plan says how many calls the run makes and what that is of
Bitbucket's hourly limit. Every answer is cached (under the user cache directory), so a
run stopped by --max-wait or a 429 continues where it stopped when run again, and a
repository listed within --max-age is not listed again.

--revoke-flagged deletes the flagged keys bbkey manages (foreign ones too with
--include-foreign) when a flag says they should go: past-ttl, unused, older-than or wide
(never for being foreign alone). It lists exactly what it deletes first and confirms on a
terminal (--yes without one); it never deletes the key this machine still uses for a
target unless --force. Deletions are recorded in bbkey's state. --dry-run deletes nothing.

Exit codes: 0 nothing flagged; 6 keys flagged (the audit itself ran to the end);
3 partial (some repositories or projects not listed, or some deletions failed; run again
to finish); 2 usage, or --revoke-flagged needing --yes; 4 not authenticated.`,
		Example: `  bbkey audit --workspace acme
  bbkey audit --server https://bitbucket.example.com --project OPS
  bbkey audit --workspace acme --query 'project.key = "OPS"' --unused-for 30d --json
  bbkey audit --workspace acme --format csv > access-keys.csv
  bbkey audit --workspace acme --revoke-flagged --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON, opts.Yes = f.Globals.JSON, f.Globals.Yes
			if runF != nil {
				return runF(opts)
			}
			return runAudit(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Workspace, "workspace", "", "audit workspace `WS` (required on Cloud)")
	fl.StringSliceVar(&opts.Projects, "project", nil, "Data Center: only the repositories and access keys of project `PROJ` (repeatable)")
	fl.BoolVar(&opts.All, "all", false, "Data Center: every repository and project the credential administers (the default there)")
	fl.StringVar(&opts.Query, "query", "", "only repositories matching Bitbucket's filter `Q`, e.g. 'project.key = \"OPS\"'")
	fl.StringVar(&opts.OlderThan, "older-than", defaultOlderThan, "flag keys older than `AGE`")
	fl.StringVar(&opts.UnusedFor, "unused-for", defaultUnusedFor, "flag keys not used for `AGE`")
	fl.IntVar(&opts.Wide, "wide", defaultWide, "flag keys that reach more than `N` repositories")
	fl.StringVar(&opts.MaxAge, "max-age", defaultMaxAge, "reuse listings cached within `DURATION`")
	fl.StringVar(&opts.Format, "format", "table", "output `FORMAT`: table or csv (--json for JSON)")
	fl.IntVar(&opts.Concurrency, "concurrency", defaultConcurrency, fmt.Sprintf("listings in flight at once (1-%d)", maxConcurrency))
	fl.BoolVar(&opts.RevokeFlagged, "revoke-flagged", false, "delete the flagged keys bbkey manages")
	fl.BoolVar(&opts.IncludeForeign, "include-foreign", false, "with --revoke-flagged: delete flagged foreign keys too")
	fl.BoolVar(&opts.Force, "force", false, "with --revoke-flagged: delete even the key this machine still uses")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "with --revoke-flagged: say what would be deleted and delete nothing")
	return cmd
}

// run is one audit: what every step needs, so it is not threaded through each.
type run struct {
	o     *Options
	fl    flags
	sdir  state.Dir
	src   audit.Source
	cache *audit.CacheFile
	// server is the Data Center server audited, "" on Cloud.
	server string
	// shown is the progress display now on screen (the listing's, then the deletion's):
	// the client's wait hook reports rate-limit pauses there, from the requests'
	// goroutines.
	shown atomic.Pointer[bulk.Progress]
}

func runAudit(ctx context.Context, o *Options) error {
	server := ""
	if o.Server != nil {
		var err error
		if server, err = o.Server(); err != nil {
			return err
		}
	}
	fl, err := parseFlags(o, server)
	if err != nil {
		return err
	}
	p, err := o.Paths()
	if err != nil {
		return err
	}
	r := &run{o: o, fl: fl, sdir: state.Dir{Path: p.ConfigDir, Now: o.Now}, server: server}
	local, err := r.local(ctx, p.SSHDir)
	if err != nil {
		return err
	}
	hook := bbapi.WithWaitHook(func(w bbapi.Wait) {
		if p := r.shown.Load(); p != nil {
			p.Wait(w)
		}
	})
	var base, cacheName string
	if server != "" {
		client, err := o.DataCenterClient(ctx, server, hook)
		if err != nil {
			return err
		}
		r.src, base, cacheName = audit.DataCenter{Client: client, OnlyProjects: o.Projects}, client.BaseURL(), dataCenterCacheName(server, o.Projects)
	} else {
		client, err := o.APIClient(ctx, hook)
		if err != nil {
			return err
		}
		r.src, base, cacheName = audit.Cloud{Client: client}, client.BaseURL(), o.Workspace
	}
	cache, warn := audit.OpenCache(audit.CachePath(p.CacheDir, cacheName), base, o.Workspace)
	if warn != "" {
		o.IO.Warnf("%s", warn)
	}
	r.cache = cache

	rep, err := r.collect(ctx, local)
	if err != nil {
		return err
	}
	switch {
	case o.RevokeFlagged && rep.coll.Stop != nil:
		o.IO.Warnf("nothing revoked: the audit stopped before listing everything; run the same command again to finish it first")
	case o.RevokeFlagged:
		if err := r.revoke(ctx, rep); err != nil {
			return err
		}
	}
	rep.calls = r.src.Calls()
	if err := rep.render(); err != nil {
		return err
	}
	return rep.exit()
}
