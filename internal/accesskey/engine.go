package accesskey

import (
	"context"
	"sync"
	"time"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/state"
)

// Status is how a target ended.
type Status string

// Statuses of a target.
const (
	// StatusAdded: the key was added by this run.
	StatusAdded Status = "added"
	// StatusPresent: the key was already there (Bitbucket said so, or an earlier run
	// recorded it; Recorded tells which).
	StatusPresent Status = "present"
	// StatusFailed: Bitbucket refused or the call gave up; Err says why.
	StatusFailed Status = "failed"
	// StatusSkipped: not attempted, because the run stopped first (wait budget spent,
	// credential refused, interrupted).
	StatusSkipped Status = "skipped"
)

// Done reports whether the key is on the target.
func (s Status) Done() bool { return s == StatusAdded || s == StatusPresent }

// Result is the outcome for one target.
type Result struct {
	Target state.Target
	Status Status
	// KeyID is the id Bitbucket gave the key on the target.
	KeyID string
	// Err is why the target failed.
	Err error
	// Recorded is set when an earlier run recorded the target as done: no call was made.
	Recorded bool
	// Added is when the target was done.
	Added time.Time
}

// Adder adds the key to one target. present reports a key that was already there.
type Adder interface {
	Add(ctx context.Context, t state.Target) (keyID string, present bool, err error)
}

// Places adds a key as an access key through a Bitbucket's backend: one POST per target
// (OrGet: a key already there is found and counts as present; on Cloud that costs one
// listing of the target's keys after the duplicate answer).
//
// On Data Center a POST of a key the target already has changes its permission there, so
// where the key may already be there (MayExist: this run did not make it) the target's
// keys are looked at first and the key is posted only when it is missing or is to gain
// write; a key that may write where read-only was asked is left alone and reported
// (*PermissionMismatchError). Cloud, whose duplicate answer changes nothing, is not
// looked at: its call budget stays one call per target.
type Places struct {
	B backend.Backend
	// Key is the public key as an authorized_keys line.
	Key         string
	Label       string
	Fingerprint string
	// Write asks for write permission (Data Center only).
	Write    bool
	MayExist bool
}

// Add implements Adder.
func (a Places) Add(ctx context.Context, t state.Target) (string, bool, error) {
	p := PlaceOf(t)
	if a.MayExist && a.B.Kind() == backend.DataCenter {
		k, err := a.B.FindAccessKey(ctx, p, a.Fingerprint)
		if err != nil {
			return "", false, err
		}
		switch {
		case k == nil:
		case k.Write == a.Write:
			return k.ID, true, nil
		case k.Write:
			return k.ID, false, &PermissionMismatchError{Target: t, Has: k.Permission, Want: string(Permission(t, a.Write))}
		}
		// Missing, or read where write is asked for: the POST adds it or raises it.
	}
	k, err := a.B.AddAccessKey(ctx, p, backend.NewKey{Text: a.Key, Label: a.Label, Write: a.Write, OrGet: true})
	if err != nil {
		return "", false, err
	}
	return k.ID, k.Existed, nil
}

// Engine adds a key to many targets, a few at a time.
type Engine struct {
	Adder Adder
	// Concurrency bounds the calls in flight (at least 1).
	Concurrency int
	// Record saves finished targets so a re-run skips them. It is called from one
	// goroutine, with every result that finished while the previous call was writing, so
	// a run killed at any moment loses at most the targets in flight. An error stops the
	// run: without the record a re-run would repeat work.
	Record func(ctx context.Context, done []Result) error
	// Finished, if set, is called after each target, one call at a time, with the counts
	// so far.
	Finished func(r Result, done, failed int)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Outcome is the end of a run.
type Outcome struct {
	// Results are in the order of the targets given.
	Results []Result
	// Stop is why the run stopped starting targets before the end, nil if it did not.
	Stop error
}

// Run adds the key to every target. It stops starting new targets when one fails in a
// way that would fail the rest too (the wait budget is spent, the credential or a scope
// is refused, the key is an account key) or ctx ends; calls in flight finish, and the
// targets never started are reported as skipped.
func (e *Engine) Run(ctx context.Context, targets []state.Target) Outcome {
	now := e.Now
	if now == nil {
		now = time.Now
	}
	out := Outcome{Results: make([]Result, len(targets))}
	for i, t := range targets {
		out.Results[i] = Result{Target: t, Status: StatusSkipped}
	}

	var (
		mu           sync.Mutex
		st           bulk.Stopper
		done, failed int
	)
	rec := bulk.NewRecorder(ctx, e.Record, st.Stop)
	bulk.Each(ctx, len(targets), e.Concurrency, &st, func(i int) {
		t := targets[i]
		id, present, err := e.Adder.Add(ctx, t)
		r := Result{Target: t, KeyID: id, Added: now()}
		switch {
		case err != nil && ctx.Err() != nil:
			// Interrupted: the call may or may not have landed; a re-run finds out
			// with a duplicate answer.
			r.Status, r.Err = StatusSkipped, nil
			st.Stop(context.Cause(ctx))
		case err != nil:
			r.Status, r.Err = StatusFailed, err
			if bulk.Fatal(err) {
				st.Stop(err)
			}
		case present:
			r.Status = StatusPresent
		default:
			r.Status = StatusAdded
		}
		if r.Status.Done() {
			rec.Add(r)
		}
		mu.Lock()
		out.Results[i] = r
		if r.Status.Done() {
			done++
		} else if r.Status == StatusFailed {
			failed++
		}
		if e.Finished != nil {
			e.Finished(r, done, failed)
		}
		mu.Unlock()
	})
	rec.Close()
	out.Stop = st.Err()
	return out
}
