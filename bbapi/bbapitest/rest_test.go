package bbapitest_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

func TestUserAndAuthSchemes(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	r := call(t, "GET", s.APIURL()+"/user", ada(s), nil)
	wantStatus(t, r, 200)
	m := r.json(t)
	if m["account_id"] != bbapitest.DefaultAccountID || m["uuid"] != bbapitest.DefaultUUID || m["nickname"] != "ada" {
		t.Fatalf("user: %s", r.body)
	}
	if _, ok := m["username"]; ok {
		t.Error("username is sent; Bitbucket dropped it")
	}
	if got := r.header.Get("X-OAuth-Scopes"); !strings.Contains(got, "write:ssh-key:bitbucket") {
		t.Errorf("x-oauth-scopes = %q", got)
	}

	// An API token as Bearer is refused with Bitbucket's JSON text.
	r = call(t, "GET", s.APIURL()+"/user", bearer(s.DefaultAPIToken()), nil)
	wantStatus(t, r, 401)
	if msg := r.errorMessage(t); msg != "Token is invalid, expired, or not supported for this endpoint." {
		t.Errorf("bearer api token: %q", msg)
	}
	// A wrong Basic credential gets plain text.
	r = call(t, "GET", s.APIURL()+"/user", basic(bbapitest.DefaultEmail, "wrong"), nil)
	wantStatus(t, r, 401)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || string(r.body) != "Login failed due to incorrect login credentials or method." {
		t.Errorf("bad basic: %s %q", ct, r.body)
	}
	// The right token with another email is no better.
	r = call(t, "GET", s.APIURL()+"/user", basic("eve@example.com", s.DefaultAPIToken()), nil)
	wantStatus(t, r, 401)
	r = call(t, "GET", s.APIURL()+"/user", "", nil)
	wantStatus(t, r, 401)

	// An expired API token stops working.
	if err := s.ExpireToken(s.DefaultAPIToken(), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, call(t, "GET", s.APIURL()+"/user", ada(s), nil), 401)
}

func TestEnv(t *testing.T) {
	s := bbapitest.Start(t)
	env := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{
		"BITBUCKET_API_URL": s.APIURL(), "BITBUCKET_OAUTH_TOKEN_URL": s.OAuthTokenURL(),
		"BBKEY_SSH_ENDPOINT": s.SSHEndpoint(), "BBKEY_SSH_HOST_KEYS": s.HostKeyFile(),
		"BITBUCKET_EMAIL": bbapitest.DefaultEmail, "BITBUCKET_API_TOKEN": s.DefaultAPIToken(),
	} {
		if env[k] != want || want == "" {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/2\.0$`).MatchString(s.APIURL()) {
		t.Errorf("APIURL %q", s.APIURL())
	}
	data, err := os.ReadFile(s.HostKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil || string(pub.Marshal()) != string(s.HostPublicKey().Marshal()) || pub.Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("host key file %q: %v", data, err)
	}
}

func TestUserKeys(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	line, pub := newPub(t, "ada@laptop")
	exp := "2027-11-22T00:00:00Z"
	r := call(t, "POST", s.APIURL()+"/users/"+url.PathEscape(bbapitest.DefaultUUID)+"/ssh-keys?expires_on="+exp, ada(s),
		map[string]string{"key": line, "label": "bbkey:ada:2026-11-22"})
	wantStatus(t, r, 201)
	k := r.json(t)
	wantFP := strings.TrimPrefix(ssh.FingerprintSHA256(pub), "SHA256:")
	if k["fingerprint"] != wantFP || strings.ContainsAny(wantFP, "=") {
		t.Errorf("fingerprint %v, want %s", k["fingerprint"], wantFP)
	}
	if k["comment"] != "ada@laptop" || k["label"] != "bbkey:ada:2026-11-22" || k["last_used"] != nil || k["type"] != "ssh_key" {
		t.Errorf("key: %s", r.body)
	}
	if exp2, _ := time.Parse(time.RFC3339, k["expires_on"].(string)); !exp2.Equal(time.Date(2027, 11, 22, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("expires_on %v", k["expires_on"])
	}
	if strings.Contains(k["key"].(string), "laptop") {
		t.Errorf("key field keeps the comment: %v", k["key"])
	}
	uuid := k["uuid"].(string)
	self := k["links"].(map[string]any)["self"].(map[string]any)["href"].(string)

	// The self link, the uuid with and without braces, and every form of selected_user.
	bare := strings.Trim(uuid, "{}")
	for _, u := range []string{
		self,
		s.APIURL() + "/users/" + bbapitest.DefaultAccountID + "/ssh-keys/" + url.PathEscape(uuid),
		s.APIURL() + "/users/" + bbapitest.DefaultUUID + "/ssh-keys/" + bare,
		s.APIURL() + "/users/" + strings.ToUpper(bbapitest.DefaultUUID) + "/ssh-keys/" + strings.ToUpper(bare),
	} {
		wantStatus(t, call(t, "GET", u, ada(s), nil), 200)
	}
	// A uuid without braces is not a documented selected_user.
	wantStatus(t, call(t, "GET", s.APIURL()+"/users/"+strings.Trim(bbapitest.DefaultUUID, "{}")+"/ssh-keys", ada(s), nil), 404)

	r = call(t, "PUT", self, ada(s), map[string]string{"label": "renamed"})
	wantStatus(t, r, 200)
	if r.json(t)["label"] != "renamed" {
		t.Errorf("put: %s", r.body)
	}

	// Duplicates: the same key again, or on another account, or as an access key.
	dup := call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", ada(s), map[string]string{"key": line})
	wantStatus(t, dup, 400)
	if msg := dup.errorMessage(t); msg != "Someone has already added that SSH key." {
		t.Errorf("duplicate: %q", msg)
	}
	if f := dup.json(t)["error"].(map[string]any)["fields"].(map[string]any); f["key"] == nil {
		t.Errorf("duplicate without fields.key: %s", dup.body)
	}
	bob, err := s.AddUser(bbapitest.User{Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	bobTok, _ := s.AddAPIToken("bob@example.com", bbapitest.AllScopes...)
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bob.AccountID+"/ssh-keys", basic("bob@example.com", bobTok), map[string]string{"key": line}), 400)
	dk := call(t, "POST", s.APIURL()+"/repositories/acme/api/deploy-keys", ada(s), map[string]string{"key": line})
	wantStatus(t, dk, 400)

	// Someone else's keys are off limits; unknown users are 404.
	wantStatus(t, call(t, "GET", s.APIURL()+"/users/"+bob.AccountID+"/ssh-keys", ada(s), nil), 403)
	wantStatus(t, call(t, "GET", s.APIURL()+"/users/%7Bnobody%7D/ssh-keys", ada(s), nil), 404)

	// Bad keys and bad expiries.
	for _, body := range []map[string]string{{"key": "ssh-ed25519 garbage"}, {"label": "no key"}, {"key": ""}} {
		r := call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", ada(s), body)
		wantStatus(t, r, 400)
	}
	other, _ := newPub(t, "x")
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys?expires_on=soon", ada(s), map[string]string{"key": other}), 400)
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys?expires_on=2020-01-01", ada(s), map[string]string{"key": other}), 400)
	// A date without time is ISO-8601 too.
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys?expires_on=2030-01-01", ada(s), map[string]string{"key": other}), 201)

	r = call(t, "DELETE", self, ada(s), nil)
	wantStatus(t, r, 204)
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %q", r.body)
	}
	wantStatus(t, call(t, "GET", self, ada(s), nil), 404)
	wantStatus(t, call(t, "DELETE", self, ada(s), nil), 404)
	// Without a cooldown the deleted key can come back at once.
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", ada(s), map[string]string{"key": line}), 201)
	if got := len(s.UserKeys(bbapitest.DefaultAccountID)); got != 2 {
		t.Errorf("UserKeys = %d keys, want 2", got)
	}
}

func TestDeletedKeyCooldown(t *testing.T) {
	clock := newFakeClock()
	s := bbapitest.Start(t, bbapitest.WithDeletedKeyCooldown(30*24*time.Hour), bbapitest.WithClock(clock.Now))
	line, _ := newPub(t, "c")
	keys := s.APIURL() + "/users/" + bbapitest.DefaultAccountID + "/ssh-keys"
	r := call(t, "POST", keys, ada(s), map[string]string{"key": line})
	wantStatus(t, r, 201)
	wantStatus(t, call(t, "DELETE", r.json(t)["links"].(map[string]any)["self"].(map[string]any)["href"].(string), ada(s), nil), 204)
	wantStatus(t, call(t, "POST", keys, ada(s), map[string]string{"key": line}), 400)
	clock.Advance(31 * 24 * time.Hour)
	wantStatus(t, call(t, "POST", keys, ada(s), map[string]string{"key": line}), 201)
}

func TestPagination(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	keys := s.APIURL() + "/users/" + bbapitest.DefaultAccountID + "/ssh-keys"
	var want []string
	for i := range 25 {
		line, _ := newPub(t, fmt.Sprintf("k%d", i))
		r := call(t, "POST", keys, ada(s), map[string]string{"key": line, "label": fmt.Sprint(i)})
		wantStatus(t, r, 201)
		want = append(want, r.json(t)["uuid"].(string))
	}
	first := call(t, "GET", keys, ada(s), nil).json(t)
	if first["pagelen"] != float64(10) || first["size"] != float64(25) || first["page"] != float64(1) || len(first["values"].([]any)) != 10 {
		t.Fatalf("first page: pagelen=%v size=%v page=%v values=%d", first["pagelen"], first["size"], first["page"], len(first["values"].([]any)))
	}
	if _, ok := first["previous"]; ok {
		t.Error("first page has previous")
	}
	values, pages := collect(t, keys, ada(s))
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}
	var got []string
	for _, v := range values {
		got = append(got, v["uuid"].(string))
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys over pages differ from keys added:\n%v\n%v", got, want)
	}
	// pagelen is honoured up to 100 and kept in next.
	big := call(t, "GET", keys+"?pagelen=200", ada(s), nil).json(t)
	if big["pagelen"] != float64(100) || big["next"] != nil {
		t.Errorf("pagelen=200: %v %v", big["pagelen"], big["next"])
	}
	small := call(t, "GET", keys+"?pagelen=7", ada(s), nil).json(t)
	if next, _ := small["next"].(string); !strings.Contains(next, "pagelen=7") || !strings.Contains(next, "page=2") || !strings.HasPrefix(next, "http://127.0.0.1:") {
		t.Errorf("next = %q", small["next"])
	}
	wantStatus(t, call(t, "GET", keys+"?page=9", ada(s), nil), 404)
	wantStatus(t, call(t, "GET", keys+"?pagelen=0", ada(s), nil), 400)
}

func TestRepoDeployKeys(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	base := s.APIURL() + "/repositories/acme/api/deploy-keys"
	line, _ := newPub(t, "ci@runner")
	r := call(t, "POST", base, ada(s), map[string]string{"key": line, "label": "bbkey:ci:2026-11-22:ttl=90d"})
	wantStatus(t, r, 200)
	k := r.json(t)
	id, ok := k["id"].(float64)
	if !ok || id != float64(int(id)) || k["comment"] != "ci@runner" || k["created_on"] == nil {
		t.Fatalf("access key: %s", r.body)
	}
	self := fmt.Sprintf("%s/%d", base, int(id))
	if k["links"].(map[string]any)["self"].(map[string]any)["href"] != self {
		t.Errorf("self = %v, want %s", k["links"], self)
	}
	dup := call(t, "POST", base, ada(s), map[string]string{"key": line})
	wantStatus(t, dup, 400)
	if msg := dup.errorMessage(t); msg != "Someone has already added that access key to this repository." {
		t.Errorf("duplicate access key: %q", msg)
	}
	// Reusable on another repository and on a project; never as an account key.
	wantStatus(t, call(t, "POST", s.APIURL()+"/repositories/acme/web/deploy-keys", ada(s), map[string]string{"key": line}), 200)
	wantStatus(t, call(t, "POST", s.APIURL()+"/workspaces/acme/projects/OPS/deploy-keys", ada(s), map[string]string{"key": line}), 200)
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", ada(s), map[string]string{"key": line}), 400)

	wantStatus(t, call(t, "GET", self, ada(s), nil), 200)
	r = call(t, "PUT", self, ada(s), map[string]string{"label": "new"})
	wantStatus(t, r, 200)
	if r.json(t)["label"] != "new" {
		t.Errorf("put: %s", r.body)
	}
	values, _ := collect(t, base, ada(s))
	if len(values) != 1 {
		t.Errorf("list: %d keys", len(values))
	}
	wantStatus(t, call(t, "DELETE", self, ada(s), nil), 204)
	wantStatus(t, call(t, "GET", self, ada(s), nil), 404)
	wantStatus(t, call(t, "GET", base+"/notanumber", ada(s), nil), 404)
	if got := s.RepoDeployKeys("acme", "api"); len(got) != 0 {
		t.Errorf("RepoDeployKeys after delete: %+v", got)
	}
	if got := s.RepoDeployKeys("acme", "web"); len(got) != 1 || got[0].Label != "" || got[0].RepoSlug != "web" {
		t.Errorf("RepoDeployKeys(web): %+v", got)
	}
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme/nope/deploy-keys", ada(s), nil), 404)

	// A member with write access may not manage access keys.
	if _, err := s.AddUser(bbapitest.User{Email: "dev@example.com"}); err != nil {
		t.Fatal(err)
	}
	devTok, _ := s.AddAPIToken("dev@example.com", bbapitest.AllScopes...)
	if err := s.AddMember("acme", "dev@example.com", bbapitest.PermWrite); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, call(t, "GET", base, basic("dev@example.com", devTok), nil), 403)
	wantStatus(t, call(t, "GET", s.APIURL()+"/workspaces/acme/projects/OPS/deploy-keys", basic("dev@example.com", devTok), nil), 403)
}

func TestProjectDeployKeys(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	base := s.APIURL() + "/workspaces/acme/projects/OPS/deploy-keys"
	line, _ := newPub(t, "deploy@host")
	r := call(t, "POST", base, ada(s), map[string]string{"key": line, "label": "p"})
	wantStatus(t, r, 200)
	k := r.json(t)
	if k["type"] != "project_deploy_key" || k["added_on"] == nil || k["project"].(map[string]any)["key"] != "OPS" {
		t.Fatalf("project key: %s", r.body)
	}
	dup := call(t, "POST", base, ada(s), map[string]string{"key": line})
	wantStatus(t, dup, 400)
	if msg := dup.errorMessage(t); msg != "Someone has already added that access key to this project." {
		t.Errorf("dup: %q", msg)
	}
	self := fmt.Sprintf("%s/%d", base, int(k["id"].(float64)))
	wantStatus(t, call(t, "GET", self, ada(s), nil), 200)
	wantStatus(t, call(t, "GET", strings.Replace(self, "/OPS/", "/ops/", 1), ada(s), nil), 200)
	if got := s.ProjectDeployKeys("acme", "OPS"); len(got) != 1 || got[0].ProjectKey != "OPS" {
		t.Errorf("ProjectDeployKeys: %+v", got)
	}
	wantStatus(t, call(t, "DELETE", self, ada(s), nil), 204)
	wantStatus(t, call(t, "DELETE", self, ada(s), nil), 404)
	wantStatus(t, call(t, "GET", s.APIURL()+"/workspaces/acme/projects/NOPE/deploy-keys", ada(s), nil), 404)
}

func TestProjectDeployKeyHasNoPut(t *testing.T) {
	s := bbapitest.Start(t)
	wantStatus(t, call(t, "PUT", s.APIURL()+"/workspaces/acme/projects/OPS/deploy-keys/1", ada(s), map[string]string{"label": "x"}), 405)
}

func TestRepositoriesAndWorkspaces(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	if err := s.AddProject("acme", "WEB", "Web"); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := s.AddRepo("acme", fmt.Sprintf("svc-%02d", i), "WEB"); err != nil {
			t.Fatal(err)
		}
	}
	base := s.APIURL() + "/repositories/acme"
	values, pages := collect(t, base, ada(s))
	if len(values) != 33 || pages != 4 {
		t.Fatalf("all repositories: %d in %d pages", len(values), pages)
	}
	cases := []struct {
		q    string
		want []string
	}{
		{`name ~ "svc-0"`, []string{"svc-00", "svc-01", "svc-02", "svc-03", "svc-04", "svc-05", "svc-06", "svc-07", "svc-08", "svc-09"}},
		{`slug = "api"`, []string{"api"}},
		{`project.key = "OPS"`, []string{"api", "web", "infra"}},
		{`project.key = "WEB" AND name ~ "SVC-2"`, []string{"svc-20", "svc-21", "svc-22", "svc-23", "svc-24", "svc-25", "svc-26", "svc-27", "svc-28", "svc-29"}},
		{`project.key = "OPS" and slug != "web"`, []string{"api", "infra"}},
		{`full_name = "acme/infra"`, []string{"infra"}},
	}
	for _, c := range cases {
		values, _ := collect(t, base+"?pagelen=100&q="+url.QueryEscape(c.q), ada(s))
		var got []string
		for _, v := range values {
			got = append(got, v["slug"].(string))
			if v["full_name"] != "acme/"+v["slug"].(string) || v["project"] == nil {
				t.Errorf("repository object: %v", v)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("q=%s: %v, want %v", c.q, got, c.want)
		}
	}
	for _, q := range []string{`name ~ "a" OR slug = "b"`, `language = "go"`, `name ~ api`, `(name ~ "a")`, `name ~ "unterminated`, `name ~`} {
		r := call(t, "GET", base+"?q="+url.QueryEscape(q), ada(s), nil)
		wantStatus(t, r, 400)
		r.errorMessage(t)
	}
	sorted, _ := collect(t, base+"?pagelen=100&sort=-slug&q="+url.QueryEscape(`project.key = "OPS"`), ada(s))
	if len(sorted) != 3 || sorted[0]["slug"] != "web" || sorted[2]["slug"] != "api" {
		t.Errorf("sort=-slug: %v", sorted)
	}

	// Roles: a reader sees repositories but is admin of none.
	if _, err := s.AddUser(bbapitest.User{Email: "reader@example.com"}); err != nil {
		t.Fatal(err)
	}
	tok, _ := s.AddAPIToken("reader@example.com", bbapitest.AllScopes...)
	_ = s.AddMember("acme", "reader@example.com", bbapitest.PermRead)
	_ = s.SetRepoPermission("acme", "infra", "reader@example.com", bbapitest.PermAdmin)
	_ = s.SetRepoPermission("acme", "web", "reader@example.com", bbapitest.PermNone)
	reader := basic("reader@example.com", tok)
	members, _ := collect(t, base+"?role=member&pagelen=100", reader)
	admins, _ := collect(t, base+"?role=admin", reader)
	owners, _ := collect(t, base+"?role=owner", reader)
	if len(members) != 32 || len(admins) != 1 || admins[0]["slug"] != "infra" || len(owners) != 0 {
		t.Errorf("reader roles: member=%d admin=%v owner=%d", len(members), admins, len(owners))
	}
	adaOwner, _ := collect(t, base+"?role=owner&pagelen=100", ada(s))
	if len(adaOwner) != 33 {
		t.Errorf("owner sees %d", len(adaOwner))
	}
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme/web", reader, nil), 404)
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme/infra", reader, nil), 200)
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/nowhere", ada(s), nil), 404)

	ws, _ := collect(t, s.APIURL()+"/user/workspaces", ada(s))
	if len(ws) != 1 || ws[0]["administrator"] != true || ws[0]["workspace"].(map[string]any)["slug"] != "acme" {
		t.Errorf("workspaces: %v", ws)
	}
	ws, _ = collect(t, s.APIURL()+"/user/workspaces?administrator=true", reader)
	if len(ws) != 0 {
		t.Errorf("reader administers %v", ws)
	}
}

func TestInvalidRole(t *testing.T) {
	s := bbapitest.Start(t) // the spec itself forbids this value, so no validation here
	r := call(t, "GET", s.APIURL()+"/repositories/acme?role=boss", ada(s), nil)
	wantStatus(t, r, 400)
	r.errorMessage(t)
}

func TestScopes(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	keys := s.APIURL() + "/users/" + bbapitest.DefaultAccountID + "/ssh-keys"
	line, _ := newPub(t, "s")
	cases := []struct {
		name    string
		scopes  []string
		method  string
		url     string
		body    any
		missing string
	}{
		{"write does not imply read", []string{"write:ssh-key:bitbucket"}, "POST", keys, map[string]string{"key": line}, "read:ssh-key:bitbucket"},
		{"read cannot add", []string{"read:ssh-key:bitbucket"}, "POST", keys, map[string]string{"key": line}, "write:ssh-key:bitbucket"},
		{"delete needs delete", []string{"read:ssh-key:bitbucket", "write:ssh-key:bitbucket"}, "DELETE", keys + "/x", nil, "delete:ssh-key:bitbucket"},
		{"user needs read:user", []string{"read:ssh-key:bitbucket"}, "GET", s.APIURL() + "/user", nil, "read:user:bitbucket"},
		{"deploy keys need admin:repository", []string{"write:ssh-key:bitbucket"}, "POST", s.APIURL() + "/repositories/acme/api/deploy-keys", map[string]string{"key": line}, "admin:repository:bitbucket"},
		{"project keys need admin:project", []string{"admin:repository:bitbucket", "write:ssh-key:bitbucket"}, "POST", s.APIURL() + "/workspaces/acme/projects/OPS/deploy-keys", map[string]string{"key": line}, "admin:project:bitbucket"},
		{"listing needs read:repository", []string{"admin:repository:bitbucket"}, "GET", s.APIURL() + "/repositories/acme", nil, "read:repository:bitbucket"},
		{"workspaces need read:workspace", []string{"read:user:bitbucket"}, "GET", s.APIURL() + "/user/workspaces", nil, "read:workspace:bitbucket"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := s.AddAPIToken(bbapitest.DefaultEmail, c.scopes...)
			if err != nil {
				t.Fatal(err)
			}
			r := call(t, c.method, c.url, basic(bbapitest.DefaultEmail, tok), c.body)
			wantStatus(t, r, 403)
			if msg := r.errorMessage(t); msg != "Your credentials lack one or more required privilege scopes." {
				t.Errorf("message %q", msg)
			}
			detail := r.json(t)["error"].(map[string]any)["detail"].(map[string]any)
			if !slices.Contains(detail["required"].([]any), any(c.missing)) {
				t.Errorf("detail %v does not name %s", detail, c.missing)
			}
		})
	}
}

func TestOAuthConsumer(t *testing.T) {
	clock := newFakeClock()
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t), bbapitest.WithClock(clock.Now))
	id, secret, err := s.AddOAuthConsumer(bbapitest.DefaultEmail, "account", "repository", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	tok := oauthToken(t, s, id, secret, "grant_type=client_credentials")
	if tok["token_type"] != "bearer" || tok["expires_in"] != float64(7200) || tok["scopes"] != "account repository repository:admin" {
		t.Fatalf("token: %v", tok)
	}
	access := bearer(tok["access_token"].(string))
	r := call(t, "GET", s.APIURL()+"/user", access, nil)
	wantStatus(t, r, 200)
	if got := r.header.Get("X-OAuth-Scopes"); got != "account, repository, repository:admin" {
		t.Errorf("x-oauth-scopes %q", got)
	}
	line, _ := newPub(t, "o")
	// account (read) is not account:write.
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", access, map[string]string{"key": line}), 403)
	wantStatus(t, call(t, "POST", s.APIURL()+"/repositories/acme/api/deploy-keys", access, map[string]string{"key": line}), 200)
	// project:admin is missing.
	wantStatus(t, call(t, "GET", s.APIURL()+"/workspaces/acme/projects/OPS/deploy-keys", access, nil), 403)

	clock.Advance(2 * time.Hour)
	r = call(t, "GET", s.APIURL()+"/user", access, nil)
	wantStatus(t, r, 401)
	if msg := r.errorMessage(t); msg != "Access token expired. Use your refresh token to obtain a new access token." {
		t.Errorf("expired: %q", msg)
	}
	again := oauthToken(t, s, id, secret, "grant_type=refresh_token&refresh_token="+url.QueryEscape(tok["refresh_token"].(string)))
	wantStatus(t, call(t, "GET", s.APIURL()+"/user", bearer(again["access_token"].(string)), nil), 200)

	// account:write lets a consumer add account keys.
	id2, secret2, _ := s.AddOAuthConsumer(bbapitest.DefaultEmail, "account:write")
	w := oauthToken(t, s, id2, secret2, "grant_type=client_credentials")
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", bearer(w["access_token"].(string)), map[string]string{"key": line + "x"}), 400) // already an access key
	line2, _ := newPub(t, "o2")
	wantStatus(t, call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", bearer(w["access_token"].(string)), map[string]string{"key": line2}), 201)

	// Wrong secret, wrong grant.
	r = postForm(t, s, id, "wrong", "grant_type=client_credentials")
	wantStatus(t, r, 400)
	if r.json(t)["error"] != "invalid_client" {
		t.Errorf("bad client: %s", r.body)
	}
	r = postForm(t, s, id, secret, "grant_type=password")
	wantStatus(t, r, 400)
	if r.json(t)["error"] != "unsupported_grant_type" {
		t.Errorf("bad grant: %s", r.body)
	}
}

func postForm(t *testing.T, s *bbapitest.Server, id, secret, form string) resp {
	t.Helper()
	return callForm(t, s.OAuthTokenURL(), basic(id, secret), form)
}

func oauthToken(t *testing.T, s *bbapitest.Server, id, secret, form string) map[string]any {
	t.Helper()
	r := postForm(t, s, id, secret, form)
	wantStatus(t, r, 200)
	return r.json(t)
}

func TestAccessTokens(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	repoTok, err := s.AddRepoAccessToken("acme", "api", "repository", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	line, _ := newPub(t, "t")
	auth := bearer(repoTok)
	// Adding, updating and deleting a repository's access keys is "inaccessible for Access
	// tokens" (the spec's access-token section): 403, whatever the token may do.
	for _, slug := range []string{"api", "web"} {
		r := call(t, "POST", s.APIURL()+"/repositories/acme/"+slug+"/deploy-keys", auth, map[string]string{"key": line})
		wantStatus(t, r, 403)
		if msg := r.errorMessage(t); msg != "This API is not accessible by this authentication mechanism" {
			t.Errorf("access token adding a repository access key: %q", msg)
		}
	}
	if got := s.RepoDeployKeys("acme", "api"); len(got) != 0 {
		t.Errorf("a refused add added %+v", got)
	}
	added := call(t, "POST", s.APIURL()+"/repositories/acme/api/deploy-keys", ada(s), map[string]string{"key": line})
	wantStatus(t, added, 200)
	id := fmt.Sprint(added.json(t)["id"])
	keyURL := s.APIURL() + "/repositories/acme/api/deploy-keys/" + id
	wantStatus(t, call(t, "PUT", keyURL, auth, map[string]string{"label": "x"}), 403)
	wantStatus(t, call(t, "DELETE", keyURL, auth, nil), 403)
	// Listing and reading them stay open to the token.
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme/api/deploy-keys", auth, nil), 200)
	wantStatus(t, call(t, "GET", keyURL, auth, nil), 200)
	if got := s.RepoDeployKeys("acme", "api"); len(got) != 1 || got[0].Label != "" {
		t.Errorf("refused update or delete changed %+v", got)
	}
	r := call(t, "GET", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", auth, nil)
	wantStatus(t, r, 403)
	if msg := r.errorMessage(t); msg != "This API is not accessible by this authentication mechanism" {
		t.Errorf("access token on user keys: %q", msg)
	}
	repos, _ := collect(t, s.APIURL()+"/repositories/acme", auth)
	if len(repos) != 1 || repos[0]["slug"] != "api" {
		t.Errorf("repository token sees %v", repos)
	}
	wantStatus(t, call(t, "GET", s.APIURL()+"/user", auth, nil), 200)

	// Project access keys are not on that list: a project token adds one.
	projTok, _ := s.AddProjectAccessToken("acme", "OPS", "project", "project:admin")
	wantStatus(t, call(t, "POST", s.APIURL()+"/workspaces/acme/projects/OPS/deploy-keys", bearer(projTok), map[string]string{"key": line}), 200)
	if got := s.ProjectDeployKeys("acme", "OPS"); len(got) != 1 || got[0].CreatedBy != "" {
		t.Errorf("created by a token: %+v", got)
	}
	wsTok, _ := s.AddWorkspaceAccessToken("acme", "repository")
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme/web/deploy-keys", bearer(wsTok), nil), 403)

	// The report of DrFaust92/terraform-provider-bitbucket#221, on demand.
	s2 := bbapitest.Start(t, bbapitest.WithAccessTokensRefusedOnDeployKeys())
	tok2, _ := s2.AddRepoAccessToken("acme", "api", "repository", "repository:admin")
	r = call(t, "GET", s2.APIURL()+"/repositories/acme/api/deploy-keys", bearer(tok2), nil)
	wantStatus(t, r, 403)
	if msg := r.errorMessage(t); msg != "This API is not accessible by this authentication mechanism" {
		t.Errorf("refused: %q", msg)
	}
}

func TestRateLimit(t *testing.T) {
	clock := newFakeClock()
	s := bbapitest.Start(t, bbapitest.WithClock(clock.Now))
	s.SetRateLimit(3)
	for range 3 {
		wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme", ada(s), nil), 200)
	}
	r := call(t, "GET", s.APIURL()+"/repositories/acme/api/deploy-keys", ada(s), nil)
	wantStatus(t, r, 429)
	if string(r.body) != "Rate limit for this resource has been exceeded." || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("429 body %q type %q", r.body, r.header.Get("Content-Type"))
	}
	if _, ok := r.header["Retry-After"]; ok {
		t.Error("429 has Retry-After; Bitbucket Cloud sends none")
	}
	// Other endpoints and other credentials are not counted.
	wantStatus(t, call(t, "GET", s.APIURL()+"/user", ada(s), nil), 200)
	other, _ := s.AddAPIToken(bbapitest.DefaultEmail, bbapitest.AllScopes...)
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme", basic(bbapitest.DefaultEmail, other), nil), 200)
	clock.Advance(59 * time.Minute)
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme", ada(s), nil), 429)
	clock.Advance(time.Minute)
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme", ada(s), nil), 200)

	var limited int
	for _, req := range s.Requests() {
		if req.Status == 429 {
			limited++
			if !req.Repositories || req.AuthScheme != "basic" {
				t.Errorf("request log entry %+v", req)
			}
		}
	}
	if limited != 2 {
		t.Errorf("request log shows %d 429s, want 2", limited)
	}
}

func TestRequestLogNeverStoresSecrets(t *testing.T) {
	s := bbapitest.Start(t)
	call(t, "GET", s.APIURL()+"/user", ada(s), nil)
	call(t, "GET", s.APIURL()+"/repositories/acme?q="+url.QueryEscape(`name ~ "a"`), ada(s), nil)
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/2.0/user" || reqs[0].Status != 200 || reqs[0].Repositories || !reqs[1].Repositories || reqs[1].RawQuery == "" {
		t.Fatalf("log: %+v", reqs)
	}
	if strings.Contains(fmt.Sprintf("%+v", reqs), s.DefaultAPIToken()) {
		t.Fatal("the request log holds the token")
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Fatal("ResetRequests kept entries")
	}
}

func TestConcurrentClients(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			line, _ := newPub(t, fmt.Sprint(i))
			r := call(t, "POST", s.APIURL()+"/repositories/acme/api/deploy-keys", ada(s), map[string]string{"key": line})
			if r.status != 200 {
				t.Errorf("concurrent add: %d %s", r.status, r.body)
			}
			call(t, "GET", s.APIURL()+"/repositories/acme/api/deploy-keys", ada(s), nil)
		})
	}
	wg.Wait()
	keys := s.RepoDeployKeys("acme", "api")
	ids := map[int]bool{}
	for _, k := range keys {
		ids[k.ID] = true
	}
	if len(keys) != 8 || len(ids) != 8 {
		t.Fatalf("%d keys, %d distinct ids", len(keys), len(ids))
	}
}

// The spec copy in testdata is the one in shared/ (when shared/ sits beside the repository).
func TestSpecCopyIsCurrent(t *testing.T) {
	shared := filepath.Join("..", "..", "..", "shared", "bitbucket", "openapi-cloud-keys.json")
	want, err := os.ReadFile(shared)
	if err != nil {
		t.Skipf("no shared spec beside the repository: %v", err)
	}
	if string(want) != string(bbapitest.SpecJSON()) {
		t.Fatal("testdata/openapi-cloud-keys.json differs from shared/bitbucket/openapi-cloud-keys.json: copy it again")
	}
}
