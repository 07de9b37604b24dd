// The listing: what this machine knows, the plan and its cost, the listing with
// progress, the judgement.

package audit

import (
	"context"
	"fmt"

	"github.com/bbkey/bbkey/internal/audit"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/inventory"
)

// local is what this machine's `bbkey list` knows: key files, the agent, the state.
func (r *run) local(ctx context.Context, sshDir string) (map[string]bool, error) {
	st, err := r.sdir.Load()
	if err != nil {
		return nil, err
	}
	src := inventory.Source{SSHDir: sshDir, State: st, Now: r.o.Now()}
	if a, err := r.o.Agent(); err == nil {
		src.Agent = a
	}
	local, _ := audit.Local(ctx, src)
	return local, nil
}

// collect plans (saying what it costs), lists with progress, and judges.
func (r *run) collect(ctx context.Context, local map[string]bool) (*report, error) {
	o := r.o
	if _, cached := r.cache.Repos(o.Query, o.Now(), r.fl.maxAge); !cached {
		where := o.Workspace
		if r.server != "" {
			where = r.server
		}
		fmt.Fprintf(o.IO.ErrOut, "listing the repositories and projects of %s (one call per hundred)\n", where)
	}
	col := &audit.Collector{Source: r.src, Cache: r.cache, Now: o.Now, MaxAge: r.fl.maxAge, Concurrency: o.Concurrency, Server: r.server}
	plan, err := col.Plan(ctx, o.Workspace, o.Query)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(o.IO.ErrOut, plan.Announce(r.fl.maxAge))
	var coll *audit.Collection
	r.withProgress(len(plan.Pending), func(finished func(bulk.Line, int, int)) {
		coll = col.Collect(ctx, plan, finished)
	})
	keys := audit.Judge(coll.Placements, plan.ProjectRepos(), local, r.fl.policy, o.Now())
	return &report{opts: o, fl: r.fl, plan: plan, coll: coll, keys: keys}, nil
}

// withProgress runs step with a progress display of total lines on screen (where the
// client's wait hook reports rate-limit pauses), and closes it after.
func (r *run) withProgress(total int, step func(finished func(l bulk.Line, done, failed int))) {
	prog := bulk.NewProgress(r.o.IO, total, r.o.Now, r.src.Calls)
	r.shown.Store(prog)
	step(prog.Finished)
	r.shown.Store(nil)
	prog.Close()
}
