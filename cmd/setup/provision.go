// Setup on the one provisioning pipeline (internal/provision): the key, the agent, the
// upload to the account, the proof (after pinning the host keys), the state and the ssh
// config. A dry run walks the same steps without the pipeline, saying what each would do.

package setup

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
	"github.com/bbkey/bbkey/keys"
)

// provision runs the pipeline. Until the key is proven and recorded, a failure takes it
// back from the account and the agent (the pipeline's undo), as rotate does with an
// unproven successor; the key files stay for a re-run.
func (r *run) provision(ctx context.Context) error {
	opts := r.opts
	p := &provision.Pipeline{
		B:      r.b,
		Places: []provision.Place{{Account: r.acct}},
		Label:  keylabel.Label{Name: r.name, Created: r.now}.String(),
		// An existing key is looked for on the account first; a new one is posted.
		MayExist: true,
		Proof: func(ctx context.Context, _ *keys.Key, _ []provision.Placed) error {
			if err := r.pinHostKeys(ctx); err != nil {
				return err
			}
			return r.prove(ctx)
		},
		// The proven key is recorded (the state file is written only when that changes
		// it), then the ssh config and pins are derived from the state.
		State: r.stateDir,
		Record: func(st *state.State, _ *keys.Key, stage provision.Stage, _ []provision.Placed) error {
			if stage != provision.StageProven || !r.recordAccount(st) {
				return provision.ErrUnchanged
			}
			r.changed(filepath.Join(r.stateDir.Path, state.StateFile))
			r.st = st
			return nil
		},
		Config: r.syncConfig,
		Now:    opts.Now,
	}
	if t := r.expiresOn(); t != nil {
		p.Expires = *t
	}
	host, _ := opts.Hostname() // keys.Comment says "unknown" for a host without a name
	p.Key = r.key.Source(keys.Comment(r.name, host, r.now), opts.NoPassphrase)
	if r.key.New {
		if opts.NoPassphrase {
			opts.IOStreams.Warnf("%s", secret.NoPassphraseWarning)
		}
		p.Key.Prepared = r.takeEarly // the KDF ran during the credential check
	}
	if r.agentErr == nil && !r.agentHas && !r.locked {
		p.Agent, p.AgentLifetime, p.AgentOptional = r.ag, r.fl.lifetime, true
	}
	p.OnStep = func(s provision.Step, out *provision.Outcome) error {
		switch s {
		case provision.StepKey:
			r.keyDone(out)
			r.current = "agent"
		case provision.StepAgent:
			r.agentStep(out)
			r.current = "upload"
		case provision.StepUpload:
			r.uploaded(ctx, out.Placed[0])
		case provision.StepProof:
			r.beforeState(ctx)
		}
		return nil
	}
	var err error
	r.out, err = p.Run(ctx)
	clear(r.key.Passphrase)
	if err == nil {
		return nil
	}
	if r.current == "key" {
		return cmdutil.KeyExistsHint(err)
	}
	if r.current == "upload" && bbapi.IsDuplicateKey(err) {
		return errkind.WithHint(fmt.Errorf("the key %s is already registered on another Bitbucket account: %w", r.key.Key.Fingerprint, err),
			"a public key can belong to one Bitbucket account only (one key, one account): give each account its own key",
			"remove it from the other account first, or drop --key so that setup makes a fresh key for this one",
			"a key deleted from an account recently may be blocked for up to 30 days")
	}
	return err
}

// keyDone reports the key: the one reused, the one made, or (out nil) the one a dry run
// would make.
func (r *run) keyDone(out *provision.Outcome) {
	switch {
	case !r.key.New:
		r.res.Key.Fingerprint, r.res.Key.Encrypted = r.key.Key.Fingerprint, r.key.Key.Encrypted
		r.step("key", statusSkipped, "using %s (%s)", r.key.Path, r.key.Key.Fingerprint)
		return
	case out == nil:
		r.step("key", statusPlanned, "would generate an ed25519 key in %s", r.key.Path)
	default:
		k := out.Key
		r.key.Key = k
		r.res.Key.Fingerprint = k.Fingerprint
		protect := "passphrase-protected"
		if r.opts.NoPassphrase {
			protect = "no passphrase"
		}
		r.step("key", statusDone, "generated %s (%s, %s)", r.key.Path, k.Fingerprint, protect)
	}
	r.res.Key.Encrypted = !r.opts.NoPassphrase
	r.changed(r.key.Path, r.key.Path+keys.PublicSuffix)
}

// uploaded reports the upload to the account.
func (r *run) uploaded(ctx context.Context, pl provision.Placed) {
	if !pl.Status.Done() {
		return // the run fails with the upload's error
	}
	k := pl.Key
	r.remoteKey = k
	r.res.BitbucketKey = &BitbucketKey{UUID: k.ID, Label: k.Label}
	if !k.Expires.IsZero() {
		t := k.Expires.UTC()
		r.res.BitbucketKey.ExpiresOn = &t
	}
	if pl.Status == provision.Present {
		r.step("upload", statusSkipped, "already on the account (%s)", describeKey(pl.Key))
		return
	}
	r.res.BitbucketKey.Uploaded = true
	r.step("upload", statusDone, "added to %s's account (%s)", r.acct.Nickname, describeKey(pl.Key))
	testhook.Pause(ctx, r.opts.LookupEnv, "setup:uploaded")
}
