package backend

import (
	"context"
	"fmt"
	"iter"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
)

// RepoQuery says which repositories Repos lists.
type RepoQuery struct {
	// Project, when set, lists the repositories of that project (a Place of kind
	// Project): what a project access key reaches. Otherwise Repos lists the
	// repositories the credential administers (adding an access key needs admin).
	Project *Place
	// Workspace is the Cloud workspace listed (Cloud needs one; Data Center has none).
	Workspace string
	// Query is Cloud's filter language, e.g. `project.key = "OPS"` (Cloud only).
	Query string
}

// Repos lists repositories: those of q.Project, or those the credential administers in
// q.Workspace matching q.Query (role=admin). Data Center, paging with start and limit.
func (b *cloud) Repos(ctx context.Context, q RepoQuery) iter.Seq2[Place, error] {
	ws, opts := q.Workspace, &bbapi.ListRepositoriesOptions{Role: "admin", Query: q.Query}
	if q.Project != nil {
		ws, opts = q.Project.Owner, &bbapi.ListRepositoriesOptions{Query: fmt.Sprintf("project.key = %q", q.Project.Slug)}
	}
	return func(yield func(Place, error) bool) {
		if ws == "" {
			yield(Place{}, fmt.Errorf("listing repositories: no workspace"))
			return
		}
		for r, err := range b.c.Repositories.ListWorkspace(ctx, ws, opts) {
			if err != nil {
				yield(Place{}, err)
				return
			}
			owner := r.WorkspaceSlug()
			if owner == "" {
				owner = ws
			}
			if !yield(Place{Kind: Repo, Owner: owner, Slug: r.RepoSlug()}, nil) {
				return
			}
		}
	}
}

// Repos lists the repositories of q.Project (GET /api/latest/projects/{key}/repos), or
// every repository the credential administers (GET /api/latest/repos?permission=
// REPO_ADMIN); Workspace and Query are Cloud's and refused.
func (b *datacenter) Repos(ctx context.Context, q RepoQuery) iter.Seq2[Place, error] {
	return func(yield func(Place, error) bool) {
		if q.Workspace != "" || q.Query != "" {
			yield(Place{}, fmt.Errorf("listing repositories: Bitbucket Data Center has no workspaces and no query language"))
			return
		}
		seq := b.c.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin})
		if q.Project != nil {
			seq = b.c.Repositories.ListByProject(ctx, q.Project.Slug)
		}
		for r, err := range seq {
			if err != nil {
				yield(Place{}, err)
				return
			}
			if r.ProjectKey() == "" || r.Slug == "" {
				yield(Place{}, fmt.Errorf("listing repositories: the server sent a repository without a project key or slug (%q)", r.FullName()))
				return
			}
			if !yield(Place{Kind: Repo, Owner: r.ProjectKey(), Slug: r.Slug}, nil) {
				return
			}
		}
	}
}

// Stats are the transport's counters of a Cloud backend: requests, retries, waiting.
func (b *cloud) Stats() bbapi.Stats { return b.c.Stats() }

// Stats are the transport's counters of a Data Center backend.
func (b *datacenter) Stats() bbapi.Stats { return b.c.Stats() }
