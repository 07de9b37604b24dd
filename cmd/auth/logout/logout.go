// Package logout is `bbkey auth logout`: it removes the Bitbucket credential `bbkey auth
// login` stored, from the OS keychain or the opt-in credentials file (the file goes with
// its last credential). Logging out when nothing is stored is not an error, so scripts can
// run it unconditionally. Key passphrases kept for scheduled rotations stay.
//
// The --json document: {"removed": true, "store": "keychain", "path": ""} (path names the
// credentials file when that was the store); with --dry-run "dry_run": true and "removed"
// says what a real run would remove.
package logout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/iostreams"
)

// Options are the dependencies and flags of `bbkey auth logout`.
type Options struct {
	IO        *iostreams.IOStreams
	LookupEnv func(string) (string, bool)
	// CredStore opens the credential store (Factory.CredStore).
	CredStore func(ctx context.Context, allowInsecure bool) (credstore.Store, error)

	JSON   bool
	DryRun bool
}

// Result is the --json document.
type Result struct {
	DryRun  bool   `json:"dry_run,omitempty"`
	Removed bool   `json:"removed"`
	Store   string `json:"store,omitempty"`
	Path    string `json:"path,omitempty"`
}

// NewCmdLogout builds `bbkey auth logout`. runF replaces runLogout in tests.
func NewCmdLogout(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, LookupEnv: f.LookupEnv, CredStore: f.CredStore}
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Remove the stored Bitbucket credential",
		Long: `Remove the Bitbucket credential 'bbkey auth login' stored in the OS keychain (or in the
opt-in credentials file, which is deleted with it). Nothing stored is not an error.
Credentials in the environment (` + shared.EnvEmail + `, ` + shared.EnvToken + `…) are not
touched: unset them yourself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON = f.Globals.JSON
			if runF != nil {
				return runF(opts)
			}
			return runLogout(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "say what would be removed and remove nothing")
	return cmd
}

func runLogout(ctx context.Context, opts *Options) error {
	res := Result{DryRun: opts.DryRun}
	// Without the insecure opt-in Open still finds a credentials file the user chose
	// earlier; with neither a keychain nor a file nothing can be stored anywhere.
	store, err := opts.CredStore(ctx, false)
	switch {
	case errors.Is(err, credstore.ErrNoKeychain):
		opts.IO.Step(iostreams.MarkWarn, "not logged in: no keychain and no credentials file, nothing to remove")
	case err != nil:
		return fmt.Errorf("opening the credential store: %w", err)
	default:
		res.Store = store.Kind()
		if f, ok := store.(*credstore.File); ok {
			res.Path = f.Path
		}
		var err error
		if opts.DryRun {
			_, err = store.Get(ctx, credstore.DefaultAccount)
		} else {
			err = store.Delete(ctx, credstore.DefaultAccount)
		}
		switch {
		case errors.Is(err, credstore.ErrNotFound):
			opts.IO.Step(iostreams.MarkWarn, "not logged in: no Bitbucket credential in the %s", where(res))
		case err != nil:
			return fmt.Errorf("removing the Bitbucket credential from the %s: %w", where(res), err)
		case opts.DryRun:
			res.Removed = true
			opts.IO.Step(iostreams.MarkWarn, "would remove the Bitbucket credential from the %s; dry run: nothing changed", where(res))
		default:
			res.Removed = true
			opts.IO.Step(iostreams.MarkOK, "removed the Bitbucket credential from the %s", where(res))
		}
	}
	for _, k := range []string{shared.EnvToken, "BITBUCKET_ACCESS_TOKEN", "BITBUCKET_CLIENT_SECRET"} {
		if v, ok := opts.LookupEnv(k); ok && v != "" {
			opts.IO.Step(iostreams.MarkWarn, "%s is still set in the environment; bbkey keeps using it until you unset it", k)
		}
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(res)
	}
	if res.Removed && opts.DryRun {
		fmt.Fprintln(opts.IO.Out, "would log out")
	} else if res.Removed {
		fmt.Fprintln(opts.IO.Out, "logged out")
	} else {
		fmt.Fprintln(opts.IO.Out, "not logged in")
	}
	return nil
}

func where(r Result) string {
	if r.Path != "" {
		return "credentials file " + r.Path
	}
	if r.Store == "keychain" {
		return "OS keychain"
	}
	return r.Store
}
