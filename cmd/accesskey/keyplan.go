// The key add-access-key adds: a new or an existing one, its passphrase, and what the
// state records of it.

package accesskey

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/accesskey"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// keyPlan is the key of a run, decided before anything is written.
type keyPlan struct {
	*provision.Local
	name    string
	created time.Time
	label   string
	// sshConfig is --write-ssh-config: a key first added without it gets no Host block.
	sshConfig bool
	// server is the Data Center server the key goes to ("" for Bitbucket Cloud), and ssh
	// its SSH side, recorded with the server's entry.
	server string
	ssh    *backend.SSH
}

// planKey decides which key the run uses and reads every secret it needs, so that a
// missing passphrase fails before anything is written.
func (o *Options) planKey(paths settings.Paths, name string, prev *state.AccessKey, ttl time.Duration) (*keyPlan, error) {
	p := &keyPlan{name: name, created: o.Now().UTC(), sshConfig: o.WriteSSHConfig}
	var err error
	if o.KeyFile != "" {
		if p.Local, err = provision.FindKey(absPath(strings.TrimSuffix(o.KeyFile, keys.PublicSuffix)), true); err != nil {
			return nil, errkind.UsageError(fmt.Errorf("--key: %w", err))
		}
		if p.New {
			return nil, errkind.UsageError(fmt.Errorf("--key %s: no such key file", o.KeyFile),
				"give an existing public key (FILE.pub), or its private key FILE with FILE.pub next to it")
		}
		if !p.HasPrivate {
			p.Path = absPath(o.KeyFile)
		}
	} else {
		path, err := keys.AccessKeyPath(paths.SSHDir, name)
		if err != nil {
			return nil, errkind.UsageError(err)
		}
		if p.Local, err = provision.FindKey(path, true); err != nil {
			return nil, err
		}
	}
	switch {
	case prev == nil:
	case bbapi.SameFingerprint(prev.Fingerprint, p.Fingerprint()):
		if !prev.Created.IsZero() {
			p.created = prev.Created.UTC()
		}
	case prev.Path != p.Path && fsutil.MayExist(prev.Path):
		// One access key per name: a second one would take over the name's ssh alias and
		// orphan the targets recorded for the first.
		return nil, errkind.UsageError(fmt.Errorf("access key %q is already %s (%s)", name, prev.Fingerprint, prev.Path),
			"give this key its own name with --name, or replace that one with 'bbkey rotate --access-keys'")
	default:
		o.IOStreams.Warnf("the state records access key %q as %s on %d targets, but %s is not that key any more: every target is added again",
			name, prev.Fingerprint, len(prev.Targets), prev.Path)
	}
	p.label = keylabel.Label{Name: name, Created: p.created, TTL: ttl}.String()

	if (o.LoadAgent || o.Verify || o.WriteSSHConfig) && !p.HasPrivate {
		return nil, errkind.UsageError(fmt.Errorf("the private key %s is missing", p.Path),
			"--agent, --verify and --write-ssh-config need the private key on this machine")
	}
	// The agent needs the private half; so does the proof when ssh could not read an
	// encrypted file by itself (it is then served from a temporary agent).
	private := !p.New && (o.LoadAgent || o.Verify && p.Key.Encrypted)
	src := o.PassphraseSource(o.PassphraseFile, o.NoPassphrase)
	if o.DryRun {
		// It refuses a passphrase file or BBKEY_PASSPHRASE as the run would; with neither it
		// still plans (the run asks, or stops without a terminal).
		if _, env := o.LookupEnv(secret.PassphraseEnv); o.PassphraseFile != "" || env {
			return p, p.Check(src, private)
		}
		return p, nil
	}
	switch {
	case p.New && o.NoPassphrase:
		o.IOStreams.Warnf("%s", secret.NoPassphraseWarning)
	case o.NoPassphrase:
		o.IOStreams.Warnf("--no-passphrase is ignored: %s already exists", p.Path)
	}
	if err := p.Unlock(src, private); err != nil {
		return nil, err
	}
	return p, nil
}

// recordKey writes the key's entry in st, replacing an entry of the same name for
// another key (whose targets no longer tell anything about this one). It reports
// whether st changed.
func recordKey(st *state.State, p *keyPlan) bool {
	keys, changed := p.keysIn(st)
	ak := keys[p.name]
	if ak == nil || !bbapi.SameFingerprint(ak.Fingerprint, p.Key.Fingerprint) {
		ak = &state.AccessKey{Fingerprint: p.Key.Fingerprint, Created: p.created, Targets: []state.Target{}, NoSSHConfig: !p.sshConfig}
		keys[p.name] = ak
		changed = true
	}
	if p.sshConfig && ak.NoSSHConfig {
		ak.NoSSHConfig = false
		changed = true
	}
	if ak.Path != p.Path || ak.Label != p.label {
		ak.Path, ak.Label = p.Path, p.label
		changed = true
	}
	return changed
}

// wouldChange lists the files a real run would write, for --dry-run: the new key, the
// state when the run records anything new, and with --write-ssh-config what Sync would
// rewrite once the state has the key. (config.json is not listed: cmdutil decides that.)
func (o *Options) wouldChange(ctx context.Context, p *keyPlan, prev *state.AccessKey, pending int, s settings.Settings, paths settings.Paths, sd state.Dir) ([]string, error) {
	var out []string
	if p.New {
		out = append(out, p.Path, p.Path+keys.PublicSuffix)
	}
	if prev == nil || !bbapi.SameFingerprint(prev.Fingerprint, p.Fingerprint()) || prev.Path != p.Path || prev.Label != p.label || pending > 0 {
		out = append(out, filepath.Join(paths.ConfigDir, state.StateFile))
	}
	if !o.WriteSSHConfig {
		return out, nil
	}
	next, err := sd.Load() // a copy to change: a dry run writes nothing
	if err != nil {
		return nil, err
	}
	keys, _ := p.keysIn(next)
	keys[p.name] = &state.AccessKey{Path: p.Path, Fingerprint: p.Fingerprint(), Label: p.label, Created: p.created}
	res, err := identity.Sync(ctx, s, paths.SSHDir, next, true)
	if err != nil {
		return nil, err
	}
	return append(out, res.ChangedFiles...), nil
}

// recordTargets records finished targets under the key in st, so a re-run skips them.
func recordTargets(st *state.State, p *keyPlan, b backend.Backend, write bool, batch []provision.Placed) {
	recordKey(st, p)
	keys, _ := p.keysIn(st)
	ak := keys[p.name]
	for _, pl := range batch {
		r := resultOf(b, write, pl)
		t := r.Target
		t.KeyID, t.Added = r.KeyID, r.Added.UTC()
		ak.SetTarget(t)
	}
}

// resultOf is how the pipeline's upload to one place ended, as a target's result.
func resultOf(b backend.Backend, write bool, pl provision.Placed) accesskey.Result {
	r := accesskey.Result{
		Target: accesskey.WithPermission([]state.Target{provision.TargetOf(pl.Place.Place)}, b.Kind(), write)[0],
		Status: pl.Status, Err: pl.Err, Added: pl.At,
	}
	if pl.Key != nil {
		r.KeyID = pl.Key.ID
	}
	return r
}

// keysIn returns the access keys of the run's Bitbucket in s, making what is missing: on
// Data Center the server's entry, which also records where its SSH git is and the host
// keys pinned for it (identity derives its Host blocks from them); and whether that
// changed.
func (p *keyPlan) keysIn(s *state.State) (map[string]*state.AccessKey, bool) {
	if p.server == "" {
		if s.AccessKeys == nil {
			s.AccessKeys = map[string]*state.AccessKey{}
		}
		return s.AccessKeys, false
	}
	v, changed := s.EnsureServer(p.server), false
	if p.ssh != nil && !p.ssh.Recorded(v) {
		v, changed = p.ssh.Record(s, p.server), true
	}
	if v.AccessKeys == nil {
		v.AccessKeys = map[string]*state.AccessKey{}
	}
	return v.AccessKeys, changed
}
