package rotate

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	engine "github.com/bbkey/bbkey/internal/rotate"
	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/state"
)

// defaultScheduledAge is --if-older-than for a run the timer started without one.
const defaultScheduledAge = 90 * 24 * time.Hour

func (o *Options) kind() state.RotationKind {
	if o.AccessKeys {
		return state.RotateAccessKeys
	}
	return state.RotateAccount
}

func runRotation(ctx context.Context, opts *Options, fl flags) (err error) {
	job, _ := opts.LookupEnv(schedule.ScheduledEnv) // the timer's job id; "" by hand
	var dir *state.Dir
	if job != "" {
		// The log's started and finished lines frame the run, so --status and doctor can
		// read its outcome from the log even when the state cannot be written.
		started := opts.Now()
		opts.IOStreams.Step(iostreams.MarkOK, "%s", schedule.StartedLine(job, started))
		defer func() {
			r := recover()
			runErr := err
			if r != nil {
				// A bug must still leave its outcome; cmd's last resort reports it.
				runErr = fmt.Errorf("internal error: %v", r)
			}
			run := scheduledOutcome(started, runErr)
			if dir != nil {
				recordScheduledRun(ctx, opts, *dir, run)
			}
			mark := iostreams.MarkOK
			if run.ExitCode != 0 {
				mark = iostreams.MarkFail
			}
			opts.IOStreams.Step(mark, "%s", schedule.FinishedLine(job, string(run.Result), run.ExitCode))
			if r != nil {
				panic(r)
			}
		}()
	}
	paths, err := opts.Paths()
	if err != nil {
		return err
	}
	dir = &state.Dir{Path: paths.ConfigDir, Now: opts.Now}

	age := fl.ifOlderThan
	if !fl.ageGiven && job != "" {
		age = defaultScheduledAge
	}
	settings, err := opts.Settings()
	if err != nil {
		return err
	}
	// The pinned host keys must be readable before a successor is made and uploaded: the
	// proof needs them, and failing there would cost an upload and a delete for nothing.
	if _, err := hostkeys.Pinned(settings); err != nil {
		return err
	}
	// Each key's Bitbucket is reached with its own credential, asked for only when a key
	// there is looked at: a machine whose keys are all on a Data Center server needs no
	// Cloud credential, and the reverse.
	backends := func(ctx context.Context, server string) (backend.Backend, error) {
		if server != "" {
			b, _, err := opts.BackendFor(ctx, server)
			return b, err
		}
		api, _, err := opts.APIClient(ctx)
		if err != nil {
			return nil, err
		}
		if err := refuseAccessTokenOnRepoKeys(opts, *dir, api); err != nil {
			return nil, err
		}
		return backend.NewCloud(api, settings), nil
	}
	host, _ := opts.Hostname() // keys.Comment says "unknown" for a host without a name
	pp := &passphrases{opts: opts, store: sync.OnceValues(func() (credstore.Store, error) { return opts.CredStore(ctx, false) })}
	defer pp.wipe()
	e := &engine.Engine{
		Backend:         backends,
		Agent:           opts.Agent,
		State:           *dir,
		SSHDir:          paths.SSHDir,
		Settings:        settings,
		Hostname:        host,
		Now:             opts.Now,
		IO:              opts.IOStreams,
		Passphrase:      pp.get,
		CheckPassphrase: pp.check,
		LookupEnv:       opts.LookupEnv,
		Scheduled:       job != "",
		KeepRetired:     fl.keepRetired,
	}
	if opts.Debug {
		e.Trace = opts.IOStreams.ErrOut
	}
	rep, err := e.Run(ctx, engine.Request{Kind: opts.kind(), Name: opts.Name, IfOlderThan: age, DryRun: opts.DryRun})
	// The report lists what was done, also when the run failed.
	if perr := printReport(opts, rep, age); perr != nil && err == nil {
		err = perr
	}
	return err
}

// refuseAccessTokenOnRepoKeys stops, before anything is generated, an access-key rotation
// with an access token when a key it would rotate is on a repository: Bitbucket refuses
// access tokens there, so the new key could not be added nor the old one revoked.
func refuseAccessTokenOnRepoKeys(opts *Options, dir state.Dir, api *bbapi.Client) error {
	if !opts.AccessKeys || api.Credential().Kind() != bbapi.KindAccessToken {
		return nil
	}
	st, err := dir.Load()
	if err != nil {
		return err
	}
	for name, k := range st.AccessKeys {
		if opts.Name != "" && name != opts.Name {
			continue
		}
		for _, t := range k.Targets {
			if t.Kind == state.TargetRepo {
				return cmdutil.AccessTokenRepoKeysError(fmt.Sprintf("rotating the access key %q (on %s)", name, t.Ref()))
			}
		}
	}
	return nil
}

// scheduledOutcome is a timer's run as --status shows it.
func scheduledOutcome(started time.Time, runErr error) *state.ScheduledRun {
	run := &state.ScheduledRun{Time: started, Result: state.ResultOK, ExitCode: apierr.ExitCode(runErr)}
	if runErr != nil {
		run.Error = runErr.Error()
		run.Result = state.ResultFailed
		if run.ExitCode == errkind.ExitPartial {
			run.Result = state.ResultPartial
		}
	}
	return run
}

// recordScheduledRun keeps the outcome of a timer's run for --status (a run that rotated
// nothing, with no history entry since it started, becomes "skipped").
func recordScheduledRun(ctx context.Context, opts *Options, dir state.Dir, run *state.ScheduledRun) {
	err := dir.Update(ctx, func(st *state.State) error {
		if run.Error == "" && !slices.ContainsFunc(st.Rotations, func(r state.Rotation) bool { return !r.Time.Before(run.Time) }) {
			run.Result = state.ResultSkipped
		}
		st.LastScheduledRun = run
		return nil
	})
	if err != nil {
		opts.IOStreams.Warnf("the outcome of this scheduled run was not recorded: %v", err)
	}
}

// passphrases answers the engine's questions for new keys: --no-passphrase, the file or
// BBKEY_PASSPHRASE, the keychain entry of the key's name, else the terminal (asked once
// per run, whatever the number of keys).
type passphrases struct {
	opts   *Options
	typed  []byte
	store  func() (credstore.Store, error)
	warned bool
}

func (p *passphrases) get(ctx context.Context, name string) ([]byte, error) {
	if p.opts.NoPassphrase {
		if !p.warned {
			p.warned = true
			p.opts.IOStreams.Warnf("%s", secret.NoPassphraseWarning)
		}
		return nil, nil
	}
	if p.given() {
		return p.source().NewPassphrase()
	}
	if pass := p.keychain(ctx, name); pass != nil {
		return pass, nil
	}
	if p.typed != nil {
		return bytes.Clone(p.typed), nil
	}
	pass, err := p.source().NewPassphrase()
	if err != nil {
		return nil, errkind.WithHint(err, "for runs without a terminal, `bbkey rotate --schedule …` can keep the passphrase in the keychain")
	}
	p.typed = bytes.Clone(pass)
	return pass, nil
}

// check refuses, for a dry run, the --passphrase-file or BBKEY_PASSPHRASE that get would
// refuse; the keychain and the terminal are left to the run.
func (p *passphrases) check() error {
	if p.opts.NoPassphrase || !p.given() {
		return nil
	}
	return p.source().CheckNew()
}

// given reports whether --passphrase-file or BBKEY_PASSPHRASE gives the passphrase.
func (p *passphrases) given() bool {
	_, inEnv := p.opts.LookupEnv(secret.PassphraseEnv)
	return p.opts.PassphraseFile != "" || inEnv
}

func (p *passphrases) source() secret.Source {
	return secret.Input(p.opts.PassphraseFile, p.opts.LookupEnv, p.opts.NoInput, p.opts.Prompter)
}

// keychain returns the passphrase stored for name, or nil.
func (p *passphrases) keychain(ctx context.Context, name string) []byte {
	store, err := p.store()
	if err != nil {
		return nil
	}
	sec, err := store.Get(ctx, credstore.PassphraseAccount(name))
	if err != nil {
		if !errors.Is(err, credstore.ErrNotFound) {
			p.opts.IOStreams.Warnf("reading the passphrase of %q from the %s: %v", name, store.Kind(), err)
		}
		return nil
	}
	if len(sec.Secret) == 0 {
		return nil
	}
	return sec.Secret
}

func (p *passphrases) wipe() { clear(p.typed) }

// The --json document of a rotation run (docs/rotate.md).
type jsonReport struct {
	*engine.Report
	IfOlderThan string `json:"if_older_than"`
}

func printReport(opts *Options, rep *engine.Report, age time.Duration) error {
	if opts.JSON {
		doc := jsonReport{Report: rep}
		if age > 0 {
			doc.IfOlderThan = keylabel.FormatDuration(age)
		}
		return iostreams.WriteJSON(opts.IOStreams.Out, doc)
	}
	if len(rep.Rotations) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(opts.IOStreams.Out, 0, 4, 2, ' ', 0)
	// A SERVER column when a key is on a Data Center server ("cloud" for the others).
	dcKeys := slices.ContainsFunc(rep.Rotations, func(o *engine.Outcome) bool { return o.Server != "" })
	row := func(kind, name, server, result, oldKey, newKey string) {
		cols := []string{kind, name, server, result, oldKey, newKey}
		if !dcKeys {
			cols = slices.Delete(cols, 2, 3)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	row("KIND", "NAME", "SERVER", "RESULT", "OLD KEY", "NEW KEY")
	for _, o := range rep.Rotations {
		row(string(o.Kind), o.Name, cmp.Or(o.Server, "cloud"), o.Result, cmp.Or(o.OldFingerprint, "-"), cmp.Or(o.NewFingerprint, "-"))
	}
	return tw.Flush()
}
