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
	names := slices.Collect(maps.Keys(st.Accounts))
	if len(names) == 0 {
		return ""
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := st.Accounts[a].Created.Compare(st.Accounts[b].Created); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return names[0]
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
		first := slices.Sorted(maps.Keys(st.AccessKeys))[0]
		if first == name {
			return sshHost
		}
	}
	return sshHost + "-access-" + name
}

// Blocks derives the managed Host blocks from the state, sorted by alias.
func Blocks(s settings.Settings, sshDir string, st *state.State) ([]sshconfig.HostBlock, error) {
	host, port, err := settings.SplitEndpoint(s.SSHEndpoint)
	if err != nil {
		return nil, err
	}
	known := hostkeys.Path(sshDir)
	var blocks []sshconfig.HostBlock
	add := func(alias, keyPath string) error {
		abs, err := filepath.Abs(keyPath)
		if err != nil {
			return err
		}
		blocks = append(blocks, sshconfig.HostBlock{
			Alias:          alias,
			HostName:       host,
			Port:           port,
			IdentityFile:   abs,
			KnownHostsFile: known,
			HostKeyAlias:   s.SSHHost,
		})
		return nil
	}
	for name, a := range st.Accounts {
		if err := add(AccountAlias(s.SSHHost, st, name), a.KeyPath); err != nil {
			return nil, err
		}
	}
	for name, k := range st.AccessKeys {
		if k.NoSSHConfig {
			continue
		}
		if err := add(AccessAlias(s.SSHHost, st, name), k.Path); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(blocks, func(a, b sshconfig.HostBlock) int { return strings.Compare(a.Alias, b.Alias) })
	for _, b := range blocks {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("ssh config for %s: %w", b.Alias, err)
		}
	}
	return blocks, nil
}

// Result lists what Sync changed (or would change, in a dry run).
type Result struct {
	ChangedFiles []string `json:"changed_files"`
	Warnings     []string `json:"warnings,omitempty"`
	Blocks       []sshconfig.HostBlock
}

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
	dryRun := opts.DryRun
	var res Result
	pins, err := hostkeys.Pinned(s)
	if err != nil {
		return res, err
	}
	blocks, err := Blocks(s, sshDir, st)
	if err != nil {
		return res, err
	}
	kh, err := hostkeys.Write(ctx, hostkeys.Path(sshDir), pins, dryRun)
	if err != nil {
		return res, fmt.Errorf("writing pinned host keys: %w", err)
	}
	if kh.Changed {
		res.ChangedFiles = append(res.ChangedFiles, kh.Path)
	}
	cr, err := sshconfig.Apply(ctx, sshDir, blocks, opts)
	if err != nil {
		return res, fmt.Errorf("writing ssh config: %w", err)
	}
	res.ChangedFiles = append(res.ChangedFiles, cr.ChangedFiles...)
	res.Warnings, res.Blocks = cr.Warnings, cr.Blocks
	return res, nil
}
