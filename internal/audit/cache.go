package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/state"
)

// CacheVersion is the format of the cache files this bbkey writes; another format is
// ignored (and overwritten), never an error: the cache only saves calls.
const CacheVersion = 2

// Cache is what earlier runs listed for one workspace or server, each listing with when
// it was made. It holds no secret (public keys, labels, dates).
type Cache struct {
	Version   int    `json:"version"`
	Workspace string `json:"workspace"`
	// Server is the API the listings came from: a cache made against another (the
	// sandbox, say) never answers for this one.
	Server   string             `json:"server"`
	Repos    *Listing[[]Repo]   `json:"repos,omitempty"`
	Projects *Listing[[]string] `json:"projects,omitempty"`
	// Targets are the access keys of each repository and project, by cacheKey.
	Targets map[string]*Listing[[]Placement] `json:"targets"`
}

// Listing is one answer of Bitbucket, as one run listed it (the repositories with Query).
type Listing[T any] struct {
	Query    string    `json:"query,omitempty"`
	ListedAt time.Time `json:"listed_at"`
	Items    T         `json:"items"`
}

// fresh returns the items when listed with query within maxAge of now.
func (l *Listing[T]) fresh(query string, now time.Time, maxAge time.Duration) (T, bool) {
	if l == nil || l.Query != query || l.ListedAt.IsZero() || l.ListedAt.After(now) || now.Sub(l.ListedAt) >= maxAge {
		var zero T
		return zero, false
	}
	return l.Items, true
}

// Repo is a repository and the key of its project.
type Repo struct {
	Slug    string `json:"slug"`
	Project string `json:"project,omitempty"`
}

// CacheFile is the cache on disk, safe for concurrent use by one process.
type CacheFile struct {
	Path string
	// Warn, when set, is told once that the cache cannot be written (a read-only home),
	// and Save then succeeds: the cache only saves calls, the audit runs without it.
	Warn   func(string)
	warned bool
	mu     sync.Mutex
	c      *Cache
}

// CachePath is where the cache named name lives under dir.
func CachePath(dir, name string) string {
	return filepath.Join(dir, "audit-"+strings.ToLower(name)+".json")
}

// OpenCache reads the cache of workspace on server (the API base URL) at path; a
// missing, unreadable or other-format file, or one made against another server, starts
// an empty one (the reason is returned as a warning).
func OpenCache(path, server, workspace string) (*CacheFile, string) {
	cf := &CacheFile{Path: path, c: &Cache{Version: CacheVersion, Workspace: strings.ToLower(workspace), Server: server, Targets: map[string]*Listing[[]Placement]{}}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, ""
	}
	var c Cache
	switch {
	case err != nil:
		return cf, fmt.Sprintf("cache %s not read (%v): listing everything again", path, err)
	case json.Unmarshal(b, &c) != nil || c.Version != CacheVersion || !strings.EqualFold(c.Workspace, workspace):
		return cf, fmt.Sprintf("cache %s is not one this bbkey reads: listing everything again", path)
	case c.Server != server:
		return cf, fmt.Sprintf("cache %s was made against %s: listing everything again", path, c.Server)
	}
	if c.Targets == nil {
		c.Targets = map[string]*Listing[[]Placement]{}
	}
	cf.c = &c
	return cf, ""
}

// Repos returns the cached repository listing when made with query within maxAge.
func (cf *CacheFile) Repos(query string, now time.Time, maxAge time.Duration) ([]Repo, bool) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.c.Repos.fresh(query, now, maxAge)
}

// Projects returns the cached project listing when made within maxAge.
func (cf *CacheFile) Projects(now time.Time, maxAge time.Duration) ([]string, bool) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.c.Projects.fresh("", now, maxAge)
}

// Target returns the cached access keys of t when listed within maxAge.
func (cf *CacheFile) Target(t state.Target, now time.Time, maxAge time.Duration) ([]Placement, bool) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.c.Targets[cacheKey(t)].fresh("", now, maxAge)
}

// set changes the cache under its lock.
func (cf *CacheFile) set(update func(c *Cache)) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	update(cf.c)
}

// Forget drops one placement (deleted by this run) from its target's entry, so a re-run
// within --max-age does not show it.
func (cf *CacheFile) Forget(p Placement) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if e := cf.c.Targets[cacheKey(p.Target)]; e != nil {
		e.Items = slices.DeleteFunc(slices.Clone(e.Items), func(k Placement) bool { return k.ID == p.ID })
	}
}

// Save writes the cache atomically (0600: it says who can read what).
func (cf *CacheFile) Save() error {
	cf.mu.Lock()
	b, err := json.Marshal(cf.c)
	cf.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encoding the audit cache: %w", err)
	}
	if err = fsutil.MkdirPrivate(filepath.Dir(cf.Path)); err != nil {
		err = fmt.Errorf("creating the cache directory: %w", err)
	} else if err = fsutil.WriteFileAtomic(cf.Path, append(b, '\n'), 0o600); err != nil {
		err = fmt.Errorf("saving the audit cache: %w", err)
	}
	if err != nil && cf.Warn != nil {
		cf.mu.Lock()
		first := !cf.warned
		cf.warned = true
		cf.mu.Unlock()
		if first {
			cf.Warn(fmt.Sprintf("the audit cache is not kept (%v): a re-run lists everything again", err))
		}
		return nil
	}
	return err
}

// cacheKey names a target case-insensitively, as Bitbucket does.
func cacheKey(t state.Target) string { return strings.ToLower(t.Key()) }
