// The Bitbucket and ssh steps of setup: upload, pinned host keys, the proof, the ssh
// config, and what is recorded in the state.

package setup

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
	"github.com/bbkey/bbkey/internal/text"
	"golang.org/x/crypto/ssh"
)

// upload says what a dry run would do on the account: an existing key is looked for
// in the account's keys.
func (r *run) upload(ctx context.Context) error {
	r.current = "upload"
	if !r.key.New {
		k, err := r.b.FindAccountKey(ctx, r.acct, r.key.Key.Fingerprint)
		if err != nil {
			return fmt.Errorf("looking for the key on Bitbucket: %w", err)
		}
		if k != nil {
			r.uploaded(ctx, provision.Placed{Status: provision.Present, Key: k})
			return nil
		}
	}
	label := keylabel.Label{Name: r.name, Created: r.now}.String()
	r.res.BitbucketKey = &BitbucketKey{Label: label, ExpiresOn: r.expiresOn()}
	r.step("upload", statusPlanned, "would add the key to %s's account with the label %s", r.acct.Nickname, label)
	return nil
}

func (r *run) expiresOn() *time.Time {
	if r.fl.expiresIn == 0 {
		return nil
	}
	t := r.now.Add(r.fl.expiresIn).UTC()
	return &t
}

func describeKey(k *backend.Key) string {
	s := k.ID
	if k.Label != "" {
		s += ", label " + k.Label
	}
	if !k.Expires.IsZero() {
		s += ", expires " + k.Expires.UTC().Format(time.DateOnly)
	}
	return s
}

// pinHostKeys writes the host keys the proof and ssh check the server against.
func (r *run) pinHostKeys(ctx context.Context) error {
	r.current = "host keys"
	pins := r.ssh.Pins
	path := hostkeys.Path(r.paths.SSHDir)
	dir := filepath.Dir(path)
	dirExisted, err := fsutil.Exists(dir)
	if err != nil {
		return err
	}
	fileExisted, err := fsutil.Exists(path)
	if err != nil {
		return err
	}
	wr, err := hostkeys.Write(ctx, path, pins, r.opts.DryRun)
	if err != nil {
		return fmt.Errorf("pinning the host keys: %w", err)
	}
	if wr.Changed && !fileExisted && !r.opts.DryRun {
		// A first run whose proof fails leaves no trace of bbkey in ~/.ssh but the key
		// files the user keeps; an existing pin file is bbkey's and is left as written.
		r.undo = append(r.undo, func() {
			_ = os.Remove(path)
			if !dirExisted {
				_ = os.Remove(filepath.Join(dir, ".lock"))
				_ = os.Remove(dir)
			}
		})
	}
	switch {
	case !wr.Changed:
		r.step("host keys", statusSkipped, "%s pinned in %s", r.ssh.Host, path)
	case r.opts.DryRun:
		r.step("host keys", statusPlanned, "would pin %s for %s in %s", text.Count(len(pins.Keys), "key", "keys"), r.ssh.Host, path)
		r.changed(path)
	default:
		r.step("host keys", statusDone, "pinned %s for %s (from %s) in %s", text.Count(len(pins.Keys), "key", "keys"), r.ssh.Host, pins.Source, path)
		r.changed(path)
	}
	return nil
}

// prove connects to the endpoint with this key alone. A key this run uploaded and that
// fails is deleted from Bitbucket again.
func (r *run) prove(ctx context.Context) error {
	r.current = "proof"
	if r.opts.DryRun {
		r.step("proof", statusPlanned, "would prove the key over SSH with %s", r.ssh.Endpoint)
		return nil
	}
	if r.locked {
		r.step("proof", statusWarning, "skipped: the key was proven before, and without the agent or a passphrase (--passphrase-file or %s) it cannot sign", secret.PassphraseEnv)
		return nil
	}
	signer, err := r.signer()
	if err != nil {
		return err
	}
	v, err := hostkeys.NewVerifier(hostkeys.Path(r.paths.SSHDir), r.ssh.Host)
	if err != nil {
		return fmt.Errorf("reading the pinned host keys: %w", err)
	}
	if r.server != "" {
		v.Source = r.ssh.Pins.Source
	}
	h := &provision.Handshake{SSH: r.ssh, Verifier: v, Signer: signer}
	if r.opts.Globals.Debug {
		h.Trace = r.opts.IOStreams.ErrOut
	}
	if err := h.Prove(ctx, r.key.Key, nil); err != nil {
		return err // a key this run uploaded is taken back by the pipeline
	}
	r.res.Proof = h.Result
	greeting := h.Result.Greeting
	if greeting == "" {
		greeting = "accepted"
	}
	r.step("proof", statusDone, "%s (%s) accepted the key: %s", r.ssh.Host, r.ssh.Endpoint, strings.SplitN(greeting, "\n", 2)[0])
	return nil
}

// signer is the key to prove with: the private half in memory, else the agent's entry
// for the key.
func (r *run) signer() (ssh.Signer, error) {
	if r.key.Key.Signer != nil {
		return r.key.Key.Signer, nil
	}
	all, err := r.ag.Signers()
	if err != nil {
		return nil, fmt.Errorf("reading the agent's keys: %w", err)
	}
	for _, s := range all {
		if ssh.FingerprintSHA256(s.PublicKey()) == r.key.Key.Fingerprint {
			return s, nil
		}
	}
	return nil, fmt.Errorf("the agent no longer holds the key %s", r.key.Key.Fingerprint)
}

// writeConfig records the proven key in the state and derives the ssh config from it:
// a dry run's whole step (the state is not written), a real run's pipeline runs the
// three parts as its proof, state and config steps.
func (r *run) writeConfig(ctx context.Context) error {
	r.beforeState(ctx)
	st, err := r.stateDir.Load() // a copy to change: a dry run writes nothing
	if err != nil {
		return err
	}
	if r.recordAccount(st) {
		r.changed(filepath.Join(r.stateDir.Path, state.StateFile))
	}
	r.st = st
	return r.syncConfig(ctx)
}

// warnMovedAccessKeys says which access keys lost their Host alias to the account key
// st now records (was: their aliases before): the first account key takes the bare ssh
// host from an access key (identity.AccessAlias), and the clones a build made with the
// access key would then reach Bitbucket with a person's key, or fail.
func (r *run) warnMovedAccessKeys(st *state.State, was map[string]string) {
	now := r.accessAliases(st)
	for _, name := range slices.Sorted(maps.Keys(was)) {
		if was[name] != now[name] {
			r.step("ssh config", statusWarning, "the access key %s, which answered for %s, now answers for %s: clones that use it (git@%s:WS/REPO.git) would reach Bitbucket with this account key; point them at git@%s:WS/REPO.git", name, was[name], now[name], was[name], now[name])
		}
	}
}

// accessAliases maps the access keys of this Bitbucket that have a Host block to its alias.
func (r *run) accessAliases(st *state.State) map[string]string {
	view := &state.State{Accounts: st.AccountsOf(r.server), AccessKeys: st.AccessKeysOf(r.server)}
	m := map[string]string{}
	for name, k := range view.AccessKeys {
		if !k.NoSSHConfig {
			m[name] = identity.AccessAlias(r.ssh.Host, view, name)
		}
	}
	return m
}

// beforeState is the ssh config step's start: a warning when the account's earlier key
// stays.
func (r *run) beforeState(ctx context.Context) {
	testhook.Pause(ctx, r.opts.LookupEnv, "setup:writing")
	r.current = "ssh config"
	old := r.st.AccountsOf(r.server)[r.name]
	if fp := r.key.Fingerprint(); old != nil && old.Fingerprint != fp && !r.opts.DryRun {
		r.step("ssh config", statusWarning, "this account's earlier key %s stays on Bitbucket and on disk (%s); 'bbkey remove %s' deletes it", old.Fingerprint, old.KeyPath, old.Fingerprint)
	}
}

// syncConfig writes the ssh config and pinned host keys from r.st, and the settings a
// later run needs.
func (r *run) syncConfig(ctx context.Context) error {
	st := r.st
	res, err := identity.Sync(ctx, r.settings, r.paths.SSHDir, st, r.opts.DryRun)
	if err != nil {
		return err
	}
	r.changed(res.ChangedFiles...)
	for _, w := range res.Warnings {
		r.opts.IOStreams.Warnf("%s", w)
	}
	if !r.opts.DryRun {
		f, err := r.opts.PersistSettings(r.settings)
		if err != nil {
			return fmt.Errorf("saving the settings for later runs: %w", err)
		}
		if f != "" {
			r.changed(f)
		}
	}
	view := st
	if r.server != "" {
		view = st.ServerOf(r.server).View()
	}
	alias := identity.AccountAlias(r.ssh.Host, view, r.name)
	r.res.Host = alias
	switch {
	case len(res.ChangedFiles) == 0:
		r.step("ssh config", statusSkipped, "Host %s uses %s", alias, r.key.Path)
	case r.opts.DryRun:
		r.step("ssh config", statusPlanned, "would make Host %s use %s (%d files)", alias, r.key.Path, len(res.ChangedFiles))
	default:
		r.step("ssh config", statusDone, "Host %s uses %s", alias, r.key.Path)
	}
	return nil
}

// recordAccount records the account and its key in st (a server's account with where
// the server's SSH git is and the host keys pinned for it), and reports whether that
// changed anything.
func (r *run) recordAccount(st *state.State) bool {
	defer r.warnMovedAccessKeys(st, r.accessAliases(st))
	rec := &state.Account{
		UUID:        r.acct.ID,
		AccountID:   r.acct.AccountID,
		Nickname:    r.acct.Nickname,
		Email:       r.res.Account.Email,
		KeyName:     r.name,
		KeyPath:     r.key.Path,
		Fingerprint: r.key.Fingerprint(),
		Created:     r.now.UTC().Truncate(time.Second),
		// --agent-lifetime is recorded so rotate loads the successor for as long.
		AgentLifetimeSeconds: int64(r.fl.lifetime / time.Second),
	}
	if r.remoteKey != nil {
		rec.KeyID, rec.Label = r.remoteKey.ID, r.remoteKey.Label
	}
	old := st.AccountsOf(r.server)[r.name]
	if r.fl.lifetime == 0 && old != nil {
		rec.AgentLifetimeSeconds = old.AgentLifetimeSeconds // a run without it keeps it
	}
	if old != nil && old.Fingerprint == rec.Fingerprint && old.KeyPath == rec.KeyPath {
		rec.Created = old.Created
		if rec.Email == "" {
			rec.Email = old.Email
		}
	}
	changed := old == nil || *old != *rec
	if r.server == "" {
		st.Accounts[r.name] = rec
		return changed
	}
	changed = changed || !r.ssh.Recorded(st.ServerOf(r.server))
	r.ssh.Record(st, r.server).Accounts[r.name] = rec
	return changed
}

func (r *run) changed(paths ...string) {
	for _, p := range paths {
		if !slices.Contains(r.res.FilesChanged, p) {
			r.res.FilesChanged = append(r.res.FilesChanged, p)
		}
	}
}
