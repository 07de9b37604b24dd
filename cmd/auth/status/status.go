// Package status is `bbkey auth status`: which Bitbucket credential bbkey would use
// (--token-file > environment > keychain or the opt-in file), whom Bitbucket says it
// belongs to, which scopes it is known to hold and which of bbkey's it lacks, and when it
// expires when Bitbucket says so.
//
// Exit codes: 0 when a credential is found and accepted; 4 when there is none or
// Bitbucket refuses it; 1 when Bitbucket cannot be reached. The --json document is
// printed in every case (see docs/auth.md).
package status

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

// Options are the dependencies and flags of `bbkey auth status`.
type Options struct {
	// Settings are the run's settings (Factory.Settings): the selected server.
	Settings func() (settings.Settings, error)
	IO       *iostreams.IOStreams
	// Resolve finds the credential of a run (Factory.ResolveCredential).
	Resolve func(context.Context) (settings.ResolvedCredential, error)
	// NewClient builds a Bitbucket client for a credential (Factory.NewAPIClient).
	NewClient func(bbapi.Credential, ...bbapi.Option) (*bbapi.Client, error)
	// ResolveServer finds a Data Center server's credential
	// (Factory.ResolveServerCredential).
	ResolveServer func(ctx context.Context, server string) (settings.ResolvedCredential, error)
	// NewDCClient builds a client of a Data Center server for a credential.
	NewDCClient func(server string, cred bbapi.Credential) (*dc.Client, error)
	LookupEnv   func(string) (string, bool)

	// StoredServer finds the token stored for a Data Center server, and only that
	// (Factory.StoredServerCredential): the servers listed beside Cloud's credential.
	StoredServer func(ctx context.Context, server string) (settings.ResolvedCredential, error)
	// KnownServers are the Data Center servers this machine knows: those config.json names
	// and those bbkey's state records keys on.
	KnownServers func() ([]string, error)

	JSON bool
	// Server is the Data Center server (--server, else BITBUCKET_SERVER); "" for Cloud.
	Server string
	// ListServers is set when nothing selects a Bitbucket by flag or environment: Cloud's
	// credential is shown, and after it every known server that has a stored token.
	ListServers bool
}

// NewCmdStatus builds `bbkey auth status`. runF replaces runStatus in tests.
func NewCmdStatus(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Settings: f.Settings, Resolve: f.ResolveCredential, ResolveServer: f.ResolveServerCredential, NewClient: f.NewAPIClient, LookupEnv: f.LookupEnv,
		StoredServer: f.StoredServerCredential,
		KnownServers: func() ([]string, error) { return knownServers(f) },
		NewDCClient: func(server string, cred bbapi.Credential) (*dc.Client, error) {
			c, err := dc.NewClient(server, cred, f.ClientOptions()...)
			if err != nil {
				return nil, errkind.UsageError(err, "the server comes from --server or "+shared.EnvServer)
			}
			return c, nil
		},
	}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the Bitbucket credential bbkey uses and whom it belongs to",
		Long: `Show which Bitbucket credential bbkey would use and where it comes from (--token-file,
the environment, the OS keychain, or the opt-in credentials file), whom Bitbucket says it
belongs to (GET /user), which scopes it is known to hold and which of bbkey's it lacks.

With --server URL (or ` + shared.EnvServer + `, or the server config.json records; --server
cloud for Cloud) it shows the HTTP access token of that Bitbucket
Data Center server instead (--token-file, ` + shared.EnvServerToken + `, or the server's keychain
entry), whom it acts as, and what it can do there: its user's SSH keys, the repositories
and projects whose access keys it administers, and the server's SSH endpoint.

With nothing selected, the Cloud credential is shown first, then each Data Center server
this machine knows (config.json, bbkey's state) whose token is stored, each checked the
same way. --server cloud shows Cloud's alone.

Exits 4 when there is no credential or Bitbucket refuses it; with servers listed, a
missing Cloud credential is not an error, a refused or unreachable one of any is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON = f.Globals.JSON
			env := ""
			if f.LookupEnv != nil {
				env, _ = f.LookupEnv(shared.EnvServer)
			}
			opts.ListServers = strings.TrimSpace(opts.Server) == "" && strings.TrimSpace(f.Globals.Server) == "" && strings.TrimSpace(env) == ""
			if runF != nil {
				return runF(opts)
			}
			return runStatus(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Server, "server", "", "show the HTTP access token of this Bitbucket Data Center `URL` (env "+shared.EnvServer+")")
	return cmd
}

func runStatus(ctx context.Context, opts *Options) error {
	server, err := shared.SelectServer(opts.Server, opts.Settings)
	if err != nil {
		return err
	}
	if server != "" {
		return runServerStatus(ctx, opts, server)
	}
	var servers []shared.Status
	var serverErrs []error
	if opts.ListServers {
		servers, serverErrs = storedServers(ctx, opts)
	}
	st, shown, err := cloudStatus(ctx, opts)
	if !shown {
		return err
	}
	if len(servers) == 0 {
		if perr := shared.PrintStatus(opts.IO, opts.JSON, st); perr != nil {
			return perr
		}
		return err
	}
	if errors.Is(err, settings.ErrNoCredential) {
		err = nil // this machine uses Data Center servers; no Cloud credential is no fault
	}
	if perr := printAll(opts, st, servers); perr != nil {
		return perr
	}
	// The exit code and hints are the first failure's (Cloud's, then the servers' in
	// order); every failure is in its own block's error.
	for _, e := range append([]error{err}, serverErrs...) {
		if e != nil {
			return e
		}
	}
	return nil
}

// cloudStatus checks the Cloud credential. shown is false when there is nothing to print
// (the client could not be built): then err says why.
func cloudStatus(ctx context.Context, opts *Options) (st shared.Status, shown bool, err error) {
	rc, err := opts.Resolve(ctx)
	if err != nil {
		if errors.Is(err, settings.ErrNoCredential) {
			return shared.Status{Error: err.Error(), MissingScopes: []string{}}, true, err
		}
		return st, false, err
	}
	st = shared.Status{
		Source:        string(rc.Source),
		Kind:          string(rc.Credential.Kind()),
		MissingScopes: []string{},
	}
	if t, ok := rc.Credential.(*bbapi.APIToken); ok {
		st.Email = t.Email
	}
	client, err := opts.NewClient(rc.Credential)
	if err != nil {
		return st, false, err
	}
	v, verr := shared.Verify(ctx, client)
	if verr != nil {
		st.Error = verr.Error()
		return st, true, verr
	}
	st.LoggedIn = true
	st.SetVerified(v, rc.Credential.Kind())
	opts.IO.Step(iostreams.MarkOK, "logged in to Bitbucket as %s with %s from %s", shared.DisplayName(v.User), rc.Credential, rc.Source)
	if len(st.MissingScopes) > 0 {
		opts.IO.Step(iostreams.MarkWarn, "the credential lacks %s", strings.Join(st.MissingScopes, ", "))
	}
	if st.Scopes == nil && rc.Credential.Kind() == bbapi.KindAPIToken {
		fmt.Fprintln(opts.IO.ErrOut, "  Bitbucket did not list the token's scopes; a missing one shows up as an error naming it")
	}
	return st, true, nil
}

// storedServers checks, in order, each known Data Center server that has a stored token;
// servers without one are left out. errs holds each failed check's error.
func storedServers(ctx context.Context, opts *Options) (out []shared.Status, errs []error) {
	if opts.KnownServers == nil || opts.StoredServer == nil {
		return nil, nil
	}
	known, err := opts.KnownServers()
	if err != nil {
		opts.IO.Warnf("not listing Data Center servers: %v", err)
		return nil, nil
	}
	for _, server := range known {
		rc, err := opts.StoredServer(ctx, server)
		if errors.Is(err, settings.ErrNoCredential) {
			continue
		}
		if err != nil {
			out = append(out, shared.Status{Server: server, MissingScopes: []string{}, Error: err.Error()})
			errs = append(errs, err)
			continue
		}
		st, _, err := checkServer(ctx, opts, server, rc)
		if st.Error == "" && err != nil {
			st.Error = err.Error()
		}
		out = append(out, st)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errs
}

// printAll prints Cloud's status and the servers': in --json one document whose "servers"
// holds theirs, else one block each, a blank line between.
func printAll(opts *Options, cloud shared.Status, servers []shared.Status) error {
	if opts.JSON {
		cloud.Servers = servers
		return shared.PrintStatus(opts.IO, true, cloud)
	}
	if err := shared.PrintStatus(opts.IO, false, cloud); err != nil {
		return err
	}
	for _, st := range servers {
		fmt.Fprintln(opts.IO.Out)
		if err := shared.PrintStatus(opts.IO, false, st); err != nil {
			return err
		}
	}
	return nil
}

// runServerStatus is `auth status --server URL`.
func runServerStatus(ctx context.Context, opts *Options, server string) error {
	rc, err := opts.ResolveServer(ctx, server)
	if err != nil {
		if errors.Is(err, settings.ErrNoCredential) {
			st := shared.Status{Server: server, MissingScopes: []string{}, Error: err.Error()}
			if perr := shared.PrintStatus(opts.IO, opts.JSON, st); perr != nil {
				return perr
			}
		}
		return err
	}
	st, shown, err := checkServer(ctx, opts, server, rc)
	if !shown {
		return err
	}
	if perr := shared.PrintStatus(opts.IO, opts.JSON, st); perr != nil {
		return perr
	}
	return err
}

// checkServer asks the Data Center server who its token rc acts as and what it may do.
// shown is false when there is nothing to print (the client could not be built).
func checkServer(ctx context.Context, opts *Options, server string, rc settings.ResolvedCredential) (st shared.Status, shown bool, err error) {
	st = shared.Status{Server: server, MissingScopes: []string{}}
	st.Source, st.Kind = string(rc.Source), string(dc.KindHTTPAccessToken)
	client, err := opts.NewDCClient(server, rc.Credential)
	if err != nil {
		return st, false, err
	}
	v, verr := shared.VerifyServer(ctx, client)
	if verr != nil {
		st.Error = verr.Error()
		return st, true, verr
	}
	st.LoggedIn = true
	st.SetServerVerified(v)
	name := ""
	if st.User != nil {
		name = st.User.Nickname
	}
	opts.IO.Step(iostreams.MarkOK, "logged in to %s as %s with an HTTP access token from %s", server, name, rc.Source)
	for _, a := range st.DataCenter.Can() {
		if !a.OK {
			opts.IO.Step(iostreams.MarkWarn, "%s", a.Text)
		}
	}
	return st, true, nil
}

// knownServers are the Data Center servers config.json names and those bbkey's state
// records keys on, sorted, each once. An unreadable state leaves its servers out, with a
// warning (status still shows what it can).
func knownServers(f *cmdutil.Factory) ([]string, error) {
	out, err := f.ConfiguredServers()
	if err != nil {
		return nil, err
	}
	if f.Paths != nil {
		if p, perr := f.Paths(); perr == nil {
			st, serr := state.Dir{Path: p.ConfigDir, Now: f.Now}.Load()
			if serr != nil {
				f.IOStreams.Warnf("not listing the Data Center servers of bbkey's state: %v", serr)
			} else {
				out = append(out, slices.Collect(maps.Keys(st.Servers))...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
