package bbapi

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewClientURLRules(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://api.bitbucket.org/2.0", true},
		{"https://api.bitbucket.org/2.0/", true},
		{"", true}, // the default
		{"http://127.0.0.1:8080/2.0", true},
		{"http://127.5.6.7/2.0", true},
		{"http://localhost:1234", true},
		{"http://[::1]:99/x", true},
		{"http://api.bitbucket.org/2.0", false},
		{"http://10.0.0.1/2.0", false},
		{"http://localhost.evil.example/2.0", false},
		{"ftp://api.bitbucket.org/2.0", false},
		{"https://me:secret-password@api.bitbucket.org/2.0", false},
		{"https://api.bitbucket.org/2.0?x=1", false},
		{"api.bitbucket.org/2.0", false},
	} {
		_, err := NewClient(tc.url, nil)
		if (err == nil) != tc.ok {
			t.Errorf("NewClient(%q) error = %v, want ok=%v", tc.url, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "secret-password") {
			t.Errorf("NewClient(%q) error leaks the password: %v", tc.url, err)
		}
	}
	if _, err := NewClient("https://api.bitbucket.org/2.0", &OAuthClient{ClientID: "id", ClientSecret: "s", TokenURL: "http://bitbucket.org/token"}); err == nil {
		t.Error("NewClient accepted a plain-http OAuth token URL off loopback")
	}
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	e := newEnv(t, nil)
	var got []string
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		writeJSON(w, 200, map[string]any{"uuid": "{k}", "key": "x"})
	})
	if _, _, err := e.client.SSHKeys.Get(bg(), "{0b5b8f5e-aaaa}", "{b15b6026-9c02}"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.client.RepoKeys("my ws", "a/b").Get(bg(), 7); err != nil {
		t.Fatal(err)
	}
	want := []string{
		basePath + "/users/%7B0b5b8f5e-aaaa%7D/ssh-keys/%7Bb15b6026-9c02%7D",
		basePath + "/repositories/my%20ws/a%2Fb/deploy-keys/7",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paths = %q, want %q", got, want)
	}
	for _, seg := range []string{"", ".", ".."} {
		if _, err := e.client.SSHKeys.Delete(bg(), seg, "k"); err == nil {
			t.Errorf("segment %q was accepted", seg)
		}
	}
}

func TestCredentialsAndUserAgent(t *testing.T) {
	var tokenCalls atomic.Int32
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		id, secret, ok := r.BasicAuth()
		_ = r.ParseForm()
		if !ok || id != "cid" || secret != "csecret" || r.PostForm.Get("grant_type") != "client_credentials" || r.Method != http.MethodPost {
			writeJSON(w, 400, map[string]any{"error": "invalid_client", "error_description": "bad client"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "oauth-token-1", "expires_in": 7200, "token_type": "bearer"})
	}))
	defer tokenSrv.Close()

	for _, tc := range []struct {
		cred Credential
		want string
	}{
		{&APIToken{Email: "me@example.com", Token: "api-token-1"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("me@example.com:api-token-1"))},
		{&AccessToken{Token: "access-token-1"}, "Bearer access-token-1"},
		{&OAuthClient{ClientID: "cid", ClientSecret: "csecret", TokenURL: tokenSrv.URL}, "Bearer oauth-token-1"},
		{nil, ""},
	} {
		t.Run(fmt.Sprint(tc.cred), func(t *testing.T) {
			e := newEnv(t, tc.cred)
			e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get("Authorization"); got != tc.want {
					t.Errorf("Authorization = %q, want %q", got, tc.want)
				}
				if got := r.Header.Get("User-Agent"); got != "bbkey/1.2.3" {
					t.Errorf("User-Agent = %q", got)
				}
				w.Header().Set("X-OAuth-Scopes", "account, repository:admin")
				writeJSON(w, 200, map[string]any{"uuid": "{u1}", "account_id": "557058:1", "display_name": "Me", "nickname": "me"})
			})
			u, resp, err := e.client.Users.Current(bg())
			if err != nil {
				t.Fatal(err)
			}
			if u.UUID != "{u1}" || u.AccountID != "557058:1" || u.Nickname != "me" {
				t.Errorf("user = %+v", u)
			}
			if got := fmt.Sprint(resp.Scopes()); got != "[account repository:admin]" {
				t.Errorf("scopes = %s", got)
			}
		})
	}
	if n := tokenCalls.Load(); n != 1 {
		t.Errorf("token endpoint called %d times, want 1", n)
	}
}

// oauthServer is a token endpoint handing out numbered tokens that live `life`.
type oauthServer struct {
	*httptest.Server
	n    atomic.Int32
	life int
}

func newOAuthServer(t *testing.T, life int) *oauthServer {
	o := &oauthServer{life: life}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := o.n.Add(1)
		writeJSON(w, 200, map[string]any{"access_token": fmt.Sprintf("tok-%d-abcdef", n), "expires_in": o.life})
	}))
	t.Cleanup(o.Close)
	return o
}

func TestOAuthTokenCachedUntilExpiry(t *testing.T) {
	ts := newOAuthServer(t, 3600)
	cred := &OAuthClient{ClientID: "cid", ClientSecret: "csecret", TokenURL: ts.URL}
	e := newEnv(t, cred)
	var seen []string
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		writeJSON(w, 200, map[string]any{"uuid": "{u}"})
	})
	for range 2 {
		if _, _, err := e.client.Users.Current(bg()); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(59 * time.Minute) // inside the refresh margin of a 1h token
	if _, _, err := e.client.Users.Current(bg()); err != nil {
		t.Fatal(err)
	}
	want := "[Bearer tok-1-abcdef Bearer tok-1-abcdef Bearer tok-2-abcdef]"
	if fmt.Sprint(seen) != want {
		t.Errorf("tokens used = %v, want %v", seen, want)
	}
	if cred.Fetches() != 2 {
		t.Errorf("fetches = %d", cred.Fetches())
	}
}

func TestOAuthRefreshedOnceOn401(t *testing.T) {
	ts := newOAuthServer(t, 7200)
	cred := &OAuthClient{ClientID: "cid", ClientSecret: "csecret", TokenURL: ts.URL}
	e := newEnv(t, cred)
	// The server revoked tok-1 (e.g. expired early); tok-2 works.
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-2-abcdef" {
			w.WriteHeader(401)
			io.WriteString(w, "Token is invalid, expired, or not supported for this endpoint.")
			return
		}
		writeJSON(w, 200, map[string]any{"uuid": "{u}"})
	})
	if _, resp, err := e.client.Users.Current(bg()); err != nil || resp.Attempts != 2 {
		t.Fatalf("Current: attempts=%v err=%v", resp.Attempts, err)
	}
	if len(e.clock.Sleeps()) != 0 {
		t.Errorf("refresh waited: %v", e.clock.Sleeps())
	}

	// A credential refused whatever the token: exactly one refresh, then the 401.
	e2 := newEnv(t, &OAuthClient{ClientID: "cid", ClientSecret: "csecret", TokenURL: ts.URL})
	var calls atomic.Int32
	e2.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(401)
	})
	_, _, err := e2.client.Users.Current(bg())
	if !IsUnauthorized(err) || calls.Load() != 2 {
		t.Errorf("err=%v calls=%d, want unauthorized after 2 calls", err, calls.Load())
	}
}

func TestOAuthTokenEndpointRefusesClient(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 400, map[string]any{"error": "invalid_client", "error_description": "Invalid OAuth client credentials"})
	}))
	defer ts.Close()
	e := newEnv(t, &OAuthClient{ClientID: "cid", ClientSecret: "csecret-value", TokenURL: ts.URL})
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) { t.Error("API called without a token") })
	_, _, err := e.client.Users.Current(bg())
	if !IsUnauthorized(err) {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	if !strings.Contains(err.Error(), "Invalid OAuth client credentials") {
		t.Errorf("err = %v", err)
	}
	if codeOf(err) != 4 {
		t.Errorf("exit code of %T not 4", err)
	}
}

func TestPaginationFollowsNext(t *testing.T) {
	e := newEnv(t, nil)
	var queries []string
	e.handle("GET /user/workspaces", func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		p := r.URL.Query().Get("page")
		next := ""
		switch p {
		case "":
			next = "http://" + r.Host + basePath + "/user/workspaces?page=2&pagelen=100&opaque=x"
		case "2":
			next = "http://" + r.Host + basePath + "/user/workspaces?page=3&pagelen=100&opaque=y"
		}
		vals := []any{}
		for i := range 2 {
			vals = append(vals, map[string]any{"administrator": i == 0, "workspace": map[string]any{"slug": fmt.Sprintf("ws-%s-%d", p, i)}})
		}
		writeJSON(w, 200, map[string]any{"pagelen": 100, "values": vals, "next": next})
	})
	var slugs []string
	for wa, err := range e.client.Users.Workspaces(bg(), &ListWorkspacesOptions{AdministratorOnly: true}) {
		if err != nil {
			t.Fatal(err)
		}
		slugs = append(slugs, wa.Workspace.Slug)
	}
	if len(slugs) != 6 || slugs[0] != "ws--0" || slugs[5] != "ws-3-1" {
		t.Errorf("slugs = %v", slugs)
	}
	want := []string{"administrator=true&pagelen=100", "page=2&pagelen=100&opaque=x", "page=3&pagelen=100&opaque=y"}
	if fmt.Sprint(queries) != fmt.Sprint(want) {
		t.Errorf("queries = %q, want %q (next must be followed verbatim)", queries, want)
	}

	// Breaking out of the loop fetches no further page.
	queries = nil
	for range e.client.Users.Workspaces(bg(), nil) {
		break
	}
	if len(queries) != 1 {
		t.Errorf("after break: %d pages fetched", len(queries))
	}
}

func TestPaginationRefusesForeignOrLoopingNext(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("foreign next was followed, Authorization %q", r.Header.Get("Authorization"))
	}))
	defer other.Close()
	e := newEnv(t, &AccessToken{Token: "access-token-xyz"})
	e.handle("GET /repositories/{ws}", func(w http.ResponseWriter, r *http.Request) {
		next := map[string]string{
			"foreign": other.URL + basePath + "/repositories/foreign?page=2",
			"outside": "http://" + r.Host + "/elsewhere?page=2",
			"loop":    "http://" + r.Host + basePath + "/repositories/loop?pagelen=100",
		}[r.PathValue("ws")]
		writeJSON(w, 200, map[string]any{"values": []any{map[string]any{"slug": "r"}}, "next": next})
	})
	for _, ws := range []string{"foreign", "outside", "loop"} {
		var n int
		var last error
		for _, err := range e.client.Repositories.ListWorkspace(bg(), ws, nil) {
			if err != nil {
				last = err
				break
			}
			n++
		}
		if last == nil || n > 2 {
			t.Errorf("%s: n=%d err=%v, want an error", ws, n, last)
		}
	}
}

func TestRepositoriesQuery(t *testing.T) {
	e := newEnv(t, nil)
	var raw string
	e.handle("GET /repositories/{ws}", func(w http.ResponseWriter, r *http.Request) {
		raw = r.URL.RawQuery
		writeJSON(w, 200, map[string]any{"values": []any{map[string]any{
			"full_name": "acme/api", "slug": "api", "project": map[string]any{"key": "OPS"},
			"links": map[string]any{"clone": []any{map[string]any{"name": "ssh", "href": "git@bitbucket.org:acme/api.git"}}},
		}}})
	})
	repos, err := collect(e.client.Repositories.ListWorkspace(bg(), "acme", &ListRepositoriesOptions{Role: "admin", Query: `project.key = "OPS"`}))
	if err != nil {
		t.Fatal(err)
	}
	if raw != "pagelen=100&q=project.key%20%3D%20%22OPS%22&role=admin" {
		t.Errorf("query = %s", raw)
	}
	q, _ := url.ParseQuery(raw)
	if q.Get("q") != `project.key = "OPS"` {
		t.Errorf("q decodes to %q", q.Get("q"))
	}
	if len(repos) != 1 || repos[0].WorkspaceSlug() != "acme" || repos[0].RepoSlug() != "api" || repos[0].Project.Key != "OPS" {
		t.Errorf("repos = %+v", repos)
	}
}

func TestRedirectToOtherHostDropsAuthorization(t *testing.T) {
	var gotB atomic.Value
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotB.Store(r.Header.Get("Authorization") + "|")
		writeJSON(w, 200, map[string]any{"uuid": "{from-b}"})
	}))
	defer b.Close()
	e := newEnv(t, &AccessToken{Token: "access-token-redirect"})
	var sameHost atomic.Value
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, b.URL+"/user", http.StatusTemporaryRedirect)
	})
	e.handle("GET /user/workspaces", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, basePath+"/moved/workspaces", http.StatusFound)
	})
	e.handle("GET /moved/workspaces", func(w http.ResponseWriter, r *http.Request) {
		sameHost.Store(r.Header.Get("Authorization"))
		writeJSON(w, 200, map[string]any{"values": []any{}})
	})
	u, _, err := e.client.Users.Current(bg())
	if err != nil {
		t.Fatal(err)
	}
	if u.UUID != "{from-b}" {
		t.Fatalf("redirect not followed: %+v", u)
	}
	if got := gotB.Load(); got != "|" {
		t.Errorf("other host got Authorization %q", got)
	}
	if _, err := collect(e.client.Users.Workspaces(bg(), nil)); err != nil {
		t.Fatal(err)
	}
	if got := sameHost.Load(); got != "Bearer access-token-redirect" {
		t.Errorf("same-origin redirect lost Authorization: %q", got)
	}
}

func TestRedirectToPlainHTTPRefused(t *testing.T) {
	e := newEnv(t, &AccessToken{Token: "access-token-redirect"})
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.invalid/user", http.StatusFound)
	})
	_, _, err := e.client.Users.Current(bg())
	if err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("err = %v", err)
	}
}
