package bbapi_test

// These tests run bbapi against the emulator (bbapitest) over real HTTP on loopback,
// with every request and JSON response checked against Atlassian's OpenAPI spec.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type emu struct {
	srv   *bbapitest.Server
	clock *bbapi.FakeClock
	debug *lockedBuffer
}

func startEmulator(t *testing.T, opts ...bbapitest.Option) *emu {
	t.Helper()
	e := &emu{clock: bbapi.NewFakeClock(), debug: &lockedBuffer{}}
	e.srv = bbapitest.Start(t, append([]bbapitest.Option{bbapitest.WithSpecValidation(t), bbapitest.WithClock(e.clock.Now)}, opts...)...)
	return e
}

// envCred resolves the credential from the emulator's environment lines, as bbkey does
// from the process environment.
func (e *emu) envCred(t *testing.T) bbapi.Credential {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range e.srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cred, err := bbapi.CredentialFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, vars["BITBUCKET_OAUTH_TOKEN_URL"])
	if err != nil || cred == nil {
		t.Fatalf("CredentialFromEnv: %v, %v", cred, err)
	}
	return cred
}

func (e *emu) client(t *testing.T, cred bbapi.Credential, opts ...bbapi.Option) *bbapi.Client {
	t.Helper()
	c, err := bbapi.NewClient(e.srv.APIURL(), cred, append([]bbapi.Option{
		bbapi.WithClock(e.clock.Now), bbapi.WithSleep(e.clock.Sleep), bbapi.WithDebug(e.debug), bbapi.WithVersion("test"),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pubKey(t *testing.T, comment string) (line, fp string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment, ssh.FingerprintSHA256(pk)
}

func all[T any](t *testing.T, seq func(yield func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func must[T any](t *testing.T) func(v T, _ *bbapi.Response, err error) T {
	return func(v T, _ *bbapi.Response, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestEmulatorUsersWorkspacesRepositories(t *testing.T) {
	e := startEmulator(t)
	c := e.client(t, e.envCred(t))
	ctx := context.Background()

	me := must[*bbapi.User](t)(c.Users.Current(ctx))
	if me.UUID != bbapitest.DefaultUUID || me.AccountID != bbapitest.DefaultAccountID || me.Nickname != bbapitest.DefaultNickname {
		t.Errorf("user = %+v", me)
	}
	ws := all(t, c.Users.Workspaces(ctx, &bbapi.ListWorkspacesOptions{AdministratorOnly: true}))
	if len(ws) != 1 || ws[0].Workspace.Slug != bbapitest.DefaultWorkspace || !ws[0].Administrator {
		t.Errorf("workspaces = %+v", ws)
	}
	repos := all(t, c.Repositories.ListWorkspace(ctx, "acme", &bbapi.ListRepositoriesOptions{Role: "admin"}))
	var slugs []string
	for _, r := range repos {
		slugs = append(slugs, r.RepoSlug())
	}
	slices.Sort(slugs)
	if fmt.Sprint(slugs) != "[api infra web]" {
		t.Errorf("repositories = %v", slugs)
	}
	repos = all(t, c.Repositories.ListWorkspace(ctx, "acme", &bbapi.ListRepositoriesOptions{Query: `name ~ "ap" AND project.key = "OPS"`}))
	if len(repos) != 1 || repos[0].FullName != "acme/api" || repos[0].WorkspaceSlug() != "acme" {
		t.Errorf("filtered = %+v", repos)
	}
}

func TestEmulatorUserSSHKeys(t *testing.T) {
	e := startEmulator(t)
	c := e.client(t, e.envCred(t))
	ctx := context.Background()
	me := bbapitest.DefaultUUID

	key, fp := pubKey(t, "ada@laptop")
	exp := e.clock.Now().Add(365 * 24 * time.Hour).Truncate(time.Second)
	k, resp, err := c.SSHKeys.Add(ctx, me, bbapi.AddSSHKeyOptions{Key: key, Label: "bbkey:ada:2026-11-22", ExpiresOn: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Reconciled || k.SHA256() != fp || k.Label != "bbkey:ada:2026-11-22" || k.Comment != "ada@laptop" {
		t.Errorf("added %d %+v", resp.StatusCode, k)
	}
	if !k.ExpiresOn.Equal(exp) {
		t.Errorf("expires_on = %v, want %v", k.ExpiresOn, exp)
	}
	if stored := e.srv.UserKeys(bbapitest.DefaultAccountID); len(stored) != 1 || stored[0].ExpiresOn == nil || !stored[0].ExpiresOn.Equal(exp) {
		t.Errorf("emulator holds %+v", stored)
	}

	listed := all(t, c.SSHKeys.List(ctx, bbapitest.DefaultAccountID))
	if len(listed) != 1 || listed[0].UUID != k.UUID || listed[0].SHA256() != fp {
		t.Errorf("listed = %+v", listed)
	}
	got := must[*bbapi.SSHKey](t)(c.SSHKeys.Get(ctx, me, k.UUID))
	if got.UUID != k.UUID || got.Key == "" {
		t.Errorf("get = %+v", got)
	}
	up := must[*bbapi.SSHKey](t)(c.SSHKeys.Update(ctx, me, k.UUID, "renamed"))
	if up.Label != "renamed" {
		t.Errorf("update = %+v", up)
	}
	if e.srv.UserKeys(bbapitest.DefaultAccountID)[0].Label != "renamed" {
		t.Errorf("emulator holds %+v", e.srv.UserKeys(bbapitest.DefaultAccountID))
	}
	found, err := c.SSHKeys.FindByFingerprint(ctx, me, strings.TrimPrefix(fp, "SHA256:"))
	if err != nil || found == nil || found.UUID != k.UUID {
		t.Errorf("find = %+v, %v", found, err)
	}

	// The same key again: a duplicate for Add, the existing key for AddOrGet.
	if _, _, err := c.SSHKeys.Add(ctx, me, bbapi.AddSSHKeyOptions{Key: key}); !bbapi.IsDuplicateKey(err) {
		t.Errorf("second add: %v", err)
	}
	again, resp, err := c.SSHKeys.Add(ctx, me, bbapi.AddSSHKeyOptions{Key: key, OrGet: true})
	if err != nil || !resp.Reconciled || again.UUID != k.UUID {
		t.Errorf("AddOrGet = %+v, %v", again, err)
	}

	if resp, err := c.SSHKeys.DeleteKey(ctx, got); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete by link: %v", err)
	}
	if _, _, err := c.SSHKeys.Get(ctx, me, k.UUID); !bbapi.IsNotFound(err) {
		t.Errorf("get after delete: %v", err)
	}
	key2, _ := pubKey(t, "second")
	k2 := must[*bbapi.SSHKey](t)(c.SSHKeys.Add(ctx, bbapitest.DefaultAccountID, bbapi.AddSSHKeyOptions{Key: key2, Label: "two"}))
	if _, err := c.SSHKeys.Delete(ctx, bbapitest.DefaultAccountID, k2.UUID); err != nil {
		t.Fatal(err)
	}
	if n := len(e.srv.UserKeys(bbapitest.DefaultAccountID)); n != 0 {
		t.Errorf("%d keys left", n)
	}
}

func TestEmulatorAccessKeys(t *testing.T) {
	e := startEmulator(t)
	c := e.client(t, e.envCred(t))
	ctx := context.Background()

	key, fp := pubKey(t, "ci-01")
	dk, resp, err := c.RepoKeys("acme", "api").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, Label: "bbkey:ci-01:2026-11-22:ttl=90d"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || dk.ID == 0 || dk.SHA256() != fp || dk.AddedOn.IsZero() {
		t.Errorf("added %d %+v", resp.StatusCode, dk)
	}
	// The same key may serve several repositories and projects.
	dk2 := must[*bbapi.DeployKey](t)(c.RepoKeys("acme", "web").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, Label: "web"}))
	listed := all(t, c.RepoKeys("acme", "api").List(ctx))
	if len(listed) != 1 || listed[0].ID != dk.ID {
		t.Errorf("listed = %+v", listed)
	}
	got := must[*bbapi.DeployKey](t)(c.RepoKeys("acme", "api").Get(ctx, dk.ID))
	if got.Label != "bbkey:ci-01:2026-11-22:ttl=90d" {
		t.Errorf("get = %+v", got)
	}
	up := must[*bbapi.DeployKey](t)(c.RepoKeys("acme", "api").Update(ctx, dk.ID, "relabelled"))
	if up.Label != "relabelled" || e.srv.RepoDeployKeys("acme", "api")[0].Label != "relabelled" {
		t.Errorf("update = %+v", up)
	}
	if _, _, err := c.RepoKeys("acme", "api").Add(ctx, bbapi.AddDeployKeyOptions{Key: key}); !bbapi.IsDuplicateKey(err) {
		t.Errorf("duplicate on one repository: %v", err)
	}
	if k, resp, err := c.RepoKeys("acme", "api").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, OrGet: true}); err != nil || !resp.Reconciled || k.ID != dk.ID {
		t.Errorf("AddOrGet = %+v, %v", k, err)
	}
	// An access key can never also be an account key.
	if _, _, err := c.SSHKeys.Add(ctx, bbapitest.DefaultUUID, bbapi.AddSSHKeyOptions{Key: key, OrGet: true}); !bbapi.IsDuplicateKey(err) {
		t.Errorf("access key accepted as account key: %v", err)
	}
	if _, err := c.RepoKeys("acme", "api").Delete(ctx, dk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RepoKeys("acme", "web").Delete(ctx, dk2.ID); err != nil {
		t.Fatal(err)
	}
	if len(e.srv.RepoDeployKeys("acme", "api"))+len(e.srv.RepoDeployKeys("acme", "web")) != 0 {
		t.Error("access keys left behind")
	}

	pk, resp, err := c.ProjectKeys("acme", "OPS").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, Label: "project"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || pk.SHA256() != fp || pk.Label != "project" {
		t.Errorf("project key %d %+v", resp.StatusCode, pk)
	}
	plist := all(t, c.ProjectKeys("acme", "OPS").List(ctx))
	if len(plist) != 1 || plist[0].SHA256() != fp {
		t.Fatalf("project keys = %+v", plist)
	}
	id := plist[0].ID
	if id == 0 {
		id = bbapi.ID(e.srv.ProjectDeployKeys("acme", "OPS")[0].ID)
	}
	if g := must[*bbapi.DeployKey](t)(c.ProjectKeys("acme", "OPS").Get(ctx, id)); g.SHA256() != fp {
		t.Errorf("project get = %+v", g)
	}
	if k, resp, err := c.ProjectKeys("acme", "OPS").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, OrGet: true}); err != nil || !resp.Reconciled || k.SHA256() != fp {
		t.Errorf("project AddOrGet = %+v, %v", k, err)
	}
	if _, err = c.ProjectKeys("acme", "OPS").Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ProjectKeys("acme", "OPS").Get(ctx, id); !bbapi.IsNotFound(err) {
		t.Errorf("project get after delete: %v", err)
	}
}

func TestEmulatorPagination(t *testing.T) {
	e := startEmulator(t)
	for i := range 27 {
		if err := e.srv.AddRepo("acme", fmt.Sprintf("svc-%02d", i), "OPS"); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	c := e.client(t, e.envCred(t), bbapi.WithHTTPClient(bbapitest.PageLenClient(10)))
	e.srv.ResetRequests()
	repos := all(t, c.Repositories.ListWorkspace(ctx, "acme", nil))
	if len(repos) != 30 {
		t.Errorf("%d repositories, want 30", len(repos))
	}
	seen := map[string]bool{}
	for _, r := range repos {
		if seen[r.FullName] {
			t.Errorf("%s listed twice", r.FullName)
		}
		seen[r.FullName] = true
	}
	if n := len(e.srv.Requests()); n != 3 {
		t.Errorf("%d page requests, want 3", n)
	}

	// The default page length is 100: one request.
	e.srv.ResetRequests()
	c = e.client(t, e.envCred(t))
	if n := len(all(t, c.Repositories.ListWorkspace(ctx, "acme", nil))); n != 30 {
		t.Errorf("%d repositories", n)
	}
	reqs := e.srv.Requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].RawQuery, "pagelen=100") {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestEmulatorAuthSchemes(t *testing.T) {
	e := startEmulator(t)
	ctx := context.Background()
	apiToken := e.srv.DefaultAPIToken()

	t.Run("api token as basic", func(t *testing.T) {
		c := e.client(t, &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: apiToken})
		if _, _, err := c.Users.Current(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("api token as bearer is refused", func(t *testing.T) {
		c := e.client(t, &bbapi.AccessToken{Token: apiToken})
		if _, _, err := c.Users.Current(ctx); !bbapi.IsUnauthorized(err) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("wrong api token", func(t *testing.T) {
		c := e.client(t, &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: "ATATT-not-a-real-token"})
		_, _, err := c.Users.Current(ctx)
		if !bbapi.IsUnauthorized(err) || apierr.ExitCode(err) != errkind.ExitAuth {
			t.Errorf("err = %v (exit %d)", err, apierr.ExitCode(err))
		}
		if h := strings.Join(apierr.Hints(err), "\n"); !strings.Contains(h, "BITBUCKET_EMAIL and BITBUCKET_API_TOKEN") {
			t.Errorf("hints = %s", h)
		}
	})
	t.Run("repository access token", func(t *testing.T) {
		tok, err := e.srv.AddRepoAccessToken("acme", "api", "repository", "repository:admin")
		if err != nil {
			t.Fatal(err)
		}
		c := e.client(t, &bbapi.AccessToken{Token: tok})
		key, _ := pubKey(t, "ci")
		// Bitbucket refuses access tokens on a repository's access-key writes: the error
		// says to use an API token with admin:repository:bitbucket.
		_, _, err = c.RepoKeys("acme", "api").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, Label: "ci"})
		if !bbapi.IsForbidden(err) || apierr.ExitCode(err) != errkind.ExitAuth {
			t.Fatalf("err = %v", err)
		}
		if h := strings.Join(apierr.Hints(err), "\n"); !strings.Contains(h, "API token") || !strings.Contains(h, "admin:repository:bitbucket") {
			t.Errorf("hints = %s", h)
		}
		if n := len(all(t, c.RepoKeys("acme", "api").List(ctx))); n != 0 {
			t.Errorf("%d keys", n)
		}
		// An access token is no person: it cannot touch account keys.
		_, _, err = c.SSHKeys.Add(ctx, bbapitest.DefaultUUID, bbapi.AddSSHKeyOptions{Key: key})
		if !bbapi.IsForbidden(err) || apierr.ExitCode(err) != errkind.ExitAuth {
			t.Errorf("err = %v", err)
		}
		if h := strings.Join(apierr.Hints(err), "\n"); !strings.Contains(h, "cannot manage a person's SSH keys") {
			t.Errorf("hints = %s", h)
		}
	})
	t.Run("oauth consumer, token refreshed when expired", func(t *testing.T) {
		id, secret, err := e.srv.AddOAuthConsumer(bbapitest.DefaultEmail, "account", "account:write")
		if err != nil {
			t.Fatal(err)
		}
		cred := &bbapi.OAuthClient{ClientID: id, ClientSecret: secret, TokenURL: e.srv.OAuthTokenURL()}
		// The client's own clock stands still, so only the server knows the token expired:
		// the 401 must make the client fetch a fresh token and repeat the request.
		c, err := bbapi.NewClient(e.srv.APIURL(), cred, bbapi.WithDebug(e.debug), bbapi.WithSleep(e.clock.Sleep),
			bbapi.WithClock(func() time.Time { return time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC) }))
		if err != nil {
			t.Fatal(err)
		}
		key, _ := pubKey(t, "oauth")
		if _, _, err := c.SSHKeys.Add(ctx, bbapitest.DefaultUUID, bbapi.AddSSHKeyOptions{Key: key}); err != nil {
			t.Fatal(err)
		}
		if cred.Fetches() != 1 {
			t.Errorf("fetches = %d", cred.Fetches())
		}
		e.clock.Advance(bbapitest.OAuthTokenLifetime + time.Minute)
		_, resp, err := c.Users.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cred.Fetches() != 2 || resp.Attempts != 2 {
			t.Errorf("fetches = %d, attempts = %d", cred.Fetches(), resp.Attempts)
		}

		// With a shared clock the client renews before expiry and never sees a 401.
		c2 := e.client(t, cred)
		e.clock.Advance(bbapitest.OAuthTokenLifetime)
		e.srv.ResetRequests()
		if _, resp, err := c2.Users.Current(ctx); err != nil || resp.Attempts != 1 {
			t.Fatalf("attempts %v, err %v", resp.Attempts, err)
		}
		if cred.Fetches() != 3 {
			t.Errorf("fetches = %d", cred.Fetches())
		}
		for _, r := range e.srv.Requests() {
			if r.Status == http.StatusUnauthorized {
				t.Errorf("saw a 401: %+v", r)
			}
		}
	})
	t.Run("oauth consumer with a wrong secret", func(t *testing.T) {
		id, _, err := e.srv.AddOAuthConsumer(bbapitest.DefaultEmail, "account")
		if err != nil {
			t.Fatal(err)
		}
		c := e.client(t, &bbapi.OAuthClient{ClientID: id, ClientSecret: "wrong-secret-value", TokenURL: e.srv.OAuthTokenURL()})
		_, _, err = c.Users.Current(ctx)
		if !bbapi.IsUnauthorized(err) || apierr.ExitCode(err) != errkind.ExitAuth {
			t.Errorf("err = %v", err)
		}
	})
}

func TestEmulatorErrorKinds(t *testing.T) {
	e := startEmulator(t, bbapitest.WithAccessTokensRefusedOnDeployKeys())
	ctx := context.Background()
	cred := e.envCred(t)
	c := e.client(t, cred, bbapi.WithMaxWait(0))

	if _, _, err := c.RepoKeys("acme", "no-such-repo").Get(ctx, 1); !bbapi.IsNotFound(err) {
		t.Errorf("404: %v", err)
	}

	narrow, err := e.srv.AddAPIToken(bbapitest.DefaultEmail, "read:user:bitbucket")
	if err != nil {
		t.Fatal(err)
	}
	cn := e.client(t, &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: narrow})
	// An empty listing would skip the loop body: the 403 must be seen.
	sawForbidden := false
	for v, err := range cn.SSHKeys.List(ctx, bbapitest.DefaultUUID) {
		sawForbidden = sawForbidden || err != nil
		if !bbapi.IsForbidden(err) || bbapi.MissingScope(err) != "read:ssh-key:bitbucket" {
			t.Errorf("403: %v, %v (missing %q)", v, err, bbapi.MissingScope(err))
		}
		if h := strings.Join(apierr.Hints(err), "\n"); !strings.Contains(h, "read:ssh-key:bitbucket") || !strings.Contains(h, "id.atlassian.com") {
			t.Errorf("hints = %s", h)
		}
	}
	if !sawForbidden {
		t.Error("listing account keys without read:ssh-key gave no error")
	}
	key, _ := pubKey(t, "k")
	_, _, err = cn.RepoKeys("acme", "api").Add(ctx, bbapi.AddDeployKeyOptions{Key: key})
	if !bbapi.IsForbidden(err) || !strings.Contains(bbapi.MissingScope(err), "admin:repository:bitbucket") {
		t.Errorf("403 deploy key: %v (missing %q)", err, bbapi.MissingScope(err))
	}

	tok, err := e.srv.AddRepoAccessToken("acme", "api", "repository", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	ca := e.client(t, &bbapi.AccessToken{Token: tok})
	_, err = all2(ca.RepoKeys("acme", "api").List(ctx))
	if !bbapi.IsForbidden(err) || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "or use an API token") {
		t.Errorf("access token refused on deploy keys: %v / %v", err, apierr.Hints(err))
	}

	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{502, bbapitest.BodyHTML, "502 Bad Gateway: 502 Bad Gateway"},
		{503, bbapitest.BodyPlain, "503 Service Unavailable: Service Unavailable"},
		{500, bbapitest.BodyMalformedJSON, `500 Internal Server Error: {"type": "error", "error": {"message": "trunc`},
		{500, bbapitest.BodyOversized(9 << 20), "500 Internal Server Error: {\"type\""},
	} {
		e.srv.FailNext(bbapitest.Match("GET", "/2.0/user"), 1, tc.status, tc.body)
		_, _, err := c.Users.Current(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d: err = %.300v", tc.status, err)
		}
		if len(err.Error()) > 2000 {
			t.Errorf("%d: error of %d bytes", tc.status, len(err.Error()))
		}
	}
	e.srv.FailNext(bbapitest.Match("GET", "/2.0/user"), 1, 200, bbapitest.BodyOversized(9<<20))
	if _, _, err := c.Users.Current(ctx); err == nil || !strings.Contains(err.Error(), "larger than the 8 MiB limit") {
		t.Errorf("oversized success: %.300v", err)
	}

	e.srv.SetRateLimit(2)
	var rlErr error
	for range 3 {
		_, rlErr = all2(c.Repositories.ListWorkspace(ctx, "acme", nil))
	}
	if !bbapi.IsRateLimited(rlErr) || apierr.ExitCode(rlErr) != errkind.ExitPartial {
		t.Errorf("429: %v (exit %d)", rlErr, apierr.ExitCode(rlErr))
	}
	if !strings.Contains(rlErr.Error(), "Rate limit for this resource has been exceeded.") {
		t.Errorf("429 text: %v", rlErr)
	}
}

func all2[T any](seq func(yield func(T, error) bool)) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func TestEmulatorRateLimitThenSuccess(t *testing.T) {
	e := startEmulator(t)
	var waits []bbapi.Wait
	c := e.client(t, e.envCred(t), bbapi.WithWaitHook(func(w bbapi.Wait) { waits = append(waits, w) }))
	e.srv.FailNext(bbapitest.Match("GET", "/2.0/repositories/acme"), 2, 429, "Rate limit for this resource has been exceeded.")
	repos, err := all2(c.Repositories.ListWorkspace(context.Background(), "acme", nil))
	if err != nil || len(repos) != 3 {
		t.Fatalf("repos=%d err=%v", len(repos), err)
	}
	if len(waits) != 2 || waits[0].Reason != "rate limited" || len(e.clock.Sleeps()) != 2 {
		t.Errorf("waits = %+v", waits)
	}
	var n429 int
	for _, r := range e.srv.Requests() {
		if r.Status == 429 {
			n429++
		}
	}
	if n429 != 2 {
		t.Errorf("%d 429s", n429)
	}
}

func TestEmulatorServiceUnavailableCapped(t *testing.T) {
	e := startEmulator(t)
	c := e.client(t, e.envCred(t), bbapi.WithMaxWait(30*time.Second))
	e.srv.FailNext(bbapitest.Match("GET", "/2.0/user"), 1000, 503, bbapitest.BodyPlain)
	e.srv.ResetRequests()
	_, _, err := c.Users.Current(context.Background())
	var be *bbapi.RetryBudgetError
	if !errors.As(err, &be) || apierr.ExitCode(err) != errkind.ExitPartial {
		t.Fatalf("err = %v", err)
	}
	if be.Waited > 30*time.Second || be.Attempts < 2 || len(e.srv.Requests()) != be.Attempts {
		t.Errorf("waited %s over %d attempts, server saw %d", be.Waited, be.Attempts, len(e.srv.Requests()))
	}
	if !strings.Contains(err.Error(), "gave up after") || !strings.Contains(strings.Join(apierr.Hints(err), " "), "--max-wait") {
		t.Errorf("err = %v, hints %v", err, apierr.Hints(err))
	}
}

func TestEmulatorLandedPostIsReconciled(t *testing.T) {
	e := startEmulator(t)
	c := e.client(t, e.envCred(t))
	ctx := context.Background()
	key, fp := pubKey(t, "k")
	// The key landed, but the gateway lost the answer (here: an earlier add, then a 503
	// on the retried POST's first attempt); the retry hears "already added".
	first := must[*bbapi.DeployKey](t)(c.RepoKeys("acme", "infra").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, Label: "l"}))
	e.srv.FailNext(bbapitest.Match("POST", "/2.0/repositories/acme/infra/deploy-keys"), 1, 503, bbapitest.BodyHTML)
	got, resp, err := c.RepoKeys("acme", "infra").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, Label: "l"})
	if err != nil || !resp.Reconciled || got.ID != first.ID || got.SHA256() != fp {
		t.Fatalf("got %+v reconciled=%v err=%v", got, resp != nil && resp.Reconciled, err)
	}
	if n := len(e.srv.RepoDeployKeys("acme", "infra")); n != 1 {
		t.Errorf("%d keys", n)
	}

	// A connection reset on an account-key POST: retried, added once.
	e.srv.ResetConnections(bbapitest.Match("POST", "/2.0/users/*/ssh-keys"), 1)
	key2, _ := pubKey(t, "k2")
	k, _, err := c.SSHKeys.Add(ctx, bbapitest.DefaultUUID, bbapi.AddSSHKeyOptions{Key: key2})
	if err != nil || k.UUID == "" {
		t.Fatalf("after reset: %+v %v", k, err)
	}
	if n := len(e.srv.UserKeys(bbapitest.DefaultAccountID)); n != 1 {
		t.Errorf("%d account keys", n)
	}
}

// TestEmulatorSecretsNeverShown drives every credential through successes and failures
// with the debug trace on, then greps the trace and every error and hint for each secret.
func TestEmulatorSecretsNeverShown(t *testing.T) {
	e := startEmulator(t, bbapitest.WithAccessTokensRefusedOnDeployKeys())
	ctx := context.Background()
	id, secret, err := e.srv.AddOAuthConsumer(bbapitest.DefaultEmail, "account")
	if err != nil {
		t.Fatal(err)
	}
	access, err := e.srv.AddRepoAccessToken("acme", "api", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	oauth := &bbapi.OAuthClient{ClientID: id, ClientSecret: secret, TokenURL: e.srv.OAuthTokenURL()}
	creds := []bbapi.Credential{
		e.envCred(t),
		&bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: "ATATT3xFfGF0-wrong-token-value"},
		&bbapi.AccessToken{Token: access},
		&bbapi.AccessToken{Token: e.srv.DefaultAPIToken()}, // as Bearer: refused
		oauth,
		&bbapi.OAuthClient{ClientID: id, ClientSecret: "wrong-oauth-secret-value", TokenURL: e.srv.OAuthTokenURL()},
	}
	var texts []string
	record := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), strings.Join(apierr.Hints(err), "\n"))
		}
	}
	for _, cred := range creds {
		c := e.client(t, cred, bbapi.WithMaxWait(2*time.Second))
		key, _ := pubKey(t, "k")
		_, _, err := c.Users.Current(ctx)
		record(err)
		_, _, err = c.SSHKeys.Add(ctx, bbapitest.DefaultUUID, bbapi.AddSSHKeyOptions{Key: key})
		record(err)
		_, err = all2(c.RepoKeys("acme", "api").List(ctx))
		record(err)
		e.srv.FailNext(bbapitest.Match("GET", "/2.0/user/workspaces"), 3, 503, bbapitest.BodyHTML)
		_, err = all2(c.Users.Workspaces(ctx, nil))
		record(err)
		e.srv.ResetConnections(bbapitest.Match("GET", "/2.0/repositories/acme"), 1)
		_, err = all2(c.Repositories.ListWorkspace(ctx, "acme", nil))
		record(err)
	}
	trace := e.debug.String()
	if !strings.Contains(trace, "Authorization: Basic ***") || !strings.Contains(trace, "Authorization: Bearer ***") || !strings.Contains(trace, "> GET "+e.srv.APIURL()+"/user") {
		t.Errorf("trace lacks the masked requests:\n%.2000s", trace)
	}
	if !strings.Contains(trace, `"access_token":"***"`) && !strings.Contains(trace, `"access_token": "***"`) {
		t.Errorf("trace lacks the masked token answer")
	}
	texts = append(texts, trace)
	secrets := []string{e.srv.DefaultAPIToken(), "ATATT3xFfGF0-wrong-token-value", access, secret, "wrong-oauth-secret-value"}
	for _, cred := range creds {
		secrets = append(secrets, cred.Secrets()...) // includes every OAuth token fetched
	}
	if len(oauth.Secrets()) < 3 {
		t.Fatalf("no OAuth token was fetched: %d secrets", len(oauth.Secrets()))
	}
	for _, s := range secrets {
		for _, text := range texts {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("secret %.6s… found in: %.300s", s, text)
			}
		}
	}
}

func TestEmulatorHungRequestTimesOutAndIsRetried(t *testing.T) {
	e := startEmulator(t)
	c := e.client(t, e.envCred(t), bbapi.WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}))
	e.srv.Hang(bbapitest.Match("GET", "/2.0/user"), 1)
	_, resp, err := c.Users.Current(context.Background())
	if err != nil || resp.Attempts != 2 {
		t.Fatalf("attempts=%v err=%v", resp.Attempts, err)
	}

	// Without a retry budget the timeout is reported, naming the request.
	c = e.client(t, e.envCred(t), bbapi.WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}), bbapi.WithMaxWait(0))
	e.srv.Hang(bbapitest.Match("GET", "/2.0/user"), 1)
	_, _, err = c.Users.Current(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GET "+e.srv.APIURL()+"/user") || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("err = %v", err)
	}
}
