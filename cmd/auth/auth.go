// Package auth is `bbkey auth`: the parent of login, logout and status, which store,
// remove and show the Bitbucket credential bbkey uses.
package auth

import (
	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/cmd/auth/login"
	"github.com/bbkey/bbkey/cmd/auth/logout"
	"github.com/bbkey/bbkey/cmd/auth/status"
	"github.com/bbkey/bbkey/internal/cmdutil"
)

// NewCmdAuth builds `bbkey auth` with its subcommands.
func NewCmdAuth(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth <command>",
		Short: "Store, remove or show the Bitbucket credential (OS keychain)",
		Long: `Manage the Bitbucket credential bbkey uses: an Atlassian API token with scopes, kept in
the OS keychain by 'bbkey auth login'. The environment (BITBUCKET_EMAIL and
BITBUCKET_API_TOKEN, BITBUCKET_ACCESS_TOKEN, BITBUCKET_CLIENT_ID and
BITBUCKET_CLIENT_SECRET) and --token-file take precedence over the stored one.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(login.NewCmdLogin(f, nil), logout.NewCmdLogout(f, nil), status.NewCmdStatus(f, nil))
	return cmd
}
