package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/state"
)

// keyListings counts the successful access-key listings of each repository and project
// in the emulator's request log.
func (f *fixture) keyListings() map[string]int {
	out := map[string]int{}
	for _, r := range f.emu.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/deploy-keys") && r.Status == http.StatusOK {
			out[r.Path]++
		}
	}
	return out
}

// count counts the requests with method to path ("" for any path).
func (f *fixture) count(method, path string) int {
	n := 0
	for _, r := range f.emu.Requests() {
		if r.Method == method && (path == "" || r.Path == path) {
			n++
		}
	}
	return n
}

// A workspace of 153 repositories and 3 projects, mixed managed and foreign keys: the
// exact JSON of a first run (every repository and project listed once, 159 calls), then
// the exact table of a second run within --max-age, which the cache answers without a
// single call.
func TestAuditGolden(t *testing.T) {
	f := newFixture(t)
	r := f.audit("--workspace", "acme", "--json")
	if r.code != errkind.ExitFlagged {
		t.Fatalf("exit %d (%v), want %d; stderr:\n%s", r.code, r.err, errkind.ExitFlagged, r.errOut)
	}
	golden(t, "audit.json", r.out)
	var doc jsonDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Repositories != 153 || doc.Projects != 3 || doc.Calls != 2+1+156 || !doc.Complete {
		t.Errorf("repositories %d, projects %d, calls %d, complete %v", doc.Repositories, doc.Projects, doc.Calls, doc.Complete)
	}
	listings := f.keyListings()
	if len(listings) != 156 {
		t.Errorf("%d repositories and projects listed, want 156", len(listings))
	}
	for p, n := range listings {
		if n != 1 {
			t.Errorf("%s listed %d times", p, n)
		}
	}
	for _, want := range []string{"auditing acme: 153 repositories and 3 projects; 156 access-key listings to make.",
		"155 of this run's calls count against Bitbucket's limit of about 1000 an hour on /2.0/repositories (16%)"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
		}
	}

	f.emu.ResetRequests()
	r = f.audit("--workspace", "acme")
	if r.code != errkind.ExitFlagged {
		t.Fatalf("exit %d (%v); stderr:\n%s", r.code, r.err, r.errOut)
	}
	golden(t, "audit-table.txt", r.out)
	if n := len(f.emu.Requests()); n != 0 {
		t.Errorf("second run within --max-age made %d calls, want 0", n)
	}
	if !strings.Contains(r.errOut, "0 access-key listings to make, 156 answered by the cache (listed within --max-age 1h)") {
		t.Errorf("stderr:\n%s", r.errOut)
	}
}

// A run cut by Bitbucket's hourly limit (429, no Retry-After, --max-wait spent) exits 3
// with what it listed cached and deletes nothing even with --revoke-flagged; the re-run
// lists only the rest: no repository or project is
// listed twice, and the repositories are not listed again either.
func TestAuditResumesAfterRateLimit(t *testing.T) {
	f := newFixture(t)
	f.emu.SetRateLimit(60)
	r := f.audit("--workspace", "acme", "--json", "--revoke-flagged", "--yes")
	if r.code != errkind.ExitPartial {
		t.Fatalf("exit %d (%v), want 3; stderr:\n%s", r.code, r.err, r.errOut)
	}
	// Revoking follows a complete listing only.
	if n := f.count(http.MethodDelete, ""); n != 0 || !strings.Contains(r.errOut, "nothing revoked: the audit stopped before listing everything") {
		t.Errorf("%d deletes after a cut listing; stderr:\n%s", n, r.errOut)
	}
	var doc jsonDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatal(err)
	}
	first := f.keyListings()
	if doc.Complete || doc.Listed != len(first) || len(doc.NotListed) != 156-len(first) || len(first) < 50 {
		t.Fatalf("first run: complete %v, listed %d (log %d), not listed %d", doc.Complete, doc.Listed, len(first), len(doc.NotListed))
	}
	if !strings.Contains(r.err.Error(), "429") || !strings.Contains(strings.Join(apierr.Hints(r.err), "\n"), "hourly limit stopped the run") {
		t.Errorf("error %v (hints %q) does not name the rate limit", r.err, apierr.Hints(r.err))
	}
	f.emu.SetRateLimit(0)
	r = f.audit("--workspace", "acme", "--json")
	if r.code != errkind.ExitFlagged {
		t.Fatalf("re-run exit %d (%v), want 6; stderr:\n%s", r.code, r.err, r.errOut)
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Complete || doc.Cached != len(first) || doc.Listed != 156-len(first) {
		t.Errorf("re-run: complete %v, cached %d, listed %d", doc.Complete, doc.Cached, doc.Listed)
	}
	all := f.keyListings()
	if len(all) != 156 {
		t.Errorf("%d targets listed in all, want 156", len(all))
	}
	for p, n := range all {
		if n != 1 {
			t.Errorf("%s listed %d times", p, n)
		}
	}
	if n := f.count(http.MethodGet, "/2.0/repositories/acme"); n != 2 {
		t.Errorf("repositories listed in %d pages over both runs, want 2 (the re-run uses the cache)", n)
	}
	// The same report as a run that was never cut.
	want := newFixture(t).audit("--workspace", "acme", "--json")
	if strip(r.out) != strip(want.out) {
		t.Errorf("resumed report differs from an uncut one:\n%s\n---\n%s", r.out, want.out)
	}
}

// strip drops the fields that say how the run went rather than what it found.
func strip(doc string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return doc
	}
	for _, k := range []string{"listed", "cached", "calls"} {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// --revoke-flagged deletes exactly the flagged keys bbkey manages: not the foreign ones,
// not the placement this machine still needs (acme/api), and records each deletion.
func TestAuditRevokeFlagged(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()

	// Without a terminal and without --yes: exit 2 before any call.
	r := f.audit("--workspace", "acme", "--revoke-flagged", "--no-input")
	if r.code != errkind.ExitUsage || len(f.emu.Requests()) != 0 {
		t.Fatalf("exit %d (%v), %d calls; want 2 and none", r.code, r.err, len(f.emu.Requests()))
	}
	// --dry-run lists and deletes nothing.
	r = f.audit("--workspace", "acme", "--revoke-flagged", "--dry-run", "--json")
	if r.code != errkind.ExitFlagged || f.count(http.MethodDelete, "") != 0 || !slices.Equal(f.snapshot(), before) {
		t.Fatalf("dry run: exit %d (%v); stderr:\n%s", r.code, r.err, r.errOut)
	}
	if !strings.Contains(r.errOut, "bbkey would delete (--dry-run) 28 access key placements:") {
		t.Errorf("dry run stderr:\n%s", r.errOut)
	}

	r = f.audit("--workspace", "acme", "--revoke-flagged", "--yes", "--json")
	if r.code != errkind.ExitFlagged { // jenkins and deploybox on acme/api remain flagged
		t.Fatalf("exit %d (%v); stderr:\n%s", r.code, r.err, r.errOut)
	}
	var doc jsonDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, k := range before {
		want[k] = true
	}
	gone := []string{"ci-01@" + "*", "build@project:OPS", "deploybox@repo:web", "old-ci@repo:r140"}
	for _, k := range before {
		name, where, _ := strings.Cut(k, "@")
		switch {
		case name == "ci-01", name == "build", name == "old-ci", name == "deploybox" && where == "repo:web":
			delete(want, k)
		}
	}
	got := f.snapshot()
	if strings.Join(got, "\n") != strings.Join(mapKeys(want), "\n") {
		t.Errorf("left on Bitbucket (deleted %v):\n%s\nwant:\n%s", gone, strings.Join(got, "\n"), strings.Join(mapKeys(want), "\n"))
	}
	if rv := doc.Revocation; rv == nil || len(rv.Deleted) != 28 || len(rv.Failed) != 0 || len(rv.Kept) != 6 {
		t.Fatalf("revocation %+v", doc.Revocation)
	}
	st, err := state.Dir{Path: f.paths.ConfigDir}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Revocations) != 28 {
		t.Errorf("%d revocations recorded, want 28", len(st.Revocations))
	}
	for _, rv := range st.Revocations {
		if rv.Server != "" {
			t.Errorf("Cloud revocation of %s records server %q", rv.Target.Ref(), rv.Server)
		}
	}
	if ak := st.AccessKeys["deploybox"]; ak == nil || len(ak.Targets) != 1 || ak.Targets[0].Slug != "api" {
		t.Errorf("this machine's key in the state: %+v", ak)
	}
	if !strings.Contains(r.errOut, "this machine uses it for acme/api: bbkey deletes it only with --force") {
		t.Errorf("stderr:\n%s", r.errOut)
	}
	// A re-run within --max-age shows the deletions without listing again.
	f.emu.ResetRequests()
	r = f.audit("--workspace", "acme", "--json")
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(f.emu.Requests()) != 0 || doc.Summary.Keys != 4 {
		t.Errorf("re-run: %d calls, %d keys", len(f.emu.Requests()), doc.Summary.Keys)
	}
	// With --include-foreign and --force every stale key goes, this machine's and the
	// foreign Jenkins key too; alice's, flagged only as foreign, stays (exit 6 for it); the
	// state forgets the deleted target of this machine's key.
	r = f.audit("--workspace", "acme", "--revoke-flagged", "--include-foreign", "--force", "--yes")
	if r.code != errkind.ExitFlagged || !strings.Contains(r.errOut, "flagged only as foreign: nothing says it is stale") {
		t.Fatalf("exit %d (%v); stderr:\n%s", r.code, r.err, r.errOut)
	}
	if got := f.snapshot(); !slices.Equal(got, []string{"alice@repo:r150", "ci-02@repo:r030", "ci-02@repo:r031"}) {
		t.Errorf("left: %v", got)
	}
	if st, err = (state.Dir{Path: f.paths.ConfigDir}).Load(); err != nil || len(st.Revocations) != 33 || len(st.AccessKeys["deploybox"].Targets) != 0 {
		t.Errorf("state: %v, %d revocations, %+v", err, len(st.Revocations), st.AccessKeys["deploybox"])
	}
}

// snapshot lists every access key on the emulator as "name@kind:slug", sorted.
func (f *fixture) snapshot() []string {
	byFP := map[string]string{}
	for n, fp := range f.fps {
		byFP[strings.TrimPrefix(fp, "SHA256:")] = n
	}
	var out []string
	for _, k := range fixtureKeys {
		for _, r := range k.repos {
			for _, dk := range f.emu.RepoDeployKeys("acme", r) {
				if byFP[dk.Fingerprint] == k.name {
					out = append(out, k.name+"@repo:"+r)
				}
			}
		}
		for _, p := range k.projects {
			for _, dk := range f.emu.ProjectDeployKeys("acme", p) {
				if byFP[dk.Fingerprint] == k.name {
					out = append(out, k.name+"@project:"+p)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func mapKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// --format csv is read back by a CSV parser: a header, then one row per key and place,
// a comment with a comma intact.
func TestAuditCSV(t *testing.T) {
	f := newFixture(t)
	r := f.audit("--workspace", "acme", "--format", "csv")
	if r.code != errkind.ExitFlagged {
		t.Fatalf("exit %d (%v)", r.code, r.err)
	}
	rows, err := csv.NewReader(strings.NewReader(r.out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], csvHeader) {
		t.Errorf("header %v", rows[0])
	}
	total := 0
	for _, k := range fixtureKeys {
		total += len(k.repos) + len(k.projects)
	}
	if len(rows) != 1+total {
		t.Fatalf("%d rows, want %d", len(rows), 1+total)
	}
	col := func(name string) int { return slices.Index(csvHeader, name) }
	var alice []string
	for _, row := range rows[1:] {
		if row[col("fingerprint")] == f.fps["alice"] {
			alice = row
		}
	}
	if alice == nil || alice[col("comment")] != "alice, laptop" || alice[col("flags")] != "foreign" || alice[col("target")] != "acme/r150" ||
		alice[col("managed")] != "false" || alice[col("last_used")] != "2026-12-05T09:00:00Z" {
		t.Errorf("alice's row: %q", alice)
	}
}

// Bad input fails before any call, with exit 2 and a hint.
func TestAuditUsage(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--workspace is required"},
		{[]string{"--workspace", "acme/api"}, "is not a workspace id"},
		{[]string{"--workspace", "acme", "--older-than", "soon"}, "--older-than \"soon\""},
		{[]string{"--workspace", "acme", "--wide", "0"}, "--wide 0"},
		{[]string{"--workspace", "acme", "--format", "xml"}, "--format \"xml\""},
		{[]string{"--workspace", "acme", "--format", "csv", "--json"}, "both choose the output"},
		{[]string{"--workspace", "acme", "--force"}, "go with --revoke-flagged"},
	} {
		r := f.audit(c.args...)
		if r.code != errkind.ExitUsage || r.err == nil || !strings.Contains(r.err.Error(), c.want) || len(apierr.Hints(r.err)) == 0 && c.args != nil {
			t.Errorf("%v: exit %d, %v; want 2 and %q", c.args, r.code, r.err, c.want)
		}
	}
	if n := len(f.emu.Requests()); n != 0 {
		t.Errorf("%d calls made", n)
	}
}

// On a terminal --revoke-flagged asks after listing what it would delete: "no" deletes
// nothing (exit 2), "yes" deletes.
func TestAuditRevokeConfirms(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()
	f.terminal = &prompttest.Fake{Answers: []string{"n"}}
	r := f.audit("--workspace", "acme", "--revoke-flagged")
	if r.code != errkind.ExitUsage || !strings.Contains(r.err.Error(), "cancelled: nothing deleted") || f.count(http.MethodDelete, "") != 0 {
		t.Fatalf("declined: exit %d (%v)", r.code, r.err)
	}
	if !slices.Equal(f.snapshot(), before) || len(f.terminal.Asked) != 1 || f.terminal.Asked[0] != "Delete these 28?" {
		t.Fatalf("asked %q", f.terminal.Asked)
	}
	if i, j := strings.Index(r.errOut, "bbkey will delete 28 access key placements:"), strings.Index(r.errOut, "  - acme/r140  "); i < 0 || j < i {
		t.Errorf("the list before the question:\n%s", r.errOut)
	}
	f.terminal = &prompttest.Fake{Answers: []string{"y"}}
	r = f.audit("--workspace", "acme", "--revoke-flagged")
	if r.code != errkind.ExitFlagged || len(f.snapshot()) != len(before)-28 {
		t.Fatalf("confirmed: exit %d (%v), %d keys left of %d", r.code, r.err, len(f.snapshot()), len(before))
	}
	if !strings.Contains(r.out, "revoked: 28 deleted, 0 failed, 0 not attempted, 6 kept") {
		t.Errorf("table:\n%s", r.out)
	}
}

// --revoke-flagged takes the lock rotate and add-access-key hold while they change this
// machine's keys: with it held elsewhere, nothing is deleted and the error says why.
func TestAuditRevokeWaitsForNoRotation(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()
	lock, err := state.Dir{Path: f.paths.ConfigDir}.LockWriters(context.Background(), "rotate --access-keys", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	r := f.audit("--workspace", "acme", "--revoke-flagged", "--yes")
	if r.err == nil || !errors.Is(r.err, state.ErrBusy) || !strings.Contains(r.err.Error(), "bbkey rotate --access-keys (pid") || f.count(http.MethodDelete, "") != 0 || !slices.Equal(f.snapshot(), before) {
		t.Fatalf("exit %d (%v), %d deletes", r.code, r.err, f.count(http.MethodDelete, ""))
	}
}

// Nothing flagged: exit 0, and --revoke-flagged has nothing to delete.
func TestAuditNothingFlagged(t *testing.T) {
	f := newFixtureWith(t, []placed{fixtureKeys[4]}) // ci-02: young, used, on two repositories
	for _, args := range [][]string{{"--workspace", "acme"}, {"--workspace", "acme", "--revoke-flagged", "--yes"}} {
		r := f.audit(args...)
		if r.code != errkind.ExitOK || r.err != nil || !strings.Contains(r.out, "1 key on 153 repositories and 3 projects of acme; 0 flagged") {
			t.Errorf("%v: exit %d (%v)\n%s", args, r.code, r.err, r.out)
		}
	}
	if n := f.count(http.MethodDelete, ""); n != 0 {
		t.Errorf("%d deletes", n)
	}
}

// --query narrows the repositories (Bitbucket's filter, sent as q) while every project is
// still audited; a later run without it lists the repositories again (another listing)
// but not the access keys already in the cache.
func TestAuditQuery(t *testing.T) {
	f := newFixture(t)
	r := f.audit("--workspace", "acme", "--query", `name ~ "r00"`, "--json")
	var doc jsonDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.errOut)
	}
	if doc.Repositories != 9 || doc.Projects != 3 || doc.Query != `name ~ "r00"` || doc.Listed != 12 {
		t.Errorf("repositories %d, projects %d, query %q, listed %d", doc.Repositories, doc.Projects, doc.Query, doc.Listed)
	}
	var q string
	for _, req := range f.emu.Requests() {
		if req.Path == "/2.0/repositories/acme" {
			q = req.RawQuery
		}
	}
	if !strings.Contains(q, "q=name%20~%20%22r00%22") || !strings.Contains(q, "role=admin") {
		t.Errorf("repository listing query %q", q)
	}
	f.emu.ResetRequests()
	r = f.audit("--workspace", "acme", "--json")
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Repositories != 153 || doc.Cached != 12 || doc.Listed != 144 || f.count(http.MethodGet, "/2.0/repositories/acme") != 2 || f.count(http.MethodGet, "/2.0/workspaces/acme/projects") != 0 {
		t.Errorf("without --query: repositories %d, cached %d, listed %d", doc.Repositories, doc.Cached, doc.Listed)
	}
}
