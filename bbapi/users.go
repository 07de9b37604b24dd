package bbapi

import (
	"context"
	"iter"
	"net/http"
	"net/url"
)

// UsersService reads the authenticated user and the workspaces it belongs to.
type UsersService service

// Current returns the authenticated user. Its Response carries x-oauth-scopes on some
// credentials (Response.Scopes).
//
// GET /user
func (s *UsersService) Current(ctx context.Context) (*User, *Response, error) {
	u, err := s.c.url("user")
	if err != nil {
		return nil, nil, err
	}
	var out User
	resp, err := s.c.do(ctx, &call{endpoint: endpoint{http.MethodGet, "/user", u}, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// ListWorkspacesOptions filters GET /user/workspaces.
type ListWorkspacesOptions struct {
	// AdministratorOnly lists only workspaces the user administers.
	AdministratorOnly bool
}

// Workspaces lists the workspaces the user can see, with whether they administer each.
//
// GET /user/workspaces
func (s *UsersService) Workspaces(ctx context.Context, opts *ListWorkspacesOptions) iter.Seq2[*WorkspaceAccess, error] {
	u, err := s.c.url("user", "workspaces")
	if err != nil {
		return fail[*WorkspaceAccess](err)
	}
	q := url.Values{}
	if opts != nil && opts.AdministratorOnly {
		q.Set("administrator", "true")
	}
	return list[*WorkspaceAccess](ctx, s.c, "/user/workspaces", u, q)
}

// fail is an iterator that yields only err.
func fail[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}
