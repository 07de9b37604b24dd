package bbapi_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// TestEmulatorProjectsAndSeededKeys lists a workspace's projects over several pages (the
// spec-validated GET /workspaces/{workspace}/projects), and reads back access keys seeded
// with a history: added_on, last_used and label as given, on a repository and a project.
func TestEmulatorProjectsAndSeededKeys(t *testing.T) {
	e := startEmulator(t)
	for _, k := range []string{"web", "DATA", "zz"} {
		if err := e.srv.AddProject("acme", k, ""); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(t, e.envCred(t), bbapi.WithHTTPClient(bbapitest.PageLenClient(2)))
	var keys []string
	for _, p := range all(t, c.Projects.ListWorkspace(context.Background(), "acme")) {
		keys = append(keys, p.Key)
	}
	if want := []string{"DATA", "OPS", "WEB", "ZZ"}; !slices.Equal(keys, want) {
		t.Errorf("projects = %v, want %v", keys, want)
	}
	var pages int
	for _, r := range e.srv.Requests() {
		if r.Path == "/2.0/workspaces/acme/projects" && r.Status == http.StatusOK {
			pages++
		}
	}
	if pages != 2 {
		t.Errorf("%d pages of projects, want 2", pages)
	}

	line, fp := pubKey(t, "old-laptop")
	added := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	used := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	id, err := e.srv.SeedAccessKey(bbapitest.DeployKey{Workspace: "acme", RepoSlug: "api", Key: line, Label: "laptop", AddedOn: added, LastUsed: &used})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.SeedAccessKey(bbapitest.DeployKey{Workspace: "acme", RepoSlug: "api", Key: line}); err == nil {
		t.Error("seeding the same key twice on one repository succeeded")
	}
	if _, err := e.srv.SeedAccessKey(bbapitest.DeployKey{Workspace: "acme", ProjectKey: "OPS", Key: line, Label: "laptop"}); err != nil {
		t.Fatal(err)
	}
	rk := all(t, c.RepoKeys("acme", "api").List(context.Background()))
	if len(rk) != 1 || int(rk[0].ID) != id || rk[0].SHA256() != fp || !rk[0].AddedOn.Equal(added) || !rk[0].LastUsed.Equal(used) || rk[0].Label != "laptop" || rk[0].Comment != "old-laptop" {
		t.Errorf("repository keys = %+v", rk)
	}
	pk := all(t, c.ProjectKeys("acme", "OPS").List(context.Background()))
	if len(pk) != 1 || pk[0].SHA256() != fp || !pk[0].LastUsed.IsZero() || !pk[0].AddedOn.Equal(e.clock.Now()) {
		t.Errorf("project keys = %+v", pk)
	}
}
