package auth

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

// check asks the Bitbucket s names (s.Server, "" for Cloud) about cred and fills s in.
// The error never contains the token.
func (s *Status) check(ctx context.Context, f *cmdutil.Factory, cred bbapi.Credential) error {
	if t, ok := cred.(*bbapi.APIToken); ok {
		s.Email = t.Email
	}
	s.Kind = string(cred.Kind())
	if s.Server != "" {
		c, err := f.NewDCClient(s.Server, cred)
		if err != nil {
			return err
		}
		return s.checkServer(ctx, c)
	}
	c, err := f.NewAPIClient(cred)
	if err != nil {
		return err
	}
	return s.checkCloud(ctx, c, cred.Kind())
}

// checkCloud asks Bitbucket whom the client's credential is (GET /user) and fills in the
// user and the scopes. Missing scopes are only known for API tokens: OAuth consumers and
// access tokens hold classic scopes.
func (s *Status) checkCloud(ctx context.Context, c *bbapi.Client, kind bbapi.Kind) error {
	u, resp, err := c.Users.Current(ctx)
	if err != nil {
		return fmt.Errorf("checking the credential with Bitbucket: %w", err)
	}
	s.LoggedIn = true
	if u != nil {
		s.User = &StatusUser{UUID: u.UUID, Nickname: u.Nickname, DisplayName: u.DisplayName, AccountID: u.AccountID}
	}
	if resp != nil {
		s.Scopes = resp.Scopes()
	}
	if kind == bbapi.KindAPIToken {
		s.MissingScopes, _ = missingScopes(s.Scopes)
	}
	if s.MissingScopes == nil {
		s.MissingScopes = []string{}
	}
	return nil
}

// countCap bounds the repositories and projects counted: enough to say what the token
// can do without walking a whole server.
const countCap = 1000

// checkServer asks the Data Center server whom the token acts as, then what it may do:
// its user's SSH keys, the repositories and projects it administers, and the SSH
// settings. A refused token is the server's 401 (exit 4 with hints).
func (s *Status) checkServer(ctx context.Context, c *dc.Client) error {
	u, props, err := c.Users.Current(ctx)
	if err != nil {
		return fmt.Errorf("checking the HTTP access token with %s: %w", c.ServerURL(), err)
	}
	d := &DCStatus{MissingPermissions: []string{}}
	if props != nil {
		d.Version = props.Version
	}
	switch _, err := count(c.SSHKeys.List(ctx), 1); {
	case err == nil:
		d.UserKeys = true
	case isPermission(err):
		d.MissingPermissions = append(d.MissingPermissions, string(dc.LicensedUser))
	default:
		return fmt.Errorf("listing the token's SSH keys on %s: %w", c.ServerURL(), err)
	}
	if d.AdminRepositories, err = count(c.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin}), countCap); err != nil && !isPermission(err) {
		return fmt.Errorf("listing the repositories the token administers on %s: %w", c.ServerURL(), err)
	}
	if d.AdminRepositories == 0 {
		d.MissingPermissions = append(d.MissingPermissions, string(dc.RepoAdmin))
	}
	if d.AdminProjects, err = count(c.Projects.List(ctx, dc.ListProjectsOptions{Permission: dc.ProjectAdmin}), countCap); err != nil && !isPermission(err) {
		return fmt.Errorf("listing the projects the token administers on %s: %w", c.ServerURL(), err)
	}
	if d.AdminProjects == 0 {
		d.MissingPermissions = append(d.MissingPermissions, string(dc.ProjectAdmin))
	}
	if ssh, _, err := c.SSH.Settings(ctx); err == nil && ssh != nil {
		d.SSHEnabled, d.AccessKeysEnabled = ssh.Enabled, ssh.AccessKeysEnabled
		if host, port, err := ssh.Endpoint(); err == nil {
			d.SSHEndpoint = fmt.Sprintf("%s:%d", host, port)
		}
	}
	s.LoggedIn, s.DataCenter, s.Scopes, s.MissingScopes = true, d, nil, []string{}
	if u != nil {
		s.User = &StatusUser{Nickname: u.Slug, DisplayName: u.DisplayName}
		d.UserType = u.Type
	}
	return nil
}

func isPermission(err error) bool {
	_, ok := dc.IsPermission(err)
	return ok
}

// count counts what seq yields, up to max.
func count[T any](seq iter.Seq2[T, error], max int) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		if n++; n >= max {
			break
		}
	}
	return n, nil
}

// ability is one thing a Data Center token can or cannot do, or a note on the server.
type ability struct {
	ok   bool
	text string
}

// can says, one line each, what a Data Center token can and cannot do.
func (d *DCStatus) can() []ability {
	var out []ability
	if d.UserKeys {
		out = append(out, ability{true, "the token may manage its user's own SSH keys (setup, rotate)"})
	} else {
		out = append(out, ability{false, "the token cannot manage a user's SSH keys: setup and rotate need a personal token (a project or repository token acts as no user)"})
	}
	if d.AdminRepositories == 0 && d.AdminProjects == 0 {
		out = append(out, ability{false, "the token cannot manage access keys anywhere: add-access-key needs REPO_ADMIN or PROJECT_ADMIN"})
	} else {
		out = append(out, ability{true, fmt.Sprintf("the token may manage the access keys of %s and %s (add-access-key)", countText(d.AdminRepositories, "repository", "repositories"), countText(d.AdminProjects, "project", "projects"))})
	}
	switch {
	case d.SSHEndpoint == "":
		out = append(out, ability{false, "the server's SSH settings could not be read"})
	case !d.SSHEnabled:
		out = append(out, ability{false, "the server's SSH access is turned off: no key works until an admin turns it on"})
	case !d.AccessKeysEnabled:
		out = append(out, ability{false, "the server's access keys are turned off: add-access-key cannot work until an admin turns them on"})
	}
	return out
}

func countText(n int, one, many string) string {
	if n >= countCap {
		return fmt.Sprintf("%d+ %s", countCap, many)
	}
	return text.Count(n, one, many)
}

// printStatus writes the documents to stdout: in --json the first with the others as its
// "servers", else one block of aligned lines each, a blank line between.
func printStatus(io *iostreams.IOStreams, asJSON bool, docs ...Status) error {
	if asJSON {
		doc := docs[0]
		doc.Servers = docs[1:]
		return iostreams.WriteJSON(io.Out, doc)
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	for i, s := range docs {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		printText(tw, s)
	}
	return tw.Flush()
}

func printText(tw *tabwriter.Writer, s Status) {
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("logged in", map[bool]string{true: "yes", false: "no"}[s.LoggedIn])
	if s.Server != "" {
		row("server", s.Server+" (Bitbucket Data Center)")
	}
	if u := s.User; u != nil {
		nick := ""
		if u.Nickname != "" {
			nick = "(" + u.Nickname + ")"
		}
		row("account", strings.TrimSpace(u.DisplayName+" "+nick))
		row("uuid", u.UUID)
		row("account id", u.AccountID)
	}
	row("credential", s.Kind)
	row("email", s.Email)
	row("source", s.Source)
	if d := s.DataCenter; d != nil {
		row("server version", d.Version)
		switch d.UserType {
		case "SERVICE":
			row("token", "project or repository token (acts as a service user)")
		case "":
		default:
			row("token", "personal token")
		}
		k := "can"
		for _, a := range d.can() {
			fmt.Fprintf(tw, "%s\t%s\n", k, a.text)
			k = ""
		}
		row("ssh", d.SSHEndpoint)
	}
	if s.LoggedIn && s.Server == "" {
		switch {
		case s.Scopes == nil:
			row("scopes", "not reported by Bitbucket")
		case len(s.Scopes) == 0:
			row("scopes", "none")
		default:
			row("scopes", strings.Join(s.Scopes, ", "))
		}
		row("missing scopes", strings.Join(s.MissingScopes, ", "))
		// Bitbucket says nothing of when a token expires: ExpiresOn is always null today.
		row("expires", "not reported by Bitbucket (see "+TokenPage+")")
	}
	row("error", s.Error)
}

func newCmdStatus(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the Bitbucket credential bbkey uses and whom it belongs to",
		Long: `Show which credential bbkey would use and where it comes from (--token-file, the
environment, the OS keychain or the opt-in credentials file), whom Bitbucket says it
belongs to, and which of bbkey's scopes it lacks. With a Data Center server selected
(--server URL, ` + EnvServer + ` or config.json), that server's HTTP access token and what it
can do there. With nothing selected, Cloud's credential and then every known server with
a stored token. Exits 4 when there is no credential or Bitbucket refuses it. See
docs/auth.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), f)
		},
	}
	serverFlag(cmd, f, "show the HTTP access token of this")
	return cmd
}

func runStatus(ctx context.Context, f *cmdutil.Factory) error {
	s, err := f.Settings()
	if err != nil {
		return err
	}
	if s.Server != "" {
		rc, err := f.ResolveServerCredential(ctx, s.Server)
		if err != nil && !errors.Is(err, settings.ErrNoCredential) {
			return err
		}
		st, err := serverStatus(ctx, f, s.Server, rc, err)
		return printChecked(f, []Status{st}, []error{err})
	}
	// With nothing selected by flag or environment, every known server with a stored
	// token is listed after Cloud's credential (--token-file and BITBUCKET_SERVER_TOKEN
	// are the selected Bitbucket's, never tried on them).
	var docs []Status
	var errs []error
	if strings.TrimSpace(f.Globals.Server) == "" && strings.TrimSpace(f.Getenv(EnvServer)) == "" {
		for _, server := range knownServers(f) {
			rc, err := f.StoredServerCredential(ctx, server)
			if !errors.Is(err, settings.ErrNoCredential) {
				st, err := serverStatus(ctx, f, server, rc, err)
				docs, errs = append(docs, st), append(errs, err)
			}
		}
	}
	cloud := Status{MissingScopes: []string{}}
	rc, err := f.ResolveCredential(ctx)
	switch {
	case errors.Is(err, settings.ErrNoCredential):
		cloud.Error = err.Error()
		if len(docs) > 0 {
			err = nil // this machine uses Data Center servers; no Cloud credential is no fault
		}
	case errors.As(err, new(*bbapi.EnvCredentialError)):
		cloud.Error = err.Error()
	case err != nil:
		return err
	default:
		cloud.Source = string(rc.Source)
		if err = cloud.check(ctx, f, rc.Credential); err != nil {
			cloud.Error = err.Error()
			break
		}
		f.IOStreams.Step(iostreams.MarkOK, "logged in to Bitbucket as %s with %s from %s", cloud.User.name(), rc.Credential, rc.Source)
		if len(cloud.MissingScopes) > 0 {
			f.IOStreams.Step(iostreams.MarkWarn, "the credential lacks %s", strings.Join(cloud.MissingScopes, ", "))
		}
		if cloud.Scopes == nil && rc.Credential.Kind() == bbapi.KindAPIToken {
			fmt.Fprintln(f.IOStreams.ErrOut, "  Bitbucket did not list the token's scopes; a missing one shows up as an error naming it")
		}
	}
	return printChecked(f, append([]Status{cloud}, docs...), append([]error{err}, errs...))
}

// printChecked prints the documents and returns the first failure (Cloud's, then the
// servers' in order): its exit code and hints are the run's; every failure is in its own
// document's error.
func printChecked(f *cmdutil.Factory, docs []Status, errs []error) error {
	if err := printStatus(f.IOStreams, f.Globals.JSON, docs...); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// serverStatus checks the Data Center server's token rc (err: why there is none).
func serverStatus(ctx context.Context, f *cmdutil.Factory, server string, rc settings.ResolvedCredential, err error) (Status, error) {
	st := Status{Server: server, MissingScopes: []string{}}
	if err == nil {
		st.Source = string(rc.Source)
		err = st.check(ctx, f, rc.Credential)
	}
	if err != nil {
		st.Error = err.Error()
		return st, err
	}
	f.IOStreams.Step(iostreams.MarkOK, "logged in to %s as %s with an HTTP access token from %s", server, st.User.name(), rc.Source)
	for _, a := range st.DataCenter.can() {
		if !a.ok {
			f.IOStreams.Step(iostreams.MarkWarn, "%s", a.text)
		}
	}
	return st, nil
}

// knownServers are the Data Center servers config.json names and those bbkey's state
// records keys on, sorted, each once. What cannot be read is left out, with a warning.
func knownServers(f *cmdutil.Factory) []string {
	out, err := f.ConfiguredServers()
	if err != nil {
		f.IOStreams.Warnf("not listing Data Center servers: %v", err)
		return nil
	}
	if f.Paths != nil {
		if p, perr := f.Paths(); perr == nil {
			st, serr := state.Dir{Path: p.ConfigDir, Now: f.Now}.Load()
			if serr != nil {
				f.IOStreams.Warnf("not listing the Data Center servers of bbkey's state: %v", serr)
			} else {
				out = append(out, st.ServerURLs()...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
