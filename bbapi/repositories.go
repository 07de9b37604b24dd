package bbapi

import (
	"context"
	"fmt"
	"iter"
	"net/url"
)

// RepositoriesService lists repositories.
type RepositoriesService service

// ListRepositoriesOptions filters GET /repositories/{workspace}.
type ListRepositoriesOptions struct {
	// Role limits to repositories where the user has at least this role: member,
	// contributor, admin or owner.
	Role string
	// Query is Bitbucket's filter language, e.g. `name ~ "api"` or `project.key = "OPS"`.
	Query string
	// Sort is a field to sort by, e.g. "slug" or "-updated_on".
	Sort string
}

// ListWorkspace lists the repositories of a workspace.
//
// GET /repositories/{workspace}
func (s *RepositoriesService) ListWorkspace(ctx context.Context, workspace string, opts *ListRepositoriesOptions) iter.Seq2[*Repository, error] {
	u, err := s.c.url("repositories", workspace)
	if err != nil {
		return fail[*Repository](fmt.Errorf("listing repositories: %w", err))
	}
	q := url.Values{}
	if opts != nil {
		switch opts.Role {
		case "", "member", "contributor", "admin", "owner":
		default:
			return fail[*Repository](fmt.Errorf("listing repositories: invalid role %q (want member, contributor, admin or owner)", opts.Role))
		}
		if opts.Role != "" {
			q.Set("role", opts.Role)
		}
		if opts.Query != "" {
			q.Set("q", opts.Query)
		}
		if opts.Sort != "" {
			q.Set("sort", opts.Sort)
		}
	}
	return list[*Repository](ctx, s.c, "/repositories/{workspace}", u, q)
}
