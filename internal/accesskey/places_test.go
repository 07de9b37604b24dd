package accesskey

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/state"
)

// startDC starts the emulator in Data Center mode (requests and answers checked against
// the Data Center spec) and a client with the seeded admin token; pageLen > 0 sets the
// page length asked for.
func startDC(t *testing.T, pageLen int) (*bbapitest.Server, *dc.Client) {
	t.Helper()
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	opts := []bbapi.Option{bbapi.WithVersion("test")}
	if pageLen > 0 {
		opts = append(opts, bbapi.WithHTTPClient(bbapitest.PageLenClient(pageLen)))
	}
	c, err := dc.NewClient(srv.DataCenter().ServerURL(), dc.Token{Token: srv.DataCenter().DefaultToken()}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func newKeyLine(t *testing.T) (line, fp string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " ci@test", ssh.FingerprintSHA256(k)
}

func TestDataCenterNames(t *testing.T) {
	_, c := startDC(t, 0)
	b := backend.NewDataCenter(c, backend.DataCenterOptions{})
	s := Spec{DataCenter: true, Repos: []string{"OPS/api", "~ada/notes.git", "ops/API"}, Projects: []string{"OPS", "ops"}}
	got, err := s.Named(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []state.Target{
		{Kind: state.TargetRepo, Workspace: "OPS", Slug: "api"},
		{Kind: state.TargetRepo, Workspace: "~ada", Slug: "notes"},
		{Kind: state.TargetProject, Slug: "OPS"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Named = %+v, want %+v", got, want)
	}
	if refs := []string{got[0].Ref(), got[1].Ref(), got[2].Ref()}; !slices.Equal(refs, []string{"OPS/api", "~ada/notes", "OPS"}) {
		t.Errorf("refs = %v", refs)
	}
	for _, bad := range []Spec{
		{DataCenter: true, Projects: []string{"acme/OPS"}},
		{DataCenter: true, Repos: []string{"api"}},
		{DataCenter: true, Repos: []string{"~/api"}},
		{DataCenter: true, Repos: []string{"OPS/api/x"}},
	} {
		_, err := bad.Named(b)
		var h interface{ Hints() []string }
		if err == nil || !errors.As(err, &h) || len(h.Hints()) == 0 {
			t.Errorf("%+v: err %v, want an error with a hint", bad, err)
		}
	}
	// --repos-from on Data Center: PROJ/slug and ~user/slug lines.
	list, err := ReadRepoList(strings.NewReader("OPS/api\n~ada/notes.git  # personal\n"), "repos.txt", b)
	if err != nil || !slices.Equal(list, []string{"OPS/api", "~ada/notes.git"}) {
		t.Errorf("ReadRepoList = %v, %v", list, err)
	}
	if _, err := ReadRepoList(strings.NewReader("OPS/api\n~/notes\n"), "repos.txt", b); err == nil || !strings.HasPrefix(err.Error(), "repos.txt:2: ") {
		t.Errorf("a personal repository without its user: err %v", err)
	}
	if !(Spec{DataCenter: true, All: true}).Listing() || (Spec{DataCenter: true, Repos: []string{"OPS/a"}}).Listing() {
		t.Error("Listing on Data Center is --all")
	}
}

// --all is every repository the token administers, over several pages of start/limit:
// not those it only reads, personal ones included when it administers them.
func TestExpandDataCenterAll(t *testing.T) {
	srv, c := startDC(t, 7)
	d := srv.DataCenter()
	for i := range 20 {
		if err := d.AddRepo(bbapitest.DCDefaultProject, fmt.Sprintf("r%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AddProject("RO", "Read only"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddRepo("RO", "seen"); err != nil {
		t.Fatal(err)
	}
	if err := d.Grant("RO", "", bbapitest.DCDefaultUser, bbapitest.PermRead); err != nil {
		t.Fatal(err)
	}
	got, err := Expand(context.Background(), Spec{DataCenter: true, All: true, Repos: []string{"OPS/r03"}}, backend.NewDataCenter(c, backend.DataCenterOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, tg := range got {
		refs = append(refs, tg.Ref())
	}
	want := 1 + len(bbapitest.DefaultRepos) + 20 // the named one first, then the listing without it again
	if len(got) != want || refs[0] != "OPS/r03" || slices.Contains(refs, "RO/seen") {
		t.Errorf("targets (%d, want %d): %v", len(got), want, refs)
	}
	if slices.Contains(refs[1:], "OPS/r03") {
		t.Errorf("OPS/r03 twice: %v", refs)
	}
	lists := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/rest/api/latest/repos") {
			lists++
			if !strings.Contains(r.RawQuery, "permission=REPO_ADMIN") || !strings.Contains(r.RawQuery, "limit=7") {
				t.Errorf("listing query %q", r.RawQuery)
			}
		}
	}
	// 24 repositories the token administers (3 seeded, 20 added, the personal one), 7 a page.
	if lists != 4 {
		t.Errorf("%d listing calls, want 4", lists)
	}
}

// A target recorded read-only is not done for a --write run.
func TestSplitPermission(t *testing.T) {
	api := state.Target{Kind: state.TargetRepo, Workspace: "OPS", Slug: "api"}
	_, fp := newKeyLine(t)
	key := &state.AccessKey{Fingerprint: fp}
	rec := WithPermission([]state.Target{api}, backend.DataCenter, false)[0]
	rec.KeyID = "7"
	key.SetTarget(rec)
	done, pending := split(t, WithPermission([]state.Target{api}, backend.DataCenter, false), key, fp)
	if len(done) != 1 || len(pending) != 0 || done[0].KeyID != "7" {
		t.Errorf("read again: done %+v pending %+v", done, pending)
	}
	done, pending = split(t, WithPermission([]state.Target{api}, backend.DataCenter, true), key, fp)
	if len(done) != 0 || len(pending) != 1 || pending[0].Permission != "REPO_WRITE" {
		t.Errorf("--write: done %+v pending %+v", done, pending)
	}
}
