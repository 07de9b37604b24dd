package rotate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

// placeKey names a place as the journal's id maps do: state.AccountTarget, or the
// target's Key().
func placeKey(p provision.Place) string {
	if p.Account != nil {
		return state.AccountTarget
	}
	return provision.TargetOf(p.Place).Key()
}

// places lists where the subject's key is: the account, or every target in the state
// plus any the journal knows an id for, each asking for the old key's permission there.
func (s *subject) places(j *state.Journal) []provision.Place {
	if s.kind == state.RotateAccount {
		return []provision.Place{{Account: s.account()}}
	}
	targets := slices.Clone(s.targets)
	if j != nil {
		for _, k := range j.Targets() {
			kind, ref, _ := strings.Cut(k, ":")
			if t, err := state.ParseTarget(state.TargetKind(kind), ref); err == nil {
				targets = append(targets, t)
			}
		}
	}
	var out []provision.Place
	seen := map[string]bool{}
	for _, t := range targets {
		if !seen[t.Key()] {
			seen[t.Key()] = true
			out = append(out, provision.Place{Place: provision.PlaceOf(t), Write: s.write[t.Key()]})
		}
	}
	return out
}

// deleteKeys deletes the key with fingerprint fp wherever it is, a few places at once:
// by its id in ids, else (find) by the id Bitbucket gives fp there. A key already gone
// counts as deleted, and the other key's id (in other) is never deleted. The failures
// come back as one error (placesError), what naming the step.
func (e *Engine) deleteKeys(ctx context.Context, s *subject, places []provision.Place, what, fp string, ids, other map[string]string, find bool) error {
	var (
		mu   sync.Mutex
		st   bulk.Stopper
		errs = map[string]error{}
		ran  = make([]bool, len(places))
	)
	bulk.Each(ctx, len(places), concurrency, &st, func(i int) {
		key := placeKey(places[i])
		err := deleteKey(ctx, s.b, places[i], fp, ids[key], other[key], find)
		mu.Lock()
		defer mu.Unlock()
		ran[i] = true
		if err != nil {
			errs[key] = err
		}
	})
	for i, p := range places {
		if !ran[i] {
			errs[placeKey(p)] = st.Err() // an interruption kept it from starting
		}
	}
	return placesError(what, len(places), errs)
}

// deleteKey deletes the key fp at p, always by its id (id, or found when find).
func deleteKey(ctx context.Context, b backend.Backend, p provision.Place, fp, id, other string, find bool) error {
	if id == "" && find {
		k, err := p.Find(ctx, b, fp)
		if err != nil || k == nil {
			return err
		}
		id = k.ID
	}
	switch {
	case id == "":
		return nil
	case strings.TrimSpace(id) == "":
		return fmt.Errorf("no key id to delete on %s", placeKey(p))
	case id == other:
		return fmt.Errorf("refusing to delete key %s: it is the other key's id too", id)
	}
	err := p.Delete(ctx, b, backend.Key{ID: id})
	if bbapi.IsNotFound(err) {
		return nil
	}
	return err
}

// placesError summarises per-place failures as one error: the first failure (by place)
// wrapped, so its exit code and hints come through, and the other places named (a few).
func placesError(what string, total int, errs map[string]error) error {
	if len(errs) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(errs))
	first, name := errs[keys[0]], keys[0]
	if name == state.AccountTarget {
		name = "the account"
	}
	if total == 1 {
		return fmt.Errorf("%s on %s: %w", what, name, first)
	}
	msg := fmt.Sprintf("%s failed on %d of %d targets", what, len(errs), total)
	if others := keys[1:]; len(others) > 0 {
		msg += " (also " + text.FirstFew(others, 5) + ")"
	}
	return fmt.Errorf("%s; %s: %w", msg, name, first)
}
