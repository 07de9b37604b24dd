package bulk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
)

// dcErr is a Data Center answer with one message in its {"errors": [...]} envelope.
func dcErr(code int, msg, exception string) *bbapi.ErrorResponse {
	return &bbapi.ErrorResponse{Method: "POST", URL: "http://127.0.0.1/rest/keys/latest/projects/OPS/ssh", Route: "/keys/latest/projects/{projectKey}/ssh", StatusCode: code,
		Errors: []bbapi.ErrorMessage{{Message: msg, ExceptionName: exception}}}
}

func TestFatal(t *testing.T) {
	er := func(code int, msg string) *bbapi.ErrorResponse {
		return &bbapi.ErrorResponse{StatusCode: code, Message: msg}
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"budget", &bbapi.RetryBudgetError{Err: er(503, "")}, true},
		{"429 not retried", &bbapi.RateLimitError{ErrorResponse: er(429, "")}, true},
		{"401", er(401, "Login failed due to incorrect login credentials or method."), true},
		{"403 scopes listed", &bbapi.ErrorResponse{StatusCode: 403, RequiredScopes: []string{"admin:repository:bitbucket"}}, true},
		{"403 scopes text", er(403, "Your credentials lack one or more required privilege scopes."), true},
		{"403 access token refused", er(403, "This API is not accessible by this authentication mechanism"), true},
		{"403 permission on one repo", er(403, "You do not have admin access to this repository."), false},
		{"account key", er(400, "Someone has already added that SSH key."), true},
		{"duplicate access key", er(400, "Someone has already added that access key to this repository."), false},
		{"404", er(404, "Repository not found"), false},
		{"other", errors.New("boom"), false},
		{"data center 429", &bbapi.RateLimitError{ErrorResponse: &bbapi.ErrorResponse{StatusCode: 429}}, true},
		{"data center refused token", &bbapi.ErrorResponse{StatusCode: 401, Errors: []bbapi.ErrorMessage{{Message: "Authentication failed."}}}, true},
		{"data center missing permission", &dc.PermissionError{ErrorResponse: dcErr(401, "You are not permitted", "com.atlassian.bitbucket.AuthorisationException"), Permission: dc.RepoAdmin}, false},
		{"dc budget", &bbapi.RetryBudgetError{Err: &bbapi.RateLimitError{ErrorResponse: dcErr(429, "", "")}}, true},
		{"dc user key", dcErr(409, "The SSH key already exists on the system.", "com.atlassian.bitbucket.ssh.DuplicateSshKeyException"), true},
		{"dc 404", dcErr(404, "Repository OPS/x does not exist.", "com.atlassian.bitbucket.repository.NoSuchRepositoryException"), false},
	} {
		if got := Fatal(c.err); got != c.want {
			t.Errorf("%s: Fatal = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	er := func(code int, msg string) *bbapi.ErrorResponse {
		return &bbapi.ErrorResponse{StatusCode: code, Message: msg}
	}
	// A real refused connection: a loopback port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := http.Get("http://" + addr + "/")
	if refused == nil {
		t.Fatal("a closed port answered")
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"budget", &bbapi.RetryBudgetError{Err: er(503, "")}, true},
		{"429", &bbapi.RateLimitError{ErrorResponse: er(429, "")}, true},
		{"500", er(500, "Something went wrong"), true},
		{"502 wrapped", fmt.Errorf("acme/api: %w", er(502, "")), true},
		{"connection refused", fmt.Errorf("acme/api: %w", refused), true},
		{"no answer in time", fmt.Errorf("POST x: no answer: %w", context.DeadlineExceeded), true},
		{"interrupted", context.Canceled, true},
		{"joined", errors.Join(errors.New("x"), er(503, "")), true},
		{"401", er(401, "Login failed"), false},
		{"403 permission", er(403, "You do not have admin access to this repository."), false},
		{"404", er(404, "Repository not found"), false},
		{"duplicate", er(400, "Someone has already added that SSH key."), false},
		{"other", errors.New("boom"), false},
		{"data center 429", &bbapi.RateLimitError{ErrorResponse: &bbapi.ErrorResponse{StatusCode: 429}}, true},
		{"data center 503", dcErr(503, "", ""), true},
		{"data center missing permission", &dc.PermissionError{ErrorResponse: dcErr(401, "You are not permitted", "com.atlassian.bitbucket.AuthorisationException"), Permission: dc.RepoAdmin}, false},
		{"data center 404", dcErr(404, "Repository OPS/x does not exist.", "com.atlassian.bitbucket.repository.NoSuchRepositoryException"), false},
	} {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("%s: Retryable = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&bbapi.ErrorResponse{Method: "POST", URL: "https://x/2.0/repositories/a/b/deploy-keys", StatusCode: 403, Message: "no admin"}, "403 Forbidden: no admin"},
		{&bbapi.ErrorResponse{StatusCode: 400, Message: "Bad key", Detail: "not ed25519"}, "400 Bad Request: Bad key (not ed25519)"},
		{&bbapi.ErrorResponse{StatusCode: 502, Body: "<html>\n  Bad   Gateway\n</html>"}, "502 Bad Gateway: Bad Gateway"},
		{&bbapi.RetryBudgetError{Attempts: 3, MaxWait: 2 * time.Second, Err: &bbapi.RateLimitError{ErrorResponse: &bbapi.ErrorResponse{StatusCode: http.StatusTooManyRequests, Body: "Rate limit for this resource has been exceeded."}}},
			"429 Too Many Requests: Rate limit for this resource has been exceeded.; gave up after 3 attempts (--max-wait 2s spent)"},
		{errors.New("dial tcp: refused"), "dial tcp: refused"},
		{&dc.PermissionError{ErrorResponse: &bbapi.ErrorResponse{Method: "GET", URL: "http://x/rest/keys/latest/projects/OPS/ssh", StatusCode: 401,
			Errors: []bbapi.ErrorMessage{{Message: "You are not permitted to access this resource"}}}, Permission: dc.ProjectAdmin},
			"401 Unauthorized: You are not permitted to access this resource (needs PROJECT_ADMIN)"},
		{&bbapi.RetryBudgetError{Attempts: 2, MaxWait: time.Second, Err: &bbapi.RateLimitError{ErrorResponse: dcErr(429, "Rate limit exceeded; retry in 9 seconds.", "")}},
			"429 Too Many Requests: Rate limit exceeded; retry in 9 seconds.; gave up after 2 attempts (--max-wait 1s spent)"},
	} {
		if got := Describe(c.err); got != c.want {
			t.Errorf("Describe = %q, want %q", got, c.want)
		}
	}
}
