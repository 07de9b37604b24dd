// --revoke-flagged: what goes and what stays, the confirmation, the deletions.

package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/internal/audit"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/text"
)

// revoke plans the deletions, shows them, confirms, and deletes.
func (r *run) revoke(ctx context.Context, rep *report) error {
	o := r.o
	if !o.DryRun {
		// Deleting access keys races `rotate --access-keys` and add-access-key (which
		// hold this lock while they change this machine's keys): hold it from reading the
		// state, which says what this machine still needs, to the last deletion recorded.
		lock, err := r.sdir.LockCommand(ctx, "audit --revoke-flagged", o.LookupEnv, o.IO.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	needed, err := r.sdir.Load()
	if err != nil {
		return err
	}
	del, kept := audit.PlanRevoke(rep.keys, audit.RevokeOptions{IncludeForeign: o.IncludeForeign, Force: o.Force, Needed: audit.NeededBy(needed, r.server)})
	rep.revoking, rep.plannedDel, rep.kept = true, del, kept
	for _, k := range kept {
		o.IO.Step(iostreams.MarkWarn, "keeping %s on %s: %s", k.Key.Fingerprint, k.Placement.Target.Ref(), k.Reason)
	}
	if len(del) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "nothing to delete")
		return nil
	}
	verb := "will delete"
	if o.DryRun {
		verb = "would delete (--dry-run)"
	}
	fmt.Fprintf(o.IO.ErrOut, "bbkey %s %d access %s:\n", verb, len(del), text.Plural(len(del), "key placement", "key placements"))
	for _, d := range del {
		fmt.Fprintf(o.IO.ErrOut, "  - %s\n", d.Describe())
	}
	if o.DryRun {
		return nil
	}
	if !o.Yes {
		ok, err := o.Prompter().Confirm(fmt.Sprintf("Delete these %d?", len(del)), false)
		if err != nil {
			return errkind.CancelError(fmt.Errorf("confirming the deletion: %w", err))
		}
		if !ok {
			return errkind.CancelError(errors.New("cancelled: nothing deleted"))
		}
	}
	rv := &audit.Revoker{Source: r.src, Cache: r.cache, State: r.sdir, Now: o.Now, Concurrency: o.Concurrency, Server: r.server}
	var out audit.RevokeOutcome
	r.withProgress(len(del), func(finished func(bulk.Line, int, int)) {
		out = rv.Run(ctx, del, finished)
	})
	rep.revoked = &out
	return nil
}
