package accesskey

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/accesskey"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
	"github.com/bbkey/bbkey/keys"
)

// HourlyBudget is what Bitbucket allows a user on /2.0/repositories/* per rolling hour.
const HourlyBudget = 1000

func runAdd(ctx context.Context, o *Options) error {
	ttl, err := o.ttl()
	if err != nil {
		return err
	}
	if o.Concurrency < 1 || o.Concurrency > maxConcurrency {
		return errkind.UsageError(fmt.Errorf("--concurrency %d is out of range 1-%d", o.Concurrency, maxConcurrency),
			fmt.Sprintf("give --concurrency from 1 to %d, or leave it out for %d calls at once", maxConcurrency, defaultConcurrency))
	}
	name, err := o.keyName()
	if err != nil {
		return err
	}
	paths, err := o.Paths()
	if err != nil {
		return err
	}
	settings, err := o.Settings()
	if err != nil {
		return err
	}
	// The run ends by rendering the ssh config and pins: a bad --ssh-host or
	// --ssh-host-keys must fail now, before any key is made or added.
	if _, err := hostkeys.Pinned(settings); err != nil {
		return err
	}
	// What only one Bitbucket has is refused before the credential is even looked for.
	if err := o.checkFlagsFor(settings.Server); err != nil {
		return err
	}
	relay := &waitRelay{io: o.IOStreams}
	b, _, err := o.Backend(ctx, bbapi.WithWaitHook(relay.wait))
	if err != nil {
		return err
	}
	spec, err := o.spec(b)
	if err != nil {
		return err
	}
	if _, err := spec.Named(b); err != nil {
		return errkind.UsageError(err)
	}
	sd := state.Dir{Path: paths.ConfigDir, Now: o.Now}
	if !o.DryRun {
		// The writers' lock comes before the state is read and is held until the last
		// write: a rotation of this key finishing in between would leave this run
		// spreading the rotated-out key with a state that no longer matches the file.
		lock, err := sd.LockCommand(ctx, "add-access-key", o.LookupEnv, o.IOStreams.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	st, err := sd.Load()
	if err != nil {
		return err
	}
	prev := st.AccessKeysOf(b.Server())[name]
	if err := nameOnOtherBitbucket(st, b, name); err != nil {
		return err
	}

	p, err := o.planKey(paths, name, prev, ttl)
	if err != nil {
		return err
	}
	defer func() {
		p.Wipe()
	}()
	if p.server = b.Server(); p.server != "" && (!o.DryRun || o.WriteSSHConfig) || o.Verify && !o.DryRun {
		// Where git over SSH goes, asked for before anything is made (on Data Center a
		// call, and a server whose SSH host key does not match its own settings stops
		// the run here): the server's entry records it, --verify proves through it.
		if p.ssh, err = b.SSH(ctx); err != nil {
			return err
		}
	}

	var ag agent.Agent
	if o.LoadAgent && !o.DryRun {
		if ag, err = o.Agent(); err != nil {
			return err
		}
		if c, ok := ag.(io.Closer); ok {
			defer c.Close()
		}
	}

	if c := backend.CloudClient(b); c != nil && c.Credential().Kind() == bbapi.KindAccessToken && (len(spec.Repos) > 0 || spec.Listing()) {
		return cmdutil.AccessTokenRepoKeysError("adding an access key to repositories")
	}
	before := b.Stats().Requests
	targets, err := accesskey.Expand(ctx, spec, b)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		if spec.DataCenter {
			return errkind.WithHint(fmt.Errorf("no repository of %s to add the key to", b.Describe()),
				"--all lists the repositories the token administers (REPO_ADMIN); check the token's permissions")
		}
		return errkind.WithHint(fmt.Errorf("no repository of %s to add the key to", spec.Workspace),
			"the listing shows repositories you administer (role=admin); check --query and the credential's account")
	}
	targets = accesskey.WithPermission(targets, b.Kind(), o.Write)
	listCalls := b.Stats().Requests - before
	results, pending := accesskey.Split(targets, prev, p.Fingerprint())
	pl := o.newPlan(b, p, len(targets), len(targets)-len(pending), len(pending), listCalls, b.Stats().Requests)
	o.printPlan(pl, spec)

	if o.DryRun {
		rep := &report{DryRun: true, backend: b, Plan: pl, kp: p, results: results, Calls: b.Stats().Requests}
		if rep.ChangedFiles, err = o.wouldChange(ctx, p, prev, len(pending), settings, paths, sd); err != nil {
			return err
		}
		return o.render(rep)
	}

	// A hand edit of bbkey's own ssh config would stop the run after the keys are added.
	if err := sshconfig.Check(paths.SSHDir); err != nil {
		return err
	}
	if o.Verify {
		// An endpoint whose host key is not pinned (on Data Center: not the one the
		// server's own settings vouch for) fails the proof for sure: say so before any
		// key is made or added anywhere.
		if err := o.checkHostKey(ctx, p.ssh, paths.SSHDir); err != nil {
			return err
		}
	}
	testhook.Pause(ctx, o.LookupEnv, "add-access-key:planned")
	rep := &report{backend: b, Plan: pl, kp: p, SSH: &sshOutput{}}
	var stateChanged bool
	prog := bulk.NewProgress(o.IOStreams, len(pending), o.Now, nil)
	defer prog.Close()
	places := make([]provision.Place, len(pending))
	for i, t := range pending {
		places[i] = provision.Place{Place: provision.PlaceOf(t)}
	}
	pipe := &provision.Pipeline{
		B:      b,
		Places: places, Label: p.label, Write: o.Write, Concurrency: o.Concurrency,
		// A key this run made cannot be anywhere yet; any other may be (added by hand,
		// by another machine, or by a run killed before it recorded).
		MayExist: true,
		// Each target is reported; one the key reached stays there (and recorded) when
		// another fails or the proof does: a re-run finishes the rest.
		Partial: true, KeepUnproven: true,
		Finished: func(r provision.Placed, done, failed int) {
			prog.Finished(accesskey.Line(resultOf(b, o.Write, r)), done, failed)
		},
		Agent: ag, Now: o.Now,
		State: sd, RecordEach: true,
		Record: func(st *state.State, _ *keys.Key, stage provision.Stage, placed []provision.Placed) error {
			switch stage {
			case provision.StageKey:
				changed := recordKey(st, p)
				stateChanged = stateChanged || changed
				if !changed {
					return provision.ErrUnchanged
				}
			case provision.StagePlaced:
				recordTargets(st, p, b, o.Write, placed)
			default:
				return provision.ErrUnchanged // each target was recorded as it finished
			}
			return nil
		},
		Config: func(ctx context.Context) error { return o.sshSetup(ctx, rep, settings, paths, sd) },
	}
	host, _ := o.Hostname() // keys.Comment says "unknown" for a host without a name
	pipe.Key = p.Source(keys.Comment(name, host, o.Now()), o.NoPassphrase)
	anyDone := false
	pipe.OnStep = func(step provision.Step, out *provision.Outcome) error {
		switch step {
		case provision.StepKey:
			if out.KeyCreated {
				p.Key, p.HasPrivate = out.Key, true
				rep.Key.Created = true
				rep.ChangedFiles = append(rep.ChangedFiles, out.Key.Path, out.Key.PublicPath())
				o.IOStreams.Step(iostreams.MarkOK, "made access key %s (%s)", out.Key.Path, out.Key.Fingerprint)
			}
		case provision.StepAgent:
			if out.AgentLoaded {
				rep.Key.Agent = true
				o.IOStreams.Step(iostreams.MarkOK, "loaded the key into the ssh-agent")
			}
		case provision.StepUpload:
			prog.Close()
			relay.set(nil)
			testhook.Pause(ctx, o.LookupEnv, "add-access-key:added")
			placed := out.Placed
			for i, r := range results {
				if r.Status == accesskey.Pending {
					results[i], placed = resultOf(b, o.Write, placed[0]), placed[1:]
				}
			}
			rep.results, rep.stop = results, out.Stop
			for _, r := range rep.results {
				if r.Status.Done() && !r.Recorded {
					stateChanged = true
				}
				anyDone = anyDone || r.Status.Done()
			}
			if stateChanged {
				rep.ChangedFiles = append(rep.ChangedFiles, filepath.Join(paths.ConfigDir, state.StateFile))
			}
		}
		return nil
	}
	relay.set(prog.Wait)
	_, err = pipe.Run(ctx)
	clear(p.Passphrase)
	if err != nil {
		if !rep.Key.Created && p.New {
			return cmdutil.KeyExistsHint(err)
		}
		return err
	}
	var verr error
	if o.Verify {
		// Last: with --write-ssh-config the proof goes through the config just written.
		verr = o.verify(ctx, rep, p.ssh, paths)
	}
	// A scheduled `rotate --access-keys` must reach the same API and endpoint; only
	// settings that worked are recorded, so not after a failed proof.
	if (anyDone || o.WriteSSHConfig) && verr == nil {
		if f, err := o.PersistSettings(settings); err != nil {
			o.IOStreams.Warnf("saving the settings for later runs: %v", err)
		} else if f != "" {
			rep.ChangedFiles = append(rep.ChangedFiles, f)
		}
	}
	rep.Calls = b.Stats().Requests
	o.printSummary(rep)
	if err := o.render(rep); err != nil {
		return err
	}
	return rep.err(verr)
}

// waitRelay sends the API client's waits to the progress display while there is one,
// and prints them as status lines otherwise (while listing).
type waitRelay struct {
	io *iostreams.IOStreams
	mu sync.Mutex
	fn func(bbapi.Wait)
}

func (r *waitRelay) set(fn func(bbapi.Wait)) {
	r.mu.Lock()
	r.fn = fn
	r.mu.Unlock()
}

func (r *waitRelay) wait(w bbapi.Wait) {
	r.mu.Lock()
	fn := r.fn
	r.mu.Unlock()
	if fn != nil {
		fn(w)
		return
	}
	r.io.Step(iostreams.MarkWarn, "waiting %s before retrying %s (%s)", w.Delay.Round(100*time.Millisecond), w.Method, w.Reason)
}

// nameOnOtherBitbucket refuses a key name this machine already uses for an access key on
// another Bitbucket (Cloud or another server): the name names the key file, and two
// entries sharing a file would each rotate it under the other.
func nameOnOtherBitbucket(st *state.State, b backend.Backend, name string) error {
	for _, server := range st.Bitbuckets() {
		if server == b.Server() || st.AccessKeysOf(server)[name] == nil {
			continue
		}
		where, suffix := "Bitbucket Cloud", "-dc"
		if server != "" {
			where = "Bitbucket Data Center at " + server
		}
		if b.Server() == "" {
			suffix = "-cloud"
		}
		return errkind.UsageError(
			fmt.Errorf("access key name %q is already this machine's access key on %s: a name belongs to one Bitbucket (it names the key file ~/.ssh/bbkey_access_%s_ed25519, which rotate replaces there)", name, where, name),
			"give the access key on "+b.Describe()+" a name of its own, e.g. --name "+name+suffix)
	}
	return nil
}
