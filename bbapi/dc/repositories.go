package dc

import (
	"context"
	"iter"
	"net/http"
	"net/url"

	"github.com/bbkey/bbkey/bbapi"
)

// RepositoriesService lists and reads repositories.
type RepositoriesService service

// ProjectsService lists and reads projects.
type ProjectsService service

// UsersService reads users.
type UsersService service

// ListRepositoriesOptions filters GET /api/latest/repos.
type ListRepositoriesOptions struct {
	// Permission keeps the repositories on which the credential has at least this
	// permission: RepoAdmin lists every repository whose access keys it may manage
	// (bbkey's --all).
	Permission Permission
	// ProjectKey keeps the repositories of one project.
	ProjectKey string
	// Name keeps the repositories whose name contains it (case-insensitive).
	Name string
}

// List iterates over the repositories the credential can see, filtered.
//
// GET /api/latest/repos
func (s *RepositoriesService) List(ctx context.Context, opts ListRepositoriesOptions) iter.Seq2[*Repository, error] {
	u, err := s.c.url("api", "latest", "repos")
	if err != nil {
		return errSeq[*Repository](err)
	}
	q := url.Values{}
	if opts.Permission != "" {
		q.Set("permission", string(opts.Permission))
	}
	if opts.ProjectKey != "" {
		q.Set("projectkey", opts.ProjectKey)
	}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	return list[*Repository](ctx, s.c, "/api/latest/repos", u, q)
}

// ListAdministered is every repository whose access keys the credential may manage
// (REPO_ADMIN, directly or through its project).
//
// GET /api/latest/repos?permission=REPO_ADMIN
func (s *RepositoriesService) ListAdministered(ctx context.Context) ([]*Repository, error) {
	return collect(s.List(ctx, ListRepositoriesOptions{Permission: RepoAdmin}))
}

// ListByProject iterates over the repositories of a project the credential can see.
//
// GET /api/latest/projects/{projectKey}/repos
func (s *RepositoriesService) ListByProject(ctx context.Context, projectKey string) iter.Seq2[*Repository, error] {
	u, err := s.c.url("api", "latest", "projects", projectKey, "repos")
	if err != nil {
		return errSeq[*Repository](err)
	}
	return list[*Repository](ctx, s.c, "/api/latest/projects/{projectKey}/repos", u, nil)
}

// Get returns one repository.
//
// GET /api/latest/projects/{projectKey}/repos/{repositorySlug}
func (s *RepositoriesService) Get(ctx context.Context, projectKey, repoSlug string) (*Repository, *bbapi.Response, error) {
	u, err := s.c.url("api", "latest", "projects", projectKey, "repos", repoSlug)
	if err != nil {
		return nil, nil, err
	}
	var out Repository
	resp, err := s.c.do(ctx, &call{method: http.MethodGet, route: "/api/latest/projects/{projectKey}/repos/{repositorySlug}", url: u, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// ListProjectsOptions filters GET /api/latest/projects.
type ListProjectsOptions struct {
	// Permission keeps the projects on which the credential has at least this
	// permission: ProjectAdmin lists the projects whose access keys it may manage.
	Permission Permission
	// Name keeps the projects whose name contains it.
	Name string
}

// List iterates over the projects the credential can see, filtered.
//
// GET /api/latest/projects
func (s *ProjectsService) List(ctx context.Context, opts ListProjectsOptions) iter.Seq2[*Project, error] {
	u, err := s.c.url("api", "latest", "projects")
	if err != nil {
		return errSeq[*Project](err)
	}
	q := url.Values{}
	if opts.Permission != "" {
		q.Set("permission", string(opts.Permission))
	}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	return list[*Project](ctx, s.c, "/api/latest/projects", u, q)
}

// Get returns one project.
//
// GET /api/latest/projects/{projectKey}
func (s *ProjectsService) Get(ctx context.Context, projectKey string) (*Project, *bbapi.Response, error) {
	u, err := s.c.url("api", "latest", "projects", projectKey)
	if err != nil {
		return nil, nil, err
	}
	var out Project
	resp, err := s.c.do(ctx, &call{method: http.MethodGet, route: "/api/latest/projects/{projectKey}", url: u, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Get returns a user by slug.
//
// GET /api/latest/users/{userSlug}
func (s *UsersService) Get(ctx context.Context, slug string) (*User, *bbapi.Response, error) {
	u, err := s.c.url("api", "latest", "users", slug)
	if err != nil {
		return nil, nil, err
	}
	var out User
	resp, err := s.c.do(ctx, &call{method: http.MethodGet, route: "/api/latest/users/{userSlug}", url: u, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Current returns the user the credential acts as: Data Center names it in the
// X-AUSERNAME header of every authenticated answer (for a project or repository HTTP
// access token, its service user). The header comes with the application properties,
// which also give the server's version.
//
// GET /api/latest/application-properties, then GET /api/latest/users/{userSlug}
func (s *UsersService) Current(ctx context.Context) (*User, *ApplicationProperties, error) {
	props, resp, err := s.c.Properties(ctx)
	if err != nil {
		return nil, nil, err
	}
	name := resp.Header.Get("X-AUSERNAME")
	if name == "" {
		return nil, props, &ErrorResponse{Method: http.MethodGet, URL: s.c.BaseURL() + "/api/latest/application-properties", Route: "/api/latest/application-properties", StatusCode: resp.StatusCode, Body: "the server did not name the credential's user (no X-AUSERNAME header): the credential was not accepted"}
	}
	u, _, err := s.Get(ctx, name)
	if err != nil {
		return nil, props, err
	}
	return u, props, nil
}

// Properties returns what the server says about itself (version, build, name).
//
// GET /api/latest/application-properties
func (c *Client) Properties(ctx context.Context) (*ApplicationProperties, *bbapi.Response, error) {
	u, err := c.url("api", "latest", "application-properties")
	if err != nil {
		return nil, nil, err
	}
	var out ApplicationProperties
	resp, err := c.do(ctx, &call{method: http.MethodGet, route: "/api/latest/application-properties", url: u, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}
