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
	"strings"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/settings"
)

// Options are the dependencies and flags of `bbkey auth logout`.
type Options struct {
	// Settings are the run's settings (Factory.Settings): the selected server.
	Settings  func() (settings.Settings, error)
	IO        *iostreams.IOStreams
	LookupEnv func(string) (string, bool)
	// CredStore opens the credential store (Factory.CredStore).
	CredStore func(ctx context.Context, allowInsecure bool) (credstore.Store, error)

	JSON   bool
	DryRun bool
	// Server is the Data Center server (--server, else BITBUCKET_SERVER); "" for Cloud.
	Server string
}

// Result is the --json document.
type Result struct {
	DryRun bool `json:"dry_run,omitempty"`
	// Server is the Data Center server whose token was removed; absent for Cloud.
	Server  string `json:"server,omitempty"`
	Removed bool   `json:"removed"`
	Store   string `json:"store,omitempty"`
	Path    string `json:"path,omitempty"`
}

// NewCmdLogout builds `bbkey auth logout`. runF replaces runLogout in tests.
func NewCmdLogout(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Settings: f.Settings, LookupEnv: f.LookupEnv, CredStore: f.CredStore}
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Remove the stored Bitbucket credential",
		Long: `Remove the Bitbucket credential 'bbkey auth login' stored in the OS keychain (or in the
opt-in credentials file, which is deleted with it). Nothing stored is not an error.
Credentials in the environment (` + shared.EnvEmail + `, ` + shared.EnvToken + `…) are not
touched: unset them yourself.

With --server URL (or ` + shared.EnvServer + `, or the server config.json records; --server
cloud for Cloud) it removes that Bitbucket Data Center server's HTTP
access token instead; the Cloud credential and other servers' tokens stay.`,
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
	cmd.Flags().StringVar(&opts.Server, "server", "", "remove the HTTP access token of this Bitbucket Data Center `URL` (env "+shared.EnvServer+")")
	return cmd
}

func runLogout(ctx context.Context, opts *Options) error {
	server, err := shared.SelectServer(opts.Server, opts.Settings)
	if err != nil {
		return err
	}
	res := Result{DryRun: opts.DryRun, Server: server}
	account, what, envs := credstore.DefaultAccount, "the Bitbucket credential", []string{shared.EnvToken, "BITBUCKET_ACCESS_TOKEN", "BITBUCKET_CLIENT_SECRET"}
	if server != "" {
		account = credstore.ServerAccount(server)
		what, envs = "the HTTP access token of "+server, []string{shared.EnvServerToken}
	}
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
			var sec credstore.Secret
			sec, err = store.Get(ctx, account)
			clear(sec.Secret)
		} else {
			err = store.Delete(ctx, account)
		}
		switch {
		case errors.Is(err, credstore.ErrNotFound):
			opts.IO.Step(iostreams.MarkWarn, "not logged in: no %s in the %s", strings.TrimPrefix(what, "the "), where(res))
		case err != nil:
			return fmt.Errorf("removing %s from the %s: %w", what, where(res), err)
		case opts.DryRun:
			res.Removed = true
			opts.IO.Step(iostreams.MarkWarn, "would remove %s from the %s; dry run: nothing changed", what, where(res))
		default:
			res.Removed = true
			opts.IO.Step(iostreams.MarkOK, "removed %s from the %s", what, where(res))
		}
	}
	for _, k := range envs {
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
	of, to := "", ""
	if server != "" {
		of, to = " of "+server, " to "+server
	}
	if res.Removed && opts.DryRun {
		fmt.Fprintln(opts.IO.Out, "would log out"+of)
	} else if res.Removed {
		fmt.Fprintln(opts.IO.Out, "logged out"+of)
	} else {
		fmt.Fprintln(opts.IO.Out, "not logged in"+to)
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
