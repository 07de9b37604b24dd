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

// Source is the Bitbucket an audit reads and revokes on: Cloud or DataCenter.
type Source interface {
	// Repos lists the repositories of the workspace the credential administers (only
	// their access keys can be read), matching query when not empty. On Data Center,
	// where there is no workspace, every one the credential administers, each with its
	// project.
	Repos(ctx context.Context, workspace, query string) ([]Repo, error)
	// Projects lists the keys of the workspace's projects.
	Projects(ctx context.Context, workspace string) ([]string, error)
	// Keys lists the access keys of one repository or project, every page.
	Keys(ctx context.Context, t state.Target) ([]Placement, error)
	// Delete removes one access key from its repository or project.
	Delete(ctx context.Context, p Placement) error
	// Calls is the number of HTTP requests made so far.
	Calls() int
}

// Collector lists every access key of a workspace, using and filling the cache.
type Collector struct {
	Source Source
	Cache  *CacheFile
	Now    func() time.Time
	// MaxAge is how long a listing in the cache stays good (--max-age).
	MaxAge time.Duration
	// Concurrency bounds the listings in flight.
	Concurrency int
	// Server is the Data Center server's URL, "" on Cloud (whose plans name a workspace).
	Server string
}

// Plan is what a run will list: the workspace's repositories and projects, and which of
// them the cache already answers.
type Plan struct {
	// Workspace is the Cloud workspace; "" on Data Center, where Server is set and every
	// repository is named by its project ("PROJ/slug") and a project by its key.
	Workspace string
	Server    string
	Query     string
	Repos     []Repo
	Projects  []string
	// Targets are every repository and project, repositories first; Pending those whose
	// access keys must be listed now, the others coming from the cache.
	Targets []state.Target
	Pending []state.Target
	// ReposCached and ProjectsCached are set when the listings came from the cache.
	ReposCached, ProjectsCached bool
	// ListingCalls is what listing the repositories and projects cost this run.
	ListingCalls int
}

// Plan lists (or reads from the cache) the repositories and projects of workspace.
func (c *Collector) Plan(ctx context.Context, workspace, query string) (*Plan, error) {
	now := c.Now()
	p := &Plan{Workspace: workspace, Server: c.Server, Query: query}
	before := c.Source.Calls()
	var err error
	if p.Repos, p.ReposCached = c.Cache.Repos(query, now, c.MaxAge); !p.ReposCached {
		if p.Repos, err = c.Source.Repos(ctx, workspace, query); err != nil {
			return nil, fmt.Errorf("listing the repositories of %s: %w", p.Where(), err)
		}
		c.Cache.SetRepos(RepoListing{Query: query, ListedAt: now, Repos: p.Repos})
	}
	if p.Projects, p.ProjectsCached = c.Cache.Projects(now, c.MaxAge); !p.ProjectsCached {
		if p.Projects, err = c.Source.Projects(ctx, workspace); err != nil {
			return nil, fmt.Errorf("listing the projects of %s: %w", p.Where(), err)
		}
		c.Cache.SetProjects(ProjectListing{ListedAt: now, Keys: p.Projects})
	}
	p.ListingCalls = c.Source.Calls() - before
	if err := c.Cache.Save(); err != nil {
		return nil, err
	}
	for _, r := range p.Repos {
		p.Targets = append(p.Targets, p.repoTarget(r))
	}
	for _, k := range p.Projects {
		p.Targets = append(p.Targets, p.projectTarget(k))
	}
	for _, t := range p.Targets {
		if _, ok := c.Cache.Target(t, now, c.MaxAge); !ok {
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
	ws := p.Workspace
	if p.Server != "" {
		ws = r.Project
	}
	return state.Target{Kind: state.TargetRepo, Workspace: ws, Slug: r.Slug}
}

// projectTarget names a project: WS/KEY on Cloud, KEY on Data Center.
func (p *Plan) projectTarget(key string) state.Target {
	if p.Server != "" {
		return state.Target{Kind: state.TargetProject, Slug: key}
	}
	return state.Target{Kind: state.TargetProject, Workspace: p.Workspace, Slug: key}
}

// ProjectRepos maps each project ref (lower case WS/KEY, or KEY on Data Center) to its
// repositories' refs.
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

// Estimate is what a run will cost.
type Estimate struct {
	// Listings is one call per repository and per project still to list (more for one
	// with over a hundred keys); Cached is how many the cache answers.
	Listings, Cached int
	// RepoCalls are the calls that count against the hourly limit: the repository
	// listing's pages made this run and one per repository still to list. Project calls
	// (/2.0/workspaces/…) do not count against it.
	RepoCalls int
}

// Estimate counts the calls the run will make.
func (p *Plan) Estimate() Estimate {
	e := Estimate{Listings: len(p.Pending), Cached: len(p.Targets) - len(p.Pending)}
	if !p.ReposCached {
		e.RepoCalls = (len(p.Repos) + 99) / 100
		if e.RepoCalls == 0 {
			e.RepoCalls = 1
		}
	}
	for _, t := range p.Pending {
		if t.Kind == state.TargetRepo {
			e.RepoCalls++
		}
	}
	return e
}

// Announce says, before the listing starts, how many calls the run makes and what that
// means against the hourly limit.
func (p *Plan) Announce(maxAge time.Duration) string {
	e := p.Estimate()
	var b strings.Builder
	fmt.Fprintf(&b, "auditing %s: %d %s and %d %s", p.Where(), len(p.Repos), text.Plural(len(p.Repos), "repository", "repositories"), len(p.Projects), text.Plural(len(p.Projects), "project", "projects"))
	if p.Query != "" {
		fmt.Fprintf(&b, " (--query %s)", p.Query)
	}
	fmt.Fprintf(&b, "; %d access-key %s to make", e.Listings, text.Plural(e.Listings, "listing", "listings"))
	if e.Cached > 0 {
		fmt.Fprintf(&b, ", %d answered by the cache (listed within --max-age %s)", e.Cached, FormatAge(maxAge))
	}
	if p.Server != "" {
		// Data Center has no hourly budget: an admin may set a per-user rate limit, whose
		// 429 and Retry-After the transport waits out within --max-wait.
		b.WriteString(".\nA rate limit the server enforces is waited out within --max-wait; a run it stops continues where it stopped when run again.")
		return b.String()
	}
	fmt.Fprintf(&b, ".\n%d of this run's calls count against Bitbucket's limit of about %d an hour on /2.0/repositories (%d%%)", e.RepoCalls, HourlyLimit, (e.RepoCalls*100+HourlyLimit-1)/HourlyLimit)
	if e.RepoCalls > HourlyLimit {
		hours := (e.RepoCalls + HourlyLimit - 1) / HourlyLimit
		fmt.Fprintf(&b, ": more than one hour allows, so it takes about %d hours; when Bitbucket answers 429 the run stops with what it has, and running it again continues where it stopped, keeping what was listed within --max-age (%s: give --max-age %dh or more so the first hour's listings still count)", hours, FormatAge(maxAge), hours+1)
	} else if e.RepoCalls > HourlyLimit/2 {
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
	// Failed are targets Bitbucket refused (this repository only); Skipped were not
	// listed because the run stopped first.
	Failed  []Failure
	Skipped []state.Target
	// Stop is why the run stopped before the end (the wait budget, a 429, the credential,
	// an interrupt), nil when it did not.
	Stop error
}

// Complete reports whether every target's keys are known.
func (c *Collection) Complete() bool { return len(c.Failed) == 0 && len(c.Skipped) == 0 }

// Collect lists the access keys of every pending target of the plan, a few at a time,
// saving each answer in the cache as it comes, and joins them with the cached ones.
// finished, if set, is told about every target listed (bulk.Progress.Finished).
func (c *Collector) Collect(ctx context.Context, p *Plan, finished func(l bulk.Line, done, failed int)) *Collection {
	now := c.Now()
	out := &Collection{}
	byTarget := map[string][]Placement{}
	for _, t := range p.Targets {
		if keys, ok := c.Cache.Target(t, now, c.MaxAge); ok {
			byTarget[cacheKey(t)] = keys
			out.Cached++
		}
	}
	var (
		mu           sync.Mutex
		st           bulk.Stopper
		done, failed int
		listed       = make([]bool, len(p.Pending))
		errs         = make([]error, len(p.Pending))
	)
	rec := bulk.NewRecorder(ctx, func(_ context.Context, batch []state.Target) error {
		return c.Cache.Save()
	}, st.Stop)
	bulk.Each(ctx, len(p.Pending), c.Concurrency, &st, func(i int) {
		t := p.Pending[i]
		keys, err := c.Source.Keys(ctx, t)
		ref := targetRef(t)
		line := bulk.Line{Mark: iostreams.MarkOK, Text: fmt.Sprintf("%s: %d %s", ref, len(keys), text.Plural(len(keys), "key", "keys")), Count: true}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil && ctx.Err() != nil:
			st.Stop(context.Cause(ctx))
			return // left for a re-run
		case err != nil:
			if bulk.Fatal(err) {
				st.Stop(err)
				return // not this target's fault: left for a re-run
			}
			errs[i] = err
			failed++
			line.Mark, line.Text = iostreams.MarkFail, ref+": "+bulk.Describe(err)
		default:
			listed[i] = true
			byTarget[cacheKey(t)] = keys
			c.Cache.SetTarget(t, TargetEntry{ListedAt: c.Now(), Keys: keys})
			rec.Add(t)
			done++
			out.Listed++
		}
		if finished != nil {
			finished(line, done, failed)
		}
	})
	rec.Close()
	out.Stop = st.Err()
	// Reported in the order of the plan, whatever order the calls finished in.
	for i, t := range p.Pending {
		switch {
		case errs[i] != nil:
			out.Failed = append(out.Failed, Failure{Target: t, Err: errs[i]})
		case !listed[i]:
			out.Skipped = append(out.Skipped, t)
		}
	}
	for _, t := range p.Targets {
		out.Placements = append(out.Placements, byTarget[cacheKey(t)]...)
	}
	return out
}

func targetRef(t state.Target) string {
	if t.Kind == state.TargetProject {
		return "project " + t.Ref()
	}
	return t.Ref()
}

// ErrIncomplete is wrapped by the error of a run that could not list every target.
var ErrIncomplete = errors.New("the audit is incomplete")

// FormatAge writes a duration as a user types it: "90d", "1h", "36h", "90m".
func FormatAge(d time.Duration) string {
	s := keylabel.FormatDuration(d)
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
