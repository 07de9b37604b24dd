package audit

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/state"
)

// Deletion is one placement of a flagged key: to delete, or (with a Reason) kept, failed
// or not attempted.
type Deletion struct {
	Key       *Key
	Placement Placement
	Reason    string
}

// RevokeOptions say which flagged keys may go.
type RevokeOptions struct {
	// IncludeForeign deletes flagged keys bbkey did not make as well.
	IncludeForeign bool
	// Force deletes even a placement this machine still uses: one State records for an
	// access key of the same fingerprint.
	Force bool
	State *state.State
}

// PlanRevoke picks the placements of flagged keys to delete, and those it keeps and why.
// A key flagged only as foreign is kept: nothing says it is stale, and deleting every key
// made by hand because it was made by hand would cut off whoever uses it today.
func (a *Auditor) PlanRevoke(keys []*Key, o RevokeOptions) (del, kept []Deletion) {
	for _, k := range keys {
		if !k.Flagged() {
			continue
		}
		for _, pl := range k.Placements {
			d := Deletion{Key: k, Placement: pl}
			switch {
			case !k.Stale():
				d.Reason = "flagged only as foreign: nothing says it is stale (remove it with 'bbkey remove' if it should go)"
			case !k.Managed && !o.IncludeForeign:
				d.Reason = "foreign key: bbkey deletes it only with --include-foreign"
			case !o.Force && a.needed(o.State, k.Fingerprint, pl.Target):
				d.Reason = "this machine uses it for " + targetRef(pl.Target) + ": bbkey deletes it only with --force"
			default:
				del = append(del, d)
				continue
			}
			kept = append(kept, d)
		}
	}
	return del, kept
}

// needed reports whether this machine's access key fp on the audited Bitbucket still
// records target t.
func (a *Auditor) needed(s *state.State, fp string, t state.Target) bool {
	if s == nil {
		return false
	}
	for _, ak := range s.AccessKeysOf(a.Server) {
		if _, ok := ak.Target(t); ok && bbapi.SameFingerprint(ak.Fingerprint, fp) {
			return true
		}
	}
	return false
}

// RevokeOutcome is the end of a revocation.
type RevokeOutcome struct {
	Deleted, Failed, Skipped []Deletion
	// Stop is why the run stopped before attempting every deletion (Skipped).
	Stop error
}

// Revoke deletes every placement, a few at a time. A key Bitbucket no longer has (404)
// counts as deleted: a re-run after an interruption finishes the job.
func (a *Auditor) Revoke(ctx context.Context, dels []Deletion, finished func(l bulk.Line, done, failed int)) RevokeOutcome {
	errs, stop := each(ctx, a.Concurrency, dels, false, func(_ int, d Deletion) (string, string, error) {
		err := a.Source.Delete(ctx, d.Placement)
		return targetRef(d.Placement.Target), fmt.Sprintf("deleted %s (id %s)", d.Key.Fingerprint, d.Placement.ID), err
	}, a.record, finished)
	out := RevokeOutcome{Stop: stop}
	for i, d := range dels {
		switch {
		case errs[i] == nil:
			out.Deleted = append(out.Deleted, d)
		case errs[i] == errNotRun:
			d.Reason = errNotRun.Error()
			out.Skipped = append(out.Skipped, d)
		default:
			d.Reason = bulk.Describe(errs[i])
			out.Failed = append(out.Failed, d)
		}
	}
	return out
}

// record writes a batch of deletions to the state and the cache.
func (a *Auditor) record(ctx context.Context, batch []Deletion) error {
	now := a.Now().UTC()
	err := a.State.Update(ctx, func(s *state.State) error {
		for _, d := range batch {
			t := d.Placement.Target
			t.KeyID, t.Added = d.Placement.ID.String(), time.Time{}
			s.AddRevocation(state.Revocation{Time: now, Fingerprint: d.Key.Fingerprint, Label: d.Key.Label, Server: a.Server, Target: t, Flags: d.Key.Flags})
			for _, ak := range s.AccessKeysOf(a.Server) {
				if bbapi.SameFingerprint(ak.Fingerprint, d.Key.Fingerprint) {
					ak.RemoveTarget(t)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording deletions in the state: %w", err)
	}
	for _, d := range batch {
		a.Cache.Forget(d.Placement)
	}
	return a.Cache.Save()
}

// Describe says in a line what a deletion removes, for the list shown before any.
func (d Deletion) Describe() string {
	return fmt.Sprintf("%s  %s  %s  id %s  [%s]", targetRef(d.Placement.Target), d.Key.Fingerprint, cmp.Or(d.Key.Label, "(no label)"), d.Placement.ID, strings.Join(d.Key.Flags, ", "))
}
