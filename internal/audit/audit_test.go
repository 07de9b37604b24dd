package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/state"
)

var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func key(name string) (line, fp string) {
	seed := sha256.Sum256([]byte(name))
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(seed[:]).Public())
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + name, ssh.FingerprintSHA256(pub)
}

func repo(slug string) state.Target {
	return state.Target{Kind: state.TargetRepo, Workspace: "acme", Slug: slug}
}

func project(k string) state.Target {
	return state.Target{Kind: state.TargetProject, Workspace: "acme", Slug: k}
}

// Judge: one key per fingerprint whatever its placements' labels, each flag at its edge,
// and the reach of a project key counting the project's repositories once.
func TestJudge(t *testing.T) {
	a, afp := key("a")
	b, bfp := key("b")
	c, cfp := key("c")
	d, dfp := key("d")
	ps := []Placement{
		// a: bbkey's, ttl 30d, 30.5 days old (not past), last used 90 days ago to
		// the second (not unused), on a project of 3 repositories and one of them directly.
		{Target: project("OPS"), ID: 1, Key: a, Label: "bbkey:a:2026-11-06:ttl=31d", LastUsed: now.Add(-90 * 24 * time.Hour)},
		{Target: repo("api"), ID: 2, Key: a, Label: "", AddedOn: now.Add(-5 * 24 * time.Hour)},
		// b: foreign, never used, added 91 days ago on two repositories: unused, foreign.
		{Target: repo("web"), ID: 3, Key: b, Label: "laptop", AddedOn: now.Add(-91 * 24 * time.Hour)},
		{Target: repo("api"), ID: 4, Key: b, Label: "laptop", AddedOn: now.Add(-50 * 24 * time.Hour), Comment: "me@laptop"},
		// c: bbkey's, one day past its ttl and past --older-than; this machine's.
		{Target: repo("web"), ID: 5, Key: c, Label: "bbkey:c:2025-12-05:ttl=365d", LastUsed: now},
		// d: bbkey's without a ttl, on 3 repositories with --wide 2.
		{Target: repo("x"), ID: 6, Key: d, Label: "bbkey:d:2026-12-01", LastUsed: now},
		{Target: repo("y"), ID: 7, Key: d, Label: "bbkey:d:2026-12-01", LastUsed: now},
		{Target: repo("z"), ID: 8, Key: d, Label: "bbkey:d:2026-12-01", LastUsed: now},
	}
	projects := map[string][]string{"acme/ops": {"acme/api", "acme/web", "acme/infra"}}
	keys := Judge(ps, projects, map[string]bool{cfp: true}, Policy{OlderThan: 365 * 24 * time.Hour, UnusedFor: 90 * 24 * time.Hour, Wide: 2}, now)
	got := map[string]*Key{}
	var order []string
	for _, k := range keys {
		got[k.Fingerprint] = k
		order = append(order, k.Label)
	}
	if want := []string{"bbkey:a:2026-11-06:ttl=31d", "bbkey:c:2025-12-05:ttl=365d", "bbkey:d:2026-12-01", "laptop"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	for _, c := range []struct {
		fp    string
		flags []string
		reach int
	}{
		{afp, []string{FlagWide}, 3},
		{bfp, []string{FlagUnused, FlagForeign}, 2},
		{cfp, []string{FlagPastTTL, FlagOlderThan, FlagThisMachine}, 1},
		{dfp, []string{FlagWide}, 3},
	} {
		k := got[c.fp]
		if k == nil || !slices.Equal(k.Flags, c.flags) || k.Reach != c.reach {
			t.Errorf("%s: %+v, want flags %v reach %d", c.fp, k, c.flags, c.reach)
		}
	}
	if k := got[afp]; !k.Managed || k.Name != "a" || k.TTL != 31*24*time.Hour || !k.Created.Equal(time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC)) ||
		!slices.Equal(k.Repos, []string{"acme/api"}) || !slices.Equal(k.Projects, []string{"acme/OPS"}) {
		t.Errorf("a: %+v", k)
	}
	if k := got[bfp]; k.Managed || !k.Created.Equal(now.Add(-91*24*time.Hour)) || !k.LastUsed.IsZero() || k.Comment != "me@laptop" || !k.Flagged() {
		t.Errorf("b: %+v", k)
	}
	flagged, byFlag := Summarize(keys)
	if flagged != 4 || byFlag["wide"] != 2 || byFlag["this-machine"] != 1 || byFlag["past-ttl"] != 1 {
		t.Errorf("summary %d %+v", flagged, byFlag)
	}
	// A key Bitbucket sent that cannot be read is reported, not dropped.
	odd := Judge([]Placement{{Target: repo("api"), ID: 9, Key: "ssh-ed25519 !!!", Label: "x"}}, nil, nil, Policy{Wide: 20}, now)
	if len(odd) != 1 || odd[0].Fingerprint != "unreadable key repo:acme/api#9" || !odd[0].Has(FlagForeign) {
		t.Errorf("unreadable key: %+v", odd)
	}
	// this-machine alone does not make a key flagged.
	only := Judge(ps[4:5], nil, map[string]bool{cfp: true}, Policy{Wide: 20}, time.Date(2025, 12, 6, 0, 0, 0, 0, time.UTC))
	if len(only) != 1 || !slices.Equal(only[0].Flags, []string{FlagThisMachine}) || only[0].Flagged() {
		t.Errorf("this machine only: %+v", only[0])
	}
}

// PlanRevoke keeps foreign keys without IncludeForeign and the placement this machine
// needs without Force; unflagged keys are never touched.
func TestPlanRevoke(t *testing.T) {
	mk := func(name string, managed bool, flags ...string) *Key {
		_, fp := key(name)
		return &Key{Fingerprint: fp, Managed: managed, Flags: flags,
			Placements: []Placement{{Target: repo("api"), ID: 1}, {Target: repo("web"), ID: 2}}}
	}
	mine := mk("mine", true, FlagPastTTL, FlagThisMachine)
	foreign := mk("foreign", false, FlagUnused, FlagForeign)
	handmade := mk("handmade", false, FlagForeign)
	healthy := mk("healthy", true, FlagThisMachine)
	st := &state.State{AccessKeys: map[string]*state.AccessKey{"ci": {Fingerprint: mine.Fingerprint, Targets: []state.Target{repo("API")}}}}
	keys := []*Key{mine, foreign, handmade, healthy}
	refs := func(ds []Deletion) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Placement.Target.Slug)
		}
		return out
	}
	a := &Auditor{}
	del, kept := a.PlanRevoke(keys, RevokeOptions{State: st})
	if !slices.Equal(refs(del), []string{"web"}) || len(kept) != 5 || !strings.Contains(kept[0].Reason, "--force") || !strings.Contains(kept[1].Reason, "--include-foreign") ||
		!strings.Contains(kept[3].Reason, "flagged only as foreign") {
		t.Errorf("default: delete %v, kept %+v", refs(del), kept)
	}
	del, _ = a.PlanRevoke(keys, RevokeOptions{IncludeForeign: true, Force: true, State: st})
	if !slices.Equal(refs(del), []string{"api", "web", "api", "web"}) {
		t.Errorf("forced: delete %v", refs(del))
	}
}

// The cache answers within --max-age only, for the query it was made with, survives a
// reopen, and forgets a deleted placement; a file of another format is ignored.
func TestCache(t *testing.T) {
	dir := t.TempDir()
	path := CachePath(filepath.Join(dir, "bbkey"), "Acme")
	cf, warn := OpenCache(path, "https://api.bitbucket.org/2.0", "Acme")
	if warn != "" {
		t.Fatal(warn)
	}
	line, _ := key("k")
	cf.set(func(c *Cache) {
		c.Repos = &Listing[[]Repo]{Query: "q", ListedAt: now, Items: []Repo{{Slug: "api", Project: "OPS"}}}
		c.Projects = &Listing[[]string]{ListedAt: now.Add(-2 * time.Hour), Items: []string{"OPS"}}
		c.Targets[cacheKey(repo("api"))] = &Listing[[]Placement]{ListedAt: now.Add(-59 * time.Minute), Items: []Placement{{Target: repo("api"), ID: 7, Key: line}, {Target: repo("api"), ID: 8, Key: line}}}
	})
	if err := cf.Save(); err != nil {
		t.Fatal(err)
	}
	cf, warn = OpenCache(path, "https://api.bitbucket.org/2.0", "acme")
	if warn != "" {
		t.Fatal(warn)
	}
	if r, ok := cf.Repos("q", now, time.Hour); !ok || len(r) != 1 || r[0].Project != "OPS" {
		t.Errorf("repos %v %v", r, ok)
	}
	if _, ok := cf.Repos("other", now, time.Hour); ok {
		t.Error("a listing made with another query answered")
	}
	if _, ok := cf.Projects(now, time.Hour); ok {
		t.Error("a listing older than --max-age answered")
	}
	if _, ok := cf.Target(repo("API"), now.Add(2*time.Minute), time.Hour); ok {
		t.Error("an entry that aged past --max-age answered")
	}
	cf.Forget(Placement{Target: repo("api"), ID: 7})
	if ks, ok := cf.Target(repo("API"), now, time.Hour); !ok || len(ks) != 1 || ks[0].ID != bbapi.ID(8) {
		t.Errorf("after forgetting 7: %+v %v", ks, ok)
	}
	if _, warn := OpenCache(path, "http://127.0.0.1:1234/2.0", "acme"); !strings.Contains(warn, "made against https://api.bitbucket.org/2.0") {
		t.Errorf("another server's cache: warning %q", warn)
	}
	if err := os.WriteFile(path, []byte(`{"version": 99}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, warn := OpenCache(path, "https://api.bitbucket.org/2.0", "acme"); !strings.Contains(warn, "listing everything again") {
		t.Errorf("warning %q", warn)
	}
}

// The plan says what a run costs against the hourly limit, and what happens past it.
func TestAnnounce(t *testing.T) {
	p := &Plan{Workspace: "acme"}
	for i := range 1500 {
		p.Repos = append(p.Repos, Repo{Slug: "r" + string(rune('a'+i%26))})
		p.Pending = append(p.Pending, repo("r"))
		p.Targets = append(p.Targets, repo("r"))
	}
	p.Projects, p.Pending, p.Targets = []string{"OPS"}, append(p.Pending, project("OPS")), append(p.Targets, project("OPS"))
	got := p.Announce(time.Hour)
	for _, want := range []string{"1500 repositories and 1 project; 1501 access-key listings to make.",
		"1515 of this run's calls count against Bitbucket's limit of about 1000 an hour on /2.0/repositories (152%)",
		"takes about 2 hours", "running it again continues where it stopped", "give --max-age 3h or more"} {
		if !strings.Contains(got, want) {
			t.Errorf("announce lacks %q:\n%s", want, got)
		}
	}
}
