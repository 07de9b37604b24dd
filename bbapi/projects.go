package bbapi

import (
	"context"
	"fmt"
	"iter"
)

// ProjectsService lists a workspace's projects.
type ProjectsService service

const routeWorkspaceProjects = "/workspaces/{workspace}/projects"

// ListWorkspace lists the projects of a workspace, by key.
//
// GET /workspaces/{workspace}/projects
func (s *ProjectsService) ListWorkspace(ctx context.Context, workspace string) iter.Seq2[*Project, error] {
	u, err := s.c.url("workspaces", workspace, "projects")
	if err != nil {
		return fail[*Project](fmt.Errorf("listing projects: %w", err))
	}
	return list[*Project](ctx, s.c, routeWorkspaceProjects, u, nil)
}
