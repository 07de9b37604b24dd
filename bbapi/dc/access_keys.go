package dc

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
)

// RepoAccessKeysService manages the access keys of repositories: SSH keys that may read
// (REPO_READ) or read and write (REPO_WRITE) one repository. Managing them needs
// REPO_ADMIN. A personal repository's project key is "~" followed by the user's slug.
type RepoAccessKeysService service

// ProjectAccessKeysService manages the access keys of projects: SSH keys that may read
// (PROJECT_READ) or write (PROJECT_WRITE) every repository of a project. Managing them
// needs PROJECT_ADMIN.
type ProjectAccessKeysService service

const (
	routeRepoKeys    = "/keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh"
	routeRepoKey     = "/keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh/{keyId}"
	routeProjectKeys = "/keys/latest/projects/{projectKey}/ssh"
	routeProjectKey  = "/keys/latest/projects/{projectKey}/ssh/{keyId}"
)

// AddAccessKeyOptions is the body of a new access key.
type AddAccessKeyOptions struct {
	// Text is the public key as an authorized_keys line.
	Text  string
	Label string
	// ExpiryDays is the key's lifetime in days (0: none, or the server's maximum).
	ExpiryDays int
	// Permission is REPO_READ or REPO_WRITE for a repository, PROJECT_READ or
	// PROJECT_WRITE for a project; empty means the read permission.
	Permission Permission
}

type accessKeyBody struct {
	Key        sshKeyBody `json:"key"`
	Permission Permission `json:"permission"`
}

// keyPlace is the path of an access-key collection: a repository's or a project's.
type keyPlace struct {
	segs      []string // under /keys/latest
	route     string   // the collection's route
	itemRoute string
	what      string // "repository PROJ/slug", for errors
	read      Permission
	write     Permission
}

func repoPlace(projectKey, repoSlug string) keyPlace {
	return keyPlace{
		segs:  []string{"keys", "latest", "projects", projectKey, "repos", repoSlug, "ssh"},
		route: routeRepoKeys, itemRoute: routeRepoKey,
		what: "repository " + projectKey + "/" + repoSlug, read: RepoRead, write: RepoWrite,
	}
}

func projectPlace(projectKey string) keyPlace {
	return keyPlace{
		segs:  []string{"keys", "latest", "projects", projectKey, "ssh"},
		route: routeProjectKeys, itemRoute: routeProjectKey,
		what: "project " + projectKey, read: ProjectRead, write: ProjectWrite,
	}
}

func (p keyPlace) url(c *Client, extra ...string) (*url.URL, error) {
	return c.url(append(append([]string{}, p.segs...), extra...)...)
}

func (p keyPlace) list(ctx context.Context, c *Client) iter.Seq2[*AccessKey, error] {
	u, err := p.url(c)
	if err != nil {
		return errSeq[*AccessKey](err)
	}
	return list[*AccessKey](ctx, c, p.route, u, nil)
}

func (p keyPlace) find(ctx context.Context, c *Client, fingerprint string) (*AccessKey, error) {
	return findKey(p.list(ctx, c), fingerprint, func(k *AccessKey) string { return k.Key.SHA256() })
}

func (p keyPlace) add(ctx context.Context, c *Client, opts AddAccessKeyOptions, orGet bool) (*AccessKey, *bbapi.Response, error) {
	perm := opts.Permission
	if perm == "" {
		perm = p.read
	}
	if perm != p.read && perm != p.write {
		return nil, nil, fmt.Errorf("adding access key to %s: permission %q is neither %s nor %s", p.what, perm, p.read, p.write)
	}
	fp, err := bbapi.FingerprintOf(opts.Text)
	if err != nil {
		return nil, nil, fmt.Errorf("adding access key to %s: %w", p.what, err)
	}
	u, err := p.url(c)
	if err != nil {
		return nil, nil, fmt.Errorf("adding access key to %s: %w", p.what, err)
	}
	body := accessKeyBody{Key: sshKeyBody{Text: strings.TrimSpace(opts.Text), Label: opts.Label, ExpiryDays: max(opts.ExpiryDays, 0)}, Permission: perm}
	return addKey(ctx, c, &call{method: http.MethodPost, route: p.route, url: u, in: body}, orGet, func() (*AccessKey, error) {
		return p.find(ctx, c, fp)
	})
}

func (p keyPlace) itemURL(c *Client, id int, extra ...string) (*url.URL, error) {
	if id <= 0 {
		return nil, ErrNoKeyID
	}
	return p.url(c, append([]string{strconv.Itoa(id)}, extra...)...)
}

func (p keyPlace) get(ctx context.Context, c *Client, id int) (*AccessKey, *bbapi.Response, error) {
	u, err := p.itemURL(c, id)
	if err != nil {
		return nil, nil, fmt.Errorf("getting access key of %s: %w", p.what, err)
	}
	var out AccessKey
	resp, err := c.do(ctx, &call{method: http.MethodGet, route: p.itemRoute, url: u, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

func (p keyPlace) delete(ctx context.Context, c *Client, id int) (*bbapi.Response, error) {
	u, err := p.itemURL(c, id)
	if err != nil {
		return nil, fmt.Errorf("deleting access key of %s: %w", p.what, err)
	}
	return c.do(ctx, &call{method: http.MethodDelete, route: p.itemRoute, url: u})
}

// List iterates over a repository's access keys.
//
// GET /keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh
func (s *RepoAccessKeysService) List(ctx context.Context, projectKey, repoSlug string) iter.Seq2[*AccessKey, error] {
	return repoPlace(projectKey, repoSlug).list(ctx, s.c)
}

// FindByFingerprint returns the repository's access key with this fingerprint, or nil
// and no error when there is none.
func (s *RepoAccessKeysService) FindByFingerprint(ctx context.Context, projectKey, repoSlug, fingerprint string) (*AccessKey, error) {
	return repoPlace(projectKey, repoSlug).find(ctx, s.c, fingerprint)
}

// Add grants a key access to a repository (REPO_READ unless opts.Permission says
// REPO_WRITE). The server answers 201. A duplicate answer to a retry of an attempt that
// may have landed is reconciled by fingerprint (Response.Reconciled), as for user keys.
//
// POST /keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh
func (s *RepoAccessKeysService) Add(ctx context.Context, projectKey, repoSlug string, opts AddAccessKeyOptions) (*AccessKey, *bbapi.Response, error) {
	return repoPlace(projectKey, repoSlug).add(ctx, s.c, opts, false)
}

// AddOrGet is Add, but a duplicate answer for a key the repository already has is
// returned as success with Response.Reconciled set (the returned permission is the one
// the key has, which may differ from the one asked for).
//
// POST /keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh
func (s *RepoAccessKeysService) AddOrGet(ctx context.Context, projectKey, repoSlug string, opts AddAccessKeyOptions) (*AccessKey, *bbapi.Response, error) {
	return repoPlace(projectKey, repoSlug).add(ctx, s.c, opts, true)
}

// Get returns one access key of a repository.
//
// GET /keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh/{keyId}
func (s *RepoAccessKeysService) Get(ctx context.Context, projectKey, repoSlug string, id int) (*AccessKey, *bbapi.Response, error) {
	return repoPlace(projectKey, repoSlug).get(ctx, s.c, id)
}

// Delete revokes a key's access to a repository. The server answers 204.
//
// DELETE /keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh/{keyId}
func (s *RepoAccessKeysService) Delete(ctx context.Context, projectKey, repoSlug string, id int) (*bbapi.Response, error) {
	return repoPlace(projectKey, repoSlug).delete(ctx, s.c, id)
}

// List iterates over a project's access keys.
//
// GET /keys/latest/projects/{projectKey}/ssh
func (s *ProjectAccessKeysService) List(ctx context.Context, projectKey string) iter.Seq2[*AccessKey, error] {
	return projectPlace(projectKey).list(ctx, s.c)
}

// FindByFingerprint returns the project's access key with this fingerprint, or nil and
// no error when there is none.
func (s *ProjectAccessKeysService) FindByFingerprint(ctx context.Context, projectKey, fingerprint string) (*AccessKey, error) {
	return projectPlace(projectKey).find(ctx, s.c, fingerprint)
}

// Add grants a key access to every repository of a project (PROJECT_READ unless
// opts.Permission says PROJECT_WRITE). The server answers 201.
//
// POST /keys/latest/projects/{projectKey}/ssh
func (s *ProjectAccessKeysService) Add(ctx context.Context, projectKey string, opts AddAccessKeyOptions) (*AccessKey, *bbapi.Response, error) {
	return projectPlace(projectKey).add(ctx, s.c, opts, false)
}

// AddOrGet is Add that accepts a key the project already has (see
// RepoAccessKeysService.AddOrGet).
//
// POST /keys/latest/projects/{projectKey}/ssh
func (s *ProjectAccessKeysService) AddOrGet(ctx context.Context, projectKey string, opts AddAccessKeyOptions) (*AccessKey, *bbapi.Response, error) {
	return projectPlace(projectKey).add(ctx, s.c, opts, true)
}

// Get returns one access key of a project.
//
// GET /keys/latest/projects/{projectKey}/ssh/{keyId}
func (s *ProjectAccessKeysService) Get(ctx context.Context, projectKey string, id int) (*AccessKey, *bbapi.Response, error) {
	return projectPlace(projectKey).get(ctx, s.c, id)
}

// Delete revokes a key's access to a project. The server answers 204.
//
// DELETE /keys/latest/projects/{projectKey}/ssh/{keyId}
func (s *ProjectAccessKeysService) Delete(ctx context.Context, projectKey string, id int) (*bbapi.Response, error) {
	return projectPlace(projectKey).delete(ctx, s.c, id)
}

// ParseRepoName splits bbkey's Data Center repository name "PROJ/slug" (or "~user/slug"
// for a personal repository) into the project key and the slug.
func ParseRepoName(name string) (projectKey, slug string, err error) {
	p, sl, ok := strings.Cut(strings.TrimSpace(name), "/")
	switch {
	case !ok || p == "" || sl == "" || strings.Contains(sl, "/"):
		return "", "", fmt.Errorf("repository %q: want PROJECT/slug (or ~user/slug for a personal repository)", name)
	case p == "~":
		return "", "", errors.New("repository " + strconv.Quote(name) + ": a personal repository is ~user/slug")
	}
	return p, sl, nil
}
