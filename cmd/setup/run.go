package setup

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
)

// run is one setup in progress: what each step found, for the next steps and the result.
type run struct {
	opts     *Options
	fl       flags
	settings settings.Settings
	paths    settings.Paths
	now      time.Time
	res      *Result

	stateDir state.Dir
	st       *state.State

	b       backend.Backend
	acct    *backend.Account
	ssh     *backend.SSH    // where git over SSH goes and the pins, known before the upload
	server  string          // the Data Center server's URL; "" for Cloud
	pending *bbapi.APIToken // typed at the prompt, stored once every question is answered

	name  string
	key   *provision.Local // the key, once chosen (its private half when it was needed)
	early chan earlyKey    // the new key's KDF, started before the credential check
	// locked is set when the key stays encrypted: a proven key re-run unattended with no
	// passphrase, so it is neither loaded nor proven again.
	locked bool

	ag       agent.Agent
	agentErr error
	agentHas bool

	remoteKey *backend.Key
	out       *provision.Outcome // the pipeline's: what a failure took back

	// undo holds what to take back if the run fails before the key is proven and
	// recorded, newest last (the pinned host keys; the pipeline takes back its own).
	undo []func()
	// current names the step in progress, for the ✗ line of a failure.
	current string
}

func runSetup(ctx context.Context, opts *Options) (err error) {
	r := &run{opts: opts, now: opts.Now(), res: newResult(opts.DryRun)}
	defer func() {
		r.key.Wipe()
		if r.pending != nil {
			r.pending.Token = ""
		}
		r.takeEarly(nil).Wipe()
		if err != nil {
			if r.current != "" {
				opts.IOStreams.Step(iostreams.MarkFail, "%s failed", r.current)
			}
			for _, u := range slices.Backward(r.undo) {
				u()
			}
			switch {
			case r.out != nil && r.out.TakeBackErr != nil:
				err = errkind.WithHint(err, fmt.Sprintf("the key was added to Bitbucket but could not be removed again (%v): remove %s with 'bbkey remove'", r.out.TakeBackErr, r.remoteKey.ID))
			case r.out != nil && len(r.out.TakenBack) > 0:
				err = errkind.WithHint(err, "the key was removed from Bitbucket again; its files stay in "+r.paths.SSHDir+" and a re-run reuses them")
			}
		}
	}()
	if r.fl, err = parseFlags(opts); err != nil {
		return err
	}
	if r.settings, err = opts.Settings(); err != nil {
		return err
	}
	// The pins are needed only after the upload, but a bad --ssh-host or an unreadable
	// --ssh-host-keys is a usage error to report before anything is asked or written.
	if _, err = hostkeys.Pinned(r.settings); err != nil {
		return err
	}
	if r.paths, err = opts.Paths(); err != nil {
		return fmt.Errorf("finding the ssh and config directories: %w", err)
	}
	r.stateDir = state.Dir{Path: r.paths.ConfigDir, Now: opts.Now}
	if !opts.DryRun {
		// The writers' lock comes before the state is read and is held until the last
		// write, so a rotation cannot revoke the key this run is about to upload again.
		lock, err := r.stateDir.LockCommand(ctx, "setup", opts.LookupEnv, opts.IOStreams.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	if r.st, err = r.stateDir.Load(); err != nil {
		return fmt.Errorf("reading bbkey's state: %w", err)
	}
	if r.paths.HomeMismatch != "" {
		opts.IOStreams.Warnf("ssh reads %s, in the home of your account, not HOME=%s: the key and the ssh config go there (BBKEY_SSH_DIR picks another directory)",
			r.paths.SSHDir, r.paths.Home)
	}

	r.startKey()
	// Questions first: everything that may prompt (or fail for want of an answer) comes
	// before the first write.
	for _, step := range []func(context.Context) error{
		r.credentials,
		r.sshSide,
		r.chooseName,
		r.prepareKey,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if !opts.DryRun {
		// What would stop the run after the upload is checked before it.
		if err := sshconfig.Check(r.paths.SSHDir); err != nil {
			return err
		}
	}
	testhook.Pause(ctx, opts.LookupEnv, "setup:prepared")
	r.storeCredential(ctx)

	if opts.DryRun {
		r.keyDone(nil)
		r.agentStep(nil)
		for _, step := range []func(context.Context) error{
			r.upload,
			r.pinHostKeys,
			r.prove,
			r.writeConfig,
		} {
			if err := step(ctx); err != nil {
				return err
			}
		}
	} else {
		r.current = "key"
		if err := r.provision(ctx); err != nil {
			return err
		}
	}
	// The key is proven and recorded: from here on a failure keeps it.
	r.undo = nil
	r.gitSSH(ctx)
	if err := r.switchRemotes(ctx); err != nil {
		return err
	}
	r.current = ""
	return r.print()
}

// step records and prints one step line.
func (r *run) step(name, status, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	r.res.Steps = append(r.res.Steps, Step{Step: name, Status: status, Detail: detail})
	mark := iostreams.MarkOK
	switch status {
	case statusWarning:
		mark = iostreams.MarkWarn
	case statusPlanned:
		mark = "-"
	}
	r.opts.IOStreams.Step(mark, "%s: %s", name, detail)
}

// Step statuses.
const (
	statusDone    = "done"
	statusSkipped = "skipped" // already done
	statusWarning = "warning"
	statusPlanned = "planned" // --dry-run
)
