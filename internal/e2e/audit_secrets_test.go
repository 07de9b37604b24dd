package e2e

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// TestAuditSecretsInFailures is the CLI half of issue 2's "every error string and the
// --debug trace": TestSecretsScan covers runs that succeed, this covers runs that fail,
// where a careless error path would print what it was given. Every command that talks to
// Bitbucket fails here with --debug on, with each kind of credential (right, wrong,
// without the scope, of the wrong kind), including a server that echoes the credential
// back in its error body, in its plain and Basic-encoded forms. Neither stdout nor stderr
// (the error, its hints and the trace) may show any of them.
func TestAuditSecretsInFailures(t *testing.T) {
	w := NewWorld(t)
	token := w.Emu.DefaultAPIToken()
	narrow, err := w.Emu.AddAPIToken(bbapitest.DefaultEmail, "read:user:bitbucket", "read:ssh-key:bitbucket")
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "ATATT3xFfGF0-audit-wrong-token-value"
	clientID, clientSecret, err := w.Emu.AddOAuthConsumer(bbapitest.DefaultEmail, "account")
	if err != nil {
		t.Fatal(err)
	}
	accessToken, err := w.Emu.AddRepoAccessToken(bbapitest.DefaultWorkspace, "api", "repository", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	basic := func(user, secret string) string {
		return base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))
	}
	secrets := map[string]string{
		"API token":                    token,
		"API token as Basic":           basic(bbapitest.DefaultEmail, token),
		"narrow API token":             narrow,
		"narrow API token as Basic":    basic(bbapitest.DefaultEmail, narrow),
		"wrong API token":              wrong,
		"wrong API token as Basic":     basic(bbapitest.DefaultEmail, wrong),
		"OAuth client secret":          clientSecret,
		"OAuth client secret as Basic": basic(clientID, clientSecret),
		"access token":                 accessToken,
		"passphrase":                   w.Passphrase,
	}
	// An error body that repeats the request's credentials, as a misconfigured proxy or
	// a verbose gateway might.
	echo := `{"type":"error","error":{"message":"denied for ` + token + `","detail":"Authorization: Basic ` +
		basic(bbapitest.DefaultEmail, token) + `","fields":{"token":["` + token + `"]}}}`

	type failure struct {
		name   string
		env    map[string]string // set for this run ("" unsets)
		inject func()
		args   []string
		code   int
	}
	apiEnv := func(tok string) map[string]string { return map[string]string{"BITBUCKET_API_TOKEN": tok} }
	keysPath := "/2.0/users/*/ssh-keys"
	cases := []failure{
		{name: "setup, wrong token", env: apiEnv(wrong), args: []string{"setup", "--passphrase-file", w.PassFile, "--no-remotes"}, code: 4},
		{name: "auth login, wrong token", env: apiEnv(wrong), args: []string{"auth", "login", "--insecure-storage"}, code: 4},
		{name: "setup, missing scope", env: apiEnv(narrow), args: []string{"setup", "--passphrase-file", w.PassFile, "--no-remotes"}, code: 4},
		{name: "setup, echoing server", inject: func() { w.Emu.FailNext(bbapitest.Match("GET", keysPath), 1000, 400, echo) },
			args: []string{"setup", "--passphrase-file", w.PassFile, "--no-remotes"}, code: 1},
		{name: "list, echoing server", inject: func() { w.Emu.FailNext(bbapitest.Match("GET", "/2.0/user"), 1000, 401, echo) },
			args: []string{"list"}, code: 4},
		{name: "add-access-key, 503s", inject: func() {
			w.Emu.FailNext(bbapitest.Match("POST", "/2.0/repositories/*/*/deploy-keys"), 1000, 503, bbapitest.BodyPlain)
		}, args: []string{"add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--max-wait", "1s"}, code: 3},
		{name: "setup, OAuth consumer with a wrong secret",
			env:  map[string]string{"BITBUCKET_EMAIL": "", "BITBUCKET_API_TOKEN": "", "BITBUCKET_CLIENT_ID": clientID, "BITBUCKET_CLIENT_SECRET": clientSecret + "x"},
			args: []string{"setup", "--passphrase-file", w.PassFile, "--no-remotes"}, code: 4},
		{name: "add-access-key, OAuth consumer without the scope",
			env:  map[string]string{"BITBUCKET_EMAIL": "", "BITBUCKET_API_TOKEN": "", "BITBUCKET_CLIENT_ID": clientID, "BITBUCKET_CLIENT_SECRET": clientSecret},
			args: []string{"add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile}, code: 4},
		// (A repository target is refused before any request with an access token, which
		// Bitbucket refuses on a repository's access keys: a project makes the request.)
		{name: "add-access-key, access token of a repository, on a project",
			env:  map[string]string{"BITBUCKET_EMAIL": "", "BITBUCKET_API_TOKEN": "", "BITBUCKET_ACCESS_TOKEN": accessToken},
			args: []string{"add-access-key", "--project", "acme/OPS", "--name", "ci", "--passphrase-file", w.PassFile}, code: 4},
		{name: "doctor, wrong token", env: apiEnv(wrong), args: []string{"doctor", "--passphrase-file", w.PassFile}, code: 1},
		{name: "rotate, echoing server", inject: func() { w.Emu.FailNext(bbapitest.Match("POST", keysPath), 1000, 500, echo) },
			args: []string{"rotate", "--passphrase-file", w.PassFile, "--max-wait", "1s"}, code: 1},
		{name: "remove, echoing server", inject: func() { w.Emu.FailNext(bbapitest.Match("GET", keysPath), 1000, 403, echo) },
			args: []string{"remove", "bbkey:nobody", "--yes"}, code: 4},
	}

	// rotate and remove need a key to work on.
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	saved := append([]string(nil), w.Env...)
	for _, c := range cases {
		w.Env = append([]string(nil), saved...)
		for k, v := range c.env {
			if v == "" {
				w.Unsetenv(k)
			} else {
				w.Setenv(k, v)
			}
		}
		w.Emu.ClearFaults()
		if c.inject != nil {
			c.inject()
		}
		r := w.Run("", append(c.args, "--debug")...)
		w.Emu.ClearFaults()
		if strings.Contains(r.Stderr, "panic:") || r.Code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, r.Code, c.code, r)
		}
		if c.args[0] != "doctor" && !strings.Contains(r.Stderr, "bbkey: error: ") {
			t.Errorf("%s: no error line\n%s", c.name, r)
		}
		if !strings.Contains(r.Stderr, "> GET ") && !strings.Contains(r.Stderr, "> POST ") {
			t.Errorf("%s: --debug printed no HTTP trace, so the scan proves little\n%s", c.name, r)
		}
		for what, s := range secrets {
			for where, text := range map[string]string{"stdout": r.Stdout, "stderr": r.Stderr} {
				if i := strings.Index(text, s); i >= 0 {
					t.Errorf("%s: %s shows the %s: …%s…", c.name, where, what, proofContext([]byte(text), i, len(s)))
				}
			}
		}
	}
	w.Env = saved
}
