package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/state"
)

// CacheVersion is the format of the cache files this bbkey writes; another format is
// ignored (and overwritten), never an error: the cache only saves calls.
const CacheVersion = 1

// Cache is what earlier runs listed for one workspace: the repositories and projects,
// and every target's access keys, each with when it was listed. It holds no secret (public
// keys, labels, dates). Entries older than the run's --max-age are listed again.
type Cache struct {
	Version   int    `json:"version"`
	Workspace string `json:"workspace"`
	// Server is the API the listings came from: a cache made against another (the
	// sandbox, a Data Center) never answers for this one.
	Server string `json:"server"`
	// Repos is the repository listing, made with Query.
	Repos *RepoListing `json:"repos,omitempty"`
	// Projects is the project listing.
	Projects *ProjectListing `json:"projects,omitempty"`
	// Targets are the access keys of each repository and project, by Target.Key().
	Targets map[string]*TargetEntry `json:"targets"`
}

// RepoListing is the workspace's repositories as one run listed them.
type RepoListing struct {
	Query    string    `json:"query"`
	ListedAt time.Time `json:"listed_at"`
	Repos    []Repo    `json:"repos"`
}

// Repo is a repository and the key of its project.
type Repo struct {
	Slug    string `json:"slug"`
	Project string `json:"project,omitempty"`
}

// ProjectListing is the workspace's projects as one run listed them.
type ProjectListing struct {
	ListedAt time.Time `json:"listed_at"`
	Keys     []string  `json:"keys"`
}

// TargetEntry is the access keys of one repository or project.
type TargetEntry struct {
	ListedAt time.Time   `json:"listed_at"`
	Keys     []Placement `json:"keys"`
}

// CacheFile is the cache of one workspace on disk, safe for concurrent use by one
// process.
type CacheFile struct {
	Path string

	mu sync.Mutex
	c  *Cache
}

// CachePath is where the cache of a workspace lives under dir (the user cache
// directory's bbkey/audit).
func CachePath(dir, workspace string) string {
	return filepath.Join(dir, "audit-"+strings.ToLower(workspace)+".json")
}

// OpenCache reads the cache of workspace on server (the API base URL) at path; a
// missing, unreadable or other-format file, or one made against another server, starts an
// empty one (the reason is returned as a warning).
func OpenCache(path, server, workspace string) (*CacheFile, string) {
	cf := &CacheFile{Path: path, c: &Cache{Version: CacheVersion, Workspace: strings.ToLower(workspace), Server: server, Targets: map[string]*TargetEntry{}}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, ""
	}
	if err != nil {
		return cf, fmt.Sprintf("cache %s not read (%v): listing everything again", path, err)
	}
	var c Cache
	if err := json.Unmarshal(b, &c); err != nil || c.Version != CacheVersion || !strings.EqualFold(c.Workspace, workspace) {
		return cf, fmt.Sprintf("cache %s is not one this bbkey reads: listing everything again", path)
	}
	if c.Server != server {
		return cf, fmt.Sprintf("cache %s was made against %s: listing everything again", path, c.Server)
	}
	if c.Targets == nil {
		c.Targets = map[string]*TargetEntry{}
	}
	cf.c = &c
	return cf, ""
}

func fresh(at, now time.Time, maxAge time.Duration) bool {
	return !at.IsZero() && !at.After(now) && now.Sub(at) < maxAge
}

// Repos returns the cached repository listing when it was made with query within maxAge.
func (cf *CacheFile) Repos(query string, now time.Time, maxAge time.Duration) ([]Repo, bool) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	r := cf.c.Repos
	if r == nil || r.Query != query || !fresh(r.ListedAt, now, maxAge) {
		return nil, false
	}
	return r.Repos, true
}

// Projects returns the cached project listing when made within maxAge.
func (cf *CacheFile) Projects(now time.Time, maxAge time.Duration) ([]string, bool) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	p := cf.c.Projects
	if p == nil || !fresh(p.ListedAt, now, maxAge) {
		return nil, false
	}
	return p.Keys, true
}

// Target returns the cached access keys of t when listed within maxAge.
func (cf *CacheFile) Target(t state.Target, now time.Time, maxAge time.Duration) ([]Placement, bool) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	e := cf.c.Targets[cacheKey(t)]
	if e == nil || !fresh(e.ListedAt, now, maxAge) {
		return nil, false
	}
	return e.Keys, true
}

// SetRepos records a repository listing.
func (cf *CacheFile) SetRepos(l RepoListing) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	cf.c.Repos = &l
}

// SetProjects records a project listing.
func (cf *CacheFile) SetProjects(l ProjectListing) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	cf.c.Projects = &l
}

// SetTarget records the access keys of t.
func (cf *CacheFile) SetTarget(t state.Target, e TargetEntry) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	cf.c.Targets[cacheKey(t)] = &e
}

// Forget drops one placement (deleted by this run) from its target's entry, so a re-run
// within --max-age does not show it.
func (cf *CacheFile) Forget(p Placement) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	e := cf.c.Targets[cacheKey(p.Target)]
	if e == nil {
		return
	}
	keep := e.Keys[:0:0]
	for _, k := range e.Keys {
		if k.ID != p.ID {
			keep = append(keep, k)
		}
	}
	e.Keys = keep
}

// Save writes the cache atomically (0600: it says who can read what).
func (cf *CacheFile) Save() error {
	cf.mu.Lock()
	b, err := json.Marshal(cf.c)
	cf.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encoding the audit cache: %w", err)
	}
	if err := fsutil.MkdirPrivate(filepath.Dir(cf.Path)); err != nil {
		return fmt.Errorf("creating the cache directory: %w", err)
	}
	if err := fsutil.WriteFileAtomic(cf.Path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the audit cache: %w", err)
	}
	return nil
}

// cacheKey names a target case-insensitively, as Bitbucket does.
func cacheKey(t state.Target) string { return strings.ToLower(t.Key()) }
