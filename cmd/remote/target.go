// Where remotes are rewritten to: Bitbucket Cloud (ssh or https, the --name alias) or
// the selected Data Center server (its SSH host and port from bbkey's state).

package remote

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bbkey/bbkey/internal/errkind"
	engine "github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/settings"

	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
)

// resolveTarget is the form the remotes take: the selected Data Center server's
// (dataCenterTarget), else Bitbucket Cloud's with --to and --name.
func resolveTarget(opts *Options) (engine.Rewriter, error) {
	s, err := opts.Settings()
	if err != nil {
		return nil, err
	}
	if s.Server != "" {
		return dataCenterTarget(opts, s.Server)
	}
	var t engine.Target
	switch opts.To {
	case "ssh", "":
	case "https":
		t.HTTPS = true
		if opts.Name != "" {
			return t, errkind.UsageError(errors.New("--name names an SSH account alias and cannot be used with --to https"))
		}
	default:
		return t, errkind.UsageError(fmt.Errorf("invalid --to %q: want ssh or https", opts.To))
	}
	t.SSHHost = s.SSHHost
	if err := t.Validate(); err != nil {
		return t, errkind.UsageError(err, "set --ssh-host (or BBKEY_SSH_HOST) to a host name such as "+settings.DefaultSSHHost)
	}
	if opts.Name == "" {
		return t, nil
	}
	if err := keylabel.ValidName(opts.Name); err != nil {
		return t, errkind.UsageError(err)
	}
	// The alias follows the ssh config bbkey writes: the first account answers for the
	// ssh-host itself, further accounts for <ssh-host>-<name>.
	st, err := loadState(opts)
	if err != nil {
		return t, err
	}
	if _, ok := st.Accounts[opts.Name]; !ok {
		opts.IO.Warnf("no account key named %q on this machine yet: run `bbkey setup --name %s` so the remotes have an ssh Host block", opts.Name, opts.Name)
	}
	if alias := identity.AccountAlias(s.SSHHost, st, opts.Name); alias != s.SSHHost {
		t.Name = strings.TrimPrefix(alias, s.SSHHost+"-")
	}
	return t, nil
}

// dataCenterTarget is the form a Data Center server's remotes take:
// ssh://git@<ssh host>:<port>/proj/repo.git with the SSH host and port setup (or
// add-access-key) recorded for the server, or the alias <ssh host>-<name> of a further
// account with --name. It needs no network: the state has them.
func dataCenterTarget(opts *Options, server string) (engine.Rewriter, error) {
	if opts.To == "https" {
		return nil, errkind.UsageError(errors.New("--to https is for Bitbucket Cloud remotes"),
			"a Data Center clone URL over HTTPS is the server's /scm/ URL: see the repository's Clone button")
	}
	if opts.To != "ssh" && opts.To != "" {
		return nil, errkind.UsageError(fmt.Errorf("invalid --to %q: want ssh or https", opts.To))
	}
	st, err := loadState(opts)
	if err != nil {
		return nil, err
	}
	v := st.ServerOf(server)
	if v == nil || v.SSHHost == "" {
		return nil, errkind.UsageError(fmt.Errorf("bbkey has no key on %s yet, so it does not know where its SSH git is", server),
			"run 'bbkey setup --server "+server+"' first: it records the server's SSH host and port, and the Host block the remotes need")
	}
	host := v.SSHHost
	if opts.Name != "" {
		if err := keylabel.ValidName(opts.Name); err != nil {
			return nil, errkind.UsageError(err)
		}
		if _, ok := v.Accounts[opts.Name]; !ok {
			opts.IO.Warnf("no account key named %q on %s on this machine yet: run `bbkey setup --server %s --name %s` so the remotes have an ssh Host block", opts.Name, server, server, opts.Name)
		}
		host = identity.AccountAlias(v.SSHHost, v.View(), opts.Name)
	}
	t := engine.DataCenterTarget{ServerURL: server, SSHHost: host, SSHPort: v.SSHPort}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// loadState reads bbkey's state: the accounts and servers setup recorded.
func loadState(opts *Options) (*state.State, error) {
	p, err := opts.Paths()
	if err != nil {
		return nil, err
	}
	return state.Dir{Path: p.ConfigDir, Now: opts.Now}.Load()
}
