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

// findKey returns the id of the key with fingerprint fp at p, or "" when it is not there.
func (e *Engine) findKey(ctx context.Context, s *subject, p provision.Place, fp string) (string, error) {
	var (
		k   *backend.Key
		err error
	)
	if p.Account != nil {
		k, err = s.b.FindAccountKey(ctx, p.Account, fp)
	} else {
		k, err = s.b.FindAccessKey(ctx, p.Place, fp)
	}
	if err != nil || k == nil {
		return "", err
	}
	return k.ID, nil
}

// deleteKey deletes key id at p, always by its id; a key that is already gone counts as
// deleted.
func (e *Engine) deleteKey(ctx context.Context, s *subject, p provision.Place, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("no key id to delete on %s", placeKey(p))
	}
	var err error
	if p.Account != nil {
		err = s.b.DeleteAccountKey(ctx, p.Account, backend.Key{ID: id})
	} else {
		err = s.b.DeleteAccessKey(ctx, p.Place, backend.Key{ID: id})
	}
	if bbapi.IsNotFound(err) {
		return nil
	}
	return err
}

// eachPlace runs fn for every place, a few calls at once, and returns the failures
// by place key (a place an interruption kept from starting fails with its cause).
func (e *Engine) eachPlace(ctx context.Context, places []provision.Place, fn func(ctx context.Context, p provision.Place, key string) error) map[string]error {
	var (
		mu   sync.Mutex
		st   bulk.Stopper
		errs = map[string]error{}
		ran  = make([]bool, len(places))
	)
	bulk.Each(ctx, len(places), concurrency, &st, func(i int) {
		key := placeKey(places[i])
		err := fn(ctx, places[i], key)
		mu.Lock()
		defer mu.Unlock()
		ran[i] = true
		if err != nil {
			errs[key] = err
		}
	})
	for i, p := range places {
		if !ran[i] {
			errs[placeKey(p)] = st.Err()
		}
	}
	return errs
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
		const shown = 5
		list := strings.Join(others[:min(len(others), shown)], ", ")
		if len(others) > shown {
			list += fmt.Sprintf(" and %d more", len(others)-shown)
		}
		msg += " (also " + list + ")"
	}
	return fmt.Errorf("%s; %s: %w", msg, name, first)
}
