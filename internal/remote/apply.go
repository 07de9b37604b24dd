package remote

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"

	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/gitrun"
)

// Apply writes every change of the plan through git, repositories concurrently (at most
// one per CPU), then reads each changed repository back and checks that nothing is left to
// rewrite, so a success means a re-run changes nothing. Each RepoPlan gets Applied or Err;
// the error returned joins the failures (nil when every repository succeeded).
func Apply(ctx context.Context, git gitrun.Runner, p *Plan) error {
	changed := p.Changed()
	var files fileLocks
	bulk.Each(ctx, len(changed), runtime.NumCPU(), &bulk.Stopper{}, func(i int) {
		rp := changed[i]
		rp.Err = applyRepo(ctx, git, rp, &files)
		rp.wrote = rp.Err == nil
	})
	var written []*RepoPlan
	want := map[*RepoPlan][]Change{}
	for _, rp := range changed {
		if rp.wrote {
			written = append(written, rp)
			want[rp] = rp.Changes
		}
	}
	// Read back with the same strategy as the plan; a repository that still has changes
	// was not fully written (a pattern that missed, a concurrent edit).
	readPlans(ctx, git, written, p.Target)
	for _, rp := range written {
		switch {
		case rp.Err != nil:
			rp.Err = fmt.Errorf("checking %s after writing: %w", rp.Repo.Dir, rp.Err)
		case len(rp.Changes) > 0:
			rp.Err = fmt.Errorf("%s: %s still reads %s after writing", rp.Repo.Dir, rp.Changes[0].Key(), rp.Changes[0].Old)
		default:
			rp.Applied = true
		}
		// Keep reporting what was changed, not what is left.
		rp.Changes = want[rp]
	}
	var errs []error
	for _, rp := range changed {
		if rp.Err == nil && !rp.Applied {
			rp.Err = fmt.Errorf("%s: not written: %w", rp.Repo.Dir, context.Cause(ctx))
		}
		if rp.Err != nil {
			errs = append(errs, rp.Err)
		}
	}
	return errors.Join(errs...)
}

func applyRepo(ctx context.Context, git gitrun.Runner, rp *RepoPlan, files *fileLocks) error {
	// Values are edited file by file in one write each; insteadOf sections are renamed.
	edits := map[string][]Change{}
	for _, c := range rp.Changes {
		edits[c.File] = append(edits[c.File], c)
	}
	for _, file := range slices.Sorted(maps.Keys(edits)) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", rp.Repo.Dir, err)
		}
		err := files.with(file, func() error { return writeFile(ctx, git, file, edits[file]) })
		if err != nil {
			return fmt.Errorf("%s: %w", rp.Repo.Dir, err)
		}
	}
	return nil
}

// writeFile writes the changes of one config file: the values in place in one edit when
// the file is plain enough (replaceValues), else one `git config` per value; then the
// insteadOf renames.
func writeFile(ctx context.Context, git gitrun.Runner, file string, changes []Change) error {
	var edits []valueEdit
	var values, rest []Change
	for _, c := range changes {
		if c.Field == FieldInsteadOf {
			rest = append(rest, c)
			continue
		}
		sec, sub, name := entry{key: c.key}.parts()
		edits = append(edits, valueEdit{section: sec, sub: sub, name: name, old: c.old, new: c.New})
		values = append(values, c)
	}
	if len(edits) > 0 {
		switch err := replaceValues(file, edits); {
		case errors.Is(err, errNotSimple):
			rest = append(values, rest...)
		case err != nil:
			return fmt.Errorf("rewriting %s: %w", values[0].Key(), err)
		}
	}
	for _, c := range rest {
		if err := writeChange(ctx, git, c); err != nil {
			return fmt.Errorf("rewriting %s: %w", c.Key(), err)
		}
	}
	return nil
}

// writeChange writes one change to its file with git config. The old value is matched by
// a pattern without its secret; an insteadOf section whose name holds a secret is renamed
// by renameURLSection, since git would need the name on its command line.
func writeChange(ctx context.Context, git gitrun.Runner, c Change) error {
	if c.Field != FieldInsteadOf {
		_, err := git.Run(ctx, "", "config", "--file", c.File, "--replace-all", c.key, c.New, valuePattern(c.old, c.Secret))
		return err
	}
	if !c.Secret {
		_, err := git.Run(ctx, "", "config", "--file", c.File, "--rename-section", c.key, "url."+c.New)
		return err
	}
	return renameURLSection(c.File, c.old, c.New)
}

// fileLocks serialises writes to one config file: worktrees share a config, and several
// repositories may include the same file. git itself would fail on its lock instead.
type fileLocks struct{ m sync.Map }

func (l *fileLocks) with(file string, fn func() error) error {
	mu, _ := l.m.LoadOrStore(file, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	return fn()
}
