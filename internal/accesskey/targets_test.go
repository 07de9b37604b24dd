package accesskey

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

func refs(ts []state.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Key()
	}
	return out
}

// cloudParser reads names the Cloud way (ParsePlace needs no client).
var cloudParser = backend.NewCloud(nil, settings.Settings{})

func TestSpecNamed(t *testing.T) {
	s := Spec{Repos: []string{"acme/api", "ACME/Api", "acme/web.git"}, Projects: []string{"acme/OPS", "acme/ops"}}
	got, err := s.Named(cloudParser)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"repo:acme/api", "repo:acme/web", "project:acme/OPS"}
	if !slices.Equal(refs(got), want) {
		t.Errorf("Named = %v, want %v", refs(got), want)
	}
	for _, bad := range []struct {
		spec Spec
		flag string
	}{{Spec{Repos: []string{"api"}}, "--repo: "}, {Spec{Repos: []string{"acme/a/b"}}, "--repo: "}, {Spec{Projects: []string{"/OPS"}}, "--project: "}} {
		if _, err := bad.spec.Named(cloudParser); err == nil || !strings.HasPrefix(err.Error(), bad.flag) {
			t.Errorf("%+v: error %v, want one starting %q", bad.spec, err, bad.flag)
		}
	}
}

func TestReadRepoList(t *testing.T) {
	in := "\ufeff# build repos\nacme/api\n\n  acme/web   main\t# second column\n#acme/skip\nacme/infra.git\n"
	got, err := ReadRepoList(strings.NewReader(in), "list", cloudParser)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme/api", "acme/web", "acme/infra.git"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	_, err = ReadRepoList(strings.NewReader("acme/api\nnot-a-repo\n"), "repos.txt", cloudParser)
	if err == nil || !strings.HasPrefix(err.Error(), "repos.txt:2: ") {
		t.Errorf("err = %v, want one naming repos.txt:2", err)
	}
}

type fakeLister struct {
	Parser
	repos []string
	err   error
	got   []backend.RepoQuery
}

func (f *fakeLister) Repos(_ context.Context, q backend.RepoQuery) iter.Seq2[backend.Place, error] {
	f.got = append(f.got, q)
	return func(yield func(backend.Place, error) bool) {
		for _, r := range f.repos {
			if !yield(backend.Place{Kind: backend.Repo, Owner: q.Workspace, Slug: r}, nil) {
				return
			}
		}
		if f.err != nil {
			yield(backend.Place{}, f.err)
		}
	}
}

func TestExpand(t *testing.T) {
	l := &fakeLister{Parser: cloudParser, repos: []string{"api", "b", "c"}}
	got, err := Expand(context.Background(), Spec{Repos: []string{"acme/API"}, Workspace: "acme", Query: `name ~ "x"`}, l)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"repo:acme/API", "repo:acme/b", "repo:acme/c"}; !slices.Equal(refs(got), want) {
		t.Errorf("Expand = %v, want %v", refs(got), want)
	}
	if len(l.got) != 1 || l.got[0] != (backend.RepoQuery{Workspace: "acme", Query: `name ~ "x"`}) {
		t.Errorf("listing options %+v", l.got)
	}

	// Named targets only: no listing at all.
	l = &fakeLister{Parser: cloudParser}
	if _, err := Expand(context.Background(), Spec{Repos: []string{"acme/api"}}, l); err != nil || len(l.got) != 0 {
		t.Errorf("err %v, listed %d times", err, len(l.got))
	}

	boom := errors.New("boom")
	l = &fakeLister{Parser: cloudParser, repos: []string{"a"}, err: boom}
	if _, err := Expand(context.Background(), Spec{Workspace: "acme", All: true}, l); !errors.Is(err, boom) || !strings.Contains(err.Error(), "listing the repositories of acme") {
		t.Errorf("err = %v", err)
	}
}

func TestSplit(t *testing.T) {
	a := state.Target{Kind: state.TargetRepo, Workspace: "acme", Slug: "a"}
	b := state.Target{Kind: state.TargetRepo, Workspace: "acme", Slug: "b"}
	p := state.Target{Kind: state.TargetProject, Workspace: "acme", Slug: "a"}
	fp := "SHA256:" + strings.Repeat("A", 43)
	key := &state.AccessKey{Fingerprint: fp}
	rec := a
	rec.KeyID = "7"
	key.SetTarget(rec)

	done, pending := split(t, []state.Target{a, b, p}, key, strings.TrimPrefix(fp, "SHA256:"))
	if len(done) != 1 || done[0].KeyID != "7" || !done[0].Recorded || done[0].Status != provision.Present {
		t.Errorf("done = %+v", done)
	}
	if want := []string{"repo:acme/b", "project:acme/a"}; !slices.Equal(refs(pending), want) {
		t.Errorf("pending = %v, want %v", refs(pending), want)
	}
	// Targets recorded for another key say nothing about this one.
	if done, pending := split(t, []state.Target{a}, key, "SHA256:"+strings.Repeat("B", 43)); len(done) != 0 || len(pending) != 1 {
		t.Errorf("another key: done %v pending %v", done, pending)
	}
	if done, pending := split(t, []state.Target{a}, nil, ""); len(done) != 0 || len(pending) != 1 {
		t.Errorf("no key: done %v pending %v", done, pending)
	}
}

// split is Split with the recorded results only, as done; the others must be the pending
// targets, in order.
func split(t *testing.T, targets []state.Target, key *state.AccessKey, fp string) (done []Result, pending []state.Target) {
	t.Helper()
	all, pending := Split(targets, key, fp)
	var rest []state.Target
	for _, r := range all {
		if r.Status == Pending {
			rest = append(rest, r.Target)
		} else {
			done = append(done, r)
		}
	}
	if !slices.EqualFunc(rest, pending, state.Target.Same) {
		t.Fatalf("the pending results %v are not the pending targets %v", rest, pending)
	}
	return done, pending
}
