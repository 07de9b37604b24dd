package bbapi_test

// These tests run the Data Center client (bbapi/dc) against the emulator in Data Center
// mode over real HTTP on loopback, every request and JSON answer checked against the
// Data Center spec. They live here, beside the Cloud client's, to share its fake clock
// and helpers: bbapi/dc is a thin layer over this package's transport.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
)

type dcEmu struct {
	srv   *bbapitest.Server
	dc    *bbapitest.DataCenter
	clock *bbapi.FakeClock
	debug *lockedBuffer
}

// startDC starts a Data Center emulator and checks, when the test ends, that no request
// of the whole test was a DELETE of the user-key collection without an id (which deletes
// every key of the user; the emulator does that, as the real server does).
func startDC(t *testing.T, opts ...bbapitest.Option) *dcEmu {
	t.Helper()
	e := &dcEmu{clock: bbapi.NewFakeClock(), debug: &lockedBuffer{}}
	e.srv = bbapitest.Start(t, append([]bbapitest.Option{bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t), bbapitest.WithClock(e.clock.Now)}, opts...)...)
	e.dc = e.srv.DataCenter()
	t.Cleanup(func() { assertNoUnscopedKeyDelete(t, e.srv) })
	return e
}

func assertNoUnscopedKeyDelete(t *testing.T, srv *bbapitest.Server) {
	t.Helper()
	for _, r := range srv.Requests() {
		p := strings.TrimRight(r.Path, "/")
		if r.Method == http.MethodDelete && (strings.HasSuffix(p, "/rest/ssh/latest/keys") || strings.HasSuffix(p, "/rest/ssh/1.0/keys")) {
			t.Errorf("the client sent DELETE %s without a key id: on Data Center that deletes every key of the user", r.Path)
		}
	}
}

func (e *dcEmu) client(t *testing.T, token string, opts ...bbapi.Option) *dc.Client {
	t.Helper()
	c, err := dc.NewClient(e.dc.ServerURL(), dc.Token{Token: token}, append([]bbapi.Option{
		bbapi.WithClock(e.clock.Now), bbapi.WithSleep(e.clock.Sleep), bbapi.WithDebug(e.debug), bbapi.WithVersion("test"),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDCUserKeys(t *testing.T) {
	e := startDC(t)
	c := e.client(t, e.dc.DefaultToken(), bbapi.WithHTTPClient(bbapitest.PageLenClient(2)))
	ctx := context.Background()

	var fps []string
	for i := range 5 {
		key, fp := pubKey(t, "k"+strconv.Itoa(i))
		k, resp, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: key, Label: "bbkey:ada:" + strconv.Itoa(i), ExpiryDays: 90})
		if err != nil || resp.StatusCode != http.StatusCreated || k.ID <= 0 || k.SHA256() != fp || k.ExpiryDays != 90 {
			t.Fatalf("add: %+v %v", k, err)
		}
		if exp, ok := k.ExpiresAt(); !ok || !exp.Equal(e.clock.Now().AddDate(0, 0, 90)) {
			t.Errorf("expires at %v %v", exp, ok)
		}
		fps = append(fps, fp)
	}
	// Five keys at two a page: three pages, every key once, in order.
	e.srv.ResetRequests()
	keys := all(t, c.SSHKeys.List(ctx))
	var got []string
	for _, k := range keys {
		got = append(got, k.SHA256())
	}
	if !slices.Equal(got, fps) {
		t.Errorf("listed %v, want %v", got, fps)
	}
	var starts []string
	for _, r := range e.srv.Requests() {
		starts = append(starts, r.RawQuery)
	}
	if want := []string{"limit=2&start=0", "limit=2&start=2", "limit=2&start=4"}; !slices.Equal(starts, want) {
		t.Errorf("pages asked for %v, want %v", starts, want)
	}

	// A duplicate is a typed error; AddOrGet reconciles it to the key that is there.
	if _, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: keysText(keys[1])}); !dc.IsDuplicateKey(err) {
		t.Fatalf("duplicate add: %v", err)
	}
	k, resp, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: keysText(keys[1]), OrGet: true})
	if err != nil || !resp.Reconciled || k.ID != keys[1].ID {
		t.Fatalf("AddOrGet: %+v %v", k, err)
	}

	// Delete by id removes that key only.
	if _, err := c.SSHKeys.Delete(ctx, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dc.UserKeys(bbapitest.DCDefaultUser)); n != 4 {
		t.Errorf("%d keys after deleting one, want 4", n)
	}
	if _, err := c.SSHKeys.Delete(ctx, keys[0].ID); !bbapi.IsNotFound(err) {
		t.Errorf("delete of a deleted key: %v", err)
	}
}

func keysText(k *dc.SSHKey) string { return k.Text }

// A key without an id must never become a DELETE of the collection: the request is
// refused before anything is sent, whatever the id's zero value came from.
func TestDCDeleteNeverWithoutID(t *testing.T) {
	e := startDC(t)
	c := e.client(t, e.dc.DefaultToken())
	ctx := context.Background()
	key, _ := pubKey(t, "keep")
	if _, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: key}); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	for _, del := range []func() error{
		func() error { _, err := c.SSHKeys.Delete(ctx, 0); return err },
		func() error { _, err := c.SSHKeys.Delete(ctx, -1); return err },
		func() error { _, err := c.SSHKeys.Delete(ctx, (&dc.SSHKey{}).ID); return err },
		func() error { _, err := c.RepoKeys("OPS", "api").Delete(ctx, 0); return err },
		func() error { _, err := c.ProjectKeys("OPS").Delete(ctx, 0); return err },
	} {
		if err := del(); err == nil {
			t.Error("a delete without an id succeeded")
		}
	}
	if reqs := e.srv.Requests(); len(reqs) != 0 {
		t.Errorf("deletes without an id sent %d requests: %+v", len(reqs), reqs)
	}
	if n := len(e.dc.UserKeys(bbapitest.DCDefaultUser)); n != 1 {
		t.Errorf("%d keys left, want 1", n)
	}
}

func TestDCAccessKeysAndAll(t *testing.T) {
	e := startDC(t)
	for i := range 12 {
		if err := e.dc.AddRepo(bbapitest.DCDefaultProject, "svc-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.dc.AddProject("OTHER", "Other"); err != nil {
		t.Fatal(err)
	}
	if err := e.dc.AddRepo("OTHER", "readonly"); err != nil {
		t.Fatal(err)
	}
	if err := e.dc.Grant("OTHER", "readonly", bbapitest.DCDefaultUser, bbapitest.PermRead); err != nil {
		t.Fatal(err)
	}
	c := e.client(t, e.dc.DefaultToken(), bbapi.WithHTTPClient(bbapitest.PageLenClient(5)))
	ctx := context.Background()

	// --all: every repository ada administers, across pages, and not the one she reads.
	repos, err := collectSeq(c.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range repos {
		names = append(names, r.FullName())
	}
	if len(names) != 3+12+1 || !slices.Contains(names, "~ADA/notes") || slices.Contains(names, "OTHER/readonly") {
		t.Errorf("administered: %v", names)
	}
	projs := all(t, c.Projects.List(ctx, dc.ListProjectsOptions{Permission: dc.ProjectAdmin}))
	if len(projs) != 1 || projs[0].Key != "OPS" {
		t.Errorf("administered projects: %+v", projs)
	}
	inOther := all(t, c.Repositories.ListByProject(ctx, "OTHER"))
	if len(inOther) != 1 || inOther[0].Slug != "readonly" {
		t.Errorf("OTHER: %+v", inOther)
	}

	key, fp := pubKey(t, "ci")
	ak, resp, err := c.RepoKeys("OPS", "api").Add(ctx, dc.AddAccessKeyOptions{Text: key, Label: "bbkey:ci:2026-11-22"})
	if err != nil || resp.StatusCode != http.StatusCreated || ak.Permission != dc.RepoRead || ak.Key.SHA256() != fp || ak.Repository.FullName() != "OPS/api" {
		t.Fatalf("repo key: %+v %v", ak, err)
	}
	wk, _, err := c.RepoKeys("OPS", "web").Add(ctx, dc.AddAccessKeyOptions{Text: key, Permission: dc.RepoWrite})
	if err != nil || wk.Permission != dc.RepoWrite || wk.Key.ID != ak.Key.ID {
		t.Fatalf("the same key on another repository, writing: %+v %v", wk, err)
	}
	if _, _, err := c.RepoKeys("OPS", "web").Add(ctx, dc.AddAccessKeyOptions{Text: key, Permission: dc.ProjectWrite}); err == nil {
		t.Error("a project permission on a repository was accepted")
	}
	pk, _, err := c.ProjectKeys("OPS").Add(ctx, dc.AddAccessKeyOptions{Text: key, Permission: dc.ProjectWrite})
	if err != nil || pk.Permission != dc.ProjectWrite || pk.Project.Key != "OPS" {
		t.Fatalf("project key: %+v %v", pk, err)
	}
	if found, err := c.RepoKeys("OPS", "web").FindByFingerprint(ctx, fp); err != nil || found == nil || found.Permission != dc.RepoWrite {
		t.Errorf("find: %+v %v", found, err)
	}
	if found, err := c.ProjectKeys("OPS").FindByFingerprint(ctx, fp); err != nil || found == nil {
		t.Errorf("find in project: %+v %v", found, err)
	}
	if _, err := c.RepoKeys("OPS", "api").Delete(ctx, ak.Key.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.dc.RepoAccessKeys("OPS", "api"); len(got) != 0 {
		t.Errorf("api keeps %+v", got)
	}
	if got := e.dc.RepoAccessKeys("OPS", "web"); len(got) != 1 {
		t.Errorf("web lost its grant: %+v", got)
	}

	// A key that landed although the answer was lost: the retry's 409 is reconciled.
	// (A user key, because an access key added twice is a plain 201.)
	ukey, ufp := pubKey(t, "landed")
	first, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: ukey})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.FailNext(bbapitest.Match("POST", "/rest/ssh/latest/keys"), 1, 503, bbapitest.BodyHTML)
	got, resp, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: ukey})
	if err != nil || !resp.Reconciled || got.ID != first.ID || got.SHA256() != ufp {
		t.Fatalf("landed POST: %+v %v", got, err)
	}
}

func TestDCErrors(t *testing.T) {
	e := startDC(t)
	ctx := context.Background()
	key, _ := pubKey(t, "x")

	// A repository token that may only read: 401, a PermissionError naming REPO_ADMIN.
	readTok, err := e.dc.AddRepoToken("OPS", "api", bbapitest.PermRead)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.client(t, readTok).RepoKeys("OPS", "api").Add(ctx, dc.AddAccessKeyOptions{Text: key})
	perm, ok := dc.IsPermission(err)
	if !ok || perm != dc.RepoAdmin || bbapi.IsUnauthorized(err) {
		t.Fatalf("err = %v (permission %q, %v)", err, perm, ok)
	}
	var er *bbapi.ErrorResponse
	if !errors.As(err, &er) || er.StatusCode != 401 || len(er.Errors) != 1 || !er.Exception("AuthorisationException") || er.Errors[0].Context != "" {
		t.Fatalf("error response %+v", er)
	}
	if !strings.Contains(err.Error(), "needs REPO_ADMIN") || !strings.Contains(err.Error(), "You are not permitted") {
		t.Errorf("message %q", err)
	}
	// The same for a project, and for user keys through a project token (no user).
	projTok, err := e.dc.AddProjectToken("OPS", bbapitest.PermWrite)
	if err != nil {
		t.Fatal(err)
	}
	pc := e.client(t, projTok)
	if _, _, err := pc.ProjectKeys("OPS").Add(ctx, dc.AddAccessKeyOptions{Text: key}); func() bool { p, ok := dc.IsPermission(err); return !ok || p != dc.ProjectAdmin }() {
		t.Errorf("project: %v", err)
	}
	if _, err := collectSeq(pc.SSHKeys.List(ctx)); func() bool { p, ok := dc.IsPermission(err); return !ok || p != dc.LicensedUser }() {
		t.Errorf("user keys with a project token: %v", err)
	}
	u, _, err := pc.Users.Current(ctx)
	if err != nil || u.Type != "SERVICE" {
		t.Errorf("project token's user: %+v %v", u, err)
	}
	me, props, err := e.client(t, e.dc.DefaultToken()).Users.Current(ctx)
	if err != nil || me.Slug != bbapitest.DCDefaultUser || me.Type != "NORMAL" || props.Version == "" {
		t.Errorf("current user: %+v %+v %v", me, props, err)
	}

	// A server whose personal tokens may not touch their user's keys (unconfirmed on the
	// live service): the same typed refusal.
	e.dc.RefusePersonalTokensOnUserKeys(true)
	if _, _, err := e.client(t, e.dc.DefaultToken()).SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: key}); func() bool { p, ok := dc.IsPermission(err); return !ok || p != dc.LicensedUser }() {
		t.Errorf("personal token refused on user keys: %v", err)
	}
	e.dc.RefusePersonalTokensOnUserKeys(false)

	// A wrong token: 401, unauthorized, not a permission; its secret is nowhere.
	const wrong = "BBDC-this-token-is-wrong-0123456789"
	wc := e.client(t, wrong)
	_, _, err = wc.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: key})
	if !bbapi.IsUnauthorized(err) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, ok := dc.IsPermission(err); ok {
		t.Errorf("a wrong token read as a missing permission: %v", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(e.debug.String(), wrong) || strings.Contains(e.debug.String(), e.dc.DefaultToken()) {
		t.Errorf("a token shows in the error or the trace")
	}
	if !strings.Contains(e.debug.String(), "Authorization: Bearer ") {
		t.Errorf("the trace does not show the scheme")
	}

	// 404s.
	if _, err := collectSeq(e.client(t, e.dc.DefaultToken()).RepoKeys("OPS", "nope").List(ctx)); !bbapi.IsNotFound(err) {
		t.Errorf("missing repository: %v", err)
	}
	// A proxy's page in place of a 204.
	e.srv.FailNext(bbapitest.Match("DELETE", "/rest/keys/latest/projects/OPS/repos/api/ssh/*"), 1, 200, bbapitest.BodyHTML)
	var de *bbapi.DecodeError
	if _, err := e.client(t, e.dc.DefaultToken()).RepoKeys("OPS", "api").Delete(ctx, 99); !errors.As(err, &de) {
		t.Errorf("html for a delete: %v", err)
	}
}

func collectSeq[T any](seq func(func(T, error) bool)) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// 429 with Retry-After: waited out within the budget, given up beyond it.
func TestDCRateLimit(t *testing.T) {
	e := startDC(t)
	ctx := context.Background()
	e.dc.SetRateLimit(2, 0.25) // a token every 4s
	var waits []bbapi.Wait
	c := e.client(t, e.dc.DefaultToken(), bbapi.WithMaxWait(10*time.Second), bbapi.WithWaitHook(func(w bbapi.Wait) { waits = append(waits, w) }))
	for range 3 {
		if _, _, err := c.SSH.Settings(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(waits) != 1 || waits[0].Delay != 4*time.Second || waits[0].Reason != "rate limited" {
		t.Fatalf("waits %+v", waits)
	}
	// 4s used; the next two each need 4s more: the second of them no longer fits.
	if _, _, err := c.SSH.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.SSH.Settings(ctx)
	var be *bbapi.RetryBudgetError
	if !errors.As(err, &be) || be.Needed != 4*time.Second || !dc.IsRateLimited(err) {
		t.Fatalf("err = %v", err)
	}
	var rl *bbapi.RateLimitError
	if !errors.As(err, &rl) || !rl.HasRetryAfter || rl.RetryAfter != 4*time.Second || rl.StatusCode != 429 || len(rl.Errors) != 1 {
		t.Errorf("rate limit error %+v", rl)
	}
	if st := c.Stats(); st.Retries != 2 {
		t.Errorf("stats %+v", st)
	}
}

// The SSH settings name the SSH server and vouch for its real host key.
func TestDCSSHSettings(t *testing.T) {
	e := startDC(t)
	c := e.client(t, e.dc.DefaultToken())
	st, _, err := c.SSH.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := st.Endpoint()
	if err != nil || net.JoinHostPort(host, strconv.Itoa(port)) != e.srv.SSHEndpoint() {
		t.Errorf("endpoint %s:%d %v, want %s", host, port, err, e.srv.SSHEndpoint())
	}
	if !st.MatchesHostKey(e.srv.HostPublicKey()) {
		t.Error("the settings do not vouch for the SSH server's host key")
	}
	// The key the SSH server presents in a real handshake is the one the settings vouch for.
	var presented ssh.PublicKey
	conn, err := ssh.Dial("tcp", e.srv.SSHEndpoint(), &ssh.ClientConfig{
		User: "git", Timeout: 10 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			presented = k
			return errors.New("host key captured")
		},
	})
	if conn != nil {
		conn.Close()
	}
	if presented == nil || !st.MatchesHostKey(presented) {
		t.Errorf("the host key presented over SSH (%v) is not the one the settings vouch for", err)
	}
	other, _ := pubKey(t, "other")
	otherFP, _ := bbapi.FingerprintOf(other)
	e.dc.SetReportedHostKeyFingerprint(otherFP)
	st, _, err = c.SSH.Settings(context.Background())
	if err != nil || st.MatchesHostKey(e.srv.HostPublicKey()) {
		t.Errorf("a different reported fingerprint still matches: %v", err)
	}
}

// Every operation of the spec subset that bbkey uses is called by the client, so the
// validation of its requests and of the emulator's answers covers the whole subset. The
// one exception is the id-less DELETE, which the client must never send.
func TestDCClientCoversSpec(t *testing.T) {
	e := startDC(t)
	c := e.client(t, e.dc.DefaultToken())
	ctx := context.Background()
	key, fp := pubKey(t, "cover")
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := c.Users.Current(ctx)
	check(err)
	_, err = collectSeq(c.Projects.List(ctx, dc.ListProjectsOptions{Permission: dc.ProjectRead}))
	check(err)
	_, err = collectSeq(c.Repositories.ListByProject(ctx, "OPS"))
	check(err)
	repos, err := collectSeq(c.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoWrite, ProjectKey: "OPS"}))
	check(err)
	if len(repos) != 3 { // api, web, infra
		t.Errorf("filtered repositories: %d", len(repos))
	}
	_, _, err = c.SSH.Settings(ctx)
	check(err)
	uk, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: key})
	check(err)
	_, err = c.SSHKeys.FindByFingerprint(ctx, fp)
	check(err)
	_, err = c.SSHKeys.Delete(ctx, uk.ID)
	check(err)
	rk, _, err := c.RepoKeys("OPS", "api").Add(ctx, dc.AddAccessKeyOptions{Text: key})
	check(err)
	_, err = collectSeq(c.RepoKeys("OPS", "api").List(ctx))
	check(err)
	_, err = c.RepoKeys("OPS", "api").Delete(ctx, rk.Key.ID)
	check(err)
	pk, _, err := c.ProjectKeys("OPS").Add(ctx, dc.AddAccessKeyOptions{Text: key})
	check(err)
	_, err = collectSeq(c.ProjectKeys("OPS").List(ctx))
	check(err)
	_, err = c.ProjectKeys("OPS").Delete(ctx, pk.Key.ID)
	check(err)

	called := map[string]bool{}
	for _, r := range e.srv.Requests() {
		called[r.Method+" "+specPath(r.Path)] = true
	}
	for _, p := range bbapitest.DCSpecPaths {
		var ops []string
		switch {
		case p == "/ssh/latest/keys":
			ops = []string{"GET", "POST"} // never DELETE
		case strings.HasSuffix(p, "{keyId}"):
			ops = []string{"DELETE"} // bbkey never reads one key
		case p == "/api/latest/projects/{projectKey}" || p == "/api/latest/projects/{projectKey}/repos/{repositorySlug}":
			continue // bbkey never reads one project or repository
		case strings.HasSuffix(p, "/ssh") && strings.HasPrefix(p, "/keys/"):
			ops = []string{"GET", "POST"}
		default:
			ops = []string{"GET"}
		}
		for _, m := range ops {
			if !called[m+" "+p] {
				t.Errorf("the client never called %s %s", m, p)
			}
		}
	}
}

// specPath turns a request path into its spec template, e.g.
// /rest/keys/latest/projects/OPS/ssh/7 → /keys/latest/projects/{projectKey}/ssh/{keyId}.
func specPath(p string) string {
	segs := strings.Split(strings.TrimPrefix(p, "/rest"), "/")
	for i := 1; i < len(segs); i++ {
		switch segs[i-1] {
		case "projects":
			segs[i] = "{projectKey}"
		case "repos":
			segs[i] = "{repositorySlug}"
		case "users":
			segs[i] = "{userSlug}"
		case "ssh", "keys":
			if _, err := strconv.Atoi(segs[i]); err == nil {
				segs[i] = "{keyId}"
			}
		}
	}
	return strings.Join(segs, "/")
}

// Concurrent adds to many repositories through one client: each lands once, with its
// own permission.
func TestDCConcurrentAccessKeys(t *testing.T) {
	e := startDC(t)
	const n = 24
	for i := range n {
		if err := e.dc.AddRepo(bbapitest.DCDefaultProject, "r"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(t, e.dc.DefaultToken())
	key, fp := pubKey(t, "fleet")
	errs := make(chan error, n)
	for i := range n {
		go func() {
			perm := dc.RepoRead
			if i%2 == 1 {
				perm = dc.RepoWrite
			}
			_, _, err := c.RepoKeys("OPS", "r"+strconv.Itoa(i)).Add(context.Background(), dc.AddAccessKeyOptions{Text: key, Permission: perm, OrGet: true})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ids := map[int]bool{}
	for i := range n {
		got := e.dc.RepoAccessKeys("OPS", "r"+strconv.Itoa(i))
		want := "REPO_READ"
		if i%2 == 1 {
			want = "REPO_WRITE"
		}
		if len(got) != 1 || got[0].Permission != want || "SHA256:"+got[0].Fingerprint != fp {
			t.Fatalf("r%d: %+v", i, got)
		}
		ids[got[0].ID] = true
	}
	if len(ids) != 1 {
		t.Errorf("one public key became %d keys", len(ids))
	}
}
