package redact

import (
	"slices"
	"testing"
)

func TestURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://bob:hunter2@bitbucket.org/ws/r.git", "https://bob:***@bitbucket.org/ws/r.git"},
		{"https://bob@bitbucket.org/ws/r.git", "https://bob@bitbucket.org/ws/r.git"},
		{"https://ATCTT3xFfGN0abcdefghijklmnop@bitbucket.org/ws/r", "https://***@bitbucket.org/ws/r"},
		{"fatal: unable to access 'https://x-token-auth:tok@bitbucket.org/a/b.git/'", "fatal: unable to access 'https://x-token-auth:***@bitbucket.org/a/b.git/'"},
		{"git@bitbucket.org:ws/r.git", "git@bitbucket.org:ws/r.git"},
		{"no url here", "no url here"},
	}
	for _, tt := range tests {
		if got := URLs(tt.in); got != tt.want {
			t.Errorf("URLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretsAndHeaders(t *testing.T) {
	if got := Secrets("token abcd1234 here", "abcd1234", ""); got != "token *** here" {
		t.Errorf("Secrets = %q", got)
	}
	if got := Headers("GET / HTTP/1.1\nAuthorization: Basic Zm9vOmJhcg==\nAccept: */*"); got != "GET / HTTP/1.1\nAuthorization: ***\nAccept: */*" {
		t.Errorf("Headers = %q", got)
	}
}

func TestEnviron(t *testing.T) {
	env := []string{"PATH=/bin", "BITBUCKET_API_TOKEN=tok", "BITBUCKET_EMAIL=a@b.c", "BBKEY_PASSPHRASE=pw",
		"BITBUCKET_CLIENT_ID=id", "BITBUCKET_CLIENT_SECRET=s", "BITBUCKET_ACCESS_TOKEN=at", "BITBUCKET_SERVER_TOKEN=st", "BITBUCKET_API_TOKEN_FILE=x", "NOEQUALS"}
	got := Environ(env)
	want := []string{"PATH=/bin", "BITBUCKET_EMAIL=a@b.c", "BITBUCKET_CLIENT_ID=id", "BITBUCKET_API_TOKEN_FILE=x", "NOEQUALS"}
	if !slices.Equal(got, want) {
		t.Errorf("Environ = %q, want %q", got, want)
	}
	if len(env) != 10 || env[1] != "BITBUCKET_API_TOKEN=tok" {
		t.Errorf("Environ changed its argument: %q", env)
	}
}
