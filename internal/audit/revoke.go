package audit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/state"
)

// Deletion is one placement of a flagged key to delete.
type Deletion struct {
	Key       *Key
	Placement Placement
}

// Kept is a placement of a flagged key that is not deleted, and why.
type Kept struct {
	Key       *Key
	Placement Placement
	Reason    string
}

// RevokeOptions say which flagged keys may go.
type RevokeOptions struct {
	// IncludeForeign deletes flagged keys bbkey did not make as well.
	IncludeForeign bool
	// Force deletes even the placement this machine still needs.
	Force bool
	// Needed reports whether this machine uses the key with fingerprint fp for target t
	// (its state records the key there).
	Needed func(fp string, t state.Target) bool
}

// PlanRevoke picks the placements of flagged keys to delete: bbkey's own, foreign ones
// only with IncludeForeign, and never one this machine still needs unless Force. A key
// flagged only as foreign is kept: nothing says it is stale, and deleting every key made
// by hand because it was made by hand would cut off whoever uses it today.
func PlanRevoke(keys []*Key, o RevokeOptions) (del []Deletion, kept []Kept) {
	for _, k := range keys {
		if !k.Flagged() {
			continue
		}
		for _, pl := range k.Placements {
			switch {
			case !k.Stale():
				kept = append(kept, Kept{k, pl, "flagged only as foreign: nothing says it is stale (remove it with 'bbkey remove' if it should go)"})
			case !k.Managed && !o.IncludeForeign:
				kept = append(kept, Kept{k, pl, "foreign key: bbkey deletes it only with --include-foreign"})
			case !o.Force && o.Needed != nil && o.Needed(k.Fingerprint, pl.Target):
				kept = append(kept, Kept{k, pl, "this machine uses it for " + targetRef(pl.Target) + ": bbkey deletes it only with --force"})
			default:
				del = append(del, Deletion{k, pl})
			}
		}
	}
	return del, kept
}

// Revoker deletes placements and records each deletion.
type Revoker struct {
	Source Source
	// Cache forgets deleted placements, so a re-run within --max-age does not show them.
	Cache *CacheFile
	// State records the deletions (and drops a deleted target from this machine's key).
	State       state.Dir
	Now         func() time.Time
	Concurrency int
	// Server is the Data Center server revoked on ("" for Cloud): whose access keys in
	// the state lose the deleted targets.
	Server string
}

// RevokeFailure is a placement Bitbucket did not let go.
type RevokeFailure struct {
	Deletion
	Err error
}

// RevokeOutcome is the end of a revocation.
type RevokeOutcome struct {
	Deleted []Deletion
	Failed  []RevokeFailure
	// Skipped were not attempted: the run stopped first (Stop says why).
	Skipped []Deletion
	Stop    error
}

// Run deletes every placement, a few at a time. A key Bitbucket no longer has (404)
// counts as deleted: a re-run after an interruption finishes the job.
func (r *Revoker) Run(ctx context.Context, dels []Deletion, finished func(l bulk.Line, done, failed int)) RevokeOutcome {
	var (
		mu           sync.Mutex
		st           bulk.Stopper
		done, failed int
		errs         = make([]error, len(dels))
		attempted    = make([]bool, len(dels))
	)
	rec := bulk.NewRecorder(ctx, r.record, st.Stop)
	bulk.Each(ctx, len(dels), r.Concurrency, &st, func(i int) {
		d := dels[i]
		err := r.Source.Delete(ctx, d.Placement)
		if bbapi.IsNotFound(err) {
			err = nil
		}
		mu.Lock()
		defer mu.Unlock()
		ref := targetRef(d.Placement.Target)
		line := bulk.Line{Mark: iostreams.MarkOK, Text: fmt.Sprintf("%s: deleted %s (id %s)", ref, d.Key.Fingerprint, d.Placement.ID), Count: true}
		switch {
		case err != nil && ctx.Err() != nil:
			st.Stop(context.Cause(ctx))
			return
		case err != nil:
			errs[i] = err
			failed++
			line.Mark, line.Text = iostreams.MarkFail, ref+": "+bulk.Describe(err)
			if bulk.Fatal(err) {
				st.Stop(err)
			}
		default:
			rec.Add(d)
			done++
		}
		attempted[i] = true
		if finished != nil {
			finished(line, done, failed)
		}
	})
	rec.Close()
	// Reported in the order given, whatever order the calls finished in.
	out := RevokeOutcome{Stop: st.Err()}
	for i, d := range dels {
		switch {
		case !attempted[i]:
			out.Skipped = append(out.Skipped, d)
		case errs[i] != nil:
			out.Failed = append(out.Failed, RevokeFailure{d, errs[i]})
		default:
			out.Deleted = append(out.Deleted, d)
		}
	}
	return out
}

// record writes a batch of deletions to the state and the cache.
func (r *Revoker) record(ctx context.Context, batch []Deletion) error {
	now := r.Now().UTC()
	err := r.State.Update(ctx, func(s *state.State) error {
		for _, d := range batch {
			t := d.Placement.Target
			t.KeyID, t.Added = d.Placement.ID.String(), time.Time{}
			flags := make([]string, 0, len(d.Key.Flags))
			for _, f := range d.Key.Flags {
				flags = append(flags, string(f))
			}
			s.AddRevocation(state.Revocation{Time: now, Fingerprint: d.Key.Fingerprint, Label: d.Key.Label, Server: r.Server, Target: t, Flags: flags})
			for _, ak := range s.AccessKeysOf(r.Server) {
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
		r.Cache.Forget(d.Placement)
	}
	return r.Cache.Save()
}

// NeededBy returns the Needed function of RevokeOptions for a state: a target this
// machine's access key (same fingerprint) on server ("" for Cloud, else the Data Center
// server audited) was added to and still records.
func NeededBy(s *state.State, server string) func(fp string, t state.Target) bool {
	return func(fp string, t state.Target) bool {
		if s == nil {
			return false
		}
		for _, ak := range s.AccessKeysOf(server) {
			if bbapi.SameFingerprint(ak.Fingerprint, fp) {
				if _, ok := ak.Target(t); ok {
					return true
				}
			}
		}
		return false
	}
}

// Describe says in a line what a deletion removes, for the list shown before any.
func (d Deletion) Describe() string {
	label := d.Key.Label
	if label == "" {
		label = "(no label)"
	}
	flags := make([]string, 0, len(d.Key.Flags))
	for _, f := range d.Key.Flags {
		flags = append(flags, string(f))
	}
	return fmt.Sprintf("%s  %s  %s  id %s  [%s]", targetRef(d.Placement.Target), d.Key.Fingerprint, label, d.Placement.ID, strings.Join(flags, ", "))
}
