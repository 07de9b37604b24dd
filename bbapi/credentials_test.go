package bbapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestCredentialFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		want    string // Kind, "" for nil
		errHas  string
		tokenOK func(Credential) bool
	}{
		{env: nil, want: ""},
		{env: map[string]string{"BITBUCKET_EMAIL": "a@b.c", "BITBUCKET_API_TOKEN": "tok"}, want: "api-token",
			tokenOK: func(c Credential) bool { t := c.(*APIToken); return t.Email == "a@b.c" && t.Token == "tok" }},
		{env: map[string]string{"BITBUCKET_ACCESS_TOKEN": " acc \n"}, want: "access-token",
			tokenOK: func(c Credential) bool { return c.(*AccessToken).Token == "acc" }},
		{env: map[string]string{"BITBUCKET_CLIENT_ID": "id", "BITBUCKET_CLIENT_SECRET": "sec"}, want: "oauth",
			tokenOK: func(c Credential) bool {
				o := c.(*OAuthClient)
				return o.ClientID == "id" && o.tokenURL() == "https://example.test/token"
			}},
		// An API token wins over the others: it is the one that can manage account keys.
		{env: map[string]string{"BITBUCKET_EMAIL": "a@b.c", "BITBUCKET_API_TOKEN": "tok", "BITBUCKET_ACCESS_TOKEN": "acc"}, want: "api-token"},
		{env: map[string]string{"BITBUCKET_API_TOKEN": "tok"}, errHas: "BITBUCKET_EMAIL (the Atlassian account email) is not"},
		{env: map[string]string{"BITBUCKET_EMAIL": "a@b.c"}, errHas: "BITBUCKET_API_TOKEN is not"},
		{env: map[string]string{"BITBUCKET_CLIENT_ID": "id"}, errHas: "BITBUCKET_CLIENT_SECRET is not"},
		{env: map[string]string{"BITBUCKET_CLIENT_SECRET": "sec"}, errHas: "BITBUCKET_CLIENT_ID is not"},
	} {
		lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		cred, err := CredentialFromEnv(lookup, "https://example.test/token")
		name := fmt.Sprint(tc.env)
		if tc.errHas != "" {
			var ee *EnvCredentialError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.errHas) || !strings.HasPrefix(err.Error(), "incomplete credential in the environment: ") {
				t.Errorf("%s: err = %v", name, err)
			} else if codeOf(ee) != 4 || !strings.Contains(hintsOf(ee)[0], ee.Missing) {
				t.Errorf("%s: exit %d hints %v", name, codeOf(ee), hintsOf(ee))
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if tc.want == "" {
			if cred != nil {
				t.Errorf("%s: got %v", name, cred)
			}
			continue
		}
		if cred == nil || string(cred.Kind()) != tc.want || (tc.tokenOK != nil && !tc.tokenOK(cred)) {
			t.Errorf("%s: got %#v", name, cred)
		}
	}
	if _, err := CredentialFromEnv(func(k string) (string, bool) {
		return map[string]string{"BITBUCKET_CLIENT_ID": "i", "BITBUCKET_CLIENT_SECRET": "s"}[k], true
	}, "http://bitbucket.org/token"); err == nil {
		t.Error("plain-http token URL accepted")
	}
}

func TestCredentialsDoNotPrintSecrets(t *testing.T) {
	creds := []any{
		APIToken{Email: "a@b.c", Token: "secret-api-token"},
		&APIToken{Email: "a@b.c", Token: "secret-api-token"},
		AccessToken{Token: "secret-access-token"},
		&AccessToken{Token: "secret-access-token"},
		&OAuthClient{ClientID: "cid", ClientSecret: "secret-client-secret"},
	}
	for _, c := range creds {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, c); strings.Contains(s, "secret-") {
				t.Errorf("%s of %T prints %s", verb, c, s)
			}
		}
	}
}

// TestServerEchoingTheTokenIsRedacted: a misbehaving server or proxy that puts the
// credential into its answer (body, header, error message) must not get it shown.
func TestServerEchoingTheTokenIsRedacted(t *testing.T) {
	const token = "ATATT3xFfGF0secretTOKENvalue"
	cred := &APIToken{Email: "me@example.com", Token: token}
	basic := base64.StdEncoding.EncodeToString([]byte("me@example.com:" + token))
	e := newEnv(t, cred, WithMaxWait(0))
	echo := func(w http.ResponseWriter, r *http.Request) string {
		a := r.Header.Get("Authorization")
		w.Header().Set("X-Echo", a)
		return a + " " + token
	}
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(401)
		io.WriteString(w, "bad credentials: "+echo(w, r))
	})
	e.handle("GET /user/workspaces", func(w http.ResponseWriter, r *http.Request) {
		s := echo(w, r)
		writeJSON(w, 400, map[string]any{"type": "error", "error": map[string]any{"message": s, "detail": s, "fields": map[string]any{"token": []string{s}}, "data": map[string]any{"x": s}}})
	})
	e.handle("GET /repositories/{ws}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		io.WriteString(w, "<html><title>"+echo(w, r)+"</title></html>")
	})
	e.handle("GET /users/{u}/ssh-keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "not json "+echo(w, r))
	})
	var errs []error
	_, _, err := e.client.Users.Current(bg())
	errs = append(errs, err)
	_, err = collect(e.client.Users.Workspaces(bg(), nil))
	errs = append(errs, err)
	_, err = collect(e.client.Repositories.ListWorkspace(bg(), "ws", nil))
	errs = append(errs, err)
	_, err = collect(e.client.SSHKeys.List(bg(), "u"))
	errs = append(errs, err)
	var texts []string
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
		if er, ok := errors.AsType[*ErrorResponse](err); ok {
			texts = append(texts, string(er.Fields), er.Body, er.Message, er.Detail)
			texts = append(texts, hintsOf(er)...)
		}
	}
	texts = append(texts, e.debug.String())
	for _, text := range texts {
		for _, s := range []string{token, basic} {
			if strings.Contains(text, s) {
				t.Errorf("secret in %q", text)
			}
		}
	}
	if !strings.Contains(e.debug.String(), "< X-Echo: Basic ***") {
		t.Errorf("echoed header not masked as expected:\n%s", e.debug.String())
	}
}

func TestRedactAll(t *testing.T) {
	for in, want := range map[string]string{
		`{"access_token": "abc", "expires_in": 7200}`:             `{"access_token": "***", "expires_in": 7200}`,
		`{"refresh_token":"a\"b","x":1}`:                          `{"refresh_token":"***","x":1}`,
		"grant_type=client_credentials&client_secret=s3cr3t&x=1":  "grant_type=client_credentials&client_secret=***&x=1",
		"https://x-token-auth:tok123456@bitbucket.org/ws/r.git":   "https://x-token-auth:***@bitbucket.org/ws/r.git",
		"Authorization: Bearer abc\nother":                        "Authorization: ***\nother",
		`{"message":"nothing secret here","token_type":"bearer"}`: `{"message":"nothing secret here","token_type":"bearer"}`,
	} {
		if got := redactAll(in); got != want {
			t.Errorf("redactAll(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkRedact(b *testing.B) {
	c, _ := NewClient("", &APIToken{Email: "a@b.c", Token: "ATATT3xFfGF0secretTOKENvalue"})
	page := `{"values":[` + strings.Repeat(`{"key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKqP3Cr632C2dNhhgKVcon4ldUSAeKiku2yP9O9/bDtY","label":"bbkey:ci:2026-11-22"},`, 100) + `{}]}`
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		c.Redact(page)
	}
}

func BenchmarkListPages(b *testing.B) {
	e := newEnv(b, nil)
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKqP3Cr632C2dNhhgKVcon4ldUSAeKiku2yP9O9/bDtY c"
	vals := make([]any, 100)
	for i := range vals {
		vals[i] = map[string]any{"id": i + 1, "key": key, "label": "l", "added_on": "2026-11-22T10:00:00.123456+00:00", "links": map[string]any{"self": map[string]any{"href": "https://x/y"}}}
	}
	e.handle("GET /repositories/{ws}/{repo}/deploy-keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"values": vals})
	})
	e.client.debug = nil
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, err := range e.client.RepoKeys("ws", "repo").List(bg()) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 100 {
			b.Fatal(n)
		}
	}
}
