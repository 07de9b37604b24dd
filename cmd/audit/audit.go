// Package audit is `bbkey audit`: every access key across a workspace or Data Center
// server, grouped by key, judged against its own ttl and the run's policy, optionally
// revoked; the work is internal/audit's. The report is the only thing on stdout; the plan,
// progress and warnings go to stderr.
package audit

import (
	"cmp"
	"context"
	"errors"
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
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
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
	// APIClient and DataCenterClient resolve the credential and build a client with the
	// run's settings plus extra options (the progress's wait hook).
	APIClient func(ctx context.Context, extra ...bbapi.Option) (*bbapi.Client, error)
	// Server is the Data Center server the run selects, "" for Cloud.
	Server           func() (string, error)
	DataCenterClient func(ctx context.Context, server string, extra ...bbapi.Option) (*dc.Client, error)

	JSON, Yes bool

	Workspace, Query, OlderThan, UnusedFor, MaxAge, Format string
	Projects                                               []string
	All, RevokeFlagged, IncludeForeign, Force, DryRun      bool
	Wide, Concurrency                                      int
}

const maxConcurrency = 32

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
			return f.NewDCClient(server, rc.Credential, extra...)
		},
	}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Every access key across a workspace: who can read what, and what is stale",
		Long: `List every access key of a workspace's repositories and projects (on a Data Center
server: those the token administers, or of --project), grouped by key and flagged:
past-ttl, unused, older-than, wide, foreign, this-machine (information only). The plan
says first what the run costs against Bitbucket's hourly limit; answers are cached, so a
stopped run continues where it stopped. --revoke-flagged deletes the stale keys bbkey
manages (foreign ones too with --include-foreign), after listing them and confirming.

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
	fl.StringVar(&opts.OlderThan, "older-than", "365d", "flag keys older than `AGE`") // Atlassian: replace SSH keys once a year
	fl.StringVar(&opts.UnusedFor, "unused-for", "90d", "flag keys not used for `AGE`")
	fl.IntVar(&opts.Wide, "wide", 20, "flag keys that reach more than `N` repositories")
	fl.StringVar(&opts.MaxAge, "max-age", "1h", "reuse listings cached within `DURATION`")
	fl.StringVar(&opts.Format, "format", "table", "output `FORMAT`: table or csv (--json for JSON)")
	fl.IntVar(&opts.Concurrency, "concurrency", 10, fmt.Sprintf("listings in flight at once (1-%d)", maxConcurrency))
	fl.BoolVar(&opts.RevokeFlagged, "revoke-flagged", false, "delete the flagged keys bbkey manages")
	fl.BoolVar(&opts.IncludeForeign, "include-foreign", false, "with --revoke-flagged: delete flagged foreign keys too")
	fl.BoolVar(&opts.Force, "force", false, "with --revoke-flagged: delete even the key this machine still uses")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "with --revoke-flagged: say what would be deleted and delete nothing")
	return cmd
}

// run is one audit: what every step needs, and what it found and did, rendered once at
// the end.
type run struct {
	o  *Options
	fl flags
	a  *audit.Auditor
	// shown is the progress display now on screen, where the client's wait hook reports
	// rate-limit pauses (from the requests' goroutines).
	shown atomic.Pointer[bulk.Progress]

	plan  *audit.Plan
	coll  *audit.Collection
	keys  []*audit.Key
	calls int

	revoking         bool
	plannedDel, kept []audit.Deletion
	revoked          *audit.RevokeOutcome
}

func runAudit(ctx context.Context, o *Options) error {
	server, err := o.Server()
	if err != nil {
		return err
	}
	fl, err := parseFlags(o, server)
	if err != nil {
		return err
	}
	p, err := o.Paths()
	if err != nil {
		return err
	}
	r := &run{o: o, fl: fl, a: &audit.Auditor{State: state.Dir{Path: p.ConfigDir, Now: o.Now}, Now: o.Now, MaxAge: fl.maxAge, Concurrency: o.Concurrency, Server: server}}
	local, err := r.local(ctx, p.SSHDir)
	if err != nil {
		return err
	}
	hook := bbapi.WithWaitHook(func(w bbapi.Wait) {
		if p := r.shown.Load(); p != nil {
			p.Wait(w)
		}
	})
	base, cacheName := "", o.Workspace
	if server != "" {
		client, err := o.DataCenterClient(ctx, server, hook)
		if err != nil {
			return err
		}
		r.a.Source, base, cacheName = audit.DataCenter(client, o.Projects), client.BaseURL(), dataCenterCacheName(server, o.Projects)
	} else {
		client, err := o.APIClient(ctx, hook)
		if err != nil {
			return err
		}
		r.a.Source, base = audit.Cloud(client, o.Workspace, o.Query), client.BaseURL()
	}
	cache, warn := audit.OpenCache(audit.CachePath(p.CacheDir, cacheName), base, o.Workspace)
	if warn != "" {
		o.IO.Warnf("%s", warn)
	}
	cache.Warn = func(s string) { o.IO.Warnf("%s", s) }
	r.a.Cache = cache

	if err := r.collect(ctx, local); err != nil {
		return err
	}
	switch {
	case o.RevokeFlagged && r.coll.Stop != nil:
		o.IO.Warnf("nothing revoked: the audit stopped before listing everything; run the same command again to finish it first")
	case o.RevokeFlagged:
		if err := r.revoke(ctx); err != nil {
			return err
		}
	}
	r.calls = r.a.Source.Calls()
	if err := r.render(); err != nil {
		return err
	}
	return r.exit()
}

// local is what this machine's `bbkey list` knows without asking Bitbucket: key files,
// the agent, and every key bbkey's state records on any Bitbucket.
func (r *run) local(ctx context.Context, sshDir string) (map[string]bool, error) {
	st, err := r.a.State.Load()
	if err != nil {
		return nil, err
	}
	src := inventory.Source{SSHDir: sshDir, State: st, Now: r.o.Now()}
	if a, err := r.o.Agent(); err == nil {
		src.Agent = a
	}
	keys, _, _ := inventory.Gather(ctx, src)
	out := map[string]bool{}
	for _, k := range keys {
		out[bbapi.NormalizeFingerprint(k.Fingerprint)] = true
	}
	for _, k := range inventory.RecordedKeys(st) {
		out[bbapi.NormalizeFingerprint(k.Fingerprint)] = true
	}
	delete(out, bbapi.NormalizeFingerprint(""))
	return out, nil
}

// collect plans (saying what it costs), lists with progress, and judges.
func (r *run) collect(ctx context.Context, local map[string]bool) error {
	o := r.o
	if _, cached := r.a.Cache.Repos(o.Query, o.Now(), r.fl.maxAge); !cached {
		fmt.Fprintf(o.IO.ErrOut, "listing the repositories and projects of %s (one call per hundred)\n", cmp.Or(r.a.Server, o.Workspace))
	}
	var err error
	if r.plan, err = r.a.Plan(ctx, o.Workspace, o.Query); err != nil {
		return err
	}
	fmt.Fprintln(o.IO.ErrOut, r.plan.Announce(r.fl.maxAge))
	r.withProgress(len(r.plan.Pending), func(finished func(bulk.Line, int, int)) {
		r.coll = r.a.Collect(ctx, r.plan, finished)
	})
	r.keys = audit.Judge(r.coll.Placements, r.plan.ProjectRepos(), local, r.fl.policy, o.Now())
	return nil
}

// withProgress runs step with a progress display of total lines on screen.
func (r *run) withProgress(total int, step func(finished func(l bulk.Line, done, failed int))) {
	prog := bulk.NewProgress(r.o.IO, total, r.o.Now, r.a.Source.Calls)
	r.shown.Store(prog)
	step(prog.Finished)
	r.shown.Store(nil)
	prog.Close()
}

// revoke plans the deletions, shows them, confirms, and deletes.
func (r *run) revoke(ctx context.Context) error {
	o := r.o
	if !o.DryRun {
		// Deleting access keys races `rotate --access-keys` and add-access-key: hold the
		// lock from reading the state, which says what this machine still needs, to the
		// last deletion recorded.
		lock, err := r.a.State.LockCommand(ctx, "audit --revoke-flagged", o.LookupEnv, o.IO.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	st, err := r.a.State.Load()
	if err != nil {
		return err
	}
	del, kept := r.a.PlanRevoke(r.keys, audit.RevokeOptions{IncludeForeign: o.IncludeForeign, Force: o.Force, State: st})
	r.revoking, r.plannedDel, r.kept = true, del, kept
	for _, k := range kept {
		o.IO.Step(iostreams.MarkWarn, "keeping %s on %s: %s", k.Key.Fingerprint, k.Placement.Target.Ref(), k.Reason)
	}
	if len(del) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "nothing to delete")
		return nil
	}
	verb := "will delete"
	if o.DryRun {
		verb = "would delete (--dry-run)"
	}
	fmt.Fprintf(o.IO.ErrOut, "bbkey %s %d access %s:\n", verb, len(del), text.Plural(len(del), "key placement", "key placements"))
	for _, d := range del {
		fmt.Fprintf(o.IO.ErrOut, "  - %s\n", d.Describe())
	}
	if o.DryRun {
		return nil
	}
	if !o.Yes {
		ok, err := o.Prompter().Confirm(fmt.Sprintf("Delete these %d?", len(del)), false)
		if err != nil {
			return errkind.CancelError(fmt.Errorf("confirming the deletion: %w", err))
		}
		if !ok {
			return errkind.CancelError(errors.New("cancelled: nothing deleted"))
		}
	}
	r.withProgress(len(del), func(finished func(bulk.Line, int, int)) {
		out := r.a.Revoke(ctx, del, finished)
		r.revoked = &out
	})
	return nil
}
