package rotate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/bbapi"
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

func parseID(id string) (bbapi.ID, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid access key id %q", id)
	}
	return bbapi.ID(n), nil
}

// addKey uploads a public key to p and returns its id there.
func (e *Engine) addKey(ctx context.Context, s *subject, p place, authorized, label string, expires *time.Time) (string, error) {
	opts := bbapi.AddDeployKeyOptions{Key: authorized, Label: label}
	switch {
	case p.account():
		k, _, err := e.API.SSHKeys.Add(ctx, s.user, bbapi.AddSSHKeyOptions{Key: authorized, Label: label, ExpiresOn: expires})
		if err != nil {
			return "", err
		}
		return k.UUID, nil
	case p.target.Kind == state.TargetProject:
		k, _, err := e.API.ProjectDeployKeys.AddOrGet(ctx, p.target.Workspace, p.target.Slug, opts)
		if err != nil {
			return "", err
		}
		return k.ID.String(), nil
	default:
		k, _, err := e.API.DeployKeys.AddOrGet(ctx, p.target.Workspace, p.target.Slug, opts)
		if err != nil {
			return "", err
		}
		return k.ID.String(), nil
	}
}

// findKey returns the id of the key with fingerprint fp at p, or "" when it is not there.
func (e *Engine) findKey(ctx context.Context, s *subject, p place, fp string) (string, error) {
	switch {
	case p.account():
		k, err := e.API.SSHKeys.FindByFingerprint(ctx, s.user, fp)
		if err != nil || k == nil {
			return "", err
		}
		return k.UUID, nil
	case p.target.Kind == state.TargetProject:
		k, err := e.API.ProjectDeployKeys.FindByFingerprint(ctx, p.target.Workspace, p.target.Slug, fp)
		if err != nil || k == nil {
			return "", err
		}
		return k.ID.String(), nil
	default:
		k, err := e.API.DeployKeys.FindByFingerprint(ctx, p.target.Workspace, p.target.Slug, fp)
		if err != nil || k == nil {
			return "", err
		}
		return k.ID.String(), nil
	}
}

// deleteKey deletes key id at p; a key that is already gone counts as deleted.
func (e *Engine) deleteKey(ctx context.Context, s *subject, p place, id string) error {
	var err error
	switch {
	case p.account():
		_, err = e.API.SSHKeys.Delete(ctx, s.user, id)
	default:
		n, perr := parseID(id)
		if perr != nil {
			return perr
		}
		if p.target.Kind == state.TargetProject {
			_, err = e.API.ProjectDeployKeys.Delete(ctx, p.target.Workspace, p.target.Slug, n)
		} else {
			_, err = e.API.DeployKeys.Delete(ctx, p.target.Workspace, p.target.Slug, n)
		}
	}
	if bbapi.IsNotFound(err) {
		return nil
	}
	return err
}

// eachPlace runs fn for every place with at most Concurrency calls at once and returns
// the failures by place key. Bitbucket's rate limit is per hour, not per second, so a
// small bound is about being polite, not about throughput.
func (e *Engine) eachPlace(ctx context.Context, places []place, fn func(context.Context, place) error) map[string]error {
	var (
		mu   sync.Mutex
		errs = map[string]error{}
		wg   sync.WaitGroup
		sem  = make(chan struct{}, e.concurrency())
	)
	// A panic in one place's goroutine would kill the process before cmd's last-resort
	// recover sees it: keep the first and re-raise it here, once every place is done.
	var panicked any
	for _, p := range places {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					if panicked == nil {
						panicked = r
					}
					mu.Unlock()
				}
			}()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				errs[p.key] = ctx.Err()
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			if err := fn(ctx, p); err != nil {
				mu.Lock()
				errs[p.key] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
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

var errNoTarget = errors.New("no repository to run git ls-remote on")
