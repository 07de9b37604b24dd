package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

// Auditor lists and revokes the access keys of a workspace or server, through the cache.
type Auditor struct {
	Source Source
	Cache  *CacheFile
	// State records deletions (and drops a deleted target from this machine's key).
	State state.Dir
	Now   func() time.Time
	// MaxAge is how long a listing in the cache stays good (--max-age).
	MaxAge      time.Duration
	Concurrency int
	// Server is the Data Center server's URL, "" on Cloud.
	Server string
}

// Plan is what a run lists: the repositories and projects, and which of them the cache
// already answers.
type Plan struct {
	// Workspace is Cloud's; "" on Data Center, where a repository is named "PROJ/slug"
	// and a project by its key.
	Workspace, Server, Query string
	Repos                    []Repo
	Projects                 []string
	// Targets are every repository and project, repositories first; Pending those whose
	// access keys must be listed now.
	Targets, Pending []state.Target
	// ReposCached is set when the repository listing came from the cache.
	ReposCached bool
}

// Plan lists (or reads from the cache) the repositories and projects of workspace.
func (a *Auditor) Plan(ctx context.Context, workspace, query string) (*Plan, error) {
	now := a.Now()
	p := &Plan{Workspace: workspace, Server: a.Server, Query: query}
	var err error
	if p.Repos, p.ReposCached = a.Cache.Repos(query, now, a.MaxAge); !p.ReposCached {
		if p.Repos, err = a.Source.Repos(ctx); err != nil {
			return nil, fmt.Errorf("listing the repositories of %s: %w", p.Where(), err)
		}
		a.Cache.set(func(c *Cache) { c.Repos = &Listing[[]Repo]{Query: query, ListedAt: now, Items: p.Repos} })
	}
	var cached bool
	if p.Projects, cached = a.Cache.Projects(now, a.MaxAge); !cached {
		if p.Projects, err = a.Source.Projects(ctx); err != nil {
			return nil, fmt.Errorf("listing the projects of %s: %w", p.Where(), err)
		}
		a.Cache.set(func(c *Cache) { c.Projects = &Listing[[]string]{ListedAt: now, Items: p.Projects} })
	}
	if err := a.Cache.Save(); err != nil {
		return nil, err
	}
	for _, r := range p.Repos {
		p.Targets = append(p.Targets, p.repoTarget(r))
	}
	for _, k := range p.Projects {
		p.Targets = append(p.Targets, p.projectTarget(k))
	}
	for _, t := range p.Targets {
		if _, ok := a.Cache.Target(t, now, a.MaxAge); !ok {
			p.Pending = append(p.Pending, t)
		}
	}
	return p, nil
}

// Where names what the plan audits: the workspace, or the Data Center server.
func (p *Plan) Where() string {
	if p.Server != "" {
		return p.Server
	}
	return p.Workspace
}

// repoTarget names a repository: WS/slug on Cloud, PROJ/slug on Data Center.
func (p *Plan) repoTarget(r Repo) state.Target {
	if p.Server != "" {
		return state.Target{Kind: state.TargetRepo, Workspace: r.Project, Slug: r.Slug}
	}
	return state.Target{Kind: state.TargetRepo, Workspace: p.Workspace, Slug: r.Slug}
}

// projectTarget names a project: WS/KEY on Cloud, KEY on Data Center.
func (p *Plan) projectTarget(key string) state.Target {
	return state.Target{Kind: state.TargetProject, Workspace: p.Workspace, Slug: key}
}

// ProjectRepos maps each project ref (lower case) to its repositories' refs.
func (p *Plan) ProjectRepos() map[string][]string {
	out := map[string][]string{}
	for _, r := range p.Repos {
		if r.Project != "" {
			k := strings.ToLower(p.projectTarget(r.Project).Ref())
			out[k] = append(out[k], p.repoTarget(r).Ref())
		}
	}
	return out
}

// HourlyLimit is Bitbucket Cloud's budget of authenticated calls to /2.0/repositories/*
// per user and rolling hour (API.md §3).
const HourlyLimit = 1000

// Announce says, before the listing starts, how many calls the run makes and what that
// means against the hourly limit.
func (p *Plan) Announce(maxAge time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "auditing %s: %d %s and %d %s", p.Where(), len(p.Repos), text.Plural(len(p.Repos), "repository", "repositories"), len(p.Projects), text.Plural(len(p.Projects), "project", "projects"))
	if p.Query != "" {
		fmt.Fprintf(&b, " (--query %s)", p.Query)
	}
	fmt.Fprintf(&b, "; %d access-key %s to make", len(p.Pending), text.Plural(len(p.Pending), "listing", "listings"))
	if cached := len(p.Targets) - len(p.Pending); cached > 0 {
		fmt.Fprintf(&b, ", %d answered by the cache (listed within --max-age %s)", cached, keylabel.FormatAge(maxAge))
	}
	if p.Server != "" {
		// Data Center has no hourly budget: an admin may set a rate limit, whose 429 the
		// transport waits out within --max-wait.
		b.WriteString(".\nA rate limit the server enforces is waited out within --max-wait; a run it stops continues where it stopped when run again.")
		return b.String()
	}
	// The calls that count: the repository listing's pages and one per repository still
	// to list; project calls (/2.0/workspaces/…) do not.
	calls := 0
	if !p.ReposCached {
		calls = max((len(p.Repos)+99)/100, 1)
	}
	for _, t := range p.Pending {
		if t.Kind == state.TargetRepo {
			calls++
		}
	}
	fmt.Fprintf(&b, ".\n%d of this run's calls count against Bitbucket's limit of about %d an hour on /2.0/repositories (%d%%)", calls, HourlyLimit, (calls*100+HourlyLimit-1)/HourlyLimit)
	if calls > HourlyLimit {
		hours := (calls + HourlyLimit - 1) / HourlyLimit
		fmt.Fprintf(&b, ": more than one hour allows, so it takes about %d hours; when Bitbucket answers 429 the run stops with what it has, and running it again continues where it stopped, keeping what was listed within --max-age (%s: give --max-age %dh or more so the first hour's listings still count)", hours, keylabel.FormatAge(maxAge), hours+1)
	} else if calls > HourlyLimit/2 {
		b.WriteString(": other bbkey or API use this hour may run into the limit; a run stopped by it continues where it stopped when run again")
	}
	b.WriteString(".")
	return b.String()
}

// Failure is a target whose keys could not be listed.
type Failure struct {
	Target state.Target
	Err    error
}

// Collection is every placement known after a run, and what is missing.
type Collection struct {
	Placements []Placement
	// Listed counts targets listed this run; Cached those taken from the cache.
	Listed, Cached int
	// Failed are targets Bitbucket refused; Skipped were not listed because the run
	// stopped first, Stop says why (nil when it did not).
	Failed  []Failure
	Skipped []state.Target
	Stop    error
}

// Complete reports whether every target's keys are known.
func (c *Collection) Complete() bool { return len(c.Failed) == 0 && len(c.Skipped) == 0 }

// Collect lists the access keys of every pending target of the plan, saving each answer
// in the cache as it comes, and joins them with the cached ones.
func (a *Auditor) Collect(ctx context.Context, p *Plan, finished func(l bulk.Line, done, failed int)) *Collection {
	out := &Collection{}
	keys := make([][]Placement, len(p.Pending))
	errs, stop := each(ctx, a.Concurrency, p.Pending, true, func(i int, t state.Target) (string, string, error) {
		ks, err := a.Source.Keys(ctx, t)
		if err == nil {
			keys[i] = ks
			a.Cache.set(func(c *Cache) { c.Targets[cacheKey(t)] = &Listing[[]Placement]{ListedAt: a.Now(), Items: ks} })
		}
		return targetRef(t), fmt.Sprintf("%d %s", len(ks), text.Plural(len(ks), "key", "keys")), err
	}, func(context.Context, []state.Target) error { return a.Cache.Save() }, finished)
	out.Stop = stop
	listed := map[string][]Placement{}
	for i, t := range p.Pending {
		switch {
		case errs[i] == nil:
			listed[cacheKey(t)] = keys[i]
			out.Listed++
		case errors.Is(errs[i], errNotRun):
			out.Skipped = append(out.Skipped, t)
		default:
			out.Failed = append(out.Failed, Failure{Target: t, Err: errs[i]})
		}
	}
	now := a.Now()
	for _, t := range p.Targets {
		if ks, ok := listed[cacheKey(t)]; ok {
			out.Placements = append(out.Placements, ks...)
		} else if ks, ok := a.Cache.Target(t, now, a.MaxAge); ok {
			out.Placements = append(out.Placements, ks...)
			out.Cached++
		}
	}
	return out
}

// errNotRun marks an item the run stopped before: left for a re-run.
var errNotRun = errors.New("not attempted: the run stopped first")

// each calls do on every item, a few at a time, shows each finished one with finished,
// and hands the done ones to record in batches. It returns each item's error (nil: done,
// errNotRun: the run stopped first) and why the run stopped. An error that would fail
// every other item as well stops the run; with leaveFatal the item it hit is left for a
// re-run, not failed.
func each[T any](ctx context.Context, concurrency int, items []T, leaveFatal bool, do func(int, T) (ref, ok string, err error),
	record func(context.Context, []T) error, finished func(l bulk.Line, done, failed int)) ([]error, error) {
	var (
		mu           sync.Mutex
		st           bulk.Stopper
		done, failed int
		errs         = make([]error, len(items))
	)
	for i := range errs {
		errs[i] = errNotRun
	}
	rec := bulk.NewRecorder(ctx, record, st.Stop)
	bulk.Each(ctx, len(items), concurrency, &st, func(i int) {
		ref, ok, err := do(i, items[i])
		mu.Lock()
		defer mu.Unlock()
		line := bulk.Line{Mark: iostreams.MarkOK, Text: ref + ": " + ok, Count: true}
		switch {
		case err != nil && ctx.Err() != nil:
			st.Stop(context.Cause(ctx))
			return
		case err != nil && leaveFatal && bulk.Fatal(err):
			st.Stop(err) // not this item's fault
			return
		case err != nil:
			errs[i] = err
			failed++
			line.Mark, line.Text = iostreams.MarkFail, ref+": "+bulk.Describe(err)
			if bulk.Fatal(err) {
				st.Stop(err)
			}
		default:
			errs[i] = nil
			rec.Add(items[i])
			done++
		}
		if finished != nil {
			finished(line, done, failed)
		}
	})
	rec.Close()
	return errs, st.Err()
}

func targetRef(t state.Target) string {
	if t.Kind == state.TargetProject {
		return "project " + t.Ref()
	}
	return t.Ref()
}
