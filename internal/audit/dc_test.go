package audit

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/state"
)

// On Data Center the audit lists every repository and project the credential
// administers (and no other), every page of each, names them as Data Center does
// (PROJ/slug, ~user/slug, PROJ), keeps each key's permission, and deletes by id only.
func TestDataCenterSource(t *testing.T) {
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	d := srv.DataCenter()
	// WEB is not ada's: neither it nor its repository may be listed.
	if err := d.AddProject("WEB", "Web"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddRepo("WEB", "site"); err != nil {
		t.Fatal(err)
	}
	client, err := dc.NewClient(d.ServerURL(), dc.Token{Token: d.DefaultToken()}, bbapi.WithHTTPClient(bbapitest.PageLenClient(2)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ci, cifp := key("ci")
	old, _ := key("old")
	for _, r := range []string{"api", "web", "infra"} {
		if _, _, err := client.RepoKeys("OPS", r).Add(ctx, dc.AddAccessKeyOptions{Text: ci, Label: "bbkey:ci:2026-01-01"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := client.RepoKeys("OPS", "api").Add(ctx, dc.AddAccessKeyOptions{Text: old, Label: "old", Permission: dc.RepoWrite}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.ProjectKeys("OPS").Add(ctx, dc.AddAccessKeyOptions{Text: old, Label: "old"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.RepoKeys("~ADA", "notes").Add(ctx, dc.AddAccessKeyOptions{Text: ci, Label: "bbkey:ci:2026-01-01"}); err != nil {
		t.Fatal(err)
	}

	src := DataCenter(client, nil)
	cache, warn := OpenCache(CachePath(t.TempDir(), "dc"), client.BaseURL(), "")
	if warn != "" {
		t.Fatal(warn)
	}
	col := &Auditor{Source: src, Cache: cache, Now: time.Now, MaxAge: time.Hour, Concurrency: 3, Server: client.ServerURL()}
	plan, err := col.Plan(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, tg := range plan.Targets {
		refs = append(refs, tg.Key())
	}
	want := []string{"repo:OPS/api", "repo:OPS/infra", "repo:OPS/web", "repo:~ADA/notes", "project:OPS"}
	slices.Sort(refs)
	slices.Sort(want)
	if !slices.Equal(refs, want) {
		t.Fatalf("targets %v, want %v", refs, want)
	}
	coll := col.Collect(ctx, plan, nil)
	if !coll.Complete() || coll.Listed != len(want) {
		t.Fatalf("collection: listed %d, failed %+v, skipped %v, stop %v", coll.Listed, coll.Failed, coll.Skipped, coll.Stop)
	}
	keys := Judge(coll.Placements, plan.ProjectRepos(), nil, Policy{Wide: 20}, time.Now())
	if len(keys) != 2 {
		t.Fatalf("%d keys, want 2: %+v", len(keys), keys)
	}
	byFP := map[string]*Key{}
	for _, k := range keys {
		byFP[k.Fingerprint] = k
	}
	k := byFP[cifp]
	if k == nil || !k.Managed || !slices.Equal(k.Repos, []string{"OPS/api", "OPS/infra", "OPS/web", "~ADA/notes"}) || k.Reach != 4 {
		t.Fatalf("ci key: %+v", k)
	}
	other := keys[1]
	if other.Managed || !slices.Equal(other.Projects, []string{"OPS"}) || other.Reach != 3 {
		t.Errorf("old key: projects %v reach %d", other.Projects, other.Reach)
	}
	perms := map[string]string{}
	for _, p := range other.Placements {
		perms[p.Target.Key()] = p.Permission
	}
	if perms["repo:OPS/api"] != "REPO_WRITE" || perms["project:OPS"] != "PROJECT_READ" {
		t.Errorf("permissions %v", perms)
	}

	// Deleting goes by id; a key already gone counts as deleted.
	for _, p := range other.Placements {
		if err := src.Delete(ctx, p); err != nil {
			t.Fatalf("delete %s: %v", p.Target.Key(), err)
		}
		if err := src.Delete(ctx, p); err != nil {
			t.Fatalf("delete %s again: %v", p.Target.Key(), err)
		}
	}
	if n := len(d.ProjectAccessKeys("OPS")); n != 0 {
		t.Errorf("project OPS still has %d access keys", n)
	}
	if ks := d.RepoAccessKeys("OPS", "api"); len(ks) != 1 || ks[0].Label != "bbkey:ci:2026-01-01" {
		t.Errorf("OPS/api keys after the deletion: %+v", ks)
	}
	if err := src.Delete(ctx, Placement{Target: state.Target{Kind: state.TargetRepo, Workspace: "OPS", Slug: "api"}}); err == nil {
		t.Error("a placement without an id was deleted")
	}

	// --project limits the audit to the named projects.
	only := DataCenter(client, []string{"~ADA"})
	repos, err := only.Repos(ctx)
	if err != nil || len(repos) != 1 || repos[0].Project != "~ADA" || repos[0].Slug != "notes" {
		t.Errorf("repos of ~ADA: %+v %v", repos, err)
	}
	if ps, err := only.Projects(ctx); err != nil || len(ps) != 0 {
		t.Errorf("projects of --project ~ADA: %v %v (a personal project has no project access keys)", ps, err)
	}
}
