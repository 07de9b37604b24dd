// The account steps of setup: whose credential this is, and the key's name.

package setup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
)

// credentials finds the credential and asks Bitbucket whose it is (GET /user).
func (r *run) credentials(ctx context.Context) error {
	r.current = "credentials"
	opts := r.opts
	rc, err := opts.Resolve(ctx)
	switch {
	case err == nil:
	case errors.Is(err, cmdutil.ErrNoCredential) && opts.NoInput:
		return cmdutil.UsageError(errors.New("no Bitbucket credential, and no terminal to ask for one"),
			"set "+shared.EnvEmail+" and "+shared.EnvToken+" (or pass --token-file FILE with "+shared.EnvEmail+"), or run 'bbkey auth login' first",
			"create an API token with scopes at "+shared.TokenPage)
	case errors.Is(err, cmdutil.ErrNoCredential):
		tok, _, err := shared.ReadAPIToken(shared.Input{
			LookupEnv: opts.LookupEnv,
			Prompter:  opts.Prompter,
			ErrOut:    opts.IO.ErrOut,
		})
		if err != nil {
			return err
		}
		r.pending = tok
		rc = cmdutil.ResolvedCredential{Credential: tok, Source: "prompt"}
	default:
		return err
	}
	r.cred = rc
	if rc.Credential.Kind() == bbapi.KindAccessToken {
		return cmdutil.AuthError(errors.New("an access token cannot manage a person's SSH keys"),
			"setup needs an API token: set "+shared.EnvEmail+" and "+shared.EnvToken+", or run 'bbkey auth login'",
			"for a build server with an access token, use 'bbkey add-access-key'")
	}
	wait := bbapi.WithWaitHook(func(w bbapi.Wait) {
		opts.IO.Step(iostreams.MarkWarn, "waiting %s before retrying %s %s (%s)", w.Delay.Round(time.Second), w.Method, w.URL, w.Reason)
	})
	if r.client, err = opts.NewClient(rc.Credential, wait); err != nil {
		return err
	}
	v, err := shared.Verify(ctx, r.client)
	if err != nil {
		return err
	}
	if rc.Credential.Kind() == bbapi.KindAPIToken {
		if err := shared.RequireScopes(v, shared.SetupScopes, "bbkey setup"); err != nil {
			return err
		}
	}
	r.user = v.User
	r.res.Account = Account{
		UUID:             v.User.UUID,
		AccountID:        v.User.AccountID,
		Nickname:         v.User.Nickname,
		DisplayName:      v.User.DisplayName,
		CredentialSource: string(rc.Source),
	}
	if t, ok := rc.Credential.(*bbapi.APIToken); ok {
		r.res.Account.Email = t.Email
	}
	r.step("credentials", statusDone, "%s, %s from %s", shared.DisplayName(v.User), rc.Credential, rc.Source)
	return nil
}

// chooseName picks the key name: --name, the name this account already has here, or
// the account's nickname.
func (r *run) chooseName(context.Context) error {
	uuid := r.user.UUID
	existing := ""
	for n, a := range r.st.Accounts {
		if a.UUID == uuid && (existing == "" || n < existing) {
			existing = n
		}
	}
	name := r.opts.Name
	switch {
	case name != "" && existing != "" && existing != name:
		return cmdutil.UsageError(fmt.Errorf("this Bitbucket account is already set up here under the name %q", existing),
			fmt.Sprintf("run 'bbkey setup --name %s' to check it, or 'bbkey rotate' to replace its key", existing))
	case name == "" && existing != "":
		name = existing
	case name == "":
		for _, s := range []string{r.user.Nickname, r.user.DisplayName, r.user.Username} {
			if name = keylabel.SanitizeName(s); name != "" {
				break
			}
		}
		if name == "" {
			name = "bitbucket"
		}
	}
	if err := keylabel.ValidName(name); err != nil {
		return cmdutil.UsageError(err, "choose a name with --name NAME")
	}
	if a, ok := r.st.Accounts[name]; ok && a.UUID != uuid {
		return cmdutil.UsageError(fmt.Errorf("the key name %q already belongs to another Bitbucket account (%s)", name, a.Nickname),
			"give this account its own name with --name NAME")
	}
	r.name = name
	r.res.Name = name
	return nil
}

// storeCredential keeps a token typed at the prompt, now that every question is
// answered. Not being able to keep it does not stop the setup.
func (r *run) storeCredential(ctx context.Context) {
	if r.pending == nil || r.opts.DryRun {
		return
	}
	store, err := r.opts.CredStore(ctx, false)
	if err == nil {
		err = shared.Store(ctx, store, r.pending, r.now)
	}
	if err != nil {
		r.step("credentials", statusWarning, "the API token was not stored (%v); run 'bbkey auth login' (--insecure-storage without a keychain) to keep it", err)
		return
	}
	if w := credstore.Warning(store); w != "" {
		r.opts.IO.Warnf("%s", w)
	}
	r.step("credentials", statusDone, "API token stored in the %s for later runs", store.Kind())
}
