// Where remotes are rewritten to: Bitbucket Cloud (ssh or https, the --name alias) or
// the selected Data Center server (its SSH host and port from bbkey's state).

package remote

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/keylabel"
	engine "github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

// resolveTarget is the form the remotes take: the selected Data Center server's
// (ssh://git@<ssh host>:<port>/proj/repo.git), else Bitbucket Cloud's with --to. --name
// selects the alias of a further account. It needs no network: the state has the
// server's SSH host and port, and the accounts.
func resolveTarget(opts *Options) (engine.Rewriter, error) {
	s, err := opts.Settings()
	if err != nil {
		return nil, err
	}
	https := opts.To == "https"
	switch {
	case https && s.Server != "":
		return nil, errkind.UsageError(errors.New("--to https is for Bitbucket Cloud remotes"),
			"a Data Center clone URL over HTTPS is the server's /scm/ URL: see the repository's Clone button")
	case https && opts.Name != "":
		return nil, errkind.UsageError(errors.New("--name names an SSH account alias and cannot be used with --to https"),
			"drop --name: an HTTPS remote names no account")
	case !https && opts.To != "ssh" && opts.To != "":
		return nil, errkind.UsageError(fmt.Errorf("invalid --to %q: want ssh or https", opts.To),
			"leave --to out to switch remotes to SSH, or give --to https to switch them back to https://bitbucket.org/WS/REPO.git")
	}
	t := engine.Target{HTTPS: https, SSHHost: s.SSHHost}
	if s.Server == "" {
		if err := t.Validate(); err != nil {
			return nil, errkind.UsageError(err, "set --ssh-host (or BBKEY_SSH_HOST) to a host name such as "+settings.DefaultSSHHost)
		}
	}
	if opts.Name != "" {
		if err := keylabel.ValidName(opts.Name); err != nil {
			return nil, errkind.UsageError(err)
		}
	}
	var st *state.State
	if opts.Name != "" || s.Server != "" {
		p, err := opts.Paths()
		if err != nil {
			return nil, err
		}
		if st, err = (state.Dir{Path: p.ConfigDir, Now: opts.Now}).Load(); err != nil {
			return nil, err
		}
	}
	if s.Server == "" {
		if opts.Name != "" {
			if _, ok := st.Accounts[opts.Name]; !ok {
				opts.IO.Warnf("no account key named %q on this machine yet: run `bbkey setup --name %s` so the remotes have an ssh Host block", opts.Name, opts.Name)
			}
			// The first account answers for the ssh-host itself, further ones for
			// <ssh-host>-<name>, as in the ssh config bbkey writes.
			if alias := identity.AccountAlias(s.SSHHost, st, opts.Name); alias != s.SSHHost {
				t.Name = strings.TrimPrefix(alias, s.SSHHost+"-")
			}
		}
		return t, nil
	}
	v := st.ServerOf(s.Server)
	if v == nil || v.SSHHost == "" {
		return nil, errkind.UsageError(fmt.Errorf("bbkey has no key on %s yet, so it does not know where its SSH git is", s.Server),
			"run 'bbkey setup --server "+s.Server+"' first: it records the server's SSH host and port, and the Host block the remotes need")
	}
	host := v.SSHHost
	if opts.Name != "" {
		if _, ok := v.Accounts[opts.Name]; !ok {
			opts.IO.Warnf("no account key named %q on %s on this machine yet: run `bbkey setup --server %s --name %s` so the remotes have an ssh Host block", opts.Name, s.Server, s.Server, opts.Name)
		}
		host = identity.AccountAlias(v.SSHHost, v.View(), opts.Name)
	}
	dc := engine.DataCenterTarget{ServerURL: s.Server, SSHHost: host, SSHPort: v.SSHPort}
	return dc, dc.Validate()
}
