// Package list is `bbkey list` (docs/list.md): every SSH key bbkey can see, one row per
// key, joined by fingerprint across the key files, the agent, the account on each
// Bitbucket and the access keys asked about (internal/inventory). The table goes to
// stdout, aligned on a terminal and tab-separated otherwise; warnings go to stderr.
package list

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/accesskey"
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
	// Backend resolves the credential of one Bitbucket ("" Cloud, else a Data Center
	// server) and builds its backend; an error matching settings.ErrNoCredential when
	// there is none.
	Backend func(ctx context.Context, server string) (backend.Backend, settings.ResolvedCredential, error)
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
		Backend: func(ctx context.Context, server string) (backend.Backend, settings.ResolvedCredential, error) {
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
in the ssh directory, the agent, your account's keys on Bitbucket, and with --repo,
--project or --workspace the access keys there. Each row says where the key is, its
label, age, last use, status (ok, "on Bitbucket but no local file", "local only", "agent
only", "expired", "older than policy") and which Bitbucket it is on (SERVER: cloud, or a
Data Center server). Cloud is listed when logged in, then the selected server (--server,
BITBUCKET_SERVER, config.json) and every server bbkey's state records; --repo and
--project name places of the selected one. Without a credential only local keys are listed.`,
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

func runList(ctx context.Context, opts *Options) error {
	selected, err := opts.Selected()
	if err != nil {
		return err
	}
	if selected != "" && opts.Workspace != "" {
		return errkind.UsageError(errors.New("--workspace is Bitbucket Cloud's: a Data Center server has no workspaces"), "name a project with --project PROJ, or list Cloud with --server cloud")
	}
	// The places are read before the credential is looked for: a malformed --repo is
	// the mistake to report, logged in or not.
	targets, err := accesskey.Spec{Repos: opts.Repos, Projects: opts.Projects}.Named(backend.PlaceParser(selected))
	if err != nil {
		return errkind.UsageError(err)
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

	// Bitbucket Cloud, when logged in; then the selected Data Center server, and every
	// other server the state records. The selected Bitbucket's failures are errors when
	// its places are asked or it refused; the others' are warnings: the rest is listed.
	var asked []jsonListed
	for _, server := range append([]string{""}, servers(selected, st)...) {
		var r inventory.Remote
		var more []string
		b, rc, err := opts.Backend(ctx, server)
		if err == nil {
			r, more, err = remote(ctx, opts, b, rc, server == selected, targets)
		}
		noCred := errors.Is(err, settings.ErrNoCredential)
		switch {
		case err == nil:
			warnings = append(warnings, more...)
			src.Remotes = append(src.Remotes, r)
			asked = append(asked, jsonListed{Server: jsonServer(server), Account: nickname(r.Account), Checked: nickname(r.Account) != ""})
		case server == "" && noCred && selected == "" && !places:
			warnings = append(warnings, "not logged in to Bitbucket: only local keys are listed (run 'bbkey auth login')")
		case server == "" && noCred && selected != "":
		case server == selected && (places || !noCred):
			return err
		case server == "":
			warnings = append(warnings, "keys on Bitbucket Cloud not listed: "+err.Error())
		case noCred:
			warnings = append(warnings, fmt.Sprintf("keys on %s not listed: %v (run 'bbkey auth login --server %s')", server, err, server))
		default:
			warnings = append(warnings, fmt.Sprintf("keys on %s not listed: %v", server, err))
		}
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
	printTable(opts.IO.Out, opts.IO.StdoutTTY, p.Home, list, opts.Now())
	return nil
}
