package bbapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Timestamp is a time Bitbucket sent, read leniently: RFC 3339 with or without
// fractional seconds, a zone-less date-time (taken as UTC), or a bare date. The zero
// value means absent or null.
type Timestamp struct{ time.Time }

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02",
}

// UnmarshalJSON accepts null, "" and the layouts above.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	*t = Timestamp{}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	if s == "" {
		return nil
	}
	for _, l := range timestampLayouts {
		if v, err := time.Parse(l, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("timestamp: cannot read %q", s)
}

// MarshalJSON writes RFC 3339, or null for the zero value.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Format(time.RFC3339Nano))
}

// ID is a numeric id Bitbucket sends as a number (access keys); read from a string too.
type ID int64

// UnmarshalJSON accepts 123, "123" and null.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*id = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("id: cannot read %s", b)
	}
	*id = ID(n)
	return nil
}

func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// Link is a hyperlink in a Bitbucket object.
type Link struct {
	Href string `json:"href"`
}

// SelfLinks holds an object's own URL.
type SelfLinks struct {
	Self Link `json:"self"`
}

// Account is a user or team as Bitbucket embeds it in other objects.
type Account struct {
	UUID        string `json:"uuid,omitempty"`
	AccountID   string `json:"account_id,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Nickname    string `json:"nickname,omitempty"`
	// Username is gone from most answers since the 2019 privacy change.
	Username string `json:"username,omitempty"`
}

// User is the authenticated user (GET /user).
type User struct {
	Account
}

// Project is a Bitbucket project.
type Project struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
}

// Repository is a Bitbucket repository.
type Repository struct {
	Slug      string   `json:"slug,omitempty"`
	FullName  string   `json:"full_name,omitempty"`
	Project   *Project `json:"project,omitempty"`
	Workspace *struct {
		Slug string `json:"slug"`
	} `json:"workspace,omitempty"`
}

// WorkspaceSlug is the workspace part of full_name ("ws/repo"), else the embedded
// workspace's slug.
func (r *Repository) WorkspaceSlug() string {
	if ws, _, ok := strings.Cut(r.FullName, "/"); ok {
		return ws
	}
	if r.Workspace != nil {
		return r.Workspace.Slug
	}
	return ""
}

// RepoSlug is the slug, else the repository part of full_name.
func (r *Repository) RepoSlug() string {
	if r.Slug != "" {
		return r.Slug
	}
	_, slug, _ := strings.Cut(r.FullName, "/")
	return slug
}

// UsersService reads the authenticated user.
type UsersService service

// Current returns the authenticated user; its Response carries x-oauth-scopes on some
// credentials (Response.Scopes).
//
// GET /user
func (s *UsersService) Current(ctx context.Context) (*User, *Response, error) {
	u, err := s.c.URL("user")
	if err != nil {
		return nil, nil, err
	}
	return Get[User](ctx, s.c, "/user", u)
}

// RepositoriesService lists repositories.
type RepositoriesService service

// ListRepositoriesOptions filters GET /repositories/{workspace}.
type ListRepositoriesOptions struct {
	// Role keeps repositories where the user has at least this role: member,
	// contributor, admin or owner.
	Role string
	// Query is Bitbucket's filter language, e.g. `name ~ "api"` or `project.key = "OPS"`.
	Query string
}

// ListWorkspace lists the repositories of a workspace.
//
// GET /repositories/{workspace}
func (s *RepositoriesService) ListWorkspace(ctx context.Context, workspace string, opts *ListRepositoriesOptions) iter.Seq2[*Repository, error] {
	q := url.Values{}
	if opts != nil {
		for k, v := range map[string]string{"role": opts.Role, "q": opts.Query} {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	return list[*Repository](ctx, s.c, routeRepos, q, "repositories", workspace)
}

const (
	routeRepos    = "/repositories/{workspace}"
	routeProjects = "/workspaces/{workspace}/projects"
)

// ProjectsService lists a workspace's projects.
type ProjectsService service

// ListWorkspace lists the projects of a workspace.
//
// GET /workspaces/{workspace}/projects
func (s *ProjectsService) ListWorkspace(ctx context.Context, workspace string) iter.Seq2[*Project, error] {
	return list[*Project](ctx, s.c, routeProjects, nil, "workspaces", workspace, "projects")
}
