package remote

import (
	"strings"
	"testing"
)

const newURL = "git@ssh.bitbucket.org:ws/repo.git"

func TestRewriteTable(t *testing.T) {
	def := Target{}
	tests := []struct {
		name   string
		target Target
		in     string
		status Status
		want   string // New for NeedsRewrite/Current
		secret bool
	}{
		// HTTPS forms of API.md, with and without credentials, .git and a trailing slash.
		{"https plain", def, "https://bitbucket.org/ws/repo.git", NeedsRewrite, newURL, false},
		{"https no .git", def, "https://bitbucket.org/ws/repo", NeedsRewrite, newURL, false},
		{"https trailing slash", def, "https://bitbucket.org/ws/repo/", NeedsRewrite, newURL, false},
		{"https .git and slash", def, "https://bitbucket.org/ws/repo.git/", NeedsRewrite, newURL, false},
		{"https user only", def, "https://alice@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, false},
		{"https user and app password", def, "https://alice:ATBBsecret@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, true},
		{"https api token user", def, "https://x-bitbucket-api-token-auth:ATATT3x@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, true},
		{"https access token", def, "https://x-token-auth:tok%2Fen@bitbucket.org/ws/repo", NeedsRewrite, newURL, true},
		{"https token as user", def, "https://ATCTT3xFfGN0abcdefghijklmnop@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, true},
		{"https empty password", def, "https://alice:@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, true},
		{"https percent-encoded password", def, "https://alice:p%40ss%3Aw0rd@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, true},
		{"https upper-case host", def, "https://BitBucket.ORG/ws/repo.git", NeedsRewrite, newURL, false},
		{"https upper-case scheme", def, "HTTPS://bitbucket.org/ws/repo.git", NeedsRewrite, newURL, false},
		{"https port 443", def, "https://bitbucket.org:443/ws/repo.git", NeedsRewrite, newURL, false},
		{"http", def, "http://alice:pw@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, true},
		{"https case preserved", def, "https://bitbucket.org/MyTeam/My_Repo.git", NeedsRewrite, "git@ssh.bitbucket.org:MyTeam/My_Repo.git", false},
		{"https percent-encoded path", def, "https://bitbucket.org/ws/re%70o.git", NeedsRewrite, newURL, false},
		{"https dotted slug", def, "https://bitbucket.org/ws/my.repo.git", NeedsRewrite, "git@ssh.bitbucket.org:ws/my.repo.git", false},
		// Old-host SSH.
		{"scp old host", def, "git@bitbucket.org:ws/repo.git", NeedsRewrite, newURL, false},
		{"scp old host no .git", def, "git@bitbucket.org:ws/repo", NeedsRewrite, newURL, false},
		{"scp leading slash", def, "git@bitbucket.org:/ws/repo.git", NeedsRewrite, newURL, false},
		{"scp upper-case host", def, "git@BITBUCKET.org:ws/repo.git", NeedsRewrite, newURL, false},
		{"scp no user", def, "bitbucket.org:ws/repo.git", NeedsRewrite, newURL, false},
		{"ssh url", def, "ssh://git@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, false},
		{"ssh url port 22", def, "ssh://git@bitbucket.org:22/ws/repo.git", NeedsRewrite, newURL, false},
		{"git+ssh url", def, "git+ssh://git@bitbucket.org/ws/repo.git", NeedsRewrite, newURL, false},
		{"altssh 443", def, "ssh://git@altssh.bitbucket.org:443/ws/repo.git", NeedsRewrite, newURL, false},
		{"new host ssh url", def, "ssh://git@ssh.bitbucket.org/ws/repo.git", NeedsRewrite, newURL, false},
		{"new host scp without .git", def, "git@ssh.bitbucket.org:ws/repo", NeedsRewrite, newURL, false},
		// Already there.
		{"current", def, newURL, Current, newURL, false},
		{"current other account alias", def, "git@ssh.bitbucket.org-work:ws/repo.git", Current, "git@ssh.bitbucket.org-work:ws/repo.git", false},
		{"custom ssh host current", Target{SSHHost: "bb.test"}, "git@bb.test:ws/repo.git", Current, "git@bb.test:ws/repo.git", false},
		// --name and --ssh-host.
		{"name alias", Target{Name: "work"}, "https://bitbucket.org/ws/repo.git", NeedsRewrite, "git@ssh.bitbucket.org-work:ws/repo.git", false},
		{"name moves default host", Target{Name: "work"}, newURL, NeedsRewrite, "git@ssh.bitbucket.org-work:ws/repo.git", false},
		{"name current", Target{Name: "work"}, "git@ssh.bitbucket.org-work:ws/repo.git", Current, "git@ssh.bitbucket.org-work:ws/repo.git", false},
		{"name moves other alias", Target{Name: "work"}, "git@ssh.bitbucket.org-home:ws/repo.git", NeedsRewrite, "git@ssh.bitbucket.org-work:ws/repo.git", false},
		{"custom ssh host", Target{SSHHost: "bb.test"}, "git@bitbucket.org:ws/repo.git", NeedsRewrite, "git@bb.test:ws/repo.git", false},
		{"custom host moves default", Target{SSHHost: "bb.test"}, newURL, NeedsRewrite, "git@bb.test:ws/repo.git", false},
		// --to https.
		{"to https from ssh", Target{HTTPS: true}, newURL, NeedsRewrite, "https://bitbucket.org/ws/repo.git", false},
		{"to https strips secret", Target{HTTPS: true}, "https://alice:pw@bitbucket.org/ws/repo", NeedsRewrite, "https://bitbucket.org/ws/repo.git", true},
		{"to https strips user", Target{HTTPS: true}, "https://alice@bitbucket.org/ws/repo.git", NeedsRewrite, "https://bitbucket.org/ws/repo.git", false},
		{"to https current", Target{HTTPS: true}, "https://bitbucket.org/ws/repo.git", Current, "https://bitbucket.org/ws/repo.git", false},
		{"to https from alias", Target{HTTPS: true}, "git@ssh.bitbucket.org-work:ws/repo.git", NeedsRewrite, "https://bitbucket.org/ws/repo.git", false},
		// Not Bitbucket: never touched.
		{"github", def, "https://github.com/ws/repo.git", NotBitbucket, "", false},
		{"github scp", def, "git@github.com:ws/repo.git", NotBitbucket, "", false},
		{"lookalike suffix", def, "https://bitbucket.org.evil.com/ws/repo.git", NotBitbucket, "", false},
		{"lookalike prefix", def, "https://evilbitbucket.org/ws/repo.git", NotBitbucket, "", false},
		{"host in user part", def, "https://bitbucket.org@evil.com/ws/repo.git", NotBitbucket, "", false},
		{"host in path", def, "https://evil.com/bitbucket.org/ws/repo.git", NotBitbucket, "", false},
		{"api host", def, "https://api.bitbucket.org/2.0/repositories/ws/repo", NotBitbucket, "", false},
		{"ssh host over https", def, "https://ssh.bitbucket.org/ws/repo.git", NotBitbucket, "", false},
		{"local path", def, "/srv/git/bitbucket.org:ws/repo.git", NotBitbucket, "", false},
		{"relative path", def, "../bitbucket.org/ws/repo", NotBitbucket, "", false},
		{"file url", def, "file:///srv/bitbucket.org/ws/repo.git", NotBitbucket, "", false},
		{"git protocol", def, "git://bitbucket.org/ws/repo.git", NotBitbucket, "", false},
		{"scp user is host", def, "bitbucket.org@evil.com:ws/repo.git", NotBitbucket, "", false},
		{"scp password-like", def, "alice:pw@bitbucket.org:ws/repo.git", NotBitbucket, "", false},
		{"windows drive", def, "C:/bitbucket.org/ws/repo", NotBitbucket, "", false},
		{"empty", def, "", NotBitbucket, "", false},
		{"space", def, "https://bitbucket.org/ws/my repo.git", NotBitbucket, "", false},
		{"newline", def, "https://bitbucket.org/ws/repo.git\nhttps://x", NotBitbucket, "", false},
		// Data Center: recognised, left alone.
		{"dc ssh", def, "ssh://git@bitbucket.example.com:7999/PROJ/repo.git", DataCenter, "", false},
		{"dc https", def, "https://bitbucket.example.com/scm/proj/repo.git", DataCenter, "", false},
		{"dc https context path", def, "https://git.example.com/bitbucket/scm/proj/repo.git", DataCenter, "", false},
		{"dc https secret", def, "https://bob:pw@git.example.com/scm/~bob/repo.git", DataCenter, "", true},
		// Cloud host in a form bbkey does not guess at.
		{"web url", def, "https://bitbucket.org/ws/repo/src/main/README.md", Unsupported, "", false},
		{"workspace only", def, "https://bitbucket.org/ws", Unsupported, "", false},
		{"query", def, "https://bitbucket.org/ws/repo.git?x=1", Unsupported, "", false},
		{"odd port", def, "ssh://git@bitbucket.org:2222/ws/repo.git", Unsupported, "", false},
		{"https odd port", def, "https://bitbucket.org:8443/ws/repo.git", Unsupported, "", false},
		{"two at signs", def, "https://alice:p@ss@bitbucket.org/ws/repo.git", Unsupported, "", true},
		{"dot-dot", def, "https://bitbucket.org/ws/..", Unsupported, "", false},
		{"encoded slash in slug", def, "https://bitbucket.org/ws/a%2Fb/c", Unsupported, "", false},
		{"dash slug", def, "git@bitbucket.org:ws/-oProxyCommand=x", Unsupported, "", false},
		{"bad escape", def, "https://bitbucket.org/ws/re%zzpo", Unsupported, "", false},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d forms", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.target.Rewrite(tt.in)
			if got.Status != tt.status {
				t.Fatalf("Rewrite(%q).Status = %v (%s), want %v", tt.in, got.Status, got.Reason, tt.status)
			}
			if (tt.status == NeedsRewrite || tt.status == Current) && got.New != tt.want {
				t.Errorf("Rewrite(%q).New = %q, want %q", tt.in, got.New, tt.want)
			}
			if tt.status != NeedsRewrite && tt.status != Current && got.New != "" {
				t.Errorf("Rewrite(%q).New = %q for a URL left alone", tt.in, got.New)
			}
			if tt.status != NotBitbucket && got.Secret != tt.secret {
				t.Errorf("Rewrite(%q).Secret = %v, want %v", tt.in, got.Secret, tt.secret)
			}
			if (tt.status == DataCenter || tt.status == Unsupported) && got.Reason == "" {
				t.Errorf("Rewrite(%q): no reason for leaving it alone", tt.in)
			}
			if got.Status == NeedsRewrite {
				// Idempotent: the new URL is current for the same target.
				if again := tt.target.Rewrite(got.New); again.Status != Current || again.New != got.New {
					t.Errorf("Rewrite(%q) = %v %q, want current", got.New, again.Status, again.New)
				}
			}
		})
	}
}

func TestRewriteBase(t *testing.T) {
	tests := []struct {
		target Target
		in     string
		status Status
		want   string
	}{
		{Target{}, "https://alice:pw@bitbucket.org/", NeedsRewrite, "git@ssh.bitbucket.org:"},
		{Target{}, "https://bitbucket.org/", NeedsRewrite, "git@ssh.bitbucket.org:"},
		{Target{}, "https://bitbucket.org", NeedsRewrite, "ssh://git@ssh.bitbucket.org"},
		{Target{}, "https://x-token-auth:t@bitbucket.org/ws/", NeedsRewrite, "git@ssh.bitbucket.org:ws/"},
		{Target{}, "https://bitbucket.org/ws", NeedsRewrite, "git@ssh.bitbucket.org:ws"},
		{Target{}, "git@bitbucket.org:", NeedsRewrite, "git@ssh.bitbucket.org:"},
		{Target{}, "ssh://git@bitbucket.org/", NeedsRewrite, "git@ssh.bitbucket.org:"},
		{Target{}, "git@ssh.bitbucket.org:", Current, "git@ssh.bitbucket.org:"},
		{Target{Name: "work"}, "git@bitbucket.org:ws/", NeedsRewrite, "git@ssh.bitbucket.org-work:ws/"},
		{Target{HTTPS: true}, "https://u:p@bitbucket.org/", NeedsRewrite, "https://bitbucket.org/"},
		{Target{HTTPS: true}, "git@bitbucket.org:", NeedsRewrite, "https://bitbucket.org/"},
		{Target{HTTPS: true}, "https://bitbucket.org/", Current, "https://bitbucket.org/"},
		{Target{}, "https://github.com/", NotBitbucket, ""},
		{Target{}, "https://bitbucket.org/ws/repo/src/", Unsupported, ""},
	}
	for _, tt := range tests {
		got := tt.target.RewriteBase(tt.in)
		if got.Status != tt.status || got.New != tt.want {
			t.Errorf("RewriteBase(%q) = %v %q, want %v %q", tt.in, got.Status, got.New, tt.status, tt.want)
		}
		if got.Status == NeedsRewrite {
			if again := tt.target.RewriteBase(got.New); again.Status != Current {
				t.Errorf("RewriteBase(%q) = %v, want current", got.New, again.Status)
			}
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://alice:hunter2@bitbucket.org/ws/r.git", "https://alice:***@bitbucket.org/ws/r.git"},
		{"https://alice:p@ss@bitbucket.org/ws/r.git", "https://alice:***@bitbucket.org/ws/r.git"},
		{"https://alice@bitbucket.org/ws/r.git", "https://alice@bitbucket.org/ws/r.git"},
		{"https://ATCTT3xFfGN0abcdefghijklmnop@bitbucket.org/ws/r", "https://***@bitbucket.org/ws/r"},
		{"git@bitbucket.org:ws/r.git", "git@bitbucket.org:ws/r.git"},
		{"https://bitbucket.org/ws/r?u=a@b", "https://bitbucket.org/ws/r?u=a@b"},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(Mask(tt.in), "hunter2") {
			t.Errorf("Mask leaks the secret")
		}
	}
}

func BenchmarkRewrite(b *testing.B) {
	t := Target{}
	urls := []string{
		"https://alice:pw@bitbucket.org/ws/repo.git",
		"git@bitbucket.org:ws/repo.git",
		"git@ssh.bitbucket.org:ws/repo.git",
		"https://github.com/ws/repo.git",
	}
	for i := 0; b.Loop(); i++ {
		_ = t.Rewrite(urls[i%len(urls)])
	}
}
