package apierr

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/errkind"
)

// TestExplainThroughTheChain runs the real client against a loopback server answering as
// Bitbucket (or something in its place) would, and reads the exit code and hints back
// through the wrapping the commands add.
func TestExplainThroughTheChain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
		wrap   func(error) error
		code   int
		hint   string
	}{
		{"401 api token", 401, "text/plain", "Unauthorized", func(e error) error { return fmt.Errorf("setup: %w", e) },
			errkind.ExitAuth, "BITBUCKET_EMAIL is the email of the Atlassian account"},
		{"403 scope listed", 403, "application/json", `{"type":"error","error":{"message":"Forbidden","detail":{"required":["read:user:bitbucket"],"granted":[]}}}`,
			func(e error) error { return errkind.WithHint(e, "first") }, errkind.ExitAuth, "read:user:bitbucket"},
		{"429", 429, "application/json", `{"type":"error","error":{"message":"Rate limit"}}`, func(e error) error { return e },
			errkind.ExitPartial, "--max-wait"},
		{"500", 500, "text/html", "<html><title>Oops</title></html>", func(e error) error { return e },
			errkind.ExitFailure, "bitbucket.status.atlassian.com"},
		{"html instead of json", 200, "text/html", "<html><body>captive portal</body></html>", func(e error) error { return e },
			errkind.ExitFailure, "something other than Bitbucket's API answered"},
		{"usage outranks", 401, "text/plain", "no", func(e error) error { return errkind.UsageError(e) },
			errkind.ExitUsage, "BITBUCKET_API_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := bbapi.NewClient(srv.URL, &bbapi.APIToken{Email: "a@b.c", Token: "tok"}, bbapi.WithMaxWait(0))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = c.Users.Current(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			err = tc.wrap(err)
			if got := ExitCode(err); got != tc.code {
				t.Errorf("ExitCode = %d, want %d (%v)", got, tc.code, err)
			}
			if h := strings.Join(Hints(err), "\n"); !strings.Contains(h, tc.hint) {
				t.Errorf("hints lack %q:\n%s", tc.hint, h)
			}
			// errkind alone knows nothing of bbapi: the code is apierr's to give.
			if tc.code != errkind.ExitUsage && errkind.ExitCode(err) != errkind.ExitFailure {
				t.Errorf("errkind.ExitCode = %d for a bare API error", errkind.ExitCode(err))
			}
		})
	}
}

func TestExplainEnvAndBudget(t *testing.T) {
	_, err := bbapi.CredentialFromEnv(func(k string) (string, bool) {
		return map[string]string{"BITBUCKET_API_TOKEN": "x"}[k], k == "BITBUCKET_API_TOKEN"
	}, "")
	if ExitCode(err) != errkind.ExitAuth || FirstHint(err, "") != "set BITBUCKET_EMAIL as well, or unset BITBUCKET_API_TOKEN" {
		t.Errorf("env: %v exit %d hints %v", err, ExitCode(err), Hints(err))
	}
	be := fmt.Errorf("listing: %w", &bbapi.RetryBudgetError{Attempts: 2, Err: fmt.Errorf("503")})
	if ExitCode(be) != errkind.ExitPartial || !strings.Contains(FirstHint(be, ""), "--max-wait") {
		t.Errorf("budget: exit %d hints %v", ExitCode(be), Hints(be))
	}
	if FirstHint(fmt.Errorf("plain"), "def") != "def" {
		t.Error("FirstHint ignores its default")
	}
}
