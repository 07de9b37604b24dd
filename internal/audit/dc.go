package audit

import (
	"context"
	"errors"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/state"
)

// DataCenter is a Bitbucket Data Center server as an audit Source. It has no workspace:
// the audit covers every repository and project the credential administers on the
// server (REPO_ADMIN, PROJECT_ADMIN: only their access keys can be read), or, with
// OnlyProjects, those of the named projects. Its targets are named as Data Center names
// them: a repository "PROJ/slug" (a personal one "~user/slug"), a project "PROJ".
type DataCenter struct {
	Client *dc.Client
	// OnlyProjects limits the audit to these project keys (--project); empty is everything
	// the credential administers.
	OnlyProjects []string
}

// Repos implements Source: GET /api/latest/repos?permission=REPO_ADMIN (per project with
// OnlyProjects), every page. The workspace and query are Cloud's; they are not used.
func (d DataCenter) Repos(ctx context.Context, _, _ string) ([]Repo, error) {
	scopes := d.OnlyProjects
	if len(scopes) == 0 {
		scopes = []string{""}
	}
	var out []Repo
	for _, proj := range scopes {
		for r, err := range d.Client.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin, ProjectKey: proj}) {
			if err != nil {
				return nil, err
			}
			out = append(out, Repo{Slug: r.Slug, Project: r.ProjectKey()})
		}
	}
	return out, nil
}

// Projects implements Source: GET /api/latest/projects?permission=PROJECT_ADMIN, every
// page; with OnlyProjects, those keys as given.
func (d DataCenter) Projects(ctx context.Context, _ string) ([]string, error) {
	var out []string
	if len(d.OnlyProjects) > 0 {
		for _, k := range d.OnlyProjects {
			if !strings.HasPrefix(k, "~") { // personal: only its repositories have access keys
				out = append(out, k)
			}
		}
		return out, nil
	}
	for p, err := range d.Client.Projects.List(ctx, dc.ListProjectsOptions{Permission: dc.ProjectAdmin}) {
		if err != nil {
			return nil, err
		}
		if p.Personal() {
			continue // a personal project has no project access keys, only its repositories'
		}
		out = append(out, p.Key)
	}
	return out, nil
}

// Keys implements Source: the access keys of a repository or project, every page.
func (d DataCenter) Keys(ctx context.Context, t state.Target) ([]Placement, error) {
	out := []Placement{}
	seq := d.Client.RepoAccessKeys.List(ctx, t.Workspace, t.Slug)
	if t.Kind == state.TargetProject {
		seq = d.Client.ProjectAccessKeys.List(ctx, t.Slug)
	}
	for k, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, Placement{Target: t, ID: bbapi.ID(k.Key.ID), Key: k.Key.Text, Label: k.Key.Label,
			AddedOn: k.Key.CreatedDate.Time, LastUsed: k.Key.LastAuthenticated.Time, Permission: string(k.Permission)})
	}
	return out, nil
}

// Delete implements Source: DELETE /keys/latest/…/ssh/{keyId}, always by the key's id. A
// key already gone counts as deleted.
func (d DataCenter) Delete(ctx context.Context, p Placement) error {
	id := int(p.ID)
	if id <= 0 {
		return errors.New("access key of " + p.Target.Ref() + " has no id: not deleted")
	}
	var err error
	switch p.Target.Kind {
	case state.TargetRepo:
		_, err = d.Client.RepoAccessKeys.Delete(ctx, p.Target.Workspace, p.Target.Slug, id)
	case state.TargetProject:
		_, err = d.Client.ProjectAccessKeys.Delete(ctx, p.Target.Slug, id)
	default:
		err = errors.New("unknown target kind " + string(p.Target.Kind))
	}
	if dc.IsNotFound(err) {
		return nil
	}
	return err
}

// Calls implements Source.
func (d DataCenter) Calls() int { return d.Client.Stats().Requests }
