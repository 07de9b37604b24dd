package audit

import (
	"context"
	"errors"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/state"
)

// Cloud is Bitbucket Cloud as an audit Source.
type Cloud struct {
	Client *bbapi.Client
}

// Repos implements Source: GET /repositories/{workspace}?role=admin&q=…, every page.
func (c Cloud) Repos(ctx context.Context, workspace, query string) ([]Repo, error) {
	var out []Repo
	for r, err := range c.Client.Repositories.ListWorkspace(ctx, workspace, &bbapi.ListRepositoriesOptions{Role: "admin", Query: query}) {
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
}

// Projects implements Source: GET /workspaces/{workspace}/projects, every page.
func (c Cloud) Projects(ctx context.Context, workspace string) ([]string, error) {
	var out []string
	for p, err := range c.Client.Projects.ListWorkspace(ctx, workspace) {
		if err != nil {
			return nil, err
		}
		out = append(out, p.Key)
	}
	return out, nil
}

// Keys implements Source: the deploy-keys listing of a repository or project.
func (c Cloud) Keys(ctx context.Context, t state.Target) ([]Placement, error) {
	out := []Placement{}
	if t.Kind == state.TargetProject {
		for k, err := range c.Client.ProjectDeployKeys.List(ctx, t.Workspace, t.Slug) {
			if err != nil {
				return nil, err
			}
			out = append(out, Placement{Target: t, ID: k.ID, Key: k.Key, Label: k.Label, Comment: k.Comment,
				AddedOn: k.AddedOn.Time.UTC(), LastUsed: utc(k.LastUsed), Self: k.Links.Self.Href})
		}
		return out, nil
	}
	for k, err := range c.Client.DeployKeys.List(ctx, t.Workspace, t.Slug) {
		if err != nil {
			return nil, err
		}
		out = append(out, Placement{Target: t, ID: k.ID, Key: k.Key, Label: k.Label, Comment: k.Comment,
			AddedOn: k.AddedOn.Time.UTC(), LastUsed: utc(k.LastUsed), Self: k.Links.Self.Href})
	}
	return out, nil
}

func utc(t bbapi.Timestamp) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Delete implements Source: DELETE …/deploy-keys/{key_id}, by the key's self link when
// Bitbucket gave one.
func (c Cloud) Delete(ctx context.Context, p Placement) error {
	var err error
	switch p.Target.Kind {
	case state.TargetRepo:
		k := &bbapi.DeployKey{ID: p.ID, Links: bbapi.SelfLinks{Self: bbapi.Link{Href: p.Self}},
			Repository: &bbapi.Repository{FullName: p.Target.Ref(), Slug: p.Target.Slug}}
		_, err = c.Client.DeployKeys.DeleteKey(ctx, k)
	case state.TargetProject:
		if p.Self != "" {
			_, err = c.Client.ProjectDeployKeys.DeleteKey(ctx, &bbapi.ProjectDeployKey{ID: p.ID, Links: bbapi.SelfLinks{Self: bbapi.Link{Href: p.Self}}})
		} else {
			_, err = c.Client.ProjectDeployKeys.Delete(ctx, p.Target.Workspace, p.Target.Slug, p.ID)
		}
	default:
		err = errors.New("unknown target kind " + string(p.Target.Kind))
	}
	return err
}

// Calls implements Source.
func (c Cloud) Calls() int { return c.Client.Stats().Requests }
