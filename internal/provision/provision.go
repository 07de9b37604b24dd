// Package provision is bbkey's one provisioning pipeline, the steps setup, add-access-key
// and rotate take to put a key to work: key (made, or the one found) → agent → upload to
// every place at once (the account, repositories, projects; Cloud or Data Center through
// backend.Backend) → prove → record in the state → ssh config from the state.
//
// A failure before the key is proven and recorded runs the undos of the steps done,
// newest first: the agent forgets the key, and each key this run added is deleted again
// by its id (unless KeepUnproven: add-access-key, whose recorded targets a re-run
// finishes). A half-written key file never stays (keys.Generate removes it), and a whole
// one does: a re-run reuses it.
package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// KeySource is the key a run puts to work: Key when it exists, else a new one made with
// New (whose passphrase is cleared once used).
type KeySource struct {
	Key *keys.Key
	New keys.GenerateOptions
	// Prepared returns the new key already prepared with pass (setup runs the KDF during
	// its credential check), or nil to make it here.
	Prepared func(pass []byte) *keys.Prepared
}

// Place is where the key goes: the account (Account set) or a repository or project.
// Write asks for a Data Center access key that may push there.
type Place struct {
	Account *backend.Account
	backend.Place
	Write bool
}

// String names the place.
func (p Place) String() string {
	if p.Account != nil {
		return "the account of " + p.Account.Nickname
	}
	return p.Place.String()
}

// Find is the place's key with this fingerprint, or nil and no error.
func (p Place) Find(ctx context.Context, b backend.Backend, fingerprint string) (*backend.Key, error) {
	if p.Account != nil {
		return b.FindAccountKey(ctx, p.Account, fingerprint)
	}
	return b.FindAccessKey(ctx, p.Place, fingerprint)
}

// Delete deletes one key of the place, k as b returned it (by its id).
func (p Place) Delete(ctx context.Context, b backend.Backend, k backend.Key) error {
	if p.Account != nil {
		return b.DeleteAccountKey(ctx, p.Account, k)
	}
	return b.DeleteAccessKey(ctx, p.Place, k)
}

// Status is how the upload to one place ended.
type Status string

// Statuses of a place.
const (
	Added   Status = "added"   // this run added the key
	Present Status = "present" // the key was there already
	Failed  Status = "failed"  // Bitbucket refused, or the call gave up (Err says why)
	Skipped Status = "skipped" // not attempted: the run stopped first
)

// Done reports whether the key is on the place.
func (s Status) Done() bool { return s == Added || s == Present }

// Placed is the outcome of one place; Key is the key as the place holds it (its id is
// what deletes it).
type Placed struct {
	Place  Place
	Status Status
	Key    *backend.Key
	Err    error
	At     time.Time
}

// Pipeline is one run. B, Key and Places are required; a step whose fields are unset is
// skipped.
type Pipeline struct {
	B   backend.Backend
	Key KeySource

	// Agent gets the key for AgentLifetime (0: until unloaded). AgentOptional makes a
	// refusal Outcome.AgentErr, not a failure (setup).
	Agent         agent.Agent
	AgentLifetime time.Duration
	AgentOptional bool

	// Places get the key, as Label, expiring at Expires. MayExist makes the upload look
	// for a key it did not make before posting it where a post of a key already there is
	// not harmless (an account key; a Data Center access key, whose permission a post
	// changes).
	Places      []Place
	Label       string
	Expires     time.Time
	Write       bool
	MayExist    bool
	Concurrency int
	// Partial lets places fail without failing the run (add-access-key reports each
	// target); otherwise the first failure stops it. Finished sees each place as it
	// ends, one at a time.
	Partial  bool
	Finished func(p Placed, done, failed int)

	// Proof proves the key works on the places that have it. KeepUnproven keeps the
	// uploaded key and the agent's copy when a later step fails.
	Proof        func(ctx context.Context, k *keys.Key, placed []Placed) error
	KeepUnproven bool

	// State, when Record is set, is where Record writes, at each Stage; with RecordEach
	// also once the key is made or read (StageKey: its name is claimed before it goes
	// anywhere) and after each batch of finished places (StagePlaced: a killed run loses
	// at most the calls in flight). st is written under the writers' lock the command
	// holds; ErrUnchanged leaves the file as it is.
	State      state.Dir
	Record     func(st *state.State, k *keys.Key, stage Stage, placed []Placed) error
	RecordEach bool

	// Config writes bbkey's ssh config and known_hosts from the state.
	Config func(ctx context.Context) error

	// OnStep is told of each step once it is over, a skipped one too (the command
	// prints its line, rotate writes its journal). An error fails the run there.
	OnStep func(step Step, out *Outcome) error

	Now func() time.Time // nil: time.Now

	undo []func()
}

// Outcome is what a run did, also when it failed: AgentErr is why the agent refused
// the key (AgentOptional), Placed follows the order of the places, Stop is why the
// upload stopped starting places before the end, and TakenBack are the places the key
// was deleted from again after a failure.
type Outcome struct {
	Key         *keys.Key
	KeyCreated  bool
	AgentLoaded bool
	AgentErr    error
	Placed      []Placed
	Stop        error
	TakenBack   []Placed
	TakeBackErr error
}

// Done is the places that have the key.
func (o *Outcome) Done() []Placed {
	var out []Placed
	for _, p := range o.Placed {
		if p.Status.Done() {
			out = append(out, p)
		}
	}
	return out
}

// Run runs the steps; on an error the undos have run, and the Outcome says what stays.
func (p *Pipeline) Run(ctx context.Context) (out *Outcome, err error) {
	out = &Outcome{}
	if p.Now == nil {
		p.Now = time.Now
	}
	defer func() {
		if err != nil {
			for _, u := range slices.Backward(p.undo) {
				u()
			}
		}
		p.undo = nil
	}()
	type step struct {
		step Step
		skip bool
		run  func() error
	}
	steps := []step{
		{StepKey, false, func() error { return p.key(out) }},
		{StepClaim, p.Record == nil || !p.RecordEach, func() error { return p.record(ctx, out, StageKey, nil) }},
		{StepAgent, p.Agent == nil, func() error { return p.agent(out) }},
		{StepUpload, false, func() error { return p.upload(ctx, out) }},
		{StepProof, p.Proof == nil, func() error { return p.Proof(ctx, out.Key, out.Done()) }},
		{StepState, p.Record == nil, func() error { return p.record(ctx, out, StageProven, out.Done()) }},
		{StepConfig, p.Config == nil, func() error { return p.Config(ctx) }},
	}
	for _, s := range steps {
		if !s.skip {
			if err := s.run(); err != nil {
				if s.step == StepClaim || s.step == StepState {
					err = fmt.Errorf("recording the key in bbkey's state: %w", err)
				}
				return out, err
			}
		}
		if p.OnStep != nil {
			if err := p.OnStep(s.step, out); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// Step names a step of the pipeline.
type Step string

// The steps, in order; StepClaim records the key before it goes anywhere.
const (
	StepKey    Step = "key"
	StepClaim  Step = "claim"
	StepAgent  Step = "agent"
	StepUpload Step = "upload"
	StepProof  Step = "proof"
	StepState  Step = "state"
	StepConfig Step = "config"
)

// Stage is when Record is called.
type Stage int

// Stages of a run.
const (
	StageKey Stage = iota
	StagePlaced
	StageProven
)

// ErrUnchanged, from Record, leaves the state file as it is.
var ErrUnchanged = errors.New("state unchanged")

func (p *Pipeline) key(out *Outcome) error {
	if p.Key.Key != nil {
		out.Key = p.Key.Key
		return nil
	}
	opts := p.Key.New
	defer clear(opts.Passphrase)
	gen := keys.Generate
	if p.Key.Prepared != nil {
		if pre := p.Key.Prepared(opts.Passphrase); pre != nil {
			gen = pre.Write // the KDF ran earlier
		}
	}
	k, err := gen(opts)
	if err != nil {
		return fmt.Errorf("generating the key: %w", err)
	}
	out.Key, out.KeyCreated = k, true
	return nil
}

func (p *Pipeline) agent(out *Outcome) error {
	k := out.Key
	if !k.HasPrivate() {
		return fmt.Errorf("loading the key into the ssh-agent: the private half of %s is not unlocked", k.Fingerprint)
	}
	comment := k.Comment
	if comment == "" {
		comment = k.Path
	}
	if err := p.Agent.Add(k.Private, comment, p.AgentLifetime, false); err != nil {
		if p.AgentOptional {
			out.AgentErr = err
			return nil
		}
		return fmt.Errorf("loading the key into the ssh-agent: %w", err)
	}
	out.AgentLoaded = true
	if !p.KeepUnproven {
		p.undo = append(p.undo, func() { _ = p.Agent.Remove(k.Fingerprint) })
	}
	return nil
}

// upload puts the key on every place, Concurrency calls at a time, and records each
// batch of finished places. The undo deletes what this run added.
func (p *Pipeline) upload(ctx context.Context, out *Outcome) error {
	k := out.Key
	out.Placed = make([]Placed, len(p.Places))
	for i, pl := range p.Places {
		out.Placed[i] = Placed{Place: pl, Status: Skipped}
	}
	var (
		mu           sync.Mutex
		st           bulk.Stopper
		done, failed int
	)
	rec := bulk.NewRecorder(ctx, func(ctx context.Context, batch []Placed) error {
		if !p.RecordEach {
			return nil
		}
		return p.record(ctx, out, StagePlaced, batch)
	}, st.Stop)
	mayExist := p.MayExist && !out.KeyCreated
	bulk.Each(ctx, len(p.Places), p.Concurrency, &st, func(i int) {
		pl := p.Places[i]
		bk, err := p.put(ctx, pl, k, mayExist)
		r := Placed{Place: pl, Key: bk, At: p.Now()}
		switch {
		case err != nil && ctx.Err() != nil:
			// Interrupted: the call may or may not have landed; a re-run finds out.
			r.Status = Skipped
			st.Stop(context.Cause(ctx))
		case err != nil:
			r.Status, r.Err = Failed, err
			if !p.Partial || bulk.Fatal(err) {
				st.Stop(err)
			}
		case bk == nil:
			r.Status, r.Err = Failed, fmt.Errorf("%s: Bitbucket answered without the key", pl)
		case bk.Existed:
			r.Status = Present
		default:
			r.Status = Added
		}
		if r.Status.Done() {
			rec.Add(r)
		}
		mu.Lock()
		defer mu.Unlock()
		out.Placed[i] = r
		if r.Status.Done() {
			done++
		} else if r.Status == Failed {
			failed++
		}
		if p.Finished != nil {
			p.Finished(r, done, failed)
		}
	})
	rec.Close()
	out.Stop = st.Err()
	if !p.KeepUnproven {
		p.undo = append(p.undo, func() { p.takeBack(ctx, out) })
	}
	if p.Partial {
		return nil // the command reports each place
	}
	for _, r := range out.Placed {
		if r.Status == Failed {
			return fmt.Errorf("adding the key to %s: %w", r.Place, r.Err)
		}
	}
	return out.Stop
}

// put adds the key to one place. Where a post is not harmless for a key already there
// and mayExist, the place is looked at first; otherwise a duplicate answer is taken as
// the key being there (OrGet).
func (p *Pipeline) put(ctx context.Context, pl Place, k *keys.Key, mayExist bool) (*backend.Key, error) {
	write := p.Write || pl.Write
	nk := backend.NewKey{Text: k.AuthorizedKey(), Label: p.Label, Expires: p.Expires, Write: write, OrGet: true}
	if mayExist && (pl.Account != nil || p.B.Kind() == backend.DataCenter) {
		found, err := pl.Find(ctx, p.B, k.Fingerprint)
		switch {
		case err != nil:
			return nil, err
		case found == nil:
		case pl.Account != nil || found.Write == write:
			found.Existed = true
			return found, nil
		case found.Write:
			return nil, &PermissionMismatchError{Place: pl.Place, Has: found.Permission, Want: string(Permission(pl.Kind, write))}
		}
		// Read where write is asked for: the post raises it.
	}
	if pl.Account != nil {
		// A key made a moment ago cannot be on any account: an "already added" answer
		// is an earlier attempt of this very call, which OrGet finds; for a key that may
		// be on another account it is the duplicate error.
		nk.OrGet = !mayExist
		return p.B.AddAccountKey(ctx, pl.Account, nk)
	}
	return p.B.AddAccessKey(ctx, pl.Place, nk)
}

// Permission is the Data Center permission an access key gets on a place of kind k:
// read unless write.
func Permission(k backend.PlaceKind, write bool) dc.Permission {
	switch {
	case k == backend.Project && write:
		return dc.ProjectWrite
	case k == backend.Project:
		return dc.ProjectRead
	case write:
		return dc.RepoWrite
	}
	return dc.RepoRead
}

// PermissionMismatchError is a place that already has the key with write permission
// where a read-only run asked for read: bbkey never lowers a permission (a build that
// pushes would break), nor reports a key that may write as read-only.
type PermissionMismatchError struct {
	Place     backend.Place
	Has, Want string
}

func (e *PermissionMismatchError) Error() string {
	return fmt.Sprintf("%s already has the key with %s, not %s as asked: bbkey does not lower a key's permission; remove the access key there first, or add --write", e.Place, e.Has, e.Want)
}

// takeBack deletes the keys this run added, by their ids, even when the run was
// interrupted (each delete bounded by its own timeout).
func (p *Pipeline) takeBack(ctx context.Context, out *Outcome) {
	ctx = bbapi.Cleanup(context.WithoutCancel(ctx))
	var errs []error
	for _, r := range out.Placed {
		if r.Status != Added || r.Key == nil {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.Place.Delete(dctx, p.B, *r.Key)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Place, err))
			continue
		}
		out.TakenBack = append(out.TakenBack, r)
	}
	out.TakeBackErr = errors.Join(errs...)
}

func (p *Pipeline) record(ctx context.Context, out *Outcome, stage Stage, placed []Placed) error {
	if p.Record == nil {
		return nil
	}
	err := p.State.Update(ctx, func(st *state.State) error {
		return p.Record(st, out.Key, stage, placed)
	})
	if errors.Is(err, ErrUnchanged) {
		return nil
	}
	return err
}
