package redact

import "testing"

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
