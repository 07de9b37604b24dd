package audit

import (
	"context"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

// Source is the Bitbucket an audit reads and revokes on: the access keys through its
// Backend; what to audit through its own client, since a Cloud repository listing
// carries each repository's project (for the reach of project keys) and a Data Center
// audit lists what the credential administers.
type Source struct {
	Backend backend.Backend
	// Repos lists the repositories whose access keys are audited, each with its project.
	Repos func(ctx context.Context) ([]Repo, error)
	// Projects lists the keys of the projects whose access keys are audited.
	Projects func(ctx context.Context) ([]string, error)
}

// Cloud audits a workspace: the repositories the credential administers there
// (role=admin: only their access keys can be read) matching query, and every project.
func Cloud(c *bbapi.Client, workspace, query string) Source {
	return Source{
		Backend: backend.NewCloud(c, settings.Settings{}), // the settings are the SSH side's, not used here,
		Repos: func(ctx context.Context) ([]Repo, error) {
			var out []Repo
			for r, err := range c.Repositories.ListWorkspace(ctx, workspace, &bbapi.ListRepositoriesOptions{Role: "admin", Query: query}) {
				if err != nil {
					return nil, err
				}
				repo := Repo{Slug: r.RepoSlug()}
				if r.Project != nil {
					repo.Project = r.Project.Key
				}
				out = append(out, repo)
			}
			return out, nil
		},
		Projects: func(ctx context.Context) ([]string, error) {
			var out []string
			for p, err := range c.Projects.ListWorkspace(ctx, workspace) {
				if err != nil {
					return nil, err
				}
				out = append(out, p.Key)
			}
			return out, nil
		},
	}
}

// DataCenter audits a server: every repository and project the credential administers
// (REPO_ADMIN, PROJECT_ADMIN), or those of the projects named in only (--project). A
// personal project (~user) has no project access keys, only its repositories'.
func DataCenter(c *dc.Client, only []string) Source {
	return Source{
		Backend: backend.NewDataCenter(c, backend.DataCenterOptions{}),
		Repos: func(ctx context.Context) ([]Repo, error) {
			scopes := only
			if len(scopes) == 0 {
				scopes = []string{""} // every project
			}
			var out []Repo
			for _, proj := range scopes {
				for r, err := range c.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin, ProjectKey: proj}) {
					if err != nil {
						return nil, err
					}
					out = append(out, Repo{Slug: r.Slug, Project: r.ProjectKey()})
				}
			}
			return out, nil
		},
		Projects: func(ctx context.Context) ([]string, error) {
			var out []string
			for _, k := range only {
				if !strings.HasPrefix(k, "~") {
					out = append(out, k)
				}
			}
			if len(only) > 0 {
				return out, nil
			}
			for p, err := range c.Projects.List(ctx, dc.ListProjectsOptions{Permission: dc.ProjectAdmin}) {
				if err != nil {
					return nil, err
				}
				if !p.Personal() {
					out = append(out, p.Key)
				}
			}
			return out, nil
		},
	}
}

// Keys lists the access keys of one repository or project, every page.
func (s Source) Keys(ctx context.Context, t state.Target) ([]Placement, error) {
	ks, err := s.Backend.AccessKeys(ctx, provision.PlaceOf(t))
	out := []Placement{}
	for _, k := range ks {
		id, _ := strconv.ParseInt(k.ID, 10, 64)
		out = append(out, Placement{Target: t, ID: bbapi.ID(id), Key: k.Text, Label: k.Label, Comment: k.Comment,
			AddedOn: k.Created, LastUsed: k.LastUsed, Permission: k.Permission})
	}
	return out, err
}

// Delete removes one access key from its repository or project, by its id; a key
// already gone counts as deleted.
func (s Source) Delete(ctx context.Context, p Placement) error {
	err := s.Backend.DeleteAccessKey(ctx, provision.PlaceOf(p.Target), backend.Key{ID: p.ID.String()})
	if bbapi.IsNotFound(err) {
		return nil
	}
	return err
}

// Calls is the number of HTTP requests made so far.
func (s Source) Calls() int { return s.Backend.Stats().Requests }
