package bbapi

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	type check func(t *testing.T, err error)
	is := func(name string, f func(error) bool) check {
		return func(t *testing.T, err error) {
			if !f(err) {
				t.Errorf("not %s: %v", name, err)
			}
		}
	}
	msgHas := func(subs ...string) check {
		return func(t *testing.T, err error) {
			for _, s := range subs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		}
	}
	scope := func(want string) check {
		return func(t *testing.T, err error) {
			if got := MissingScope(err); got != want {
				t.Errorf("MissingScope = %q, want %q", got, want)
			}
		}
	}
	hint := func(sub string) check {
		return func(t *testing.T, err error) {
			er, ok := errors.AsType[*ErrorResponse](err)
			if !ok || !strings.Contains(strings.Join(hintsOf(er), "\n"), sub) {
				t.Errorf("hints lack %q: %v", sub, err)
			}
		}
	}
	code := func(want int) check {
		return func(t *testing.T, err error) {
			er, ok := errors.AsType[*ErrorResponse](err)
			if !ok || codeOf(er) != want {
				t.Errorf("exit code of %v is not %d", err, want)
			}
		}
	}
	for _, tc := range []struct {
		name        string
		cred        Credential
		method, url string
		status      int
		ctype, body string
		header      map[string]string
		checks      []check
	}{
		{
			name: "json with detail and fields object", method: "POST", url: "/users/{me}/ssh-keys", status: 400,
			ctype: "application/json",
			body:  `{"type":"error","error":{"message":"Bad request","detail":"key is invalid","fields":{"key":["expected an SSH key"]}}}`,
			checks: []check{msgHas(`POST http://`, "/users/%7Bme%7D/ssh-keys: 400 Bad Request: Bad request (key is invalid)", `fields: {"key":["expected an SSH key"]}`),
				func(t *testing.T, err error) {
					if IsDuplicateKey(err) || IsNotFound(err) || IsForbidden(err) || IsUnauthorized(err) || IsRateLimited(err) {
						t.Errorf("misclassified: %v", err)
					}
				}, code(0)},
		},
		{
			name: "fields array", method: "POST", url: "/repositories/ws/r/deploy-keys", status: 400, ctype: "application/json",
			body:   `{"type":"error","error":{"message":"Someone has already added that access key to this repository.","fields":["key"]}}`,
			checks: []check{is("duplicate", IsDuplicateKey), msgHas(`fields: ["key"]`)},
		},
		{
			name: "duplicate user key as 409 plain text", method: "POST", url: "/users/{me}/ssh-keys", status: 409, ctype: "text/plain",
			body:   "Someone has already added that SSH key.",
			checks: []check{is("duplicate", IsDuplicateKey)},
		},
		{
			name: "plain text 401", cred: &APIToken{Email: "a@b.c", Token: "tok-123456"}, method: "GET", url: "/user", status: 401, ctype: "text/plain",
			body: "Login failed due to incorrect login credentials or method.",
			checks: []check{is("unauthorized", IsUnauthorized), msgHas("401 Unauthorized: Login failed due to incorrect login credentials or method."),
				hint("BITBUCKET_EMAIL and BITBUCKET_API_TOKEN"), hint("email of the Atlassian account"), code(4)},
		},
		{
			name: "html from a proxy", method: "GET", url: "/user", status: 500, ctype: "text/html",
			body:   "<!DOCTYPE html><html><head><title>Internal  Server &amp; Error</title></head><body><h1>Oops</h1></body></html>",
			checks: []check{msgHas("500 Internal Server Error: Internal Server & Error")},
		},
		{
			name: "html without title", method: "GET", url: "/user", status: 500, ctype: "text/html",
			body:   "<html><body><p>upstream   connect error</p></body></html>",
			checks: []check{msgHas("500 Internal Server Error: upstream connect error")},
		},
		{
			name: "malformed json", method: "GET", url: "/user", status: 500, ctype: "application/json",
			body:   `{"type":"error","error":{"message":`,
			checks: []check{msgHas(`500 Internal Server Error: {"type":"error","error":{"message":`)},
		},
		{
			name: "404", method: "GET", url: "/repositories/ws/nope/deploy-keys", status: 404, ctype: "application/json",
			body:   `{"type":"error","error":{"message":"Repository ws/nope not found"}}`,
			checks: []check{is("not found", IsNotFound), hint("Bitbucket also answers 404")},
		},
		{
			name: "403 listing required scopes", cred: &APIToken{Email: "a@b.c", Token: "tok-123456"}, method: "GET", url: "/users/{me}/ssh-keys", status: 403, ctype: "application/json",
			body:   `{"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.","detail":{"granted":["read:user:bitbucket"],"required":["read:ssh-key:bitbucket"]}}}`,
			checks: []check{is("forbidden", IsForbidden), scope("read:ssh-key:bitbucket"), msgHas("scopes. (required scopes: read:ssh-key:bitbucket; granted: read:user:bitbucket)"), hint("create an API token with scope read:ssh-key:bitbucket at https://id.atlassian.com/manage-profile/security/api-tokens"), code(4)},
		},
		{
			name: "403 for an api token, scope from the endpoint less x-oauth-scopes", cred: &APIToken{Email: "a@b.c", Token: "tok-123456"}, method: "POST", url: "/repositories/ws/r/deploy-keys", status: 403, ctype: "application/json",
			header: map[string]string{"X-OAuth-Scopes": "admin:repository:bitbucket"},
			body:   `{"type":"error","error":{"message":"Forbidden"}}`,
			checks: []check{scope("write:ssh-key:bitbucket"), hint("admin permission on the repository")},
		},
		{
			name: "403 for an access token on user keys", cred: &AccessToken{Token: "tok-123456"}, method: "POST", url: "/users/{me}/ssh-keys", status: 403, ctype: "text/plain",
			body:   "Forbidden",
			checks: []check{scope("account:write"), hint("access tokens cannot manage a person's SSH keys")},
		},
		{
			name: "403 for an oauth consumer on project keys", cred: &OAuthClient{ClientID: "c", ClientSecret: "s123456"}, method: "DELETE", url: "/workspaces/ws/projects/P/deploy-keys/1", status: 403,
			checks: []check{scope("project:admin"), hint("give the OAuth consumer the project:admin permission")},
		},
		{
			name: "429 plain text", method: "GET", url: "/user", status: 429, ctype: "text/plain",
			body:   "Rate limit for this resource has been exceeded.",
			checks: []check{is("rate limited", IsRateLimited), msgHas("429 Too Many Requests: Rate limit for this resource has been exceeded."), hint("1,000 API requests an hour"), code(3)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cred, WithMaxWait(0))
			if o, ok := tc.cred.(*OAuthClient); ok {
				ts := newOAuthServer(t, 3600)
				o.TokenURL = ts.URL
			}
			e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			err := callRoute(t, e.client, tc.method, tc.url)
			if err == nil {
				t.Fatal("no error")
			}
			for _, c := range tc.checks {
				c(t, err)
			}
		})
	}
}

// callRoute calls the service method for a method and path of the table above.
func callRoute(t *testing.T, c *Client, method, path string) error {
	t.Helper()
	key, _ := newPublicKey(t, "c")
	var err error
	switch method + " " + path {
	case "GET /user":
		_, _, err = c.Users.Current(bg())
	case "GET /users/{me}/ssh-keys":
		_, err = collect(c.SSHKeys.List(bg(), "{me}"))
	case "POST /users/{me}/ssh-keys":
		_, _, err = c.SSHKeys.Add(bg(), "{me}", AddSSHKeyOptions{Key: key})
	case "POST /repositories/ws/r/deploy-keys":
		_, _, err = c.RepoKeys("ws", "r").Add(bg(), AddDeployKeyOptions{Key: key})
	case "GET /repositories/ws/nope/deploy-keys":
		_, err = collect(c.RepoKeys("ws", "nope").List(bg()))
	case "DELETE /workspaces/ws/projects/P/deploy-keys/1":
		_, err = c.ProjectKeys("ws", "P").Delete(bg(), 1)
	default:
		t.Fatalf("no call for %s %s", method, path)
	}
	return err
}

func TestOversizedBody(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"uuid":"`+strings.Repeat("a", MaxBodySize)+`"}`)
	})
	_, _, err := e.client.Users.Current(bg())
	var big *BodyTooLargeError
	if !errors.As(err, &big) || !strings.Contains(err.Error(), "larger than the 8 MiB limit") {
		t.Errorf("err = %v", err)
	}
	// An oversized error answer is still an error answer, shown by a capped snippet.
	e.handle("GET /user/workspaces", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		io.WriteString(w, strings.Repeat("b", MaxBodySize+10))
	})
	_, err = collect(e.client.Users.Workspaces(bg(), nil))
	er, ok := errors.AsType[*ErrorResponse](err)
	if !ok || len(er.Body) > bodySnippetLen+4 {
		t.Errorf("err = %T, body %d bytes", err, len(er.Body))
	}
}

func TestSuccessThatIsNotJSON(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><title>Captive portal</title></html>")
	})
	_, _, err := e.client.Users.Current(bg())
	if err == nil || !strings.Contains(err.Error(), "decoding response of GET") || !strings.Contains(err.Error(), "Captive portal") {
		t.Errorf("err = %v", err)
	}
}

func TestNetworkErrorNamesRequest(t *testing.T) {
	c, err := NewClient("http://127.0.0.1:1/2.0", &AccessToken{Token: "tok-netfail-1"}, WithMaxWait(0))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Users.Current(bg())
	if err == nil || !strings.HasPrefix(err.Error(), "GET http://127.0.0.1:1/2.0/user: ") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), `Get "`) {
		t.Errorf("url.Error's own unredacted prefix kept: %v", err)
	}
}
