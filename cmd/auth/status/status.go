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
	"strings"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/settings"
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

	JSON bool
	// Server is the Data Center server (--server, else BITBUCKET_SERVER); "" for Cloud.
	Server string
}

// NewCmdStatus builds `bbkey auth status`. runF replaces runStatus in tests.
func NewCmdStatus(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Settings: f.Settings, Resolve: f.ResolveCredential, ResolveServer: f.ResolveServerCredential, NewClient: f.NewAPIClient, LookupEnv: f.LookupEnv,
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

Exits 4 when there is no credential or Bitbucket refuses it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON = f.Globals.JSON
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
	rc, err := opts.Resolve(ctx)
	if err != nil {
		if errors.Is(err, settings.ErrNoCredential) {
			st := shared.Status{Error: err.Error(), MissingScopes: []string{}}
			if perr := shared.PrintStatus(opts.IO, opts.JSON, st); perr != nil {
				return perr
			}
		}
		return err
	}
	st := shared.Status{
		Source:        string(rc.Source),
		Kind:          string(rc.Credential.Kind()),
		MissingScopes: []string{},
	}
	if t, ok := rc.Credential.(*bbapi.APIToken); ok {
		st.Email = t.Email
	}
	client, err := opts.NewClient(rc.Credential)
	if err != nil {
		return err
	}
	v, verr := shared.Verify(ctx, client)
	if verr != nil {
		st.Error = verr.Error()
		if perr := shared.PrintStatus(opts.IO, opts.JSON, st); perr != nil {
			return perr
		}
		return verr
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
	return shared.PrintStatus(opts.IO, opts.JSON, st)
}

// runServerStatus is `auth status --server URL`.
func runServerStatus(ctx context.Context, opts *Options, server string) error {
	st := shared.Status{Server: server, MissingScopes: []string{}}
	rc, err := opts.ResolveServer(ctx, server)
	if err != nil {
		if errors.Is(err, settings.ErrNoCredential) {
			st.Error = err.Error()
			if perr := shared.PrintStatus(opts.IO, opts.JSON, st); perr != nil {
				return perr
			}
		}
		return err
	}
	st.Source, st.Kind = string(rc.Source), string(dc.KindHTTPAccessToken)
	client, err := opts.NewDCClient(server, rc.Credential)
	if err != nil {
		return err
	}
	v, verr := shared.VerifyServer(ctx, client)
	if verr != nil {
		st.Error = verr.Error()
		if perr := shared.PrintStatus(opts.IO, opts.JSON, st); perr != nil {
			return perr
		}
		return verr
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
	return shared.PrintStatus(opts.IO, opts.JSON, st)
}
