// The account steps of setup: whose credential this is, and the key's name.

package setup

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	authcmd "github.com/bbkey/bbkey/cmd/auth"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/keys"
)

// credentials finds the credential and asks Bitbucket whose it is (GET /user; on Data
// Center the user the server names for the token).
func (r *run) credentials(ctx context.Context) error {
	r.current = "credentials"
	opts := r.opts
	r.server = r.settings.Server
	rc, err := opts.ResolveSelected(ctx)
	switch {
	case err == nil:
	case r.server != "" && errors.Is(err, settings.ErrNoCredential):
		// No question asks for a server's token: it comes from a file, the environment
		// or 'bbkey auth login --server'.
		return errkind.UsageError(err, apierr.Hints(err)...)
	case errors.Is(err, settings.ErrNoCredential) && opts.NoInput():
		return errkind.UsageError(errors.New("no Bitbucket credential, and no terminal to ask for one"),
			append(opts.ServerTokenHints(),
				"set "+authcmd.EnvEmail+" and "+authcmd.EnvToken+" (or pass --token-file FILE with "+authcmd.EnvEmail+"), or run 'bbkey auth login' first",
				"create an API token with scopes at "+authcmd.TokenPage)...)
	case errors.Is(err, settings.ErrNoCredential):
		tok, _, err := authcmd.ReadAPIToken(opts.Factory, "")
		if err != nil {
			return err
		}
		r.pending = tok
		rc = settings.ResolvedCredential{Credential: tok, Source: "prompt"}
	default:
		return err
	}
	if r.server == "" && rc.Credential.Kind() == bbapi.KindAccessToken {
		return errkind.AuthError(errors.New("an access token cannot manage a person's SSH keys"),
			"setup needs an API token: set "+authcmd.EnvEmail+" and "+authcmd.EnvToken+", or run 'bbkey auth login'",
			"for a build server with an access token, use 'bbkey add-access-key'")
	}
	wait := bbapi.WithWaitHook(func(w bbapi.Wait) {
		opts.IOStreams.Step(iostreams.MarkWarn, "waiting %s before retrying %s %s (%s)", w.Delay.Round(time.Second), w.Method, w.URL, w.Reason)
	})
	if r.b, err = opts.NewBackend(rc.Credential, wait); err != nil {
		return err
	}
	a, err := r.b.Whoami(ctx)
	if err != nil {
		// An unreachable Bitbucket's hint (which URL setting to check) is apierr's.
		return fmt.Errorf("checking the credential with %s: %w", r.b.Describe(), err)
	}
	if rc.Credential.Kind() == bbapi.KindAPIToken {
		if err := authcmd.RequireScopes(a.Scopes, authcmd.SetupScopes, "bbkey setup"); err != nil {
			return err
		}
	}
	if a.Service {
		return errkind.AuthError(fmt.Errorf("the HTTP access token acts as %s, a project or repository token's service user, which cannot hold SSH keys", a.Nickname),
			"setup needs a personal HTTP access token of your own user ("+cmdutil.ServerTokenEnv+" or --token-file)",
			"for a build server with a project or repository token, use 'bbkey add-access-key'")
	}
	r.acct = a
	r.res.Server = r.server
	r.res.Account = Account{
		UUID:             a.ID,
		AccountID:        a.AccountID,
		Nickname:         a.Nickname,
		DisplayName:      a.DisplayName,
		Email:            a.Email,
		CredentialSource: string(rc.Source),
	}
	if t, ok := rc.Credential.(*bbapi.APIToken); ok {
		r.res.Account.Email = t.Email
	}
	if r.server != "" {
		r.step("credentials", statusDone, "%s on %s, %s from %s", a.Display(), r.server, rc.Credential, rc.Source)
	} else {
		r.step("credentials", statusDone, "%s, %s from %s", a.Display(), rc.Credential, rc.Source)
	}
	return nil
}

// sshSide learns where git over SSH goes and which host keys to pin, before anything is
// written: on Data Center from the server's SSH settings and the key its SSH server
// presents (refused, with nothing written, unless they agree).
func (r *run) sshSide(ctx context.Context) error {
	r.current = "ssh settings"
	s, err := r.b.SSH(ctx)
	if err != nil {
		return err
	}
	r.ssh = s
	for url, v := range r.st.Servers {
		if url != r.server && strings.EqualFold(v.SSHHost, s.Host) && len(v.Accounts)+len(v.AccessKeys) > 0 {
			return errkind.UsageError(fmt.Errorf("%s serves git over SSH on %s, as %s does, which has keys here: ssh config tells hosts apart by name, not by port", r.server, s.Host, url),
				"keep the keys of one of the two servers on this machine, or have the administrators give one server's SSH its own host name")
		}
	}
	if r.server != "" {
		r.step("ssh settings", statusDone, "%s serves git over SSH at %s:%d, host key %s (from %s)",
			r.server, s.Host, s.Port, strings.Join(hostkeys.Fingerprints(s.Pins.Keys), ", "), s.Pins.Source)
	}
	return nil
}

// chooseName picks the key name: --name, the name this account already has here, or
// the account's nickname. The name is the key step's (its file is bbkey_<name>_ed25519).
func (r *run) chooseName(context.Context) error {
	r.current = "key"
	uuid := r.acct.ID
	existing := ""
	for n, a := range r.st.AccountsOf(r.server) {
		if a.UUID == uuid && (existing == "" || n < existing) {
			existing = n
		}
	}
	name := r.opts.Name
	switch {
	case name != "" && existing != "" && existing != name:
		return errkind.UsageError(fmt.Errorf("this Bitbucket account is already set up here under the name %q", existing),
			fmt.Sprintf("run 'bbkey setup --name %s' to check it, or 'bbkey rotate' to replace its key", existing))
	case name == "" && existing != "":
		name = existing
	case name == "":
		for _, s := range []string{r.acct.Nickname, r.acct.DisplayName, r.acct.Username, r.acct.ID} {
			if name = keylabel.SanitizeName(s); name != "" {
				break
			}
		}
		if name == "" {
			name = "bitbucket"
		}
		if r.server != "" {
			name = dataCenterName(name, r.server)
		}
	}
	// A name this account already has here stays valid, whatever the rule for new ones.
	if err := keys.ValidateAccountName(name); err != nil && name != existing {
		return errkind.UsageError(err, "choose a name with --name NAME")
	}
	if server, a, ok := r.st.AccountNamed(name); ok && (a.UUID != uuid || server != r.server) {
		owner := a.Nickname
		if server != "" {
			owner += " on " + server
		} else if r.server != "" {
			owner += " on Bitbucket Cloud"
		}
		return errkind.UsageError(fmt.Errorf("the key name %q already belongs to another Bitbucket account (%s)", name, owner),
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
		err = authcmd.Store(ctx, store, "", r.pending, r.now)
	}
	if err != nil {
		r.step("credentials", statusWarning, "the API token was not stored (%v); run 'bbkey auth login' (--insecure-storage without a keychain) to keep it", err)
		return
	}
	if w := credstore.Warning(store); w != "" {
		r.opts.IOStreams.Warnf("%s", w)
	}
	r.step("credentials", statusDone, "API token stored in the %s for later runs", store.Kind())
}

// dataCenterName is the default key name of a Data Center user: the user's name and the
// server's host (and port, when the URL names one), so that the key files of a Cloud
// account and of a Data Center user called the same never collide
// (~/.ssh/bbkey_ada_ed25519 and ~/.ssh/bbkey_ada-bitbucket.example.com_ed25519).
func dataCenterName(user, server string) string {
	host := server
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		host = u.Hostname()
		if p := u.Port(); p != "" {
			host += "-" + p
		}
	}
	return keylabel.SanitizeName(user + "-" + host)
}
