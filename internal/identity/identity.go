// Package identity turns bbkey's state (which account and access keys this machine has)
// into what OpenSSH reads: one Host block per key in ~/.ssh/bbkey/config and the pinned
// host keys in ~/.ssh/bbkey/known_hosts. The state is the source of truth; the files are
// derived from it, so every command that changes keys ends with Sync and a second run
// changes nothing.
//
// Aliases (DESIGN.md): the first account key answers for the ssh-host itself, further
// accounts for `<ssh-host>-<name>`; an access key answers for the ssh-host when the
// machine has no account key, else for `<ssh-host>-access-<name>`.
package identity

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
)

// PrimaryAccount is the account that answers for the bare ssh-host: the oldest one
// (by creation, then name), so adding a second account never moves the first one's
// remotes.
func PrimaryAccount(st *state.State) string {
	if len(st.Accounts) == 0 {
		return ""
	}
	return slices.MinFunc(slices.Collect(maps.Keys(st.Accounts)), func(a, b string) int {
		if c := st.Accounts[a].Created.Compare(st.Accounts[b].Created); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// AccountAlias is the ssh Host alias (and remote host) of the account key name.
func AccountAlias(sshHost string, st *state.State, name string) string {
	if p := PrimaryAccount(st); p == "" || p == name {
		return sshHost
	}
	return sshHost + "-" + name
}

// AccessAlias is the ssh Host alias of the access key name.
func AccessAlias(sshHost string, st *state.State, name string) string {
	if len(st.AccessKeys) > 0 && len(st.Accounts) == 0 {
		// With several access keys and no account key, the first by name answers for
		// the bare host; the others keep their own alias.
		if slices.Min(slices.Collect(maps.Keys(st.AccessKeys))) == name {
			return sshHost
		}
	}
	return sshHost + "-access-" + name
}

// Blocks derives the managed Host blocks from the state, sorted by alias.
func Blocks(s settings.Settings, sshDir string, st *state.State) ([]sshconfig.HostBlock, error) {
	known := hostkeys.Path(sshDir)
	blocks, err := hostBlocks(s.SSHHost, s.SSHEndpoint, known, st)
	if err != nil {
		return nil, err
	}
	for _, url := range st.ServerURLs() {
		v := st.Servers[url]
		sb, err := hostBlocks(v.SSHHost, v.SSHEndpoint, known, v.View())
		if err != nil {
			return nil, fmt.Errorf("the ssh endpoint recorded for %s: %w", v.URL, err)
		}
		blocks = append(blocks, sb...)
	}
	slices.SortFunc(blocks, func(a, b sshconfig.HostBlock) int { return strings.Compare(a.Alias, b.Alias) })
	for i, b := range blocks {
		if i > 0 && strings.EqualFold(blocks[i-1].Alias, b.Alias) {
			return nil, fmt.Errorf("ssh config: two identities answer for the host %s: two Bitbucket servers with the same SSH host name cannot both hold keys here (ssh config tells hosts apart by name, not by port)", b.Alias)
		}
	}
	return blocks, nil
}

// hostBlocks are the Host blocks of the keys st holds on one Bitbucket (Cloud, or a Data
// Center server's View), whose SSH host is sshHost, reached at endpoint.
func hostBlocks(sshHost, endpoint, known string, st *state.State) ([]sshconfig.HostBlock, error) {
	host, port, err := settings.SplitEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	var blocks []sshconfig.HostBlock
	add := func(alias, keyPath string) error {
		abs, err := filepath.Abs(keyPath)
		blocks = append(blocks, sshconfig.HostBlock{
			Alias: alias, HostName: host, Port: port, IdentityFile: abs,
			KnownHostsFile: known, HostKeyAlias: sshHost,
		})
		return err
	}
	for name, a := range st.Accounts {
		if err := add(AccountAlias(sshHost, st, name), a.KeyPath); err != nil {
			return nil, err
		}
	}
	for name, k := range st.AccessKeys {
		if k.NoSSHConfig {
			continue
		}
		if err := add(AccessAlias(sshHost, st, name), k.Path); err != nil {
			return nil, err
		}
	}
	return blocks, nil
}

// ServerPins are the host keys pinned for a Data Center server, as recorded in the state.
func ServerPins(v *state.Server) (hostkeys.Pins, error) {
	keys, err := hostkeys.ParseKeys([]byte(strings.Join(v.HostKeys, "\n")))
	if err != nil {
		return hostkeys.Pins{}, fmt.Errorf("the host keys recorded for %s: %w", v.URL, err)
	}
	return hostkeys.Pins{Alias: v.SSHHost, Keys: keys, Source: v.HostKeySource}, nil
}

// AllPins are the pins of every Bitbucket the state holds keys for: Cloud's from the
// settings (always, as before Data Center), then each server's, by URL.
func AllPins(s settings.Settings, st *state.State) ([]hostkeys.Pins, error) {
	cloud, err := hostkeys.Pinned(s)
	if err != nil {
		return nil, err
	}
	sets := []hostkeys.Pins{cloud}
	for _, url := range st.ServerURLs() {
		v := st.Servers[url]
		if len(v.Accounts) == 0 && len(v.AccessKeys) == 0 {
			continue
		}
		p, err := ServerPins(v)
		if err != nil {
			return nil, err
		}
		sets = append(sets, p)
	}
	return sets, nil
}

// Result lists what Sync changed (or would change, in a dry run): the pinned known_hosts
// first, then what sshconfig.Apply changed.
type Result = sshconfig.Result

// Sync writes the pinned host keys and the ssh config blocks the state calls for.
func Sync(ctx context.Context, s settings.Settings, sshDir string, st *state.State, dryRun bool) (Result, error) {
	return syncFiles(ctx, s, sshDir, st, sshconfig.Options{DryRun: dryRun})
}

// Regenerate is Sync for doctor --fix: bbkey's config is rewritten even when a hand edit
// keeps it from being read back; the edited file is kept next to it (and listed).
func Regenerate(ctx context.Context, s settings.Settings, sshDir string, st *state.State, dryRun bool) (Result, error) {
	return syncFiles(ctx, s, sshDir, st, sshconfig.Options{DryRun: dryRun, Regenerate: true})
}

func syncFiles(ctx context.Context, s settings.Settings, sshDir string, st *state.State, opts sshconfig.Options) (Result, error) {
	sets, err := AllPins(s, st)
	if err != nil {
		return Result{}, err
	}
	blocks, err := Blocks(s, sshDir, st)
	if err != nil {
		return Result{}, err
	}
	kh, err := hostkeys.WriteAll(ctx, hostkeys.Path(sshDir), sets, opts.DryRun)
	if err != nil {
		return Result{}, fmt.Errorf("writing pinned host keys: %w", err)
	}
	res, err := sshconfig.Apply(ctx, sshDir, blocks, opts)
	if err != nil {
		res, err = Result{}, fmt.Errorf("writing ssh config: %w", err)
	}
	if kh.Changed {
		res.ChangedFiles = append([]string{kh.Path}, res.ChangedFiles...)
	}
	return res, err
}
