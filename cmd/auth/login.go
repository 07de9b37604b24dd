package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/settings"
)

func newCmdLogin(f *cmdutil.Factory) *cobra.Command {
	var email string
	var insecure, dryRun bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Check and store a Bitbucket credential (Cloud API token, Data Center HTTP access token)",
		Long: `Check a Bitbucket credential and store it in the OS keychain: the email of your
Atlassian account (--email, ` + EnvEmail + ` or a prompt) and an API token with scopes
made at ` + TokenPage + `
("Create API token with scopes", app Bitbucket) from --token-file FILE, ` + EnvToken + `
or a prompt with echo off, never a flag value. Without a keychain login refuses unless
--insecure-storage allows a file only you can read. With a Data Center server selected
(--server URL, ` + EnvServer + ` or config.json) it stores that server's HTTP access token
(--token-file FILE, ` + EnvServerToken + ` or a prompt) in its own keychain entry. See
docs/auth.md.`,
		Example: `  bbkey auth login
  bbkey auth login --email ada@example.com --token-file ~/.bitbucket-token
  BITBUCKET_EMAIL=ada@example.com BITBUCKET_API_TOKEN=… bbkey auth login --insecure-storage
  bbkey auth login --server https://bitbucket.example.com --token-file ~/.bitbucket-dc-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLogin(cmd.Context(), f, email, insecure, dryRun)
		},
	}
	serverFlag(cmd, f, "store the HTTP access token of this")
	cmd.Flags().StringVar(&email, "email", "", "the Atlassian account `EMAIL` the API token belongs to (env "+EnvEmail+")")
	cmd.Flags().BoolVar(&insecure, "insecure-storage", false, "without an OS keychain, store the token in a file only you can read (0600; a private ACL on Windows) in the config directory")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the token with Bitbucket and store nothing")
	return cmd
}

// runLogin reads the token (and for Cloud the email), checks it with Bitbucket before
// keeping anything, and stores it: Cloud's API token, or a Data Center server's HTTP
// access token in that server's own keychain entry.
func runLogin(ctx context.Context, f *cmdutil.Factory, email string, insecure, dryRun bool) error {
	s, err := f.Settings()
	if err != nil {
		return err
	}
	server := s.Server
	if server != "" && email != "" {
		return errkind.UsageError(errors.New("--email is for a Bitbucket Cloud API token; a Data Center HTTP access token has none"), "drop --email, or drop --server (and unset "+EnvServer+") to log in to Bitbucket Cloud")
	}
	var cred bbapi.Credential
	var origin string
	what := "the API token"
	if server == "" {
		tok, o, err := ReadAPIToken(f, email)
		if err != nil {
			return err
		}
		defer func() { tok.Token = "" }()
		cred, origin = tok, o
	} else {
		tok, o, err := readServerToken(f, server)
		if err != nil {
			return err
		}
		defer func() { tok.Token = "" }()
		cred, origin = tok, o
		what = "the HTTP access token of " + server
	}

	// Open the store first: checking a token that cannot be kept would only waste it.
	store, err := f.CredStore(ctx, insecure)
	if err != nil {
		if errors.Is(err, credstore.ErrNoKeychain) {
			if nk, ok := errors.AsType[*credstore.NoKeychainError](err); ok {
				nk.Server = server
			}
			return fmt.Errorf("not storing %s: %w", what, err)
		}
		return fmt.Errorf("opening the credential store: %w", err)
	}
	st := Status{DryRun: dryRun, Server: server, Source: string(settings.SourceStore)}
	if err := st.check(ctx, f, cred); err != nil {
		return err
	}
	if !dryRun {
		if err := Store(ctx, store, server, cred, f.Now()); err != nil {
			return err
		}
		if w := credstore.Warning(store); w != "" {
			f.IOStreams.Warnf("%s", w)
		}
		if _, err := f.RememberServer(server); err != nil {
			// The token is stored and works; only the listing in plain `auth status` misses it.
			f.IOStreams.Warnf("%s is not recorded among the known servers in config.json (auth status --server %s still shows it): %v", server, server, err)
		}
	}
	reportLogin(f, &st, store, origin)
	return printStatus(f.IOStreams, f.Globals.JSON, st)
}

// reportLogin says whom Bitbucket accepted the token of, where it is (or would be)
// stored, and what the token cannot do.
func reportLogin(f *cmdutil.Factory, st *Status, store credstore.Store, origin string) {
	where := "the OS keychain"
	if fs, ok := store.(*credstore.File); ok {
		st.Source, where = string(settings.SourceFileStore), fs.Path
	} else if store.Kind() == "file" {
		st.Source, where = string(settings.SourceFileStore), "the credentials file"
	}
	whom, bitbucket, token := st.User.name(), "Bitbucket", "token"
	if st.Server == "" {
		whom += " (" + st.Email + ")"
	} else {
		bitbucket, token = st.Server, "HTTP access token"
	}
	if st.DryRun {
		f.IOStreams.Step(iostreams.MarkWarn, "%s accepts the %s of %s from %s; would store it in %s; dry run: nothing changed", bitbucket, token, whom, origin, where)
	} else {
		f.IOStreams.Step(iostreams.MarkOK, "logged in to %s as %s; %s from %s stored in %s", bitbucket, whom, token, origin, where)
	}
	if names, whys := missingScopes(st.Scopes); st.Server == "" && len(names) > 0 {
		f.IOStreams.Step(iostreams.MarkWarn, "the token lacks scope %s: bbkey cannot %s", strings.Join(names, ", "), strings.Join(whys, "; "))
	}
	if st.DataCenter != nil {
		for _, a := range st.DataCenter.can() {
			mark := iostreams.MarkOK
			if !a.ok {
				mark = iostreams.MarkWarn
			}
			f.IOStreams.Step(mark, "%s", a.text)
		}
	}
	if origin == EnvToken || origin == EnvServerToken {
		f.IOStreams.Step(iostreams.MarkWarn, "%s is still set: bbkey prefers it over the stored token while it is", origin)
	}
}
