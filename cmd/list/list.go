// Package list is `bbkey list`: every SSH key bbkey can see, one row per key, joined by
// fingerprint across the key files in the ssh directory, the agent, the account on
// Bitbucket and, with --repo / --project / --workspace, the access keys there.
//
// Terminal contract: the table goes to stdout, aligned with a header on a terminal and
// tab-separated without one otherwise (for cut and awk); warnings (no agent, not logged
// in, a file that cannot be read) go to stderr. Rows are sorted: bbkey's keys first by
// label, then the others by file, then by fingerprint.
//
// Columns: FINGERPRINT, WHERE (files, "agent", "account", "access WS/SLUG" and "access
// project WS/KEY"), LABEL, AGE (days, from the bbkey label's date, else Bitbucket's
// creation date, else bbkey's state), LAST USED (Bitbucket's date), STATUS ("ok", "on
// Bitbucket but no local file", "local only", "agent only", "expired", "older than
// policy", "not checked on Bitbucket"; several joined by ", ").
//
// The --json document (one object, stable):
//
//	{
//	  "account": "ada",                      // the account listed; "" when not logged in
//	  "account_checked": true,
//	  "keys": [{
//	    "fingerprint": "SHA256:…",
//	    "type": "ssh-ed25519",
//	    "files": ["/home/u/.ssh/bbkey_ada_ed25519"],   // private key, or a lone .pub
//	    "agent": true,
//	    "account_key": {"uuid": "{…}", "label": "bbkey:ada:2026-11-22",
//	                    "created_on": "2026-11-22T10:00:00Z", "last_used": null, "expires_on": null},
//	    "access_keys": [{"kind": "repo", "target": "acme/api", "id": 7, "label": "…",
//	                     "added_on": "…", "last_used": null}],
//	    "label": "bbkey:ada:2026-11-22",
//	    "created": "2026-11-22T00:00:00Z",   // null when unknown
//	    "age_days": 0,                       // null when unknown
//	    "last_used": null,
//	    "policy_days": 365,                  // null when none applies
//	    "status": ["ok"]
//	  }],
//	  "warnings": []
//	}
package list

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

// Options are the dependencies and flags of `bbkey list`.
type Options struct {
	IO    *iostreams.IOStreams
	Now   func() time.Time
	Paths func() (settings.Paths, error)
	Agent func() (agent.Agent, error)
	// Cloud resolves the Bitbucket Cloud credential and builds its backend; an error
	// matching settings.ErrNoCredential when there is none.
	Cloud func(context.Context) (backend.Backend, settings.ResolvedCredential, error)
	// Server resolves the credential of a Data Center server and builds its backend.
	Server func(ctx context.Context, server string) (backend.Backend, settings.ResolvedCredential, error)
	// Selected is the Data Center server the settings select (--server,
	// BITBUCKET_SERVER, config.json); "" for Bitbucket Cloud.
	Selected func() (string, error)

	JSON bool

	Repos     []string
	Projects  []string
	Workspace string
}

// NewCmdList builds `bbkey list`. runF replaces runList in tests.
func NewCmdList(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{
		IO:    f.IOStreams,
		Now:   f.Now,
		Paths: f.Paths,
		Agent: f.Agent,
		Cloud: func(ctx context.Context) (backend.Backend, settings.ResolvedCredential, error) {
			return f.BackendFor(ctx, "")
		},
		Server: func(ctx context.Context, server string) (backend.Backend, settings.ResolvedCredential, error) {
			return f.BackendFor(ctx, server)
		},
		Selected: func() (string, error) {
			s, err := f.Settings()
			return s.Server, err
		},
	}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys everywhere, matched by fingerprint",
		Long: `List every SSH key bbkey can see, one row per key, matched by fingerprint: key files
in the ssh directory (bbkey's and your other *.pub), the agent, your account's keys on
Bitbucket, and with --repo, --project or --workspace the access keys there.

Each row says where the key is, its label, its age, when Bitbucket last saw it used,
its status: ok, "on Bitbucket but no local file", "local only", "agent only",
"expired", or "older than policy" (account keys: a year; access keys: the ttl in their
bbkey label), and which Bitbucket it is on (SERVER: cloud, or the Data Center server).
A machine with identities on Bitbucket Cloud and Data Center servers lists them all:
Cloud when logged in, the selected server (--server, BITBUCKET_SERVER, config.json),
and every server bbkey's state records. --repo and --project name places of the
selected one (on Data Center PROJ/slug and PROJ). Without a Bitbucket credential only
the local keys are listed.`,
		Example: `  bbkey list
  bbkey list --repo acme/api --repo acme/web
  bbkey list --project acme/OPS --json
  bbkey list --workspace acme
  bbkey list --server https://bitbucket.example.com --repo OPS/api --project OPS`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON = f.Globals.JSON
			if runF != nil {
				return runF(opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Repos, "repo", nil, "also list the access keys of repository `WS/SLUG` (Data Center: PROJ/slug; repeatable)")
	fl.StringArrayVar(&opts.Projects, "project", nil, "also list the access keys of project `WS/KEY` (Data Center: PROJ; repeatable)")
	fl.StringVar(&opts.Workspace, "workspace", "", "also list the access keys of every repository you administer in `WS` (Cloud)")
	return cmd
}

// listed is one Bitbucket list asked, for the output.
type listed struct {
	server  string // "" for Cloud
	account string // "" when its account keys were not listed
}

func runList(ctx context.Context, opts *Options) error {
	selected, err := opts.Selected()
	if err != nil {
		return err
	}
	if selected != "" && opts.Workspace != "" {
		return errkind.UsageError(errors.New("--workspace is Bitbucket Cloud's: a Data Center server has no workspaces"), "name a project with --project PROJ, or list Cloud with --server cloud")
	}
	p, err := opts.Paths()
	if err != nil {
		return err
	}
	st, err := state.Dir{Path: p.ConfigDir, Now: opts.Now}.Load()
	if err != nil {
		return err
	}
	src := inventory.Source{SSHDir: p.SSHDir, State: st, Now: opts.Now()}
	var warnings []string
	if a, err := opts.Agent(); err == nil {
		src.Agent = a
	} else {
		warnings = append(warnings, "agent keys not listed: "+err.Error())
	}
	places := len(opts.Repos) > 0 || len(opts.Projects) > 0 || opts.Workspace != ""

	// Bitbucket Cloud: always looked at when logged in; required when its places are asked.
	// With a server selected Cloud is one more Bitbucket: its failures are warnings.
	var asked []listed
	cb, rc, err := opts.Cloud(ctx)
	var r inventory.Remote
	var more []string
	if err == nil {
		r, more, err = cloudRemote(ctx, opts, cb, rc, selected == "")
	}
	switch {
	case errors.Is(err, settings.ErrNoCredential) && selected == "" && !places:
		warnings = append(warnings, "not logged in to Bitbucket: only local keys are listed (run 'bbkey auth login')")
	case errors.Is(err, settings.ErrNoCredential) && selected != "":
	case err != nil && selected != "":
		warnings = append(warnings, "keys on Bitbucket Cloud not listed: "+err.Error())
	case err != nil:
		return err
	default:
		warnings = append(warnings, more...)
		src.Remotes = append(src.Remotes, r)
		asked = append(asked, listed{account: nickname(r.Account)})
	}
	// Data Center: the selected server (its failures are errors), then every other server
	// the state records (their failures are warnings: the rest is still listed).
	for _, server := range servers(selected, st) {
		r, more, err := serverRemote(ctx, opts, server, server == selected)
		if err != nil {
			if server == selected && (places || !errors.Is(err, settings.ErrNoCredential)) {
				return err
			}
			warnings = append(warnings, fmt.Sprintf("keys on %s not listed: %v", server, err))
			continue
		}
		warnings = append(warnings, more...)
		src.Remotes = append(src.Remotes, r)
		asked = append(asked, listed{server: server, account: nickname(r.Account)})
	}
	list, more, err := inventory.Gather(ctx, src)
	warnings = append(warnings, more...)
	if err != nil {
		return err
	}
	if opts.JSON {
		printJSON(opts.IO.Out, asked, list, warnings, opts.Now())
		return nil
	}
	for _, w := range warnings {
		opts.IO.Warnf("%s", w)
	}
	printTable(opts.IO.Out, opts.IO.IsStdoutTTY(), p.Home, list, opts.Now())
	return nil
}
