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
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
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

func nickname(a *backend.Account) string {
	if a == nil {
		return ""
	}
	return a.Nickname
}

// servers are the Data Center servers list asks: the selected one, then those bbkey's
// state records keys on, each once.
func servers(selected string, st *state.State) []string {
	var out []string
	if selected != "" {
		out = append(out, selected)
	}
	for _, s := range stateServers(st) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// cloudRemote is Bitbucket Cloud's part of the listing: the account's keys (not for an
// access token, which has none) and, when Cloud is the selected Bitbucket, the places.
func cloudRemote(ctx context.Context, opts *Options, b backend.Backend, rc settings.ResolvedCredential, withPlaces bool) (inventory.Remote, []string, error) {
	r := inventory.Remote{Backend: b}
	var warnings []string
	if rc.Credential != nil && rc.Credential.Kind() == bbapi.KindAccessToken {
		warnings = append(warnings, "the credential is an access token: account keys are not listed")
	} else {
		a, err := b.Whoami(ctx)
		if err != nil {
			return r, nil, fmt.Errorf("reading the Bitbucket account: %w", err)
		}
		r.Account = a
	}
	if !withPlaces {
		return r, warnings, nil
	}
	places, err := parsePlaces(b, opts)
	if err != nil {
		return r, nil, err
	}
	r.Places = places
	if opts.Workspace != "" {
		c := backend.CloudClient(b)
		n := 0
		for repo, err := range c.Repositories.ListWorkspace(ctx, opts.Workspace, &bbapi.ListRepositoriesOptions{Role: "admin"}) {
			if err != nil {
				return r, nil, fmt.Errorf("listing the repositories of %s: %w", opts.Workspace, err)
			}
			r.Places = append(r.Places, backend.Place{Kind: backend.Repo, Owner: repo.WorkspaceSlug(), Slug: repo.RepoSlug()})
			n++
		}
		fmt.Fprintf(opts.IO.ErrOut, "Listing the access keys of %d repositories in %s (%d requests)\n", n, opts.Workspace, n)
	}
	return r, warnings, nil
}

// serverRemote is a Data Center server's part: its user's keys (not for a project or
// repository token, which acts as a service user) and, for the selected server, the
// places.
func serverRemote(ctx context.Context, opts *Options, server string, withPlaces bool) (inventory.Remote, []string, error) {
	b, _, err := opts.Server(ctx, server)
	if err != nil {
		return inventory.Remote{}, nil, err
	}
	r := inventory.Remote{Backend: b}
	var warnings []string
	a, err := b.Whoami(ctx)
	if err != nil {
		return r, nil, fmt.Errorf("reading the user of the token of %s: %w", server, err)
	}
	if a.Service {
		warnings = append(warnings, "the token of "+server+" is a project or repository token: it has no SSH keys of its own, account keys are not listed")
	} else {
		r.Account = a
	}
	if withPlaces {
		if r.Places, err = parsePlaces(b, opts); err != nil {
			return r, nil, err
		}
	}
	return r, warnings, nil
}

// parsePlaces reads --repo and --project the way b names places.
func parsePlaces(b backend.Backend, opts *Options) ([]backend.Place, error) {
	var out []backend.Place
	for _, ref := range opts.Repos {
		p, err := b.ParsePlace(backend.Repo, ref)
		if err != nil {
			return nil, errkind.UsageError(fmt.Errorf("--repo: %w", err))
		}
		out = append(out, p)
	}
	for _, ref := range opts.Projects {
		p, err := b.ParsePlace(backend.Project, ref)
		if err != nil {
			return nil, errkind.UsageError(fmt.Errorf("--project: %w", err))
		}
		out = append(out, p)
	}
	return out, nil
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
	for _, a := range k.Accounts {
		w = append(w, "account"+on(a.Server))
	}
	for _, a := range k.Access {
		if a.Place.Kind == backend.Project {
			w = append(w, "access project "+a.Place.String()+on(a.Server))
		} else {
			w = append(w, "access "+a.Place.String()+on(a.Server))
		}
	}
	return w
}

// on names a Data Center server after a sighting; Cloud's go unnamed.
func on(server string) string {
	if server == "" {
		return ""
	}
	return " on " + serverName(server)
}

// serverName is a server for the table: "cloud", or the Data Center URL without its
// scheme.
func serverName(server string) string {
	if server == "" {
		return "cloud"
	}
	if _, rest, ok := strings.Cut(server, "://"); ok {
		return rest
	}
	return server
}

// jsonServer is a server for --json: "cloud", or the Data Center base URL.
func jsonServer(server string) string {
	if server == "" {
		return "cloud"
	}
	return server
}

// servers are the Bitbucket servers a key is on, Cloud first, each once.
func keyServers(k *inventory.Key) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, a := range k.Accounts {
		add(a.Server)
	}
	for _, a := range k.Access {
		add(a.Server)
	}
	slices.SortStableFunc(out, func(a, b string) int {
		if (a == "") != (b == "") {
			if a == "" {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
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
		fmt.Fprintln(w, "FINGERPRINT\tWHERE\tLABEL\tAGE\tLAST USED\tSTATUS\tSERVER")
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
		server := "-"
		if ss := keyServers(k); len(ss) > 0 {
			names := make([]string, len(ss))
			for i, s := range ss {
				names[i] = serverName(s)
			}
			server = strings.Join(names, ", ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, strings.Join(where(home, k), ", "), label, age, used, strings.Join(k.Statuses, ", "), server)
	}
	if tw != nil {
		tw.Flush()
	}
}

type jsonAccount struct {
	// Server is "cloud" or the Data Center server's base URL.
	Server string `json:"server"`
	// UUID is a Cloud key's uuid ("" on Data Center).
	UUID string `json:"uuid"`
	// ID is a Data Center key's id (absent on Cloud).
	ID        int64      `json:"id,omitempty"`
	Label     string     `json:"label"`
	CreatedOn *time.Time `json:"created_on"`
	LastUsed  *time.Time `json:"last_used"`
	ExpiresOn *time.Time `json:"expires_on"`
}

type jsonAccess struct {
	Server string `json:"server"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	ID     int64  `json:"id"`
	Label  string `json:"label"`
	// Permission is a Data Center access key's (REPO_READ, REPO_WRITE, PROJECT_READ,
	// PROJECT_WRITE); "" on Cloud, whose access keys are read-only.
	Permission string     `json:"permission,omitempty"`
	AddedOn    *time.Time `json:"added_on"`
	LastUsed   *time.Time `json:"last_used"`
	ExpiresOn  *time.Time `json:"expires_on,omitempty"`
}

type jsonKey struct {
	Fingerprint string   `json:"fingerprint"`
	Type        string   `json:"type"`
	Files       []string `json:"files"`
	Agent       bool     `json:"agent"`
	// Servers are where the key is on Bitbucket: "cloud" and Data Center base URLs.
	Servers     []string      `json:"servers"`
	AccountKey  *jsonAccount  `json:"account_key"`
	AccountKeys []jsonAccount `json:"account_keys"`
	AccessKeys  []jsonAccess  `json:"access_keys"`
	Label       string        `json:"label"`
	Created     *time.Time    `json:"created"`
	AgeDays     *int          `json:"age_days"`
	LastUsed    *time.Time    `json:"last_used"`
	PolicyDays  *int          `json:"policy_days"`
	Status      []string      `json:"status"`
}

type jsonListed struct {
	Server  string `json:"server"`
	Account string `json:"account"`
	Checked bool   `json:"account_checked"`
}

type jsonDoc struct {
	// Account and AccountChecked are Bitbucket Cloud's (or, when Cloud was not asked, the
	// first server's); Accounts has every Bitbucket asked.
	Account        string       `json:"account"`
	AccountChecked bool         `json:"account_checked"`
	Accounts       []jsonListed `json:"accounts"`
	Keys           []jsonKey    `json:"keys"`
	Warnings       []string     `json:"warnings"`
}

// tp is a time for JSON: RFC 3339 in UTC to the second, or null.
func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func printJSON(w io.Writer, asked []listed, list []*inventory.Key, warnings []string, now time.Time) {
	doc := jsonDoc{Keys: []jsonKey{}, Accounts: []jsonListed{}, Warnings: warnings}
	for i, a := range asked {
		if i == 0 {
			doc.Account, doc.AccountChecked = a.account, a.account != ""
		}
		doc.Accounts = append(doc.Accounts, jsonListed{Server: jsonServer(a.server), Account: a.account, Checked: a.account != ""})
	}
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	for _, k := range list {
		jk := jsonKey{Fingerprint: k.Fingerprint, Type: k.Type, Files: []string{}, Agent: k.Agent, Servers: []string{}, AccountKeys: []jsonAccount{}, AccessKeys: []jsonAccess{},
			Label: k.Label, Created: tp(k.Created), LastUsed: tp(k.LastUsed), Status: k.Statuses}
		for _, f := range k.Files {
			jk.Files = append(jk.Files, f.Path)
		}
		for _, s := range keyServers(k) {
			jk.Servers = append(jk.Servers, jsonServer(s))
		}
		for _, a := range k.Accounts {
			ja := jsonAccount{Server: jsonServer(a.Server), Label: a.Key.Label, CreatedOn: tp(a.Key.Created), LastUsed: tp(a.Key.LastUsed), ExpiresOn: tp(a.Key.Expires)}
			if a.Server == "" {
				ja.UUID = a.Key.ID
			} else {
				ja.ID, _ = strconv.ParseInt(a.Key.ID, 10, 64)
			}
			jk.AccountKeys = append(jk.AccountKeys, ja)
		}
		if len(jk.AccountKeys) > 0 {
			jk.AccountKey = &jk.AccountKeys[0]
		}
		for _, a := range k.Access {
			id, _ := strconv.ParseInt(a.Key.ID, 10, 64)
			jk.AccessKeys = append(jk.AccessKeys, jsonAccess{Server: jsonServer(a.Server), Kind: string(a.Place.Kind), Target: a.Place.String(), ID: id, Label: a.Key.Label,
				Permission: a.Key.Permission, AddedOn: tp(a.Key.Created), LastUsed: tp(a.Key.LastUsed), ExpiresOn: tp(a.Key.Expires)})
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

// stateServers are the Data Center servers bbkey's state records keys on, sorted.
func stateServers(st *state.State) []string {
	if st == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(st.Servers))
}
