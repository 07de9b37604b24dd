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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/state"
)

// Options are the dependencies and flags of `bbkey list`.
type Options struct {
	IO        *iostreams.IOStreams
	Now       func() time.Time
	Paths     func() (cmdutil.Paths, error)
	Agent     func() (agent.Agent, error)
	Resolve   func(context.Context) (cmdutil.ResolvedCredential, error)
	NewClient func(bbapi.Credential) (*bbapi.Client, error)

	JSON bool

	Repos     []string
	Projects  []string
	Workspace string
}

// NewCmdList builds `bbkey list`. runF replaces runList in tests.
func NewCmdList(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{
		IO:      f.IOStreams,
		Now:     f.Now,
		Paths:   f.Paths,
		Agent:   f.Agent,
		Resolve: f.ResolveCredential,
		NewClient: func(c bbapi.Credential) (*bbapi.Client, error) {
			return f.NewAPIClient(c)
		},
	}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys everywhere, matched by fingerprint",
		Long: `List every SSH key bbkey can see, one row per key, matched by fingerprint: key files
in the ssh directory (bbkey's and your other *.pub), the agent, your account's keys on
Bitbucket, and with --repo, --project or --workspace the access keys there.

Each row says where the key is, its label, its age, when Bitbucket last saw it used,
and its status: ok, "on Bitbucket but no local file", "local only", "agent only",
"expired", or "older than policy" (account keys: a year; access keys: the ttl in their
bbkey label). Without a Bitbucket credential only the local keys are listed.`,
		Example: `  bbkey list
  bbkey list --repo acme/api --repo acme/web
  bbkey list --project acme/OPS --json
  bbkey list --workspace acme`,
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
	fl.StringArrayVar(&opts.Repos, "repo", nil, "also list the access keys of repository `WS/SLUG` (repeatable)")
	fl.StringArrayVar(&opts.Projects, "project", nil, "also list the access keys of project `WS/KEY` (repeatable)")
	fl.StringVar(&opts.Workspace, "workspace", "", "also list the access keys of every repository you administer in `WS`")
	return cmd
}

func runList(ctx context.Context, opts *Options) error {
	var targets []state.Target
	for _, r := range opts.Repos {
		t, err := state.ParseTarget(state.TargetRepo, r)
		if err != nil {
			return cmdutil.UsageError(fmt.Errorf("--repo: %w", err))
		}
		targets = append(targets, t)
	}
	for _, p := range opts.Projects {
		t, err := state.ParseTarget(state.TargetProject, p)
		if err != nil {
			return cmdutil.UsageError(fmt.Errorf("--project: %w", err))
		}
		targets = append(targets, t)
	}
	p, err := opts.Paths()
	if err != nil {
		return err
	}
	st, err := state.Dir{Path: p.ConfigDir, Now: opts.Now}.Load()
	if err != nil {
		return err
	}
	src := inventory.Source{SSHDir: p.SSHDir, State: st, Targets: targets, Now: opts.Now()}
	var warnings []string
	if a, err := opts.Agent(); err == nil {
		src.Agent = a
	} else {
		warnings = append(warnings, "agent keys not listed: "+err.Error())
	}
	needAPI := len(targets) > 0 || opts.Workspace != ""
	rc, err := opts.Resolve(ctx)
	switch {
	case errors.Is(err, cmdutil.ErrNoCredential) && !needAPI:
		warnings = append(warnings, "not logged in to Bitbucket: only local keys are listed (run 'bbkey auth login')")
	case err != nil:
		return err
	default:
		c, err := opts.NewClient(rc.Credential)
		if err != nil {
			return err
		}
		src.Client = c
		if rc.Credential.Kind() != bbapi.KindAccessToken {
			u, _, err := c.Users.Current(ctx)
			if err != nil {
				return fmt.Errorf("reading the Bitbucket account: %w", err)
			}
			src.User = u
		} else {
			warnings = append(warnings, "the credential is an access token: account keys are not listed")
		}
		if opts.Workspace != "" {
			n := 0
			for r, err := range c.Repositories.ListWorkspace(ctx, opts.Workspace, &bbapi.ListRepositoriesOptions{Role: "admin"}) {
				if err != nil {
					return fmt.Errorf("listing the repositories of %s: %w", opts.Workspace, err)
				}
				src.Targets = append(src.Targets, state.Target{Kind: state.TargetRepo, Workspace: r.WorkspaceSlug(), Slug: r.RepoSlug()})
				n++
			}
			fmt.Fprintf(opts.IO.ErrOut, "Listing the access keys of %d repositories in %s (%d requests)\n", n, opts.Workspace, n)
		}
	}
	list, more, err := inventory.Gather(ctx, src)
	warnings = append(warnings, more...)
	if err != nil {
		return err
	}
	if opts.JSON {
		printJSON(opts.IO.Out, src, list, warnings, opts.Now())
		return nil
	}
	for _, w := range warnings {
		opts.IO.Warnf("%s", w)
	}
	printTable(opts.IO.Out, opts.IO.IsStdoutTTY(), p.Home, list, opts.Now())
	return nil
}

// tilde shows a path under home as ~/….
func tilde(home, p string) string {
	if home != "" {
		if rel, err := filepath.Rel(home, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "~/" + filepath.ToSlash(rel)
		}
	}
	return p
}

func where(home string, k *inventory.Key) []string {
	var w []string
	for _, f := range k.Files {
		w = append(w, tilde(home, f.Path))
	}
	if k.Agent {
		w = append(w, "agent")
	}
	if k.Account != nil {
		w = append(w, "account")
	}
	for _, a := range k.Access {
		if a.Target.Kind == state.TargetProject {
			w = append(w, "access project "+a.Target.Ref())
		} else {
			w = append(w, "access "+a.Target.Ref())
		}
	}
	return w
}

func ageDays(k *inventory.Key, now time.Time) (int, bool) {
	if k.Created.IsZero() {
		return 0, false
	}
	return int(now.Sub(k.Created) / (24 * time.Hour)), true
}

func printTable(w io.Writer, tty bool, home string, list []*inventory.Key, now time.Time) {
	var tw *tabwriter.Writer
	if tty {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		w = tw
		fmt.Fprintln(w, "FINGERPRINT\tWHERE\tLABEL\tAGE\tLAST USED\tSTATUS")
	}
	for _, k := range list {
		age := "-"
		if d, ok := ageDays(k, now); ok {
			age = fmt.Sprintf("%dd", d)
		}
		used := "-"
		if !k.LastUsed.IsZero() {
			used = k.LastUsed.UTC().Format(time.DateOnly)
		}
		label := k.Label
		if label == "" {
			label = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, strings.Join(where(home, k), ", "), label, age, used, strings.Join(k.Statuses, ", "))
	}
	if tw != nil {
		tw.Flush()
	}
}

type jsonAccount struct {
	UUID      string     `json:"uuid"`
	Label     string     `json:"label"`
	CreatedOn *time.Time `json:"created_on"`
	LastUsed  *time.Time `json:"last_used"`
	ExpiresOn *time.Time `json:"expires_on"`
}

type jsonAccess struct {
	Kind     string     `json:"kind"`
	Target   string     `json:"target"`
	ID       int64      `json:"id"`
	Label    string     `json:"label"`
	AddedOn  *time.Time `json:"added_on"`
	LastUsed *time.Time `json:"last_used"`
}

type jsonKey struct {
	Fingerprint string       `json:"fingerprint"`
	Type        string       `json:"type"`
	Files       []string     `json:"files"`
	Agent       bool         `json:"agent"`
	AccountKey  *jsonAccount `json:"account_key"`
	AccessKeys  []jsonAccess `json:"access_keys"`
	Label       string       `json:"label"`
	Created     *time.Time   `json:"created"`
	AgeDays     *int         `json:"age_days"`
	LastUsed    *time.Time   `json:"last_used"`
	PolicyDays  *int         `json:"policy_days"`
	Status      []string     `json:"status"`
}

type jsonDoc struct {
	Account        string    `json:"account"`
	AccountChecked bool      `json:"account_checked"`
	Keys           []jsonKey `json:"keys"`
	Warnings       []string  `json:"warnings"`
}

// tp is a time for JSON: RFC 3339 in UTC to the second, or null.
func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func printJSON(w io.Writer, src inventory.Source, list []*inventory.Key, warnings []string, now time.Time) {
	doc := jsonDoc{Keys: []jsonKey{}, Warnings: warnings, AccountChecked: src.User != nil}
	if src.User != nil {
		doc.Account = src.User.Nickname
	}
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	for _, k := range list {
		jk := jsonKey{Fingerprint: k.Fingerprint, Type: k.Type, Files: []string{}, Agent: k.Agent, AccessKeys: []jsonAccess{},
			Label: k.Label, Created: tp(k.Created), LastUsed: tp(k.LastUsed), Status: k.Statuses}
		for _, f := range k.Files {
			jk.Files = append(jk.Files, f.Path)
		}
		if a := k.Account; a != nil {
			jk.AccountKey = &jsonAccount{UUID: a.UUID, Label: a.Label, CreatedOn: tp(a.CreatedOn.Time), LastUsed: tp(a.LastUsed.Time), ExpiresOn: tp(a.ExpiresOn.Time)}
		}
		for _, a := range k.Access {
			jk.AccessKeys = append(jk.AccessKeys, jsonAccess{Kind: string(a.Target.Kind), Target: a.Target.Ref(), ID: int64(a.ID), Label: a.Label,
				AddedOn: tp(a.AddedOn), LastUsed: tp(a.LastUsed)})
		}
		if d, ok := ageDays(k, now); ok {
			jk.AgeDays = &d
		}
		if k.Policy > 0 {
			d := int(k.Policy / (24 * time.Hour))
			jk.PolicyDays = &d
		}
		doc.Keys = append(doc.Keys, jk)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}
