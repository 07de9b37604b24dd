// Package login is `bbkey auth login`: it reads an Atlassian account email and a scoped
// API token (the --email flag, BITBUCKET_EMAIL, the global --token-file,
// BITBUCKET_API_TOKEN, or the terminal with echo off), checks them with GET /user before
// keeping anything, and stores the token in the OS keychain. Without a keychain it refuses
// unless --insecure-storage allows a 0600 file, and then warns every time.
//
// The --json document is the one `bbkey auth status` prints (see docs/auth.md), with
// "stored": true.
package login

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/settings"
)

// Options are the dependencies and flags of `bbkey auth login`.
type Options struct {
	// Settings are the run's settings (Factory.Settings): the selected server.
	Settings  func() (settings.Settings, error)
	IO        *iostreams.IOStreams
	LookupEnv func(string) (string, bool)
	Prompter  func() prompt.Prompter
	Now       func() time.Time
	// NewClient builds a Bitbucket client for a credential (Factory.NewAPIClient).
	NewClient func(bbapi.Credential, ...bbapi.Option) (*bbapi.Client, error)
	// NewDCClient builds a client of a Data Center server for a credential.
	NewDCClient func(server string, cred bbapi.Credential) (*dc.Client, error)
	// CredStore opens the credential store (Factory.CredStore).
	CredStore func(ctx context.Context, allowInsecure bool) (credstore.Store, error)
	// RememberServer records a Data Center server whose token was stored among the
	// servers config.json knows (Factory.RememberServer), so plain `auth status` lists it.
	RememberServer func(server string) (string, error)

	JSON      bool
	NoInput   bool
	TokenFile string

	Email string
	// Server is the Data Center server (--server, else BITBUCKET_SERVER); "" for Cloud.
	Server          string
	InsecureStorage bool
	DryRun          bool
}

// NewCmdLogin builds `bbkey auth login`. runF replaces runLogin in tests.
func NewCmdLogin(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{
		IO:             f.IOStreams,
		Settings:       f.Settings,
		LookupEnv:      f.LookupEnv,
		Prompter:       f.Prompter,
		Now:            f.Now,
		NewClient:      f.NewAPIClient,
		CredStore:      f.CredStore,
		RememberServer: f.RememberServer,
		NewDCClient: func(server string, cred bbapi.Credential) (*dc.Client, error) {
			c, err := dc.NewClient(server, cred, f.ClientOptions()...)
			if err != nil {
				return nil, errkind.UsageError(err, "the server comes from --server or "+shared.EnvServer)
			}
			return c, nil
		},
	}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Check and store a Bitbucket credential (Cloud API token, Data Center HTTP access token)",
		Long: `Store the Bitbucket credential bbkey uses: the email of your Atlassian account and an
API token with scopes, made at ` + shared.TokenPage + `
("Create API token with scopes", app Bitbucket).

The email comes from --email, ` + shared.EnvEmail + ` or a prompt; the token from --token-file FILE,
` + shared.EnvToken + ` or a prompt with echo off, never from a flag value. The token is
checked with Bitbucket (GET /user) before it is stored, in the OS keychain (macOS Keychain,
Windows Credential Manager, the Secret Service on Linux). Where no keychain answers
(a headless Linux machine) login refuses unless --insecure-storage allows a file readable
only by you (0600; on Windows an ACL for you, SYSTEM and Administrators) in the config
directory, with a warning.

With --server URL (or ` + shared.EnvServer + `, or the server config.json records; --server
cloud for Cloud) the credential is an HTTP access token of that
Bitbucket Data Center server (personal, project or repository), from --token-file FILE,
` + shared.EnvServerToken + ` or a prompt with echo off. It is checked with the server and stored
in its own keychain entry, one per server, beside the Cloud one.`,
		Example: `  bbkey auth login
  bbkey auth login --email ada@example.com --token-file ~/.bitbucket-token
  BITBUCKET_EMAIL=ada@example.com BITBUCKET_API_TOKEN=… bbkey auth login --insecure-storage
  bbkey auth login --server https://bitbucket.example.com --token-file ~/.bitbucket-dc-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON = f.Globals.JSON
			opts.NoInput = f.NoInput()
			opts.TokenFile = f.Globals.TokenFile
			if runF != nil {
				return runF(opts)
			}
			return runLogin(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Server, "server", "", "the Bitbucket Data Center `URL` whose HTTP access token to store (env "+shared.EnvServer+")")
	cmd.Flags().StringVar(&opts.Email, "email", "", "the Atlassian account `EMAIL` the API token belongs to (env "+shared.EnvEmail+")")
	cmd.Flags().BoolVar(&opts.InsecureStorage, "insecure-storage", false, "without an OS keychain, store the token in a file only you can read (0600; a private ACL on Windows) in the config directory")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "check the token with Bitbucket and store nothing")
	return cmd
}

func runLogin(ctx context.Context, opts *Options) error {
	server, err := shared.SelectServer(opts.Server, opts.Settings)
	if err != nil {
		return err
	}
	if server != "" {
		if opts.Email != "" {
			return errkind.UsageError(errors.New("--email is for a Bitbucket Cloud API token; a Data Center HTTP access token has none"), "drop --email, or drop --server (and unset "+shared.EnvServer+") to log in to Bitbucket Cloud")
		}
		return runServerLogin(ctx, opts, server)
	}
	tok, origin, err := shared.ReadAPIToken(shared.Input{
		Email:     opts.Email,
		TokenFile: opts.TokenFile,
		LookupEnv: opts.LookupEnv,
		Prompter:  opts.Prompter,
		NoInput:   opts.NoInput,
		ErrOut:    opts.IO.ErrOut,
	})
	if err != nil {
		return err
	}
	defer func() { tok.Token = "" }()

	// Open the store first: checking a token that cannot be kept would only waste it.
	store, err := opts.CredStore(ctx, opts.InsecureStorage)
	if err != nil {
		if errors.Is(err, credstore.ErrNoKeychain) {
			return fmt.Errorf("not storing the API token: %w", err)
		}
		return fmt.Errorf("opening the credential store: %w", err)
	}
	client, err := opts.NewClient(tok)
	if err != nil {
		return err
	}
	v, err := shared.Verify(ctx, client)
	if err != nil {
		return err
	}
	if !opts.DryRun {
		if err := shared.Store(ctx, store, tok, opts.Now()); err != nil {
			return err
		}
		if w := credstore.Warning(store); w != "" {
			opts.IO.Warnf("%s", w)
		}
	}
	where := "the OS keychain"
	if store.Kind() == "file" {
		if f, ok := store.(*credstore.File); ok {
			where = f.Path
		} else {
			where = "the credentials file"
		}
	}
	if opts.DryRun {
		opts.IO.Step(iostreams.MarkWarn, "Bitbucket accepts the token of %s (%s) from %s; would store it in %s; dry run: nothing changed", shared.DisplayName(v.User), tok.Email, originText(origin), where)
	} else {
		opts.IO.Step(iostreams.MarkOK, "logged in to Bitbucket as %s (%s); token from %s stored in %s", shared.DisplayName(v.User), tok.Email, originText(origin), where)
	}
	missing := shared.Missing(v.Scopes, shared.ScopeNames())
	if len(missing) > 0 {
		opts.IO.Step(iostreams.MarkWarn, "the token lacks scope %s: %s", strings.Join(missing, ", "), scopeEffect(missing))
	}
	if origin == shared.FromEnv {
		opts.IO.Step(iostreams.MarkWarn, "%s is still set: bbkey prefers it over the stored token while it is", shared.EnvToken)
	}

	st := shared.Status{
		DryRun:   opts.DryRun,
		LoggedIn: true,
		Source:   string(sourceOf(store)),
		Kind:     string(bbapi.KindAPIToken),
		Email:    tok.Email,
	}
	st.SetVerified(v, bbapi.KindAPIToken)
	return shared.PrintStatus(opts.IO, opts.JSON, st)
}

// sourceOf names the store as `auth status` will report the credential's source.
func sourceOf(s credstore.Store) settings.CredentialSource {
	if s.Kind() == "file" {
		return settings.SourceFileStore
	}
	return settings.SourceStore
}

func originText(o shared.Origin) string {
	switch o {
	case shared.FromTokenFile:
		return "--token-file"
	case shared.FromEnv:
		return shared.EnvToken
	}
	return "the prompt"
}

// scopeEffect says what stops working without the missing scopes.
func scopeEffect(missing []string) string {
	var eff []string
	for _, s := range shared.Scopes {
		for _, m := range missing {
			if m == s.Name {
				eff = append(eff, s.Why)
			}
		}
	}
	return "bbkey cannot " + strings.Join(eff, "; ")
}
