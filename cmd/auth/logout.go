package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/iostreams"
)

// LogoutResult is the --json document of `bbkey auth logout`.
type LogoutResult struct {
	DryRun  bool   `json:"dry_run,omitempty"`
	Server  string `json:"server,omitempty"`
	Removed bool   `json:"removed"`
	Store   string `json:"store,omitempty"`
	Path    string `json:"path,omitempty"`
}

func newCmdLogout(f *cmdutil.Factory) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Remove the stored Bitbucket credential",
		Long: `Remove the credential 'bbkey auth login' stored (the opt-in credentials file goes with
its last one); nothing stored is not an error. With a Data Center server selected, that
server's token alone. Credentials in the environment are not touched: unset them
yourself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLogout(cmd.Context(), f, dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be removed and remove nothing")
	serverFlag(cmd, f, "remove the HTTP access token of this")
	return cmd
}

// runLogout removes the stored credential; key passphrases kept for scheduled rotations
// stay, and nothing stored is not an error, so scripts can run it unconditionally.
func runLogout(ctx context.Context, f *cmdutil.Factory, dryRun bool) error {
	s, err := f.Settings()
	if err != nil {
		return err
	}
	server := s.Server
	res := LogoutResult{DryRun: dryRun, Server: server}
	account, what, envs := credstore.DefaultAccount, "the Bitbucket credential", []string{EnvToken, "BITBUCKET_ACCESS_TOKEN", "BITBUCKET_CLIENT_SECRET"}
	if server != "" {
		account = credstore.ServerAccount(server)
		what, envs = "the HTTP access token of "+server, []string{EnvServerToken}
	}
	// Without the insecure opt-in Open still finds a credentials file the user chose
	// earlier; with neither a keychain nor a file nothing can be stored anywhere.
	store, err := f.CredStore(ctx, false)
	switch {
	case errors.Is(err, credstore.ErrNoKeychain):
		f.IOStreams.Step(iostreams.MarkWarn, "not logged in: no keychain and no credentials file, nothing to remove")
	case err != nil:
		return fmt.Errorf("opening the credential store: %w", err)
	default:
		res.Store = store.Kind()
		where := res.Store
		if res.Store == "keychain" {
			where = "OS keychain"
		}
		if fs, ok := store.(*credstore.File); ok {
			res.Path, where = fs.Path, "credentials file "+fs.Path
		}
		if dryRun {
			var sec credstore.Secret
			sec, err = store.Get(ctx, account)
			clear(sec.Secret)
		} else {
			err = store.Delete(ctx, account)
		}
		switch {
		case errors.Is(err, credstore.ErrNotFound):
			f.IOStreams.Step(iostreams.MarkWarn, "not logged in: no %s in the %s", strings.TrimPrefix(what, "the "), where)
		case err != nil:
			return fmt.Errorf("removing %s from the %s: %w", what, where, err)
		case dryRun:
			res.Removed = true
			f.IOStreams.Step(iostreams.MarkWarn, "would remove %s from the %s; dry run: nothing changed", what, where)
		default:
			res.Removed = true
			f.IOStreams.Step(iostreams.MarkOK, "removed %s from the %s", what, where)
		}
	}
	for _, k := range envs {
		if f.Getenv(k) != "" {
			f.IOStreams.Step(iostreams.MarkWarn, "%s is still set in the environment; bbkey keeps using it until you unset it", k)
		}
	}
	if f.Globals.JSON {
		return iostreams.WriteJSON(f.IOStreams.Out, res)
	}
	of, to := "", ""
	if server != "" {
		of, to = " of "+server, " to "+server
	}
	switch {
	case res.Removed && dryRun:
		fmt.Fprintln(f.IOStreams.Out, "would log out"+of)
	case res.Removed:
		fmt.Fprintln(f.IOStreams.Out, "logged out"+of)
	default:
		fmt.Fprintln(f.IOStreams.Out, "not logged in"+to)
	}
	return nil
}
