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
	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/iostreams"
)

// Options are the dependencies and flags of `bbkey auth status`.
type Options struct {
	IO *iostreams.IOStreams
	// Resolve finds the credential of a run (Factory.ResolveCredential).
	Resolve func(context.Context) (cmdutil.ResolvedCredential, error)
	// NewClient builds a Bitbucket client for a credential (Factory.NewAPIClient).
	NewClient func(bbapi.Credential, ...bbapi.Option) (*bbapi.Client, error)

	JSON bool
}

// NewCmdStatus builds `bbkey auth status`. runF replaces runStatus in tests.
func NewCmdStatus(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Resolve: f.ResolveCredential, NewClient: f.NewAPIClient}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the Bitbucket credential bbkey uses and whom it belongs to",
		Long: `Show which Bitbucket credential bbkey would use and where it comes from (--token-file,
the environment, the OS keychain, or the opt-in credentials file), whom Bitbucket says it
belongs to (GET /user), which scopes it is known to hold and which of bbkey's it lacks.

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
	return cmd
}

func runStatus(ctx context.Context, opts *Options) error {
	rc, err := opts.Resolve(ctx)
	if err != nil {
		if errors.Is(err, cmdutil.ErrNoCredential) {
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
