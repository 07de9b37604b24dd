package login

import (
	"context"
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/iostreams"
)

// runServerLogin is `auth login --server URL`: an HTTP access token of a Data Center
// server, checked with the server, kept in that server's own keychain entry.
func runServerLogin(ctx context.Context, opts *Options, server string) error {
	tok, origin, err := shared.ReadServerToken(shared.ServerInput{
		Server:    server,
		TokenFile: opts.TokenFile,
		LookupEnv: opts.LookupEnv,
		Prompter:  opts.Prompter,
		NoInput:   opts.NoInput,
	})
	if err != nil {
		return err
	}
	defer func() { tok.Token = "" }()

	store, err := opts.CredStore(ctx, opts.InsecureStorage)
	if err != nil {
		if errors.Is(err, credstore.ErrNoKeychain) {
			if nk, ok := errors.AsType[*credstore.NoKeychainError](err); ok {
				nk.Server = server
			}
			return fmt.Errorf("not storing the HTTP access token of %s: %w", server, err)
		}
		return fmt.Errorf("opening the credential store: %w", err)
	}
	client, err := opts.NewDCClient(server, *tok)
	if err != nil {
		return err
	}
	v, err := shared.VerifyServer(ctx, client)
	if err != nil {
		return err
	}
	if !opts.DryRun {
		if err := shared.StoreServerToken(ctx, store, server, tok, opts.Now()); err != nil {
			return err
		}
		if w := credstore.Warning(store); w != "" {
			opts.IO.Warnf("%s", w)
		}
		if opts.RememberServer != nil {
			if _, err := opts.RememberServer(server); err != nil {
				// The token is stored and works; only the listing in plain `auth status` misses it.
				opts.IO.Warnf("%s is not recorded among the known servers in config.json (auth status --server %s still shows it): %v", server, server, err)
			}
		}
	}
	where := storeText(store)
	name := serverUserName(v.User)
	from := originText(origin)
	if origin == shared.FromEnv {
		from = shared.EnvServerToken
	}
	if opts.DryRun {
		opts.IO.Step(iostreams.MarkWarn, "%s accepts the HTTP access token of %s from %s; would store it in %s; dry run: nothing changed", server, name, from, where)
	} else {
		opts.IO.Step(iostreams.MarkOK, "logged in to %s as %s; HTTP access token from %s stored in %s", server, name, from, where)
	}
	st := shared.Status{
		DryRun:   opts.DryRun,
		LoggedIn: true,
		Server:   server,
		Source:   string(sourceOf(store)),
		Kind:     string(dc.KindHTTPAccessToken),
	}
	st.SetServerVerified(v)
	for _, a := range st.DataCenter.Can() {
		mark := iostreams.MarkOK
		if !a.OK {
			mark = iostreams.MarkWarn
		}
		opts.IO.Step(mark, "%s", a.Text)
	}
	if origin == shared.FromEnv {
		opts.IO.Step(iostreams.MarkWarn, "%s is still set: bbkey prefers it over the stored token while it is", shared.EnvServerToken)
	}
	return shared.PrintStatus(opts.IO, opts.JSON, st)
}

// serverUserName is "Display Name (slug)", or whichever is known.
func serverUserName(u *dc.User) string {
	switch {
	case u == nil:
		return "an unnamed user"
	case u.DisplayName != "" && u.DisplayName != u.Slug:
		return u.DisplayName + " (" + u.Slug + ")"
	case u.Slug != "":
		return u.Slug
	}
	return u.Name
}

// storeText names where the store keeps secrets.
func storeText(store credstore.Store) string {
	if store.Kind() == "file" {
		if f, ok := store.(*credstore.File); ok {
			return f.Path
		}
		return "the credentials file"
	}
	return "the OS keychain"
}
