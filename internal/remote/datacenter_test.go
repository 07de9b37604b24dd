package remote

import "testing"

func TestDataCenterRewrite(t *testing.T) {
	tg := DataCenterTarget{ServerURL: "https://git.example.com/bitbucket", SSHHost: "ssh.example.com", SSHPort: 7999}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	const want = "ssh://git@ssh.example.com:7999/ops/api.git"
	tests := []struct {
		name   string
		in     string
		status Status
		want   string
		secret bool
		proj   string
	}{
		{"https clone url", "https://git.example.com/bitbucket/scm/ops/api.git", NeedsRewrite, want, false, "ops"},
		{"upper-case project, no .git", "https://git.example.com/bitbucket/scm/OPS/api", NeedsRewrite, want, false, "OPS"},
		{"user and token", "https://ada:BBDC-secret@git.example.com/bitbucket/scm/ops/api.git", NeedsRewrite, want, true, "ops"},
		{"user only", "https://ada@git.example.com/bitbucket/scm/ops/api.git", NeedsRewrite, want, false, "ops"},
		{"port 443 and upper-case host", "https://GIT.example.com:443/bitbucket/scm/ops/api.git/", NeedsRewrite, want, false, "ops"},
		{"personal repository", "https://git.example.com/bitbucket/scm/~ada/notes.git", NeedsRewrite, "ssh://git@ssh.example.com:7999/~ada/notes.git", false, "~ada"},
		{"already current", want, Current, want, false, "ops"},
		{"old ssh host of the server", "ssh://git@git.example.com:7999/ops/api.git", NeedsRewrite, want, false, "ops"},
		{"ssh on another port", "ssh://git@ssh.example.com:22/ops/api.git", NeedsRewrite, want, false, "ops"},
		{"web page", "https://git.example.com/bitbucket/projects/OPS/repos/api/browse", Unsupported, "", false, ""},
		{"query", "https://git.example.com/bitbucket/scm/ops/api.git?x=1", Unsupported, "", false, ""},
		{"three segments", "https://git.example.com/bitbucket/scm/ops/api/more.git", Unsupported, "", false, ""},
		{"outside the context path", "https://git.example.com/other/scm/ops/api.git", NotBitbucket, "", false, ""},
		{"another port", "https://git.example.com:8443/bitbucket/scm/ops/api.git", NotBitbucket, "", false, ""},
		{"cloud", "https://bitbucket.org/ws/repo.git", NotBitbucket, "", false, ""},
		{"another server", "https://other.example.com/bitbucket/scm/ops/api.git", NotBitbucket, "", false, ""},
		{"option-looking slug", "https://git.example.com/bitbucket/scm/ops/-oProxyCommand.git", Unsupported, "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tg.Rewrite(tc.in)
			if r.Status != tc.status || r.New != tc.want || r.Secret != tc.secret {
				t.Errorf("Rewrite(%q) = %+v, want status %v new %q secret %v", tc.in, r, tc.status, tc.want, tc.secret)
			}
		})
	}
	root := DataCenterTarget{ServerURL: "http://127.0.0.1:7990", SSHHost: "127.0.0.1", SSHPort: 7999}
	if r := root.Rewrite("http://127.0.0.1:7990/scm/ops/api.git"); r.Status != NeedsRewrite || r.New != "ssh://git@127.0.0.1:7999/ops/api.git" {
		t.Errorf("server without a context path: %+v", r)
	}
	for _, bad := range []DataCenterTarget{{ServerURL: "ftp://x", SSHHost: "h", SSHPort: 7999}, {ServerURL: "https://x", SSHHost: "", SSHPort: 7999}, {ServerURL: "https://x", SSHHost: "h", SSHPort: 0}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
