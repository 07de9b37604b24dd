package rotate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/state"
)

// place is where a key sits on Bitbucket: the account, or one repository or project.
type place struct {
	// key is state.AccountTarget or Target.Key(), as the journal's id maps use it.
	key    string
	target state.Target
}

func (p place) account() bool { return p.key == state.AccountTarget }

func (p place) String() string {
	if p.account() {
		return "the account"
	}
	return string(p.target.Kind) + " " + p.target.Ref()
}

// places lists where the subject's key is: the account, or every target in the state plus
// any the journal knows an id for.
func (s *subject) places(j *state.Journal) []place {
	if s.kind == state.RotateAccount {
		return []place{{key: state.AccountTarget}}
	}
	var out []place
	seen := map[string]bool{}
	for _, t := range s.targets {
		if !seen[t.Key()] {
			seen[t.Key()] = true
			out = append(out, place{key: t.Key(), target: t})
		}
	}
	if j != nil {
		for _, k := range j.Targets() {
			if seen[k] || k == state.AccountTarget {
				continue
			}
			if t, err := parseTargetKey(k); err == nil {
				seen[k] = true
				out = append(out, place{key: k, target: t})
			}
		}
	}
	return out
}

// parseTargetKey reads "repo:WS/SLUG" or "project:WS/KEY" (Target.Key).
func parseTargetKey(k string) (state.Target, error) {
	kind, ref, ok := strings.Cut(k, ":")
	if !ok {
		return state.Target{}, fmt.Errorf("invalid target %q in the rotation journal", k)
	}
	return state.ParseTarget(state.TargetKind(kind), ref)
}

// place converts a target to the backend's name for it: the same owner and slug
// (workspace on Cloud, project key on Data Center, none for a Data Center project).
func (p place) backendPlace() backend.Place {
	return backend.Place{Kind: backend.PlaceKind(p.target.Kind), Owner: p.target.Workspace, Slug: p.target.Slug}
}

// findKey returns the id of the key with fingerprint fp at p, or "" when it is not there.
func (e *Engine) findKey(ctx context.Context, s *subject, p place, fp string) (string, error) {
	var (
		k   *backend.Key
		err error
	)
	if p.account() {
		k, err = s.b.FindAccountKey(ctx, s.account(), fp)
	} else {
		k, err = s.b.FindAccessKey(ctx, p.backendPlace(), fp)
	}
	if err != nil || k == nil {
		return "", err
	}
	return k.ID, nil
}

// deleteKey deletes key id at p, always by its id; a key that is already gone counts as
// deleted.
func (e *Engine) deleteKey(ctx context.Context, s *subject, p place, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("no key id to delete on %s", p)
	}
	var err error
	if p.account() {
		err = s.b.DeleteAccountKey(ctx, s.account(), backend.Key{ID: id})
	} else {
		err = s.b.DeleteAccessKey(ctx, p.backendPlace(), backend.Key{ID: id})
	}
	if notFound(err) {
		return nil
	}
	return err
}

// notFound reports a 404 from either Bitbucket.
func notFound(err error) bool { return bbapi.IsNotFound(err) || dc.IsNotFound(err) }

// eachPlace runs fn for every place, Concurrency calls at once, and returns the failures
// by place key (a place an interruption kept from starting fails with its cause).
func (e *Engine) eachPlace(ctx context.Context, places []place, fn func(context.Context, place) error) map[string]error {
	var (
		mu   sync.Mutex
		st   bulk.Stopper
		errs = map[string]error{}
		ran  = make([]bool, len(places))
	)
	bulk.Each(ctx, len(places), concurrency, &st, func(i int) {
		err := fn(ctx, places[i])
		mu.Lock()
		defer mu.Unlock()
		ran[i] = true
		if err != nil {
			errs[places[i].key] = err
		}
	})
	for i, p := range places {
		if !ran[i] {
			errs[p.key] = st.Err()
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
