package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/state"
)

// dcFixture is newFixture's machine with a Data Center server beside the Cloud one:
// ada administers project OPS (api, web, infra) and her own ~ADA/notes; project WEB,
// with a key on WEB/site, is someone else's. Keys:
//   - ci: bbkey's, ttl 90d, 127 days old: read on OPS/web, write on OPS/api (past-ttl)
//   - build: bbkey's, young, on project OPS (read)
//   - laptop: foreign, on ~ADA/notes
//   - other: on WEB/site, which ada does not administer: never listed
func dcFixture(t *testing.T) (*fixture, *bbapitest.DataCenter, map[string]string) {
	t.Helper()
	f := newFixtureWith(t, nil)
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t), bbapitest.WithClock(func() time.Time { return now }))
	d := srv.DataCenter()
	f.dc = d
	ctx := context.Background()
	client, err := dc.NewClient(d.ServerURL(), dc.Token{Token: d.DefaultToken()})
	if err != nil {
		t.Fatal(err)
	}
	fps := map[string]string{}
	add := func(c *dc.Client, name, label, proj, repo string, perm dc.Permission) {
		line, fp := fixtureKey(name, name)
		fps[name] = fp
		var err error
		if repo == "" {
			_, _, err = c.ProjectKeys(proj).Add(ctx, dc.AddAccessKeyOptions{Text: line, Label: label, Permission: perm})
		} else {
			_, _, err = c.RepoKeys(proj, repo).Add(ctx, dc.AddAccessKeyOptions{Text: line, Label: label, Permission: perm})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	add(client, "ci", "bbkey:ci:2026-08-01:ttl=90d", "OPS", "web", dc.RepoRead)
	add(client, "ci", "bbkey:ci:2026-08-01:ttl=90d", "OPS", "api", dc.RepoWrite)
	add(client, "build", "bbkey:build:2026-12-01:ttl=90d", "OPS", "", dc.ProjectRead)
	add(client, "laptop", "", "~ADA", "notes", dc.RepoRead)
	if err := d.AddProject("WEB", "Web"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddRepo("WEB", "site"); err != nil {
		t.Fatal(err)
	}
	tok, err := d.AddProjectToken("WEB", bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	web, err := dc.NewClient(d.ServerURL(), dc.Token{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	add(web, "other", "other", "WEB", "site", dc.RepoRead)
	srv.ResetRequests()
	f.dcSrv = srv
	return f, d, fps
}

// An audit of a Data Center server: every repository and project ada administers, each
// placement's permission, the server named in the JSON, the table and the CSV; the
// flagged managed key deleted by id with --revoke-flagged, nothing else.
func TestAuditDataCenter(t *testing.T) {
	f, d, fps := dcFixture(t)
	r := f.audit("--json")
	if r.code != errkind.ExitFlagged {
		t.Fatalf("exit %d (%v), want %d; stderr:\n%s", r.code, r.err, errkind.ExitFlagged, r.errOut)
	}
	var doc jsonDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Server != d.ServerURL() || doc.Workspace != "" || doc.Repositories != 4 || doc.Projects != 1 || !doc.Complete {
		t.Fatalf("server %q workspace %q repositories %d projects %d complete %v", doc.Server, doc.Workspace, doc.Repositories, doc.Projects, doc.Complete)
	}
	got := map[string][]string{}
	for _, k := range doc.Keys {
		for _, p := range k.Placements {
			got[k.Fingerprint] = append(got[k.Fingerprint], string(p.Kind)+":"+p.Target+"="+p.Permission)
		}
		if k.Fingerprint == fps["other"] {
			t.Errorf("a key of a project ada does not administer was listed: %+v", k)
		}
	}
	for name, want := range map[string][]string{
		"ci":     {"repo:OPS/api=REPO_WRITE", "repo:OPS/web=REPO_READ"},
		"build":  {"project:OPS=PROJECT_READ"},
		"laptop": {"repo:~ADA/notes=REPO_READ"},
	} {
		if !slices.Equal(got[fps[name]], want) {
			t.Errorf("%s placements %v, want %v", name, got[fps[name]], want)
		}
	}
	if !strings.Contains(r.errOut, "auditing "+d.ServerURL()+": 4 repositories and 1 project; 5 access-key listings to make.") ||
		strings.Contains(r.errOut, "/2.0/repositories") {
		t.Errorf("plan:\n%s", r.errOut)
	}

	r = f.audit()
	for _, want := range []string{"2 repositories: OPS/api (write), OPS/web", "1 project: OPS", "of " + d.ServerURL() + "; "} {
		if !strings.Contains(r.out, want) {
			t.Errorf("table lacks %q:\n%s", want, r.out)
		}
	}
	r = f.audit("--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(r.out)).ReadAll()
	if err != nil || len(rows) != 5 {
		t.Fatalf("csv: %v, %d rows\n%s", err, len(rows), r.out)
	}
	if h := rows[0]; h[len(h)-2] != "permission" || h[len(h)-1] != "server" {
		t.Errorf("csv header %v", h)
	}
	for _, row := range rows[1:] {
		if row[len(row)-1] != d.ServerURL() || !strings.HasPrefix(row[len(row)-2], "REPO_") && !strings.HasPrefix(row[len(row)-2], "PROJECT_") {
			t.Errorf("csv row %v", row)
		}
	}

	f.dcSrv.ResetRequests()
	r = f.audit("--revoke-flagged", "--yes", "--json")
	if r.code != errkind.ExitFlagged { // laptop stays: foreign alone is not stale
		t.Fatalf("revoke: exit %d (%v); stderr:\n%s", r.code, r.err, r.errOut)
	}
	if n := len(d.RepoAccessKeys("OPS", "api")) + len(d.RepoAccessKeys("OPS", "web")); n != 0 {
		t.Errorf("ci is still on %d repositories", n)
	}
	if len(d.ProjectAccessKeys("OPS")) != 1 || len(d.RepoAccessKeys("~ADA", "notes")) != 1 || len(d.RepoAccessKeys("WEB", "site")) != 1 {
		t.Error("a key that was not flagged as stale was deleted")
	}
	byID := regexp.MustCompile(`/ssh/[0-9]+$`)
	var deletes int
	for _, q := range f.dcSrv.Requests() {
		if q.Method == http.MethodDelete {
			deletes++
			if !byID.MatchString(q.Path) {
				t.Errorf("DELETE %s is not by a key id", q.Path)
			}
		}
	}
	if deletes != 2 {
		t.Errorf("%d DELETEs, want 2", deletes)
	}
}

// Cloud's --workspace and --query have no meaning on a Data Center server, --project and
// --all none on Cloud: each exits 2 before any call.
func TestAuditDataCenterUsage(t *testing.T) {
	f, _, _ := dcFixture(t)
	for _, args := range [][]string{{"--workspace", "acme"}, {"--query", `project.key = "OPS"`}, {"--all", "--project", "OPS"}, {"--project", "OPS/api"}} {
		if r := f.audit(args...); r.code != errkind.ExitUsage {
			t.Errorf("%v: exit %d (%v), want 2", args, r.code, r.err)
		}
	}
	if n := len(f.dcSrv.Requests()); n != 0 {
		t.Errorf("usage errors made %d calls", n)
	}
	f.dc = nil
	if r := f.audit("--workspace", "acme", "--project", "OPS"); r.code != errkind.ExitUsage || !strings.Contains(strings.Join(apierr.Hints(r.err), " "), "--server") {
		t.Errorf("--project on Cloud: exit %d (%v)", r.code, r.err)
	}
	// --project limits a Data Center audit to that project's repositories and keys.
	f2, _, _ := dcFixture(t)
	r := f2.audit("--project", "ops", "--json")
	var doc jsonDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.errOut)
	}
	if doc.Repositories != 3 || doc.Projects != 1 {
		t.Errorf("--project ops: %d repositories, %d projects", doc.Repositories, doc.Projects)
	}
}

// --revoke-flagged on a Data Center server keeps the placement this machine's access key
// on that server still records (without --force), deletes the other, and drops the
// deleted target from the server's entry in the state.
func TestAuditDataCenterKeepsThisMachinesKey(t *testing.T) {
	f, d, fps := dcFixture(t)
	dir := state.Dir{Path: f.paths.ConfigDir}
	err := dir.Update(context.Background(), func(st *state.State) error {
		st.EnsureServer(d.ServerURL()).AccessKeys["ci"] = &state.AccessKey{Fingerprint: fps["ci"], Label: "bbkey:ci:2026-08-01:ttl=90d",
			Targets: []state.Target{{Kind: state.TargetRepo, Workspace: "OPS", Slug: "api"}, {Kind: state.TargetRepo, Workspace: "OPS", Slug: "web"}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// This machine no longer needs OPS/web.
	if err := dir.Update(context.Background(), func(st *state.State) error {
		st.Servers[d.ServerURL()].AccessKeys["ci"].RemoveTarget(state.Target{Kind: state.TargetRepo, Workspace: "OPS", Slug: "web"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The key the server's entry in the state records is this machine's.
	r := f.audit("--json")
	var doc jsonDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.errOut)
	}
	for _, k := range doc.Keys {
		if mine := slices.Contains(k.Flags, "this-machine"); mine != (k.Fingerprint == fps["ci"]) {
			t.Errorf("%s: flags %v", k.Fingerprint, k.Flags)
		}
	}
	r = f.audit("--revoke-flagged", "--yes")
	if r.code != errkind.ExitFlagged {
		t.Fatalf("exit %d (%v); stderr:\n%s", r.code, r.err, r.errOut)
	}
	if len(d.RepoAccessKeys("OPS", "api")) != 1 || len(d.RepoAccessKeys("OPS", "web")) != 0 {
		t.Errorf("OPS/api has %d keys (want this machine's kept), OPS/web %d (want 0)", len(d.RepoAccessKeys("OPS", "api")), len(d.RepoAccessKeys("OPS", "web")))
	}
	if !strings.Contains(r.errOut, "this machine uses it for OPS/api") {
		t.Errorf("stderr does not say why OPS/api was kept:\n%s", r.errOut)
	}
	st, err := dir.Load()
	if err != nil {
		t.Fatal(err)
	}
	if ts := st.Servers[d.ServerURL()].AccessKeys["ci"].Targets; len(ts) != 1 || ts[0].Slug != "api" {
		t.Errorf("state targets %+v", ts)
	}
	if len(st.Revocations) != 1 || st.Revocations[0].Target.Ref() != "OPS/web" || st.Revocations[0].Server != d.ServerURL() {
		t.Errorf("revocations %+v", st.Revocations)
	}
}

// A Data Center audit cut by the server's rate limit (429, --max-wait spent) exits 3
// with what it listed cached; the re-run lists only the rest: no repository or project
// listed twice.
func TestAuditDataCenterResumesAfterRateLimit(t *testing.T) {
	f, d, _ := dcFixture(t)
	d.SetRateLimit(4, 0) // the fixture's clock stands still: no refill
	r := f.audit("--concurrency", "1", "--json")
	if r.code != errkind.ExitPartial || !strings.Contains(strings.Join(apierr.Hints(r.err), " "), "the server's rate limit") {
		t.Fatalf("exit %d (%v), want 3 naming the server's rate limit; stderr:\n%s", r.code, r.err, r.errOut)
	}
	listings := func() map[string]int {
		out := map[string]int{}
		for _, q := range f.dcSrv.Requests() {
			if q.Method == http.MethodGet && strings.HasSuffix(q.Path, "/ssh") && q.Status == http.StatusOK {
				out[q.Path]++
			}
		}
		return out
	}
	first := len(listings())
	if first == 0 || first >= 5 {
		t.Fatalf("%d targets listed before the limit, want some but not all 5", first)
	}
	d.SetRateLimit(0, 0)
	f.dcSrv.ResetRequests()
	r = f.audit("--concurrency", "1", "--json")
	if r.code != errkind.ExitFlagged {
		t.Fatalf("re-run: exit %d (%v); stderr:\n%s", r.code, r.err, r.errOut)
	}
	again := listings()
	if len(again) != 5-first {
		t.Errorf("the re-run listed %d targets, want the %d left", len(again), 5-first)
	}
	for _, q := range f.dcSrv.Requests() {
		if strings.Contains(q.Path, "/api/latest/") {
			t.Errorf("the re-run listed %s again (cached within --max-age)", q.Path)
		}
	}
}

// A project the token does not administer: Data Center answers 401 (not 403) for its
// access keys; the audit says which permission is missing and exits 3.
func TestAuditDataCenterMissingPermission(t *testing.T) {
	f, d, _ := dcFixture(t)
	// ada may read project WEB (so it is not hidden from her), not administer it.
	if err := d.Grant("WEB", "", bbapitest.DCDefaultUser, bbapitest.PermRead); err != nil {
		t.Fatal(err)
	}
	r := f.audit("--project", "WEB", "--json")
	if r.code != errkind.ExitPartial {
		t.Fatalf("exit %d (%v), want 3; stderr:\n%s", r.code, r.err, r.errOut)
	}
	var doc jsonDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.NotListed) != 1 || doc.NotListed[0].Target != "WEB" || !strings.Contains(doc.NotListed[0].Reason, "401") ||
		!strings.Contains(doc.NotListed[0].Reason, "needs PROJECT_ADMIN") {
		t.Errorf("not listed: %+v", doc.NotListed)
	}
}
