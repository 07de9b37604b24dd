// The key steps of setup: which key, its passphrase, generating it, the agent.

package setup

import (
	"context"
	"fmt"
	"time"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/keys"
)

// prepareKey decides which key to use and gets every secret that needs: the passphrase
// of a new key, or the private half of an existing one when the agent does not hold it.
func (r *run) prepareKey(ctx context.Context) error {
	r.current = "key"
	opts := r.opts
	path := r.fl.keyFile
	if path == "" {
		p, err := keys.AccountKeyPath(r.paths.SSHDir, r.name)
		if err != nil {
			return errkind.UsageError(err)
		}
		path = p
	} else if !fsutil.MayExist(path) {
		return errkind.UsageError(fmt.Errorf("--key %s: no such private key file", path),
			"give the private key, not the .pub; its .pub is read from next to it")
	}
	var err error
	if r.key, err = provision.FindKey(path, false); err != nil {
		if r.fl.keyFile != "" {
			return errkind.UsageError(fmt.Errorf("--key: %w", err))
		}
		return err
	}
	r.res.Key.Path = path
	r.res.Key.PublicPath = path + keys.PublicSuffix
	r.res.Key.Generated = r.key.New

	r.ag, r.agentErr = opts.Agent()
	if r.agentErr == nil && !r.key.New {
		if r.agentHas, err = r.ag.Has(r.key.Key.Fingerprint); err != nil {
			r.agentErr = err
		}
	}
	src := opts.PassphraseSource(opts.PassphraseFile, opts.NoPassphrase)
	switch {
	case opts.DryRun && !r.key.New && (r.agentErr == nil && r.agentHas || r.unattendedWithoutPassphrase()):
		return nil
	case opts.DryRun:
		return r.key.Check(src, true) // the run would stop here: so does its dry run
	case r.agentErr == nil && r.agentHas:
		return nil // the agent signs the proof; no passphrase needed
	case !r.key.New && r.unattendedWithoutPassphrase():
		r.locked = true
		return nil
	}
	return r.key.Unlock(src, true)
}

// unattendedWithoutPassphrase reports a re-run without a terminal, an agent holding the
// key, or any passphrase source, for an encrypted key already proven and recorded here.
// Such a run (a configuration management tool, say) checks everything but cannot load or
// prove the key, and says so instead of failing.
func (r *run) unattendedWithoutPassphrase() bool {
	if !r.opts.NoInput() || r.opts.PassphraseFile != "" {
		return false
	}
	if v, ok := r.opts.LookupEnv(secret.PassphraseEnv); ok && v != "" {
		return false
	}
	old := r.st.Accounts[r.name]
	if old == nil || old.Fingerprint != r.key.Key.Fingerprint || old.KeyPath != r.key.Path {
		return false
	}
	enc, err := keys.IsEncrypted(r.key.Path)
	return err == nil && enc
}

// agentStep reports the agent step: no agent is a warning, not a failure. out is the
// pipeline's outcome (nil in a dry run).
func (r *run) agentStep(out *provision.Outcome) {
	switch {
	case r.agentErr != nil:
		r.res.Agent.Warning = r.agentErr.Error()
		r.step("agent", statusWarning, "%v: the key works, but git will ask for its passphrase each time", r.agentErr)
		for _, h := range apierr.Hints(r.agentErr) {
			fmt.Fprintf(r.opts.IOStreams.ErrOut, "  %s\n", h)
		}
		return
	case r.agentHas:
		r.res.Agent.Available, r.res.Agent.Loaded = true, true
		r.step("agent", statusSkipped, "the key is already loaded")
		return
	}
	r.res.Agent.Available = true
	switch {
	case out == nil:
		r.step("agent", statusPlanned, "would load the key%s", lifetimeText(r.fl.lifetime))
	case r.locked:
		r.res.Agent.Warning = "the key is encrypted and no passphrase was given"
		r.step("agent", statusWarning, "not loaded: the key is encrypted and no passphrase was given (--passphrase-file or %s)", secret.PassphraseEnv)
	case out.AgentErr != nil:
		r.res.Agent.Warning = out.AgentErr.Error()
		r.step("agent", statusWarning, "could not load the key: %v", out.AgentErr)
	default:
		r.res.Agent.Loaded, r.res.Agent.Added = true, true
		r.res.Agent.LifetimeSeconds = int64(r.fl.lifetime / time.Second)
		r.step("agent", statusDone, "loaded the key%s", lifetimeText(r.fl.lifetime))
	}
}

func lifetimeText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return " for " + keylabel.FormatAge(d)
}
